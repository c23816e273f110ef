"""Warning rules are evaluated incrementally (only customers that changed, are new, or came
due since the rule's last run); that must give exactly what evaluating every customer gives.
Two databases get the same random weeks of work; in one, every sweep looks at everyone."""

from __future__ import annotations

import random
from datetime import timedelta

from conftest import NOW, add_customers, clone_database

from crmpool import store
from crmpool.contacts import log_contact
from crmpool.deals import record_deal
from crmpool.freezes import freeze
from crmpool.ownership import assign, release
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.users import get_user
from crmpool.when import stored

RULES = """
[limits]
cap = 10000
freezes_per_user = 1000
[[reclaim]]
name = "idle"
idle_days = 30
warn_days = 5
[[warn]]
name = "quiet"
idle_days = 7
levels = ["A", "B"]
[[warn]]
name = "churn"
no_won_days = 20
[[warn]]
name = "overdue"
overdue_days = 1
[[warn]]
name = "thaw"
freeze_ends_days = 2
[[warn]]
name = "drop"
drop_pct = 40
window_days = 7
[[warn]]
name = "team"
idle_days = 5
teams = ["east"]
"""
COLUMNS = "customer_id, rule, owner, due_at, level, detail, closed_at, close_reason"


def warnings_of(conn) -> list[tuple]:
    return [tuple(row) for row in conn.execute(
        f"SELECT {COLUMNS} FROM warnings ORDER BY customer_id, rule, id")]


def test_incremental_warnings_equal_a_full_evaluation(conn, db_path, tmp_path):
    boss = get_user(conn, "boss")
    with store.transaction(conn):
        set_rules(conn, boss, RULES, "test.toml", NOW)
    rng = random.Random(11)
    reps = ["li", "zhang", "chen"]
    add_customers(conn, [
        {"name": f"客户{i}", "owner": rng.choice(reps), "level": rng.choice("ABC"),
         "assigned_at": stored(NOW - timedelta(days=rng.uniform(0, 40))),
         "last_contact_at": stored(NOW - timedelta(days=rng.uniform(0, 15)))}
        for i in range(120)])
    conn.close()
    full_path = clone_database(db_path, tmp_path)
    dbs = [store.open_db(db_path), store.open_db(full_path)]
    ops_rng = [random.Random(7), random.Random(7)]  # the same work on both
    moment, clock = NOW, random.Random(3)
    for _night in range(25):
        moment += timedelta(days=clock.uniform(0.3, 1.7))
        for rng_i, db in zip(ops_rng, dbs, strict=True):
            _random_work(db, rng_i, moment, reps)
        dbs[1].execute("DELETE FROM warn_rule_state")  # the twin: every customer, every run
        for db in dbs:
            sweep(db, get_user(db, "boss"), moment, moment)
        assert warnings_of(dbs[0]) == warnings_of(dbs[1])
    assert len(warnings_of(dbs[0])) > 50
    assert {row[1] for row in warnings_of(dbs[0])} == {
        "idle", "quiet", "churn", "overdue", "thaw", "drop", "team"}
    closed = {row[7] for row in warnings_of(dbs[0]) if row[7]}
    assert {"contact", "changed hands"} <= closed
    for db in dbs:
        db.close()


def _random_work(db, rng: random.Random, moment, reps: list[str]) -> None:
    boss = get_user(db, "boss")
    ids = [row[0] for row in db.execute("SELECT id FROM customers ORDER BY id")]
    for _ in range(rng.randrange(3, 9)):
        cid = rng.choice(ids)
        owner = db.execute("SELECT owner FROM customers WHERE id = ?", (cid,)).fetchone()[0]
        kind = rng.choice(["contact", "plan", "deal", "release", "assign", "freeze", "shell",
                           "new", "nothing"])
        at = moment - timedelta(hours=rng.uniform(1, 20))
        if kind == "contact" and owner:
            log_contact(db, boss, [cid], moment, at=at)
        elif kind == "plan" and owner:
            log_contact(db, boss, [cid], moment, at=at,
                        next_at=moment + timedelta(days=rng.uniform(-3, 3)))
        elif kind == "deal" and owner:
            record_deal(db, boss, cid, str(rng.choice([100, 1000, 5000])), moment,
                        stage="won", at=at)
        elif kind == "release" and owner:
            release(db, boss, [cid], "test", moment)
        elif kind == "assign":
            assign(db, boss, [cid], rng.choice(reps), moment)
        elif kind == "freeze" and owner:
            freeze(db, boss, [cid], moment + timedelta(days=rng.uniform(0.5, 4)), "test",
                   moment)
        elif kind == "shell":
            # A write no crmpool command made: the trigger notes it all the same.
            with store.transaction(db):
                db.execute("UPDATE customers SET level = ? WHERE id = ?",
                           (rng.choice("ABC"), cid))
        elif kind == "new":
            add_customers(db, [{"name": f"新{moment.timestamp()}", "owner": rng.choice(reps),
                                "level": "A",
                                "assigned_at": stored(moment - timedelta(days=10)),
                                "last_contact_at": stored(moment - timedelta(days=9))}])
