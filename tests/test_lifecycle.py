"""claim, release, assign, freeze, log, deal, invalid: the pool lifecycle and every refusal."""

from __future__ import annotations

import json

from conftest import NOW_TEXT, add_customers

RULES = """
[limits]
cap = 3
claims_per_day = 2
cooldown_days = 30
freeze_max_days = 60
freezes_per_user = 1
"""


def set_limits(cli, tmp_path, text=RULES):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    result = cli("rules", "set", str(path))
    assert result.exit_code == 0, result.stderr


def owner_of(conn, customer_id):
    return conn.execute("SELECT owner FROM customers WHERE id = ?", (customer_id,)).fetchone()[0]


def test_claim_takes_a_pool_customer_and_records_one_event(cli, conn):
    [cid] = add_customers(conn, [{"name": "Acme"}])
    rows = cli.rows("claim", str(cid), as_user="li")
    assert rows == [{"id": cid, "ok": True, "result": "claimed",
                     "message": "claimed Acme from the 'public' pool"}]
    assert owner_of(conn, cid) == "li"
    events = cli.rows("history", str(cid))
    assert [(e["action"], e["actor"], e["to_owner"]) for e in events] == [("claim", "li", "li")]


def test_already_owned_is_refused(cli, conn):
    [cid] = add_customers(conn, [{"name": "Acme", "owner": "zhang"}])
    result = cli("claim", str(cid), as_user="li")
    assert result.exit_code == 4
    assert "already belongs to zhang" in result.stderr
    result = cli("claim", str(cid), as_user="zhang")
    assert result.exit_code == 4 and "you already own" in result.stderr


def test_over_cap_is_refused(cli, conn, tmp_path):
    set_limits(cli, tmp_path, "[limits]\ncap = 2\nclaims_per_day = 0\n")
    ids = add_customers(conn, [{"name": f"c{i}"} for i in range(3)])
    result = cli("claim", *map(str, ids), as_user="li")
    assert result.exit_code == 4
    assert "you own 2 customers and the cap is 2" in result.stderr
    assert [owner_of(conn, i) for i in ids] == ["li", "li", None]


def test_per_user_cap_overrides_the_rules(cli, conn, tmp_path):
    set_limits(cli, tmp_path, "[limits]\ncap = 1\nclaims_per_day = 0\n")
    assert cli("user", "set", "li", "--cap", "2").exit_code == 0
    ids = add_customers(conn, [{"name": f"c{i}"} for i in range(3)])
    result = cli("claim", *map(str, ids), as_user="li")
    assert result.exit_code == 4
    assert [owner_of(conn, i) for i in ids] == ["li", "li", None]
    assert cli("user", "set", "li", "--default-cap").exit_code == 0
    assert [u["cap"] for u in cli.rows("user", "list") if u["name"] == "li"] == [1]


def test_won_customers_count_toward_cap_only_when_configured(cli, conn, tmp_path):
    add_customers(conn, [{"name": "won one", "owner": "li", "status": "won"}])
    [cid] = add_customers(conn, [{"name": "new"}])
    set_limits(cli, tmp_path, "[limits]\ncap = 1\ncap_counts_won = true\n")
    assert cli("claim", str(cid), as_user="li").exit_code == 4
    set_limits(cli, tmp_path, "[limits]\ncap = 1\ncap_counts_won = false\n")
    assert cli("claim", str(cid), as_user="li").exit_code == 0


def test_daily_claim_limit_and_refusals_do_not_use_quota(cli, conn, tmp_path):
    set_limits(cli, tmp_path)
    owned = add_customers(conn, [{"name": "owned", "owner": "zhang"}])
    ids = add_customers(conn, [{"name": f"c{i}"} for i in range(3)])
    # Refused claims (already owned) first: they must not count.
    assert cli("claim", str(owned[0]), as_user="li").exit_code == 4
    assert cli("claim", str(ids[0]), str(ids[1]), as_user="li").exit_code == 0
    result = cli("claim", str(ids[2]), as_user="li")
    assert result.exit_code == 4
    assert "taken 2 customers from pools today and the daily limit is 2" in result.stderr
    # The next local day (Beijing) the quota is back.
    cli.now = "2026-11-23T16:30:00Z"  # 00:30 on the 24th in Beijing
    assert cli("claim", str(ids[2]), as_user="li").exit_code == 0


