"""Automatic distribution (自动分配): each strategy, who is eligible and why the rest stay, the
dry run equal to the real run, [[distribute]] rules in the sweep (and their undo), import."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import NOW, add_customers

from crmpool.distribute.strategies import Receiver, Waiting, performance, round_robin, shares


def setup_pool(cli, conn, n: int, *, members=("li", "zhang", "chen"), **extra) -> list[int]:
    args = [a for m in members for a in ("--member", m)]
    assert cli("pool", "add", "east", *args).exit_code == 0
    return add_customers(conn, [{"name": f"客户{i}", "pool": "east", **extra}
                                for i in range(n)])


def run(cli, *args: str, as_user: str = "boss") -> tuple[list[dict], str]:
    result = cli("distribute", "--pool", "east", *args, "-f", "json", as_user=as_user)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def given(rows: list[dict]) -> Counter:
    return Counter(r["to"] for r in rows if r["result"] == "assigned")


def test_round_robin_of_ten_over_three_is_4_3_3_and_the_next_run_continues(cli, conn):
    ids = setup_pool(cli, conn, 12)
    rows, said = run(cli, "--limit", "10")
    # In turn by name (chen, li, zhang), not by the order the users were created.
    assert [r["to"] for r in rows] == ["chen", "li", "zhang"] * 3 + ["chen"]
    assert given(rows) == {"chen": 4, "li": 3, "zhang": 3}
    assert "assigned 10 of 10 by round-robin: chen 4, li 3, zhang 3" in said
    rows, _ = run(cli)
    assert [(r["id"], r["to"]) for r in rows] == [(ids[10], "li"), (ids[11], "zhang")]
    owners = {r["id"]: r["owner"] for r in cli.rows("list")}
    assert owners[ids[0]] == "chen" and owners[ids[11]] == "zhang"
    events = [e for e in cli.rows("events", "--action", "assign")]
    assert len(events) == 12 and all(e["distribution_id"] for e in events)
    assert {e["reason"] for e in events} == {"distributed (round-robin)"}


def test_the_dry_run_is_the_plan_the_real_run_carries_out(cli, conn):
    setup_pool(cli, conn, 7)
    cli("user", "set", "li", "--cap", "1")
    planned, said = run(cli, "--strategy", "least-loaded", "--dry-run")
    assert "would assign" in said
    assert all(r["owner"] is None for r in cli.rows("list", "--in-pool"))  # nothing written
    done, _ = run(cli, "--strategy", "least-loaded")
    assert planned == done
    assert {r["id"]: r["owner"] for r in cli.rows("list")} == {
        r["id"]: r["to"] for r in done}


def test_a_receiver_named_twice_is_one_receiver_named_once(cli, conn):
    setup_pool(cli, conn, 4)
    rows, said = run(cli, "--to", "li", "--to", "li", "--to", "zhang")
    assert given(rows) == {"li": 2, "zhang": 2}
    assert "(to east: li, zhang)" in said


def test_least_loaded_gives_nothing_to_a_member_at_cap(cli, conn):
    ids = setup_pool(cli, conn, 6)
    add_customers(conn, [{"name": "已有", "owner": "zhang"}, {"name": "已有2", "owner": "zhang"}])
    cli("user", "set", "li", "--cap", "0")
    rows, _ = run(cli, "--strategy", "least-loaded")
    # zhang starts two ahead: chen takes the first two, then they alternate, ties by name.
    assert [r["to"] for r in rows] == ["chen", "chen", "chen", "zhang", "chen", "zhang"]
    assert "li" not in given(rows)
    assert len(rows) == len(ids)


def test_everyone_at_cap_leaves_the_customers_in_the_pool_with_the_reason(cli, conn):
    ids = setup_pool(cli, conn, 3)
    for name in ("li", "zhang", "chen"):
        cli("user", "set", name, "--cap", "0")
    rows, said = run(cli, "--strategy", "least-loaded")
    assert [(r["result"], r["why"]) for r in rows] == [("left", "everyone at cap")] * 3
    assert "3 left in the pool: everyone at cap" in said
    assert sorted(r["id"] for r in cli.rows("list", "--in-pool")) == ids


def test_a_daily_limit_and_a_cooldown_hold_for_distribution(cli, conn):
    ids = setup_pool(cli, conn, 4, members=("li", "zhang"))
    cli("pool", "set", "east", "--claims-per-day", "1")
    # zhang gave ids[0] back today: inside the cooldown, it cannot go to zhang.
    conn.execute("INSERT INTO events (customer_id, at, action, actor, from_owner, from_pool,"
                 " to_pool, reason) VALUES (?, ?, 'release', 'zhang', 'zhang', 'east',"
                 " 'east', 'x')", (ids[0], "2026-11-23T09:00:00Z"))
    conn.execute("INSERT INTO distribution_turns VALUES ('east', 'li')")  # zhang's turn next
    conn.commit()
    rows, _ = run(cli)
    assert [(r["to"], r["why"]) for r in rows] == [
        ("li", None),  # not zhang: in cooldown for this one
        ("zhang", None),
        (None, "everyone at the daily limit"), (None, "everyone at the daily limit")]


def test_frozen_and_invalid_customers_are_never_distributed(cli, conn):
    setup_pool(cli, conn, 1)
    add_customers(conn, [
        {"name": "冻结", "pool": "east", "frozen_until": "2026-12-01T00:00:00Z"},
        {"name": "无效", "pool": "east", "status": "invalid"}])
    rows, _ = run(cli)
    assert [r["name"] for r in rows] == ["客户0"]


TERRITORIES = """
[[territory]]
name = "shanghai"
regions = ["上海"]
to = ["li"]

