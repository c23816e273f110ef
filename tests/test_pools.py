"""Pools with members and admins (公海成员 / 客户池管理员), their own limits, and who sees
contact details in full (权限): masking in every format, export holding only one's own."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import add_customers

from crmpool.visibility import mask_email, mask_other, mask_phone


def pool_rows(cli) -> dict[str, dict]:
    return {r["name"]: r for r in cli.rows("pool", "list")}


def test_pool_add_set_and_list_members_admins_and_limits(cli):
    assert cli("pool", "add", "east", "--member", "team:east", "--member", "chen",
               "--admin", "wang", "--claims-per-day", "3").exit_code == 0
    east = pool_rows(cli)["east"]
    assert (east["members"], east["admins"], east["claims_per_day"], east["cooldown_days"]) == (
        "chen, team:east", "wang", 3, None)
    assert pool_rows(cli)["public"]["members"] == "everyone"
    assert cli("pool", "set", "east", "--remove-member", "chen", "--cooldown-days", "5",
               "--admin", "li").exit_code == 0
    east = pool_rows(cli)["east"]
    assert (east["members"], east["admins"], east["cooldown_days"]) == (
        "team:east", "li, wang", 5)
    assert cli("pool", "set", "east", "--default-limits").exit_code == 0
    assert pool_rows(cli)["east"]["claims_per_day"] is None


@pytest.mark.parametrize("args, code, words", [
    (["pool", "set", "east", "--member", "team:nowhere"], 4, "no team named 'nowhere'"),
    (["pool", "set", "east", "--member", "ghost"], 4, "no user named 'ghost'"),
    (["pool", "set", "east", "--remove-member", "li"], 4, "li is not a member"),
    (["pool", "set", "east", "--claims-per-day", "-1"], 2, "'-1' is not a whole number from"),
    (["pool", "set", "nowhere", "--member", "li"], 4, "no pool named 'nowhere'"),
])
def test_bad_pool_settings_are_refused_and_change_nothing(cli, args, code, words):
    assert cli("pool", "add", "east", "--member", "zhang").exit_code == 0
    result = cli(*args)
    assert result.exit_code == code and words in result.stderr
    assert pool_rows(cli)["east"]["members"] == "zhang"


def test_a_pool_name_that_differs_only_in_case_is_refused_as_for_users(cli):
    result = cli("pool", "add", "PUBLIC")
    assert result.exit_code == 4
    assert "a pool named 'PUBLIC' looks the same as 'public'" in result.stderr
    assert [r["name"] for r in cli.rows("pool", "list")] == ["public"]


def test_a_team_name_that_differs_only_in_case_is_refused(cli):
    teams_before = {r["name"]: r["team"] for r in cli.rows("user", "list")}
    assert cli("user", "add", "m1", "--team", "north").exit_code == 0
    for args in (["user", "add", "m2", "--team", "NORTH"],
                 ["user", "set", "li", "--team", "North"]):
        result = cli(*args)
        assert result.exit_code == 4, result.output
        assert "team 'N" in result.stderr and "looks the same as 'north'" in result.stderr
    teams = {r["name"]: r["team"] for r in cli.rows("user", "list")}
    assert teams == teams_before | {"m1": "north"}  # nobody else changed, m2 not added


def test_only_a_rep_may_not_change_pools(cli):
    assert cli("pool", "add", "east").exit_code == 0
    result = cli("pool", "set", "east", "--member", "li", as_user="li")
    assert result.exit_code == 4 and "admin" in result.stderr


def test_a_non_member_cannot_claim_or_see_the_pool_and_a_member_can(cli, conn):
    cli("pool", "add", "east", "--member", "team:east", "--admin", "chen")
    ids = add_customers(conn, [{"name": "东方客户", "pool": "east"},
                               {"name": "公共客户", "pool": "public"}])
    cli("user", "add", "zhao", "--team", "north")
    result = cli("claim", str(ids[0]), as_user="zhao")
    assert result.exit_code == 4
    assert "open to its members only (team:east)" in result.stderr
    assert "ask its admin (chen)" in result.stderr
    assert [r["id"] for r in cli.rows("list", "--in-pool", as_user="zhao")] == [ids[1]]
    assert sorted(r["id"] for r in cli.rows("list", "--in-pool", as_user="li")) == ids
    assert cli("claim", str(ids[0]), as_user="li").exit_code == 0
    # A pool's admin may claim from it without being a member.
    assert cli("release", str(ids[0]), "--reason", "x", as_user="li").exit_code == 0
    assert cli("claim", str(ids[0]), as_user="chen").exit_code == 0


def test_a_pool_without_members_stays_open_to_everyone(cli, conn):
    [cid] = add_customers(conn, [{"name": "公共客户"}])
    assert cli("claim", str(cid), as_user="chen").exit_code == 0


def test_a_pool_admin_assigns_to_members_and_to_themselves_only(cli, conn):
    cli("pool", "add", "east", "--member", "li", "--member", "zhang", "--admin", "chen")
    ids = add_customers(conn, [{"name": f"客户{i}", "pool": "east"} for i in range(3)]
                        + [{"name": "公共", "pool": "public"}])
    assert cli("assign", str(ids[0]), "--to", "li", as_user="chen").exit_code == 0
    assert cli("assign", str(ids[1]), "--to", "chen", as_user="chen").exit_code == 0
    outsider = cli("assign", str(ids[2]), "--to", "wang", as_user="chen")
    assert outsider.exit_code == 4 and "wang is not a member of the 'east' pool" in (
        outsider.stderr)
    other_pool = cli("assign", str(ids[3]), "--to", "li", as_user="chen")
    assert other_pool.exit_code == 4 and "only its admins" in other_pool.stderr
    # Not a pool admin anywhere: a rep assigns nothing.
    assert cli("assign", str(ids[2]), "--to", "li", as_user="zhang").exit_code == 4
    owners = {r["id"]: r["owner"] for r in cli.rows("list", "--status", "active")}
    assert (owners[ids[0]], owners[ids[1]], owners[ids[2]]) == ("li", "chen", None)
    [event] = [e for e in cli.rows("history", str(ids[0])) if e["action"] == "assign"]
    assert (event["actor"], event["to_owner"], event["from_pool"]) == ("chen", "li", "east")


def test_a_pools_own_daily_limit_and_cooldown_hold_for_claim_and_assign(cli, conn):
    cli("pool", "add", "east", "--claims-per-day", "1", "--cooldown-days", "2")
    ids = add_customers(conn, [{"name": f"客户{i}", "pool": "east"} for i in range(3)]
                        + [{"name": "公共", "pool": "public"}])
    assert cli("claim", str(ids[0]), as_user="li").exit_code == 0
    second = cli("claim", str(ids[1]), as_user="li")
    assert second.exit_code == 4
    assert "taken 1 customer from the 'east' pool today and the daily limit is 1" in (
        second.stderr)
    # The limit is the pool's: the public pool still follows [limits].
    assert cli("claim", str(ids[3]), as_user="li").exit_code == 0
    # An assignment counts against the receiver's day too.
    given = cli("assign", str(ids[1]), "--to", "li", as_user="wang")
    assert given.exit_code == 4 and "li has taken 1 customer" in given.stderr
    # The pool's cooldown (2 days, not [limits]' 30) binds a manager's assign as well.
    assert cli("release", str(ids[0]), "--reason", "not now", as_user="li").exit_code == 0
    cli.now = "2026-11-24T11:00:00Z"
    back = cli("assign", str(ids[0]), "--to", "li", as_user="wang")
    assert back.exit_code == 4 and "li released customer" in back.stderr
    cli.now = "2026-11-25T11:00:00Z"
    assert cli("assign", str(ids[0]), "--to", "li", as_user="wang").exit_code == 0


def test_masks():
    assert mask_phone("13800010001") == "138****0001"
    assert mask_phone("+86 138 0001 0001") == "+86****0001"
    assert mask_phone("12345") == "1****"
    assert mask_email("li.lei@example.com") == "l***@example.com"
    assert mask_email("no-at-sign") == "no****gn"
    assert mask_other("91310000MA1K2X") == "91****2X"
    assert mask_other("ABC") == "****"


@pytest.fixture
def contacts(cli, conn):
    """li's customer, zhang's (same team), chen's (west), and one in the pool."""
    return add_customers(conn, [
        {"name": "李的", "owner": "li", "phone": "13800010001", "email": "li.lei@example.com",
         "company_id": "91310000MA1K2X"},
        {"name": "张的", "owner": "zhang", "phone": "13900020002", "email": "zh@example.com"},
        {"name": "陈的", "owner": "chen", "phone": "13700030003"},
        {"name": "公海的", "phone": "13600040004", "email": "pool@example.com"}])


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "tsv", "table"])
def test_a_rep_sees_only_their_own_contact_details_in_every_format(cli, contacts, fmt):
    result = cli("list", "-f", fmt, "-c", "id,phone,email,company_id", as_user="li")
    assert result.exit_code == 0
    text = result.stdout
    assert "13800010001" in text and "li.lei@example.com" in text and "91310000MA1K2X" in text
    for full in ("13900020002", "zh@example.com", "13700030003", "13600040004",
                 "pool@example.com"):
        assert full not in text
    for masked in ("139****0002", "z***@example.com", "137****0003", "136****0004"):
        assert masked in text