def test_cooldown_after_release(cli, conn, tmp_path):
    set_limits(cli, tmp_path)
    [cid] = add_customers(conn, [{"name": "Acme", "owner": "li"}])
    assert cli("release", str(cid), "--reason", "not a fit", as_user="li").exit_code == 0
    result = cli("claim", str(cid), as_user="li")
    assert result.exit_code == 4
    assert "may claim it again after 30 days" in result.stderr
    assert cli("claim", str(cid), as_user="zhang").exit_code == 0  # others may
    assert cli("release", str(cid), "--reason", "x", as_user="zhang").exit_code == 0
    cli.now = "2026-12-23T10:00:01Z"
    assert cli("claim", str(cid), as_user="li").exit_code == 0


def test_release_needs_a_reason_and_the_owner(cli, conn):
    [cid] = add_customers(conn, [{"name": "Acme", "owner": "li"}])
    result = cli("release", str(cid), as_user="li")
    assert result.exit_code == 2 and "--reason" in result.output
    result = cli("release", str(cid), "--reason", "mine now", as_user="chen")
    assert result.exit_code == 4
    assert "belongs to li: only they, their manager or an admin" in result.stderr
    result = cli("release", str(cid), "--reason", "  ", as_user="li")
    assert result.exit_code == 2


def test_release_goes_home_or_to_a_named_pool(cli, conn):
    ids = add_customers(conn, [{"name": "A", "owner": "li"}, {"name": "B", "owner": "li"}])
    assert cli("pool", "add", "key-accounts").exit_code == 0
    assert cli("release", str(ids[0]), "--reason", "r", as_user="li").exit_code == 0
    assert cli("release", str(ids[1]), "--reason", "r", "--pool", "key-accounts",
               as_user="li").exit_code == 0
    pools = {r["id"]: r["pool"] for r in cli.rows("list", "--in-pool")}
    assert pools == {ids[0]: "public", ids[1]: "key-accounts"}
    result = cli("release", str(ids[0]), "--reason", "r", "--pool", "nowhere")
    assert result.exit_code == 4 and "no pool named 'nowhere'" in result.stderr


def test_manager_releases_for_their_team_only(cli, conn):
    ids = add_customers(conn, [{"name": "A", "owner": "li"}, {"name": "B", "owner": "chen"}])
    assert cli("release", str(ids[0]), "--reason", "r", as_user="wang").exit_code == 0
    result = cli("release", str(ids[1]), "--reason", "r", as_user="wang")
    assert result.exit_code == 4


def test_assign_by_role_and_team(cli, conn):
    ids = add_customers(conn, [{"name": f"c{i}"} for i in range(3)])
    result = cli("assign", str(ids[0]), "--to", "zhang", as_user="li")
    assert result.exit_code == 4
    assert "only a manager, an admin or a pool admin can assign" in result.stderr
    assert cli("assign", str(ids[0]), "--to", "zhang", as_user="wang").exit_code == 0
    result = cli("assign", str(ids[1]), "--to", "chen", as_user="wang")
    assert result.exit_code == 4 and "not in your team" in result.stderr
    assert cli("assign", str(ids[1]), "--to", "chen", as_user="boss").exit_code == 0
    result = cli("assign", str(ids[2]), "--to", "nobody", as_user="boss")
    assert result.exit_code == 4 and "no user named 'nobody'" in result.stderr
    history = cli.rows("history", str(ids[0]))
    assert history[-1]["action"] == "assign" and history[-1]["to_owner"] == "zhang"


def test_assign_respects_the_target_cap(cli, conn, tmp_path):
    set_limits(cli, tmp_path, "[limits]\ncap = 1\n")
    ids = add_customers(conn, [{"name": "A", "owner": "zhang"}, {"name": "B"}])
    result = cli("assign", str(ids[1]), "--to", "zhang", as_user="wang")
    assert result.exit_code == 4 and "zhang owns 1 customer and the cap is 1" in result.stderr