[[territory]]
name = "big ones"
column = "size"
values = ["large"]
to = ["team:east"]
"""


def test_territory_first_match_wins_and_no_match_stays_with_the_reason(cli, conn, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[limits]\n" + TERRITORIES)
    assert cli("rules", "set", str(rules)).exit_code == 0
    cli("pool", "add", "east", "--member", "team:east", "--member", "chen")
    ids = add_customers(conn, [
        {"name": "上海大", "pool": "east", "region": "上海", "extra": '{"size": "LARGE"}'},
        {"name": "北京大", "pool": "east", "region": "北京", "extra": '{"size": "large"}'},
        {"name": "北京大2", "pool": "east", "region": "北京", "extra": '{"size": "large"}'},
        {"name": "广州小", "pool": "east", "region": "广州", "extra": '{"size": "small"}'}])
    rows, said = run(cli, "--strategy", "territory")
    assert [(r["id"], r["to"]) for r in rows[:3]] == [
        (ids[0], "li"), (ids[1], "wang"), (ids[2], "zhang")]  # least loaded of team east
    assert (rows[3]["result"], rows[3]["why"]) == ("left", "no territory matches it")
    assert "1 left in the pool: no territory matches it" in said


def test_territory_without_entries_is_a_usage_error(cli, conn):
    setup_pool(cli, conn, 1)
    result = cli("distribute", "--strategy", "territory")
    assert result.exit_code == 2 and "[[territory]]" in result.stderr


def test_performance_shares_follow_won_amounts_with_a_floor(cli, conn):
    ids = setup_pool(cli, conn, 15)
    won = add_customers(conn, [{"name": "老客户", "owner": "li"}])
    for user, amount in (("li", "3000"), ("zhang", "1000")):
        assert cli("deal", str(won[0]), "--amount", amount, "--stage", "won").exit_code == 0
        conn.execute("UPDATE deals SET user = ? WHERE id = (SELECT max(id) FROM deals)",
                     (user,))
    conn.commit()
    rows, _ = run(cli, "--strategy", "performance", "--floor-pct", "20")
    # shares: chen 0.2/3, li 0.2/3 + 0.8*3/4, zhang 0.2/3 + 0.8/4: of 15, 1, 10 and 4.
    assert given(rows) == {"li": 10, "zhang": 4, "chen": 1}
    assert len(rows) == len(ids)


def test_performance_formula_and_no_wins_at_all():
    people = [Receiver("a", 99, None, 0, 300), Receiver("b", 99, None, 0, 100),
              Receiver("c", 99, None, 0, 0)]
    shares(people, 40)
    assert [round(p.share, 4) for p in people] == [round(0.4 / 3 + 0.6 * 0.75, 4),
                                                   round(0.4 / 3 + 0.6 * 0.25, 4),
                                                   round(0.4 / 3, 4)]
    nobody = [Receiver(n, 99, None, 0) for n in "xyz"]
    plan = performance([Waiting(i) for i in range(6)], nobody, 20)
    assert Counter(u for _, u in plan.given) == {"x": 2, "y": 2, "z": 2}


def test_round_robin_turn_skips_a_member_who_left():
    people = [Receiver(n, 9, None, 0) for n in ("ann", "cai")]
    plan = round_robin([Waiting(1), Waiting(2)], people, "bob")  # bob is no longer a member
    assert plan.given == [(1, "cai"), (2, "ann")] and plan.last_turn == "ann"


def test_who_may_distribute(cli, conn):
    setup_pool(cli, conn, 4, members=("li", "zhang", "chen"))
    refused = cli("distribute", "--pool", "east", as_user="li")
    assert refused.exit_code == 4 and "only an admin" in refused.stderr
    # A manager hands out to their own team only (chen is in west).
    rows, _ = run(cli, as_user="wang")
    assert set(given(rows)) == {"li", "zhang"}
    not_team = cli("distribute", "--pool", "east", "--to", "chen", as_user="wang")
    assert not_team.exit_code == 4 and "chen: not in your team (east)" in not_team.stderr
    outsider = cli("distribute", "--pool", "east", "--to", "wang")
    assert outsider.exit_code == 4 and "wang: not a member of the 'east' pool" in (
        outsider.stderr)


DISTRIBUTING_RULES = """
[limits]
cooldown_days = 30