def test_a_manager_sees_their_team_and_an_admin_everything(cli, contacts):
    shown = {r["id"]: r["phone"] for r in cli.rows("list", as_user="wang")}
    assert shown == {contacts[0]: "13800010001", contacts[1]: "13900020002",
                     contacts[2]: "137****0003", contacts[3]: "136****0004"}
    assert {r["phone"] for r in cli.rows("list")} == {
        "13800010001", "13900020002", "13700030003", "13600040004"}


def test_show_and_search_mask_but_search_matches_the_full_number(cli, contacts):
    found = cli.rows("list", "--search", "13600040004", as_user="li")
    assert [(r["id"], r["phone"]) for r in found] == [(contacts[3], "136****0004")]
    shown = json.loads(cli("show", str(contacts[1]), "-f", "json", as_user="li").stdout)
    assert (shown["phone"], shown["email"]) == ("139****0002", "z***@example.com")
    own = json.loads(cli("show", str(contacts[0]), "-f", "json", as_user="li").stdout)
    assert own["phone"] == "13800010001"


def test_a_pool_admin_sees_their_pools_customers_in_full(cli, contacts):
    cli("pool", "add", "vip", "--admin", "chen")
    cli("pool", "add", "x")
    assert cli("release", str(contacts[0]), "--reason", "handover", "--pool", "vip",
               as_user="li").exit_code == 0
    phones = {r["id"]: r["phone"] for r in cli.rows("list", as_user="chen")}
    assert phones[contacts[0]] == "13800010001" and phones[contacts[3]] == "136****0004"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_export_holds_only_what_the_user_may_see(cli, contacts, fmt):
    cli("log", str(contacts[0]), "--note", "mine", as_user="li")
    cli("log", str(contacts[1]), "--note", "zhang's", as_user="zhang")

    def exported(kind: str, who: str) -> list[dict]:
        result = cli("export", "--kind", kind, "-f", fmt, as_user=who)
        assert result.exit_code == 0, result.stderr
        if fmt == "csv":
            return list(csv.DictReader(io.StringIO(result.stdout)))
        if fmt == "json":
            return json.loads(result.stdout)
        return [json.loads(line) for line in result.stdout.splitlines()]

    new = cli.rows("add", "新客户", "--owner", "li", as_user="li")[0]["id"]
    cli("add", "张的新客户", "--owner", "zhang", as_user="zhang")
    assert [int(r["id"]) for r in exported("customers", "li")] == [contacts[0], new]
    assert [r["note"] for r in exported("contacts", "li")] == ["mine"]
    assert {int(r["customer_id"]) for r in exported("events", "li")} == {new}
    assert [int(r["id"]) for r in exported("customers", "wang")] == [*contacts[:2], new,
                                                                     new + 1]
    assert len(exported("customers", "boss")) == 6


def test_duplicate_listing_masks_a_shared_number_of_someone_elses(cli, conn, contacts):
    add_customers(conn, [{"name": "重复", "owner": "chen", "phone": "13900020002"}])
    [cluster] = [c for c in cli.rows("dupes", as_user="li") if c["same"] == "phone"]
    assert cluster["key"] != "13900020002" and cluster["key"].startswith("139****")
    assert cluster["owners"] == ["zhang", "chen"]  # the owners are still named
    [plain] = [c for c in cli.rows("dupes") if c["same"] == "phone"]
    assert plain["key"] == "13900020002"