def test_freeze_and_unfreeze(cli, conn, tmp_path):
    set_limits(cli, tmp_path)
    ids = add_customers(conn, [{"name": "A", "owner": "li"}, {"name": "B", "owner": "li"},
                               {"name": "C"}])
    result = cli("freeze", str(ids[0]), "--until", "+30d", "--reason", "signing", as_user="li")
    assert result.exit_code == 4 and "only a manager or an admin can freeze" in result.stderr
    result = cli("freeze", str(ids[0]), "--until", "+61d", "--reason", "signing", as_user="wang")
    assert result.exit_code == 4 and "longest freeze allowed is 60 days" in result.stderr
    assert cli("freeze", str(ids[0]), "--until", "+30d", "--reason", "signing",
               as_user="wang").exit_code == 0
    result = cli("freeze", str(ids[1]), "--until", "+30d", "--reason", "x", as_user="wang")
    assert result.exit_code == 4 and "already has 1 frozen customer," in result.stderr
    result = cli("freeze", str(ids[2]), "--until", "+3d", "--reason", "x", as_user="wang")
    assert result.exit_code == 4 and "in the pool" in result.stderr
    assert [r["id"] for r in cli.rows("list", "--frozen")] == [ids[0]]
    result = cli("release", str(ids[0]), "--reason", "x", as_user="li")
    assert result.exit_code == 4 and "frozen until" in result.stderr
    assert cli("unfreeze", str(ids[0]), as_user="wang").exit_code == 0
    assert cli.rows("list", "--frozen") == []
    actions = [e["action"] for e in cli.rows("history", str(ids[0]))]
    assert actions == ["freeze", "unfreeze"]


def test_freeze_until_must_be_a_future_time(cli, conn):
    [cid] = add_customers(conn, [{"name": "A", "owner": "li"}])
    for bad in ("-2d", "0d", "soon", "", "+3x"):
        result = cli("freeze", str(cid), "--until", bad, "--reason", "r", as_user="wang")
        assert result.exit_code == 2, (bad, result.stderr)


def test_invalid_customers_are_out_of_lists_and_unclaimable(cli, conn):
    ids = add_customers(conn, [{"name": "Dead", "owner": "li"}, {"name": "Alive"}])
    result = cli("invalid", str(ids[0]), "--reason", "空号", as_user="li")
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in cli.rows("list")] == [ids[1]]
    assert [r["id"] for r in cli.rows("list", "--status", "invalid")] == [ids[0]]
    assert cli("release", str(ids[0]), "--reason", "r", as_user="li").exit_code == 4
    assert cli("assign", str(ids[0]), "--to", "zhang").exit_code == 4
    result = cli("invalid", str(ids[1]), "--reason", "x", as_user="li")
    assert result.exit_code == 4 and "claim it before" in result.stderr


def test_claiming_an_invalid_pool_customer_is_refused(cli, conn):
    [cid] = add_customers(conn, [{"name": "Dead", "status": "invalid",
                                  "invalid_reason": "closed"}])
    result = cli("claim", str(cid), as_user="li")
    assert result.exit_code == 4 and "marked invalid (closed)" in result.stderr


def test_log_contact_moves_the_clock_and_refuses_the_future(cli, conn):
    [cid] = add_customers(conn, [{"name": "A", "owner": "li",
                                  "assigned_at": "2026-10-01T00:00:00Z"}])
    result = cli("log", str(cid), "--via", "visit", "--note", "拜访", "--at", "-2d",
                 "--next", "+7d", as_user="li")
    assert result.exit_code == 0, result.stderr
    row = cli.rows("list", "--owner", "li")[0]
    assert row["last_contact_at"] == "2026-11-21T10:00:00Z"
    assert row["next_contact_at"] == "2026-11-30T10:00:00Z"
    result = cli("log", str(cid), "--at", "+1h", as_user="li")
    assert result.exit_code == 3 and "in the future" in result.stderr
    assert cli.rows("list", "--owner", "li")[0]["last_contact_at"] == "2026-11-21T10:00:00Z"
    result = cli("log", str(cid), as_user="chen")
    assert result.exit_code == 4
    shown = json.loads(cli("show", str(cid), "-f", "json").stdout)
    assert [c["via"] for c in shown["contacts"]] == ["visit"]


