"""Reports (统计) against a fixture whose figures were worked out by hand: two weeks of a small
team's claims, releases, an assignment, contacts, deals (one imported a year back) and a
reclaim. Times are UTC; local time is Beijing (UTC+8), so a week starts Sunday 16:00 UTC."""

from __future__ import annotations

import json
import re

import pytest

from crmpool import store
from crmpool.reports.pool import waiting_now

RULES = '[limits]\ncooldown_days = 0\n\n[[reclaim]]\nname = "idle"\nidle_days = 7\n'


def at(cli, when: str, *args: str, as_user: str = "boss") -> str:
    cli.now = when
    result = cli(*args, as_user=as_user)
    assert result.exit_code == 0, (args, result.stderr)
    return result.stdout


@pytest.fixture
def history(cli, conn, tmp_path) -> dict:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    at(cli, "2026-11-16T01:00:00Z", "rules", "set", str(rules))
    ids = {}
    for name, region in (("A", "上海"), ("B", "北京"), ("C", "北京"), ("D", "广州")):
        out = at(cli, "2026-11-16T01:00:00Z", "add", name, "--pool", "public", "--region",
                 region, "-f", "json")
        ids[name] = json.loads(out)[0]["id"]
    a, b, c, d = (str(ids[n]) for n in "ABCD")
    at(cli, "2026-11-16T03:00:00Z", "claim", a, b, as_user="li")
    at(cli, "2026-11-16T03:00:00Z", "claim", c, as_user="zhang")
    at(cli, "2026-11-17T02:00:00Z", "log", a, "--via", "call", as_user="li")
    at(cli, "2026-11-17T02:00:00Z", "log", b, "--via", "visit", as_user="li")
    at(cli, "2026-11-17T05:00:00Z", "deal", c, "--amount", "500", "--stage", "won",
       as_user="zhang")
    at(cli, "2026-11-18T02:00:00Z", "deal", a, "--amount", "1000", "--stage", "won",
       as_user="li")
    deals = tmp_path / "old-deals.csv"
    deals.write_text(f"customer_id,amount,stage,date\n{a},300,won,2025-11-18\n",
                     encoding="utf-8")
    at(cli, "2026-11-18T03:00:00Z", "import", str(deals), "--kind", "deals")
    at(cli, "2026-11-19T02:00:00Z", "release", b, "--reason", "not now", as_user="li")
    at(cli, "2026-11-20T06:00:00Z", "assign", d, "--to", "zhang")
    # The pool at the end of the first week, counted directly.
    ids["pool_after_week_1"] = waiting_now(conn)
    at(cli, "2026-11-23T01:00:00Z", "claim", b, as_user="chen")
    at(cli, "2026-11-23T04:00:00Z", "sweep", "--now", "2026-11-23T04:00:00Z")
    cli.now = "2026-11-23T10:00:00Z"
    return ids


def report(cli, *args: str, as_user: str = "boss") -> list[dict]:
    result = cli("report", *args, "-f", "json", as_user=as_user)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_pool_flow_by_week_matches_the_hand_count(cli, conn, history):
    rows = report(cli, "pool", "--since", "2026-11-16", "--by", "week")
    assert [(r["period"], r["size_start"], r["inflow"], r["outflow"], r["size_end"])
            for r in rows] == [("2026-11-16", 0, 5, 4, 1), ("2026-11-23", 1, 1, 1, 1)]
    assert rows[0]["causes"] == "in:create 4, in:release 1, out:assign 1, out:claim 3"
    assert rows[1]["causes"] == "in:reclaim idle 1, out:claim 1"
    # Waited: three for two hours, D for 4 days 5 hours; then B for 3 days 23 hours.
    assert [r["avg_wait_days"] for r in rows] == [1.1, 4.0]
    # The worked-back sizes agree with counts taken at those moments.
    assert rows[0]["size_end"] == history["pool_after_week_1"]
    assert rows[-1]["size_end"] == waiting_now(conn)
    for row in rows:
        assert row["size_end"] - row["size_start"] == row["inflow"] - row["outflow"]