[[reclaim]]
name = "idle"
idle_days = 30

[[distribute]]
name = "nightly"
pool = "public"
strategy = "round-robin"
to = ["li", "zhang"]
"""


def test_the_sweep_hands_out_what_it_reclaimed_and_its_undo_takes_it_back(cli, conn, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(DISTRIBUTING_RULES)
    assert cli("rules", "set", str(rules)).exit_code == 0
    ids = add_customers(conn, [
        {"name": f"旧{i}", "owner": "chen", "assigned_at": "2026-09-01T00:00:00Z"}
        for i in range(3)] + [{"name": "li的旧", "owner": "li",
                               "assigned_at": "2026-09-01T00:00:00Z"}])
    result = cli("sweep", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["distributed"] == {"nightly": 4}
    owners = {r["id"]: r["owner"] for r in cli.rows("list")}
    # li's old customer cannot go back to li inside the cooldown.
    assert owners == {ids[0]: "li", ids[1]: "zhang", ids[2]: "li", ids[3]: "zhang"}
    [event] = [e for e in cli.rows("history", str(ids[0])) if e["action"] == "assign"]
    assert (event["actor"], event["rule"], event["run_id"]) == ("sweep", "nightly", 1)
    undone = cli("sweep", "--undo", "1", "-f", "json")
    assert undone.exit_code == 0, undone.stderr
    assert json.loads(undone.stdout)["restored"] == 8
    owners = {r["id"]: r["owner"] for r in cli.rows("list")}
    assert owners == {ids[0]: "chen", ids[1]: "chen", ids[2]: "chen", ids[3]: "li"}


def test_a_dry_run_sweep_distributes_nothing(cli, conn, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(DISTRIBUTING_RULES)
    cli("rules", "set", str(rules))
    add_customers(conn, [{"name": "等待"}])
    assert cli("sweep", "--dry-run").exit_code == 0
    assert cli.rows("list")[0]["owner"] is None


@pytest.mark.parametrize("table, key", [
    ('[[distribute]]\nname = "d"\npool = "public"\nstrategy = "random"\n', "strategy"),
    ('[[distribute]]\nname = "d"\npool = "nowhere"\nstrategy = "round-robin"\n', "pool"),
    ('[[distribute]]\nname = "d"\npool = "public"\nstrategy = "round-robin"\ncolour = 1\n',
     "colour"),
    ('[[distribute]]\nname = "d"\npool = "public"\nstrategy = "round-robin"\ndays = 5\n',
     "days"),
    ('[[territory]]\nname = "t"\nto = ["li"]\n', "territory[1] (t)"),
    ('[[distribute]]\nname = "d"\npool = "public"\nstrategy = "territory"\n',
     "territory needs [[territory]]"),
    ('[[territory]]\nname = "t"\nregions = ["上海"]\n', "to"),
])
def test_bad_distribute_rules_are_refused_naming_the_key(cli, tmp_path, table, key):
    rules = tmp_path / "rules.toml"
    rules.write_text("[limits]\n" + table)
    result = cli("rules", "set", str(rules))
    assert result.exit_code == 3 and key in result.stderr


def test_import_distribute_hands_out_the_new_rows_only(cli, conn, tmp_path):
    cli("pool", "add", "east", "--member", "li", "--member", "zhang")
    [old] = add_customers(conn, [{"name": "早就在", "pool": "east"}])
    data = tmp_path / "new.csv"
    data.write_text("name\n新一\n新二\n新三\n", encoding="utf-8")
    result = cli("import", str(data), "--pool", "east", "--distribute", "round-robin")
    assert result.exit_code == 0, result.stderr
    assert "distributed 3 by round-robin: li 2, zhang 1" in result.stderr
    owners = {r["name"]: r["owner"] for r in cli.rows("list")}
    assert owners == {"早就在": None, "新一": "li", "新二": "zhang", "新三": "li"}
    assert old


def test_distribution_of_every_pool_uses_each_pools_members(cli, conn):
    cli("pool", "add", "east", "--member", "li")
    cli("pool", "add", "west", "--member", "chen")
    add_customers(conn, [{"name": "东", "pool": "east"}, {"name": "西", "pool": "west"}])
    result = cli("distribute", "-f", "json", "--strategy", "least-loaded")
    rows = json.loads(result.stdout)
    assert {(r["pool"], r["to"]) for r in rows} == {("east", "li"), ("west", "chen")}
    assert NOW  # the fixed clock the rows were written at


def test_a_pool_admin_distributes_only_their_own_pools(cli, conn):
    cli("pool", "add", "east", "--member", "li", "--member", "zhang", "--admin", "zhang")
    cli("pool", "add", "west", "--member", "chen")
    add_customers(conn, [{"name": "东", "pool": "east"}, {"name": "西", "pool": "west"}])
    rows = json.loads(cli("distribute", "-f", "json", as_user="zhang").stdout)
    assert [(r["pool"], r["to"]) for r in rows] == [("east", "li")]
    refused = cli("distribute", as_user="chen")
    assert refused.exit_code == 4 and "no pool's admin" in refused.stderr
    other = cli("distribute", "--pool", "west", as_user="zhang")
    assert other.exit_code == 4


def test_the_uninterrupted_turn_is_the_round_robin_plan():
    # strategies.rotation, made from ids alone, must be exactly what round_robin gives
    # whenever nothing can interrupt the turn (and refuse when something could).
    import copy
    import random

    from crmpool.distribute import strategies

    rng = random.Random(5)
    for _ in range(300):
        n, k = rng.randrange(0, 40), rng.randrange(0, 6)
        ids = sorted(rng.sample(range(1, 500), n))
        names = rng.sample(["li", "zhang", "chen", "wang", "boss", "amy", "Bo"], k)
        receivers = [strategies.Receiver(name, rng.randrange(0, 20),
                                         rng.choice([None, rng.randrange(0, 20)]),
                                         rng.randrange(0, 5)) for name in names]
        last = rng.choice([None, *names, "aaa", "zzz", "m"])
        fast = strategies.rotation(ids, copy.deepcopy(receivers), last)
        slow_receivers = copy.deepcopy(receivers)
        slow = strategies.round_robin([strategies.Waiting(i) for i in ids], slow_receivers,
                                      last)
        if fast is None:
            share = -(-n // k) if k else 0
            assert not n or not k or any(r.room < share for r in receivers)
            continue
        assert (fast.given, fast.left, fast.last_turn) == (slow.given, slow.left,
                                                          slow.last_turn)
        fast_receivers = copy.deepcopy(receivers)
        strategies.rotation(ids, fast_receivers, last)
        assert [(r.name, r.cap_room, r.day_room, r.load, r.got) for r in fast_receivers] == \
            [(r.name, r.cap_room, r.day_room, r.load, r.got) for r in slow_receivers]