def test_idle_filter_uses_later_of_contact_and_assignment(cli, conn):
    ids = add_customers(conn, [
        {"name": "old", "owner": "li", "assigned_at": "2026-09-01T00:00:00Z"},
        {"name": "called", "owner": "li", "assigned_at": "2026-09-01T00:00:00Z",
         "last_contact_at": "2026-11-20T00:00:00Z"},
        {"name": "new", "owner": "li", "assigned_at": "2026-11-20T00:00:00Z",
         "last_contact_at": "2026-08-01T00:00:00Z"},
    ])
    assert [r["id"] for r in cli.rows("list", "--idle-over", "20")] == [ids[0]]


def test_deals_in_cents_and_won_status(cli, conn):
    [cid] = add_customers(conn, [{"name": "A", "owner": "li"}])
    rows = cli.rows("deal", str(cid), "--amount", "12,000.50", "--stage", "won", as_user="li")
    assert rows[0]["amount"] == "12000.50"
    assert conn.execute("SELECT amount_cents FROM deals").fetchone()[0] == 1200050
    assert cli.rows("list", "--status", "won")[0]["id"] == cid
    assert cli("deal", str(cid), "--amount", "-5", as_user="li").exit_code == 2
    assert cli("deal", str(cid), "--amount", "1.234", as_user="li").exit_code == 2
    assert cli("deal", str(cid), "--amount", "5", as_user="chen").exit_code == 4


def test_ids_from_stdin_bare_and_json_lines(cli, conn):
    ids = add_customers(conn, [{"name": f"c{i}", "owner": "li"} for i in range(3)])
    listed = cli("list", "--owner", "li", "-f", "jsonl").stdout
    result = cli("release", "-", "--reason", "handover", input=listed, as_user="li")
    assert result.exit_code == 0, result.stderr
    assert cli.rows("list", "--owner", "li") == []
    result = cli("claim", "-", input=f"{ids[0]}\n\n{ids[1]}\n999\n", as_user="zhang")
    assert result.exit_code == 4
    outcome = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["id"], o["ok"]) for o in outcome] == [(ids[0], True), (ids[1], True),
                                                     (999, False)]
    assert "customer 999: no customer with id 999" in result.stderr
    result = cli("claim", "-", input="12\nnot-an-id\n", as_user="zhang")
    assert result.exit_code == 3 and "stdin line 2" in result.stderr
    assert cli("claim", "abc", as_user="zhang").exit_code == 2


def test_add_refuses_a_likely_duplicate(cli, conn):
    add_customers(conn, [{"name": "北京星辰科技有限公司", "phone": "13800000001", "owner": "li"}])
    result = cli("add", "星辰", "--phone", "+86 138 0000 0001", as_user="zhang")
    assert result.exit_code == 4
    assert "owned by li, same phone" in result.stderr
    result = cli("add", "星辰", "--phone", "+86 138 0000 0001", "--allow-duplicate",
                 as_user="zhang")
    assert result.exit_code == 0


def test_add_owner_defaults_to_the_actor_and_respects_roles(cli, conn):
    assert cli.rows("add", "Mine", as_user="li")[0]["owner"] == "li"
    # A rep adds customers for themselves only (README); a manager may fill a pool.
    refused = cli("add", "Pooled", "--pool", "public", as_user="li")
    assert refused.exit_code == 4 and "for themselves" in refused.stderr
    assert cli.rows("add", "Pooled", "--pool", "public", as_user="wang")[0]["owner"] is None
    assert cli("add", "Theirs", "--owner", "zhang", as_user="li").exit_code == 4
    assert cli.rows("add", "Team", "--owner", "zhang", as_user="wang")[0]["owner"] == "zhang"


