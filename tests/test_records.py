"""A rep's records: edit, merge, restore, deal close, and today's work (due)."""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import NOW, add_customers

from crmpool import store
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.when import stored


def test_edit_changes_fields_with_an_event_and_refuses_a_duplicate(cli, conn):
    ids = add_customers(conn, [{"name": "Alpha", "phone": "13800000001", "owner": "li"},
                               {"name": "Beta", "phone": "13900000002", "owner": "zhang"}])
    result = cli("edit", str(ids[0]), "--level", "A", "--set", "来源=展会", "-f", "json",
                 as_user="li")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["level"] == "A"
    event = [e for e in cli.rows("history", str(ids[0])) if e["action"] == "edit"][0]
    assert "level: '' -> 'A'" in event["reason"] and "extra.来源" in event["reason"]
    assert json.loads(conn.execute("SELECT extra FROM customers WHERE id = ?",
                                   (ids[0],)).fetchone()[0]) == {"来源": "展会"}
    refused = cli("edit", str(ids[0]), "--phone", "139-0000-0002", as_user="li")
    assert refused.exit_code == 4 and "zhang" in refused.stderr
    assert cli("edit", str(ids[0]), "--phone", "139-0000-0002", "--allow-duplicate",
               as_user="li").exit_code == 0
    assert conn.execute("SELECT phone_key FROM customers WHERE id = ?",
                        (ids[0],)).fetchone()[0] == "13900000002"
    assert cli("edit", str(ids[1]), "--level", "A", as_user="li").exit_code == 4
    assert cli("edit", str(ids[1]), "--level", "A", as_user="wang").exit_code == 0
    assert cli("edit", str(ids[0]), "--name", " ", as_user="li").exit_code == 2
    assert cli("edit", str(ids[0]), as_user="li").exit_code == 2


def test_merge_folds_duplicates_keeping_their_history(cli, conn):
    ids = add_customers(conn, [
        {"name": "星辰科技", "owner": "li", "phone": None},
        {"name": "北京星辰科技有限公司", "owner": "zhang", "phone": "13800000001",
         "email": "x@xc.cn", "last_contact_at": stored(NOW - timedelta(days=1))},
        {"name": "星辰", "region": "北京"}])
    assert cli("log", str(ids[1]), "--note", "hi", as_user="zhang").exit_code == 0
    assert cli("deal", str(ids[1]), "--amount", "500", "--stage", "won",
               as_user="zhang").exit_code == 0
    assert cli("merge", str(ids[0]), str(ids[1]), as_user="li").exit_code == 4  # a rep
    result = cli("merge", str(ids[0]), str(ids[1]), str(ids[2]), as_user="wang")
    assert result.exit_code == 0, result.stderr
    keep = cli.rows("show", str(ids[0]))[0]
    assert (keep["phone"], keep["email"], keep["region"], keep["status"]) == (
        "13800000001", "x@xc.cn", "北京", "won")
    assert len(keep["contacts"]) == 1 and len(keep["deals"]) == 1
    assert [r["id"] for r in cli.rows("list")] == [ids[0]]
    merged = conn.execute("SELECT status, merged_into FROM customers WHERE id = ?",
                          (ids[1],)).fetchone()
    assert tuple(merged) == ("invalid", ids[0])
    assert cli("restore", str(ids[1]), as_user="wang").exit_code == 4  # merged: no restore
    assert {e["action"] for e in cli.rows("history", str(ids[1]))} >= {"merge"}


def test_dupes_pipe_into_merge(cli, conn):
    add_customers(conn, [{"name": "Acme Inc.", "owner": "li"}, {"name": "ACME", "owner": "li"},
                         {"name": "Other", "phone": "1"}])
    clusters = cli("dupes", "-f", "jsonl").stdout
    result = cli("merge", "-", input=clusters)
    assert result.exit_code == 0, result.stderr
    assert len(cli.rows("list")) == 2


def test_restore_undoes_invalid(cli, conn):
    ids = add_customers(conn, [{"name": "A", "owner": "li"}])
    assert cli("invalid", str(ids[0]), "--reason", "wrong number", as_user="li").exit_code == 0
    assert cli("restore", str(ids[0]), as_user="li").exit_code == 4  # a manager's
    assert cli("restore", str(ids[0]), as_user="wang").exit_code == 0
    assert cli.rows("list")[0]["status"] == "active"
    assert cli("restore", str(ids[0]), as_user="wang").exit_code == 4
    assert "restore" in {e["action"] for e in cli.rows("history", str(ids[0]))}