def test_owners_per_owner_with_team_totals(cli, history):
    rows = {r["owner"]: r for r in report(cli, "owners", "--since", "2026-11-16")}
    li, zhang, chen = rows["li"], rows["zhang"], rows["chen"]
    assert (li["owned"], li["won"], li["claimed"], li["released"], li["contacts"],
            li["contacts_call"], li["contacts_visit"], li["deals_won"], li["won_amount"],
            li["counted"]) == (1, 1, 2, 1, 2, 1, 1, 1, "1000.00", 0)
    assert (zhang["owned"], zhang["claimed"], zhang["assigned"], zhang["reclaimed"],
            zhang["deals_won"], zhang["won_amount"]) == (1, 1, 1, 1, 1, "500.00")
    assert (chen["owned"], chen["claimed"]) == (1, 1)
    east = rows["team east"]
    assert (east["owned"], east["claimed"], east["won_amount"]) == (2, 3, "1500.00")
    assert rows["all"]["owned"] == 3 and rows["all"]["claimed"] == 4
    # The default period is this week: only chen's claim and the reclaim.
    week = {r["owner"]: r for r in report(cli, "owners")}
    assert week["li"]["claimed"] == 0 and week["chen"]["claimed"] == 1
    assert week["zhang"]["reclaimed"] == 1


def test_ageing_buckets_add_up_to_the_owned_total(cli, history):
    rows = {r["owner"]: r for r in report(cli, "ageing")}
    buckets = ("d0_7", "d8_14", "d15_30", "d31_60", "d61_90", "over_90")
    for row in rows.values():
        assert sum(row[b] for b in buckets) == row["owned"]
    assert rows["all"]["owned"] == 3 and rows["all"]["d0_7"] == 3
    cli.now = "2026-12-20T10:00:00Z"  # four weeks on, nobody touched them
    later = {r["owner"]: r for r in report(cli, "ageing")}
    assert (later["li"]["d31_60"], later["zhang"]["d15_30"], later["chen"]["d15_30"]) == (
        1, 1, 1)


def test_lost_ranks_by_what_they_bought_and_pipes_into_assign(cli, history):
    a, c = str(history["A"]), str(history["C"])
    rows = report(cli, "lost", "--days", "3")
    assert [(r["id"], r["bought"], r["why"]) for r in rows] == [
        (int(a), "1300.00", "no purchase for 5 days"),
        (int(c), "500.00", "no purchase for 6 days and reclaimed after buying")]
    only_reclaimed = report(cli, "lost", "--days", "90")
    assert [(r["id"], r["why"]) for r in only_reclaimed] == [(int(c), "reclaimed after buying")]
    lines = cli("report", "lost", "--days", "90", "-f", "jsonl").stdout
    result = cli("assign", "-", "--to", "li", input=lines)
    assert result.exit_code == 0, result.stderr


def test_conversion_counts_each_customer_once(cli, history):
    rows = {(r["owner"], r["way"]): r for r in report(cli, "conversion", "--since",
                                                         "2026-11-16")}
    assert {k: (r["customers"], r["won"]) for k, r in rows.items()} == {
        ("chen", "claim"): (1, 0), ("li", "claim"): (2, 1), ("zhang", "assign"): (1, 0),
        ("zhang", "claim"): (1, 1), ("all", "any"): (4, 2)}
    assert rows[("all", "any")]["rate_pct"] == 50.0


def test_sales_by_region_beside_a_year_before_with_imported_history(cli, history):
    rows = report(cli, "sales", "--since", "2026-11-16", "--by", "week")
    assert [(r["period"], r["group"], r["amount"], r["year_before"], r["change_pct"])
            for r in rows] == [("2026-11-16", "上海", "1000.00", "300.00", 233.3),
                               ("2026-11-16", "北京", "500.00", "0.00", None)]


def test_a_rep_sees_only_their_own_figures(cli, history):
    rows = report(cli, "owners", "--since", "2026-11-16", as_user="li")
    assert [r["owner"] for r in rows] == ["li"]
    refused = cli("report", "owners", "--team", "east", as_user="li")
    assert refused.exit_code == 4


@pytest.mark.parametrize("args, words", [
    (["pool", "--by", "year"], "--by must be one of"),
    (["owners", "--since", "2026-11-20", "--until", "2026-11-19"], "--until must be after"),
    (["owners", "--team", "nowhere"], "no team named"),
    (["sales", "--group", "colour"], "--group must be one of"),
    (["owners", "--since", "someday"], "--since"),
])
def test_bad_report_options(cli, history, args, words):
    result = cli("report", *args)
    assert result.exit_code in (2, 4) and words in result.stderr