def test_list_filters(cli, conn):
    ids = add_customers(conn, [
        {"name": "Alpha", "level": "A", "region": "北京", "owner": "li", "phone": "13800000001"},
        {"name": "Beta", "level": "B", "region": "上海", "email": "x@beta.cn"},
        {"name": "Gamma_50%", "level": "B", "region": "上海", "owner": "zhang"},
    ])
    assert [r["id"] for r in cli.rows("list", "--mine", as_user="li")] == [ids[0]]
    assert [r["id"] for r in cli.rows("list", "--in-pool")] == [ids[1]]
    assert [r["id"] for r in cli.rows("list", "--level", "B", "--region", "上海")] == ids[1:]
    assert [r["id"] for r in cli.rows("list", "--search", "@beta.CN")] == [ids[1]]
    assert cli.rows("list", "--search", "beta.CN") == []  # e-mail only for text with @
    assert [r["id"] for r in cli.rows("list", "--search", "138 0000")] == [ids[0]]
    assert [r["id"] for r in cli.rows("list", "--search", "_50%")] == [ids[2]]
    assert [r["id"] for r in cli.rows("list", "--search", "%")] == [ids[2]]
    assert len(cli.rows("list", "--limit", "2")) == 2
    assert cli("list", "--status", "sleeping").exit_code == 2
    assert cli("list", "--owner", "li", "--mine").exit_code == 2


def test_output_formats_and_formula_guard(cli, conn):
    add_customers(conn, [{"name": "=HYPERLINK(\"x\")", "phone": "+86 138", "owner": "li"}])
    as_json = json.loads(cli("list", "-f", "json").stdout)
    assert as_json[0]["name"] == "=HYPERLINK(\"x\")"
    csv_text = cli("list", "-f", "csv").stdout.splitlines()
    assert csv_text[0].startswith("id,name,phone,email")
    assert "'=HYPERLINK" in csv_text[1] and ",'+86 138," in csv_text[1]
    tsv_text = cli("list", "-f", "tsv").stdout.splitlines()
    assert tsv_text[1].split("\t")[2] == "'+86 138"
    table = cli("list", "-f", "table", env={"COLUMNS": "150"}).stdout
    assert "HYPERLINK" in table
    assert cli("list", "-q").stdout == ""
    assert cli("list", "-f", "yaml").exit_code == 2


def test_events_filters(cli, conn):
    ids = add_customers(conn, [{"name": "A"}, {"name": "B"}])
    cli("claim", str(ids[0]), as_user="li")
    cli("claim", str(ids[1]), as_user="zhang")
    mine = cli.rows("events", "--user", "li")
    assert [(e["action"], e["customer_id"]) for e in mine] == [("user-add", None),
                                                               ("claim", ids[0])]
    assert len(cli.rows("events", "--action", "claim")) == 2
    assert cli.rows("events", "--since", "+1d") == []
    assert cli("events", "--limit", "0").exit_code == 2
    assert cli("runs", "--limit", "0").exit_code == 2
    assert cli("events", "--since", "yesterday-ish").exit_code == 2


def test_export_every_kind(cli, conn):
    [cid] = add_customers(conn, [{"name": "A", "owner": "li"}])
    cli("log", str(cid), "--note", "hi", as_user="li")
    cli("deal", str(cid), "--amount", "10", as_user="li")
    for kind, expected in (("customers", 1), ("contacts", 1), ("deals", 1)):
        assert len(cli.rows("export", "--kind", kind)) == expected
    assert cli.rows("export", "--kind", "deals")[0]["amount"] == "10.00"
    assert cli.rows("export", "--kind", "customers")[0]["created_at"] == NOW_TEXT


def test_a_closed_pipe_is_not_an_error(conn, db_path):
    import subprocess
    import sys

    add_customers(conn, [{"name": f"c{i}"} for i in range(3000)])
    env = {"CRMPOOL_DB": str(db_path), "CRMPOOL_USER": "boss", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(f"{sys.executable} -m crmpool list -f csv | head -2",
                            shell=True, env=env, capture_output=True, text=True)
    assert len(result.stdout.splitlines()) == 2
    assert "bug" not in result.stderr and "Traceback" not in result.stderr
