"""`forecast` says who goes back on which day by which rule; the real sweeps, run day by day,
do exactly that."""

from __future__ import annotations

import random
from datetime import timedelta

from conftest import NOW, add_customers

from crmpool import store
from crmpool.ruleset import active_rules, set_rules
from crmpool.sweep import sweep
from crmpool.sweep.forecast import forecast
from crmpool.when import stored

RULES = """
[[reclaim]]
name = "idle-c"
idle_days = 20
levels = ["C"]
[[reclaim]]
name = "idle"
idle_days = 30
keep_won = true
[[reclaim]]
name = "no-deal"
no_deal_days = 45
"""


def test_the_forecast_is_what_the_sweeps_then_do(cli, conn, users):
    with store.transaction(conn):
        set_rules(conn, users["boss"], RULES, "test.toml", NOW)
    rng = random.Random(5)
    rows = []
    for i in range(300):
        assigned = NOW - timedelta(days=rng.uniform(0, 60))
        row = {"name": f"客户{i}", "owner": rng.choice(["li", "zhang", "chen"]),
               "assigned_at": stored(assigned), "level": rng.choice("ABC")}
        if rng.random() < 0.5:
            row["last_contact_at"] = stored(assigned + timedelta(days=rng.uniform(0, 10)))
        if rng.random() < 0.1:
            row |= {"status": "won", "won_at": stored(assigned + timedelta(days=1))}
        if rng.random() < 0.1:
            row["frozen_until"] = stored(NOW + timedelta(days=rng.uniform(-1, 8)))
        rows.append(row)
    add_customers(conn, rows)
    ahead = forecast(conn, active_rules(conn), NOW, 10)
    assert len(ahead) > 30
    predicted = {r["id"]: (r["due_at"], r["rule"]) for r in ahead}
    previous = None
    for day in range(11):
        as_of = NOW + timedelta(days=day)
        report = sweep(conn, users["boss"], as_of, NOW)
        assert report.run_id is not None or report.reclaimed == 0
        taken = conn.execute("SELECT customer_id, rule FROM events WHERE action = 'reclaim'"
                             " AND run_id = ?", (report.run_id,)).fetchall()
        for customer_id, rule in taken:
            due, expected_rule = predicted.pop(customer_id)
            assert rule == expected_rule, customer_id
            assert due <= stored(as_of) and (previous is None or due > stored(previous))
        previous = as_of
    assert predicted == {}  # everyone forecast went, nobody else did


def test_forecast_by_owner_and_team_in_every_format(cli, conn, users):
    with store.transaction(conn):
        set_rules(conn, users["boss"], RULES, "test.toml", NOW)
    add_customers(conn, [
        {"name": "李的", "owner": "li", "assigned_at": stored(NOW - timedelta(days=28))},
        {"name": "陈的", "owner": "chen", "assigned_at": stored(NOW - timedelta(days=29))},
        {"name": "远的", "owner": "li", "assigned_at": stored(NOW - timedelta(days=1))}])
    rows = cli.rows("forecast", "--days", "3")
    assert [(r["name"], r["rule"], r["day"]) for r in rows] == [
        ("陈的", "idle", "2026-11-24"), ("李的", "idle", "2026-11-25")]
    assert [r["name"] for r in cli.rows("forecast", "--mine", as_user="li")] == ["李的"]
    assert [r["name"] for r in cli.rows("forecast", as_user="li")] == ["李的"]  # a rep's own
    assert [r["name"] for r in cli.rows("forecast", "--team", "west")] == ["陈的"]
    assert "2026-11-24" in cli("forecast", "-f", "csv").stdout
    assert cli.rows("forecast", "--days", "0") == []  # nobody is already due
    assert cli("forecast", "--days", "-1").exit_code == 2
    assert cli("forecast", "--owner", "nobody").exit_code in (2, 4)