def test_the_table_carries_the_same_numbers_and_a_chart_fits_80_columns(cli, history):
    result = cli("report", "owners", "--since", "2026-11-16", "-f", "table",
                 env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    li = next(line for line in lines if line.startswith("li "))
    assert re.search(r"\b1000\.00\b", li)
    assert "won amount:" in result.stdout and "█" in result.stdout


def test_the_html_page_holds_every_report_and_nothing_external(cli, history, tmp_path):
    page = tmp_path / "report.html"
    result = cli("report", "html", "-o", str(page), "--since", "2026-11-16")
    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    for section in ("owners", "pool", "ageing", "lost", "conversion", "sales"):
        assert f'<section id="{section}">' in text
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=\"?(https?:)?//", text)
    assert "<svg" in text and "1000.00" in text and "上海" in text
    again = cli("report", "html", "-o", str(page))
    assert again.exit_code == 4 and "exists" in again.stderr


def test_reports_read_a_database_without_changing_it(cli, history, db_path):
    before = store.open_db(db_path).execute("SELECT count(*) FROM events").fetchone()[0]
    for name in ("owners", "pool", "ageing", "lost", "conversion", "sales"):
        report(cli, name)
    after = store.open_db(db_path).execute("SELECT count(*) FROM events").fetchone()[0]
    assert before == after


def _png_values(data: bytes) -> set[int]:
    """The distinct bytes of a PNG's decompressed image data (a blank page has a handful)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return set(zlib.decompress(idat))


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def test_the_page_renders_in_a_real_headless_chromium(cli, history, tmp_path):
    import shutil
    import subprocess

    browser = shutil.which("chromium")
    assert browser, "Chromium is missing: python3 scripts/dev.py pytest installs it"
    page = tmp_path / "report.html"
    assert cli("report", "html", "-o", str(page), "--since", "2026-11-16").exit_code == 0
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    shots = {}
    for name, target in (("page", page), ("blank", blank)):
        shot = tmp_path / f"{name}.png"
        run = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / name}",
                              f"--screenshot={shot}", "--window-size=1200,1800",
                              target.as_uri()], capture_output=True, text=True, timeout=120)
        assert shot.exists(), run.stderr[-2000:]
        shots[name] = _png_values(shot.read_bytes())
    assert len(shots["blank"]) < 10  # what a blank page looks like, measured in this run
    assert len(shots["page"]) > 50
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'dom'}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    for figure in ("1000.00", "500.00", "233.3", "上海", "team east", "in:reclaim idle 1"):
        assert figure in dom


def test_report_mail_sends_the_page_to_the_manager_through_a_real_smtp_server(
        cli, history, smtp, tmp_path):
    rules = tmp_path / "mail.toml"
    rules.write_text(RULES + '\n[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\n'
                     f'port = {smtp.port}\nfrom = "crm@example.com"\n')
    at(cli, "2026-11-23T10:00:00Z", "rules", "set", str(rules))
    at(cli, "2026-11-23T10:00:00Z", "user", "set", "wang", "--email", "wang@example.com")
    result = cli("report", "mail", "--to", "manager", "--team", "east", "--since", "2026-11-16")
    assert result.exit_code == 0, result.stderr
    assert "wang <wang@example.com>: sent through mail" in result.stderr
    [(to, message)] = smtp.received
    assert to == ["wang@example.com"] and "报表" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert '<section id="owners">' in html and "1000.00" in html and "<script" not in html
    # Nobody with an e-mail, or a server that refuses: a clear message and exit 2 or 5.
    nobody = cli("report", "mail", "--to", "admins")
    assert nobody.exit_code == 2 and "user set NAME --email" in nobody.stderr
    smtp.answers.append("554 no thanks")
    refused = cli("report", "mail", "--to", "user:wang")
    assert refused.exit_code == 5 and "mail:" in refused.stderr


def test_an_output_file_in_a_missing_folder_is_a_usage_error(cli, history, tmp_path):
    for args in (["report", "html", "-o", str(tmp_path / "nowhere" / "r.html")],
                 ["export", "-f", "csv", "-o", str(tmp_path / "nowhere" / "all.csv")]):
        result = cli(*args)
        assert result.exit_code == 2 and "nowhere" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [["ageing", "--since", "-7d"], ["owners", "--by", "month"],
                                  ["pool", "--team", "east"], ["owners", "--days", "30"],
                                  ["lost", "--group", "level"]])
def test_an_option_a_report_does_not_read_is_refused(cli, args):
    result = cli("report", *args)
    assert result.exit_code == 2 and "does not go with report" in result.stderr