def test_an_open_deal_is_closed_not_counted_twice(cli, conn):
    ids = add_customers(conn, [{"name": "A", "owner": "li"}])
    opened = cli.rows("deal", str(ids[0]), "--amount", "1000", as_user="li")[0]
    assert cli.rows("list", "--kind", "deals")[0]["id"] == opened["id"]
    result = cli("deal", "close", str(opened["id"]), "--stage", "won", "--amount", "1,200",
                 as_user="li")
    assert result.exit_code == 0, result.stderr
    deals = cli.rows("list", "--kind", "deals")
    assert [(d["amount"], d["stage"]) for d in deals] == [("1200.00", "won")]
    assert cli.rows("list")[0]["status"] == "won"
    again = cli("deal", "close", str(opened["id"]), "--stage", "lost", as_user="li")
    assert again.exit_code == 4 and "already won" in again.stderr
    assert cli("deal", "close", "99", "--stage", "won").exit_code == 4
    assert cli("deal", "close", str(opened["id"]), "--stage", "open").exit_code == 2
    assert cli("deal", str(ids[0])).exit_code == 2  # how much?


def test_due_lists_todays_work_overdue_first(cli, conn, users):
    with store.transaction(conn):
        set_rules(conn, users["boss"], "[[reclaim]]\nname = 'idle'\nidle_days = 30\n"
                  "warn_days = 5\n", "t", NOW)
    ids = add_customers(conn, [
        {"name": "late", "owner": "li", "next_contact_at": stored(NOW - timedelta(days=2))},
        {"name": "today", "owner": "li", "next_contact_at": stored(NOW + timedelta(hours=2))},
        {"name": "later", "owner": "li", "next_contact_at": stored(NOW + timedelta(days=3))},
        {"name": "slipping", "owner": "li", "assigned_at": stored(NOW - timedelta(days=27))},
        {"name": "thawing", "owner": "li", "frozen_until": stored(NOW + timedelta(hours=3)),
         "freeze_reason": "合同"},
        {"name": "theirs", "owner": "zhang", "next_contact_at": stored(NOW)}])
    sweep(conn, users["boss"], NOW, NOW)
    rows = cli.rows("due", as_user="li")
    assert [(r["what"], r["name"]) for r in rows] == [
        ("overdue", "late"), ("follow-up", "today"), ("freeze ends", "thawing"),
        ("reclaim", "slipping")]
    assert "later" in [r["name"] for r in cli.rows("due", "--days", "3", as_user="li")]
    team = {r["name"] for r in cli.rows("due", "--team", "east", as_user="wang")}
    assert {"late", "theirs"} <= team
    # A contact logged since the plan settles it.
    assert cli("log", str(ids[0]), as_user="li").exit_code == 0
    assert "late" not in [r["name"] for r in cli.rows("due", as_user="li")]
    assert [r["name"] for r in cli.rows("list", "--due", "--mine", as_user="li")] == [
        "late", "today"]


def test_user_import_sets_up_a_team_all_or_nothing(cli, conn, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("用户名,姓名,角色,团队,上限,邮箱\n"
                    + "".join(f"rep{i:02d},销售{i},rep,south,{50 + i},rep{i}@x.cn\n"
                              for i in range(40))
                    + "sun,孙经理,manager,south,,sun@x.cn\n", encoding="utf-8")
    result = cli("user", "import", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 41
    users = {u["name"]: u for u in cli.rows("user", "list")}
    assert users["rep07"]["cap"] == 57 and users["sun"]["role"] == "manager"
    again = cli("user", "import", str(path), "-f", "json")
    assert json.loads(again.stdout) | {"file": None} == {"file": None, "added": 0,
                                                          "updated": 41}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,role,cap\nnew1,rep,5\nnew2,boss,5\n")
    result = cli("user", "import", str(bad))
    assert result.exit_code == 3 and "line 3" in result.stderr
    assert "new1" not in {u["name"] for u in cli.rows("user", "list")}
    assert cli("user", "import", str(path), as_user="wang").exit_code == 4


def test_a_leaving_user_hands_over_their_customers(cli, conn):
    ids = add_customers(conn, [{"name": f"c{i}", "owner": "li"} for i in range(3)])
    refused = cli("user", "set", "li", "--inactive")
    assert refused.exit_code == 4 and "3 customers" in refused.stderr
    assert cli("user", "set", "li", "--inactive", "--handover-to", "li").exit_code == 2
    result = cli("user", "set", "li", "--inactive", "--handover-to", "zhang", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["handed_over"] == 3
    assert {r["owner"] for r in cli.rows("list")} == {"zhang"}
    events = [e for e in cli.rows("history", str(ids[0])) if e["action"] == "assign"]
    assert events[-1]["reason"] == "handover from li"
    assert not {u["name"]: u for u in cli.rows("user", "list")}["li"]["active"]
