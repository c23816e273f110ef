"""The sweep: clocks, precedence, scopes, freezes, warnings, idempotency, dry runs, why."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import NOW, add_customers, dump

from crmpool import store
from crmpool.contacts import log_contact
from crmpool.pools import add_pool
from crmpool.ruleset import set_rules
from crmpool.sweep import open_warnings, sweep
from crmpool.sweep.why import explain

IDLE = '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n'


def days_ago(n: float) -> str:
    return (NOW - timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def use_rules(conn, users, text: str) -> None:
    with store.transaction(conn):
        set_rules(conn, users["boss"], text, "test.toml", NOW)


def owners(conn) -> dict[str, str | None]:
    return dict(conn.execute("SELECT name, owner FROM customers").fetchall())


def test_idle_clock_runs_from_the_later_of_contact_and_assignment(conn, users):
    use_rules(conn, users, IDLE)
    add_customers(conn, [
        {"name": "stale", "owner": "li", "assigned_at": days_ago(40)},
        {"name": "called", "owner": "li", "assigned_at": days_ago(40),
         "last_contact_at": days_ago(10)},
        {"name": "fresh", "owner": "li", "assigned_at": days_ago(5),
         "last_contact_at": days_ago(60)},
        {"name": "exactly", "owner": "li", "assigned_at": days_ago(30)},
        {"name": "pooled"},
    ])
    report = sweep(conn, users["boss"], NOW, NOW)
    assert report.reclaimed == 2
    assert owners(conn) == {"stale": None, "called": "li", "fresh": "li", "exactly": None,
                            "pooled": None}
    event = conn.execute("SELECT * FROM events WHERE action = 'reclaim' ORDER BY id").fetchone()
    assert (event["at"], event["actor"], event["from_owner"], event["rule"],
            event["run_id"]) == (NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "sweep", "li", "idle",
                                 report.run_id)


def test_first_rule_in_file_order_wins(conn, users):
    use_rules(conn, users, '[[reclaim]]\nname = "a"\nno_deal_days = 20\n'
                           '[[reclaim]]\nname = "b"\nidle_days = 10\n')
    add_customers(conn, [{"name": "both", "owner": "li", "assigned_at": days_ago(40)}])
    report = sweep(conn, users["boss"], NOW, NOW)
    assert [(r.rule, r.reclaimed) for r in report.rules] == [("a", 1), ("b", 0)]
    assert conn.execute("SELECT count(*) FROM events WHERE action = 'reclaim'").fetchone()[0] == 1


def test_frozen_and_invalid_are_never_reclaimed_and_expired_freezes_lift(conn, users):
    use_rules(conn, users, IDLE)
    add_customers(conn, [
        {"name": "frozen", "owner": "li", "assigned_at": days_ago(90),
         "frozen_until": (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "freeze_reason": "signing"},
        {"name": "thawed", "owner": "li", "assigned_at": days_ago(90),
         "frozen_until": days_ago(1), "freeze_reason": "old"},
        {"name": "dead", "owner": "li", "assigned_at": days_ago(90), "status": "invalid"},
    ])
    report = sweep(conn, users["boss"], NOW, NOW)
    assert report.unfrozen == 1 and report.reclaimed == 1
    assert owners(conn) == {"frozen": "li", "thawed": None, "dead": "li"}
    actions = [r[0] for r in conn.execute(
        "SELECT action FROM events WHERE customer_id = 2 ORDER BY id")]
    assert actions == ["unfreeze", "reclaim"]


def test_keep_won_and_won_clocks(conn, users):
    use_rules(conn, users, '[[reclaim]]\nname = "idle"\nidle_days = 30\nkeep_won = true\n'
                           '[[reclaim]]\nname = "nodeal"\nno_deal_days = 60\n')
    add_customers(conn, [
        {"name": "won-idle", "owner": "li", "assigned_at": days_ago(40), "status": "won",
         "won_at": days_ago(35)},
        {"name": "won-before", "owner": "li", "assigned_at": days_ago(70), "status": "won",
         "won_at": days_ago(100), "last_contact_at": days_ago(1)},
        {"name": "won-since", "owner": "li", "assigned_at": days_ago(70), "status": "won",
         "won_at": days_ago(50), "last_contact_at": days_ago(1)},
    ])
    sweep(conn, users["boss"], NOW, NOW)
    assert owners(conn) == {"won-idle": "li", "won-before": None, "won-since": "li"}


def test_small_contract_rule_and_to_pool(conn, users):
    with store.transaction(conn):
        add_pool(conn, users["boss"], "key-accounts", NOW)
    use_rules(conn, users, '[[reclaim]]\nname = "small"\nmin_amount = 10000\n'
                           'within_days = 180\nto_pool = "key-accounts"\n')
    ids = add_customers(conn, [
        {"name": "small", "owner": "li", "assigned_at": days_ago(200)},
        {"name": "big", "owner": "li", "assigned_at": days_ago(200)},
        {"name": "young", "owner": "li", "assigned_at": days_ago(100)},
    ])
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO deals (customer_id, amount_cents, stage, at, created_at)"
            " VALUES (?, ?, 'won', ?, ?)",
            [(ids[0], 500000, days_ago(150), days_ago(150)),
             (ids[1], 600000, days_ago(150), days_ago(150)),
             (ids[1], 600000, days_ago(100), days_ago(100))])
    sweep(conn, users["boss"], NOW, NOW)
    rows = conn.execute("SELECT name, owner, pool FROM customers ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("small", None, "key-accounts"), ("big", "li", "public"),
                                        ("young", "li", "public")]


def test_scopes_levels_regions_industries_pools_teams(conn, users):
    use_rules(conn, users, '[[reclaim]]\nname = "scoped"\nidle_days = 10\n'
                           'levels = ["B"]\nregions = ["北京", "上海"]\nteams = ["east"]\n')
    old = days_ago(20)
    add_customers(conn, [
        {"name": "match", "owner": "li", "assigned_at": old, "level": "B", "region": "北京"},
        {"name": "level", "owner": "li", "assigned_at": old, "level": "A", "region": "北京"},
        {"name": "region", "owner": "li", "assigned_at": old, "level": "B", "region": "广州"},
        {"name": "team", "owner": "chen", "assigned_at": old, "level": "B", "region": "上海"},
    ])
    sweep(conn, users["boss"], NOW, NOW)
    assert owners(conn) == {"match": None, "level": "li", "region": "li", "team": "chen"}


def test_cooldown_counts_from_the_reclaim(conn, users, cli):
    use_rules(conn, users, IDLE)
    [cid] = add_customers(conn, [{"name": "x", "owner": "li", "assigned_at": days_ago(40)}])
    sweep(conn, users["boss"], NOW, NOW)
    result = cli("claim", str(cid), as_user="li")
    assert result.exit_code == 4 and "may claim it again after 30 days" in result.stderr


def test_second_run_for_the_same_time_changes_nothing(conn, users, db_path):
    use_rules(conn, users, IDLE)
    add_customers(conn, [{"name": f"c{i}", "owner": "li", "assigned_at": days_ago(20 + i)}
                         for i in range(20)])
    first = sweep(conn, users["boss"], NOW, NOW)
    assert first.reclaimed == 10 and first.warned == 5
    before = dump(db_path)
    second = sweep(conn, users["boss"], NOW, NOW)
    assert second.reclaimed == 0 and second.warned == 0 and second.repeat_of == first.run_id
    assert dump(db_path) == before


def test_dry_run_reports_the_same_and_writes_nothing(conn, users, db_path):
    use_rules(conn, users, IDLE)
    add_customers(conn, [{"name": f"c{i}", "owner": "li", "assigned_at": days_ago(20 + i),
                          "frozen_until": days_ago(1) if i == 0 else None}
                         for i in range(20)])
    before = dump(db_path)
    seen: dict[str, list] = {}

    def keep(name):
        return lambda report, reclaimed, warned: seen.update(
            {name: (list(reclaimed), list(warned))})

    dry = sweep(conn, users["boss"], NOW, NOW, dry_run=True, details=keep("dry"))
    assert dump(db_path) == before
    real = sweep(conn, users["boss"], NOW, NOW, details=keep("real"))
    assert (dry.reclaimed, dry.warned, dry.unfrozen) == (real.reclaimed, real.warned,
                                                         real.unfrozen) == (10, 5, 1)
    assert seen["dry"] == seen["real"] and len(seen["dry"][0]) == 10
    assert dry.run_id is None and real.run_id is not None


def test_warnings_once_per_due_day_and_closed_by_a_contact(conn, users):
    use_rules(conn, users, IDLE)
    [cid] = add_customers(conn, [{"name": "x", "owner": "li", "assigned_at": days_ago(27)}])
    assert sweep(conn, users["boss"], NOW, NOW).warned == 1
    assert sweep(conn, users["boss"], NOW + timedelta(days=1), NOW).warned == 0
    assert [w["id"] for w in open_warnings(conn, "li")] == [cid]
    log_contact(conn, users["li"], [cid], NOW + timedelta(days=1), at=NOW + timedelta(days=1))
    report = sweep(conn, users["boss"], NOW + timedelta(days=2), NOW)
    assert report.warned == 0 and report.warnings_closed == 1
    assert open_warnings(conn) == []


def test_a_sweep_needs_an_admin_unless_it_is_a_dry_run(conn, users):
    from crmpool.errors import Refused

    with pytest.raises(Refused):
        sweep(conn, users["li"], NOW, NOW)
    assert sweep(conn, users["li"], NOW, NOW, dry_run=True).run_id is None


def test_why_explains_each_rule_and_marks_the_first(conn, users):
    use_rules(conn, users, '[[reclaim]]\nname = "idle"\nidle_days = 30\nlevels = ["C"]\n'
                           '[[reclaim]]\nname = "nodeal"\nno_deal_days = 60\nwarn_days = 7\n'
                           '[[reclaim]]\nname = "idle-any"\nidle_days = 30\n')
    [cid] = add_customers(conn, [{"name": "x", "owner": "li", "assigned_at": days_ago(20),
                                  "level": "B", "last_contact_at": days_ago(1)}])
    state, rows = explain(conn, cid, NOW)
    assert "owned by li" in state and "first to fire: idle-any" in state
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["idle"]["applies"] is False and "out of scope" in by_rule["idle"]["note"]
    assert by_rule["nodeal"]["fires_at"] == (NOW + timedelta(days=40)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert by_rule["nodeal"]["warn_from"] == (NOW + timedelta(days=33)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert by_rule["idle-any"]["clock_from"] == days_ago(1)
    assert by_rule["idle-any"]["first"] is True and by_rule["nodeal"]["first"] is False


def test_why_agrees_with_the_sweep_on_the_day(conn, users):
    use_rules(conn, users, IDLE)
    [cid] = add_customers(conn, [{"name": "x", "owner": "li", "assigned_at": days_ago(12)}])
    _, rows = explain(conn, cid, NOW)
    fires = rows[0]["fires_at"]
    from crmpool.when import from_stored

    moment = from_stored(fires)
    sweep(conn, users["boss"], moment - timedelta(seconds=1), NOW)
    assert owners(conn)["x"] == "li"
    sweep(conn, users["boss"], moment, NOW)
    assert owners(conn)["x"] is None
    state, _ = explain(conn, cid, NOW)
    assert "already in the 'public' pool" in state


def test_sweep_cli_summary_json_quiet_and_runs(cli, conn, users, tmp_path):
    use_rules(conn, users, IDLE)
    add_customers(conn, [{"name": f"c{i}", "owner": "li", "assigned_at": days_ago(40)}
                         for i in range(3)])
    dry = cli("sweep", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["reclaimed"] == 3
    result = cli("sweep", "-f", "table")
    assert result.exit_code == 0 and "3 reclaimed" in result.stderr
    assert "idle" in result.stdout
    assert cli("sweep", "-q").stdout == "" and cli("sweep", "-q").stderr == ""
    runs = cli.rows("runs")
    assert len(runs) == 1 and runs[0]["reclaimed"] == 3
    ahead = cli("sweep", "--now", "+31d", "-f", "json")
    assert ahead.exit_code == 0 and json.loads(ahead.stdout)["as_of"] == "2026-12-24T10:00:00Z"
    assert cli("sweep", "--now", "whenever").exit_code == 2
    assert cli("sweep", as_user="li").exit_code == 4
    why = cli("why", "1", "-f", "table")
    assert why.exit_code == 0 and "already in the 'public' pool" in why.stderr
    assert cli("warnings", "--owner", "li").exit_code == 0


def test_warnings_close_when_the_customer_moves_or_the_rule_stops_warning(conn, users):
    use_rules(conn, users, IDLE)
    ids = add_customers(conn, [{"name": f"c{i}", "owner": "li", "assigned_at": days_ago(27)}
                               for i in range(3)])
    assert sweep(conn, users["boss"], NOW, NOW).warned == 3
    from crmpool.ownership import release

    release(conn, users["li"], [ids[0]], "not mine", NOW)
    report = sweep(conn, users["boss"], NOW + timedelta(hours=1), NOW)
    assert report.warnings_closed == 1
    assert sorted(w["id"] for w in open_warnings(conn)) == ids[1:]
    use_rules(conn, users, IDLE.replace("warn_days = 5\n", ""))
    report = sweep(conn, users["boss"], NOW + timedelta(hours=2), NOW)
    assert report.warnings_closed == 2 and open_warnings(conn) == []
