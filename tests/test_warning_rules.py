"""Warning rules (预警): each condition opening and closing with a fixed clock, levels and the
rise on a reclaim warning's last day, ack, and the rules file's checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, add_customers

from crmpool import store
from crmpool.contacts import log_contact
from crmpool.deals import record_deal
from crmpool.errors import InputError
from crmpool.rules import parse_rules
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.sweep.warnings import list_warnings


def days_ago(n: float) -> str:
    return (NOW - timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def use_rules(conn, users, text: str) -> None:
    with store.transaction(conn):
        set_rules(conn, users["boss"], text, "test.toml", NOW)


def open_ones(conn, rule: str | None = None) -> list[dict]:
    return [w for w in list_warnings(conn) if rule is None or w["rule"] == rule]


def test_idle_days_opens_once_and_closes_on_a_contact(conn, users):
    use_rules(conn, users, '[[warn]]\nname = "quiet"\nidle_days = 10\nlevel = "low"\n')
    ids = add_customers(conn, [
        {"name": "甲", "owner": "li", "assigned_at": days_ago(40), "last_contact_at": days_ago(12)},
        {"name": "乙", "owner": "li", "assigned_at": days_ago(40), "last_contact_at": days_ago(3)},
        {"name": "丙", "assigned_at": None, "last_contact_at": days_ago(30)}])  # in the pool
    report = sweep(conn, users["boss"], NOW, NOW)
    assert [(w["customer_id"], w["level"], w["detail"]) for w in open_ones(conn)] == [
        (ids[0], "low", "no contact for 10 days")]
    assert report.warned == 1
    assert sweep(conn, users["boss"], NOW + timedelta(hours=1), NOW).warned == 0  # one episode
    log_contact(conn, users["li"], [ids[0]], NOW + timedelta(hours=2),
                at=NOW + timedelta(hours=2))
    report = sweep(conn, users["boss"], NOW + timedelta(hours=3), NOW)
    assert report.warnings_closed == 1 and open_ones(conn) == []
    closed = list_warnings(conn, closed_too=True)
    assert [(w["close_reason"], w["closed_at"] is not None) for w in closed] == [
        ("contact", True)]


def test_a_rule_taken_out_of_the_rules_closes_only_its_own_warnings(conn, users):
    both = ('[[warn]]\nname = "quiet"\nidle_days = 10\n'
            '[[warn]]\nname = "quieter"\nidle_days = 5\n'
            '[[warn]]\nname = "a-first"\nidle_days = 3\n')
    use_rules(conn, users, both)
    add_customers(conn, [{"name": n, "owner": "li", "assigned_at": days_ago(40),
                          "last_contact_at": days_ago(12)} for n in ("甲", "乙")])
    sweep(conn, users["boss"], NOW, NOW)
    assert sorted({w["rule"] for w in open_ones(conn)}) == ["a-first", "quiet", "quieter"]
    use_rules(conn, users, '[[warn]]\nname = "quieter"\nidle_days = 5\n')
    report = sweep(conn, users["boss"], NOW + timedelta(hours=1), NOW)
    assert report.warnings_closed == 4
    assert {w["rule"] for w in open_ones(conn)} == {"quieter"}
    assert sorted((w["rule"], w["close_reason"]) for w in list_warnings(conn, closed_too=True)
                  if w["closed_at"]) == [("a-first", "rule removed")] * 2 + [
                      ("quiet", "rule removed")] * 2


def test_no_won_days_is_churn_of_a_customer_who_bought(conn, users):
    use_rules(conn, users, '[[warn]]\nname = "churn"\nno_won_days = 90\nlevel = "high"\n')
    ids = add_customers(conn, [
        {"name": "老客户", "owner": "li", "won_at": days_ago(100), "status": "won"},
        {"name": "新客户", "owner": "li", "won_at": days_ago(20), "status": "won"},
        {"name": "没买过", "owner": "li"}])
    sweep(conn, users["boss"], NOW, NOW)
    assert [(w["customer_id"], w["level"]) for w in open_ones(conn)] == [(ids[0], "high")]
    record_deal(conn, users["li"], ids[0], "500", NOW, stage="won", at=NOW)
    sweep(conn, users["boss"], NOW + timedelta(hours=1), NOW)
    assert open_ones(conn) == []
    assert list_warnings(conn, closed_too=True)[0]["close_reason"] == "deal won"


def test_a_drop_in_purchases_says_the_baseline_and_the_drop(conn, users):
    use_rules(conn, users, '[[warn]]\nname = "drop"\ndrop_pct = 50\nwindow_days = 30\n')
    ids = add_customers(conn, [{"name": "降了", "owner": "li"}, {"name": "稳定", "owner": "li"}])
    for days, amounts in ((100, (1000, 1000)), (70, (1000, 1000)), (40, (1000, 1000)),
                          (5, (200, 1000))):
        for cid, amount in zip(ids, amounts, strict=True):
            record_deal(conn, users["boss"], cid, str(amount), NOW, stage="won",
                        at=NOW - timedelta(days=days))
    sweep(conn, users["boss"], NOW, NOW)
    [warning] = open_ones(conn)
    assert warning["customer_id"] == ids[0]
    assert warning["detail"] == ("won 200.00 in the last 30 days against an average of"
                                 " 1000.00 (-80%)")
    # The drop holding the next day is the same episode, not a new warning.
    assert sweep(conn, users["boss"], NOW + timedelta(days=1), NOW).warned == 0
    record_deal(conn, users["boss"], ids[0], "900", NOW + timedelta(days=1), stage="won")
    sweep(conn, users["boss"], NOW + timedelta(days=2), NOW)
    assert open_ones(conn) == []


def test_an_overdue_follow_up_and_a_freeze_that_ends(cli, conn, users):
    use_rules(conn, users, '[[warn]]\nname = "overdue"\noverdue_days = 2\n'
                           '[[warn]]\nname = "thaw"\nfreeze_ends_days = 3\n')
    ids = add_customers(conn, [
        {"name": "约了没打", "owner": "li", "next_contact_at": days_ago(3),
         "last_contact_at": days_ago(10)},
        {"name": "约了打了", "owner": "li", "next_contact_at": days_ago(3),
         "last_contact_at": days_ago(1)},
        {"name": "冻结中", "owner": "li", "frozen_until": days_ago(-2)},
        {"name": "冻得久", "owner": "li", "frozen_until": days_ago(-30)}])
    sweep(conn, users["boss"], NOW, NOW)
    assert sorted((w["rule"], w["customer_id"]) for w in open_ones(conn)) == [
        ("overdue", ids[0]), ("thaw", ids[2])]


def test_a_reclaim_warning_rises_to_high_on_its_last_day_once(cli, conn, users):
    use_rules(conn, users, '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n'
                           'warn_level = "low"\n')
    [cid] = add_customers(conn, [{"name": "快回收", "owner": "li",
                                  "assigned_at": days_ago(26)}])
    sweep(conn, users["boss"], NOW, NOW)
    assert [w["level"] for w in open_ones(conn)] == ["low"]
    later = NOW + timedelta(days=3, hours=1)  # due within a day now
    report = sweep(conn, users["boss"], later, NOW)
    [warning] = open_ones(conn)
    assert (warning["level"], warning["risen_at"] is not None, report.warned) == (
        "high", True, 0)
    assert len(list_warnings(conn, closed_too=True)) == 1  # a rise, not a new warning
    run = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    assert cli("sweep", "--undo", str(run)).exit_code == 0
    assert [w["level"] for w in open_ones(conn)] == ["low"]


def test_warnings_filter_by_level_owner_and_team_and_ack(cli, conn, users):
    use_rules(conn, users, '[[warn]]\nname = "quiet"\nidle_days = 10\nlevel = "high"\n'
                           '[[warn]]\nname = "quieter"\nidle_days = 5\nlevel = "low"\n')
    add_customers(conn, [
        {"name": "李的", "owner": "li", "last_contact_at": days_ago(12),
         "assigned_at": days_ago(40)},
        {"name": "陈的", "owner": "chen", "last_contact_at": days_ago(12),
         "assigned_at": days_ago(40)}])
    sweep(conn, users["boss"], NOW, NOW)
    assert len(cli.rows("warnings")) == 4
    assert {w["owner"] for w in cli.rows("warnings", "--team", "east")} == {"li"}
    assert [w["level"] for w in cli.rows("warnings", "--mine", as_user="li")] == ["high", "low"]
    assert {w["rule"] for w in cli.rows("warnings", "--level", "low")} == {"quieter"}
    assert cli("warnings", "--level", "urgent").exit_code == 2
    assert cli("warnings", "--team", "nowhere").exit_code in (2, 4)
    mine = cli.rows("warnings", "--mine", as_user="li")
    chens = cli.rows("warnings", "--owner", "chen")
    assert cli("warnings", "ack", str(chens[0]["id"]), as_user="li").exit_code == 4
    result = cli("warnings", "ack", str(mine[0]["id"]), as_user="li")
    assert result.exit_code == 0, result.stderr
    assert cli.rows("warnings", "--mine", as_user="li")[0]["acked_at"] is not None
    assert cli("warnings", "ack", "99999", as_user="li").exit_code == 4
    # Acked, still open; closed ones show with --all.
    assert len(cli.rows("warnings", "--mine", as_user="li")) == 2
    assert cli("warnings", "ack", str(mine[1]["id"]), as_user="wang").exit_code == 0


@pytest.mark.parametrize(("text", "key"), [
    ('[[warn]]\nname = "x"\nidle_days = 0\n', "warn[1] (x).idle_days"),
    ('[[warn]]\nname = "x"\nidle_days = 5\nlevel = "urgent"\n', "warn[1] (x).level"),
    ('[[warn]]\nname = "x"\nidle_days = 5\nnotify = ["mail"]\n', "warn[1] (x).notify"),
    ('[[warn]]\nname = "x"\nidle_days = 5\ncolour = "red"\n', "warn[1] (x).colour"),
    ('[[warn]]\nname = "x"\ndrop_pct = 50\n', "warn[1] (x).window_days"),
    ('[[warn]]\nname = "x"\nidle_days = 5\nno_won_days = 9\n', "warn[1] (x): needs exactly"),
    ('[[reclaim]]\nname = "r"\nidle_days = 30\nwarn_level = "mid"\n', "warn_level: goes with"),
    ('[[channel]]\nname = "c"\ntype = "pigeon"\n', "channel[1] (c).type"),
    ('[[channel]]\nname = "c"\ntype = "webhook"\nurl = "ftp://x"\n', "channel[1] (c).url"),
    ('[[channel]]\nname = "c"\ntype = "smtp"\nhost = "h"\nfrom = "a@b"\nport = 0\n',
     "channel[1] (c).port"),
    ('[[channel]]\nname = "c"\ntype = "webhook"\nurl = "http://x"\nto = { low = ["boss"] }\n',
     "channel[1] (c).to.low"),
    ('[[channel]]\nname = "c"\ntype = "command"\nargv = []\n', "channel[1] (c).argv"),
    ('[[warn]]\nname = "x"\nidle_days = 5\n[[warn]]\nname = "x"\nidle_days = 6\n',
     "a second rule has this name"),
])
def test_rules_are_checked_naming_the_key(text, key):
    with pytest.raises(InputError) as caught:
        parse_rules(text, "rules.toml")
    assert key in str(caught.value)


def test_a_rules_file_with_channels_and_warnings_is_accepted():
    rules = parse_rules(
        '[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\nport = 2525\n'
        'from = "crm@example.cn"\n'
        '[[channel]]\nname = "robot"\ntype = "webhook"\nurl = "https://oapi.dingtalk.com/x"\n'
        'style = "dingtalk"\nsecret_env = "DING_SECRET"\nto = { low = [], high = ["admins"] }\n'
        '[[warn]]\nname = "churn"\nno_won_days = 90\nlevel = "high"\nnotify = ["robot"]\n'
        '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\nnotify = ["mail"]\n',
        "rules.toml")
    assert [c.name for c in rules.channels] == ["mail", "robot"]
    assert rules.channels[1].recipients("low") == ()
    assert rules.channels[0].recipients("mid") == ("owner", "manager")
    assert rules.warn[0].notify == ("robot",) and rules.reclaim[0].notify == ("mail",)


def test_overdue_and_thaw_warnings_close_when_their_condition_ends(cli, conn, users):
    use_rules(conn, users, '[[warn]]\nname = "overdue"\noverdue_days = 2\n'
                           '[[warn]]\nname = "thaw"\nfreeze_ends_days = 3\n')
    ids = add_customers(conn, [
        {"name": "约了没打", "owner": "li", "next_contact_at": days_ago(3),
         "last_contact_at": days_ago(10)},
        {"name": "冻结中", "owner": "li", "frozen_until": days_ago(-2)}])
    sweep(conn, users["boss"], NOW, NOW)
    assert len(open_ones(conn)) == 2
    log_contact(conn, users["li"], [ids[0]], NOW + timedelta(hours=1),
                at=NOW + timedelta(hours=1))
    sweep(conn, users["boss"], NOW + timedelta(days=3), NOW)  # the freeze is over by now
    closed = {w["rule"]: w["close_reason"] for w in list_warnings(conn, closed_too=True)}
    assert closed == {"overdue": "contact", "thaw": "condition ended"}
    assert open_ones(conn) == []


def test_due_shows_warning_rules_as_warnings_not_as_reclaims(cli, conn, users):
    use_rules(conn, users, '[[warn]]\nname = "churn"\nno_won_days = 90\nlevel = "high"\n'
                           '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n')
    add_customers(conn, [
        {"name": "老客户", "owner": "li", "won_at": days_ago(100), "status": "won"},
        {"name": "快回收", "owner": "li", "assigned_at": days_ago(27)}])
    sweep(conn, users["boss"], NOW, NOW)
    rows = {r["name"]: r for r in cli.rows("due", "--mine", as_user="li")}
    assert rows["快回收"]["what"] == "reclaim" and "rule idle" in rows["快回收"]["detail"]
    assert rows["老客户"]["what"] == "warning"
    assert rows["老客户"]["detail"] == "[high] bought before, no won deal for 90 days"
