"""Tables that fit: every table command at 60, 80, 100 and 160 columns, with Chinese names,
never splits a date, an ID, a number, a phone or a user name, and says what it left out."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import NOW, add_customers
from rich.cells import cell_len

from crmpool import store
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.tables import fit
from crmpool.when import stored

WIDTHS = (60, 80, 100, 160)
PHONES = ["+86 138-0000-0001", "13900000002", "(0086)13700000003", "+44 20 7946 0007"]
TIME = re.compile(r"\d{2}-\d{2} \d{2}:\d{2}|\d{4}-\d{2}-\d{2}")


@pytest.fixture
def busy(conn, users):
    with store.transaction(conn):
        set_rules(conn, users["boss"], "[[reclaim]]\nname = 'idle'\nidle_days = 30\n"
                  "warn_days = 5\n", "t", NOW)
    add_customers(conn, [
        {"name": name, "phone": PHONES[i % 4], "owner": ("li", "zhang", None)[i % 3],
         "level": "ABC"[i % 3], "region": "湖北省武汉市", "email": f"sales{i}@例子.cn",
         "assigned_at": stored(NOW - timedelta(days=26 + i)) if i % 3 != 2 else None,
         "last_contact_at": stored(NOW - timedelta(days=27 + i)) if i % 3 != 2 else None}
        for i, name in enumerate(["北京星辰科技有限公司", "上海云帆物流股份有限公司",
                                  "深圳前海金融服务有限公司", "Acme Robotics International Inc.",
                                  "武汉长江建材有限公司", "重庆山城火锅连锁有限公司"])])
    sweep(conn, users["boss"], NOW, NOW)
    return conn


COMMANDS = [("list",), ("list", "--in-pool"), ("history", "1"), ("events",), ("runs",),
            ("warnings",), ("user", "list"), ("pool", "list"), ("dupes",), ("why", "1"),
            ("show", "1"), ("list", "--wide")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_tables_fit_and_never_split_a_value(cli, busy, width, command):
    result = cli(*command, "-f", "table", env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if "--wide" not in command:
        assert all(cell_len(line) <= width for line in lines), (width, lines)
    text = result.stdout
    # A phone, a time or an id is either shown whole or its column is left out: a part of
    # one never appears on its own.
    for phone in PHONES:
        for piece in (phone[:6], phone[-5:]):
            if piece in text and phone not in text:
                pytest.fail(f"{phone!r} split at width {width}: {text}")
    for line in lines:
        for stamp in TIME.findall(line):
            assert len(stamp) in (10, 11), line
    for name in ("li", "zhang", "public"):
        assert not re.search(rf"\b{name[:-1]}\s*$", text, re.M) or name in text


def test_narrow_tables_say_what_they_left_out(cli, busy):
    result = cli("list", "-f", "table", env={"COLUMNS": "60"})
    assert "left out to fit:" in result.stdout and "--wide" in result.stdout
    assert "北京星辰科技有限公司" in result.stdout  # the name keeps its room
    wide = cli("list", "-f", "table", "--wide", env={"COLUMNS": "60"})
    assert "left out" not in wide.stdout and "sales0@例子.cn" in wide.stdout


def test_columns_are_picked_by_name_in_every_format(cli, busy):
    rows = cli.rows("list", "-c", "id,holder,idle_days")
    assert set(rows[0]) == {"id", "holder", "idle_days"}
    table = cli("list", "-f", "table", "-c", "id,phone", env={"COLUMNS": "80"})
    assert "+86 138-0000-0001" in table.stdout and "北京" not in table.stdout
    bad = cli("list", "-c", "id,bogus")
    assert bad.exit_code == 2 and "holder" in bad.stderr


def test_a_table_never_prints_a_million_rows(cli, conn):
    add_customers(conn, [{"name": f"客户{i}"} for i in range(150)])
    result = cli("list", "-f", "table", env={"COLUMNS": "80"})
    assert "… 50 more (--limit N or --all)" in result.stdout
    assert result.stdout.count("客户") == 100
    assert cli("list", "-f", "table", "--all", env={"COLUMNS": "80"}).stdout.count("客户") == 150
    assert len(cli.rows("list")) == 150  # machine formats are never cut


def test_a_table_fetches_a_screenful_and_counts_the_rest(cli, conn, tmp_path, monkeypatch):
    # A terminal's `crmpool list` on a million customers fetched them all to count them
    # (8 s); now it fetches one more row than it shows and counts the rest in SQL.
    from crmpool import listing

    data = tmp_path / "many.csv"
    data.write_text("name\n" + "".join(f"客户{i}\n" for i in range(130)), encoding="utf-8")
    assert cli("import", str(data)).exit_code == 0
    fetched = []
    real = listing._select

    def spy(*args, **kwargs):
        for row in real(*args, **kwargs):
            fetched.append(row["id"])
            yield row

    monkeypatch.setattr(listing, "_select", spy)
    result = cli("list", "-f", "table", env={"COLUMNS": "80"})
    assert "… 30 more (--limit N or --all)" in result.stdout
    assert len(fetched) == 101
    assert "… 30 more" in cli("list", "-f", "table", "--search", "客户").stdout
    # --limit shows what it asks for, past the screenful.
    shown = cli("list", "-f", "table", "--limit", "120", env={"COLUMNS": "80"}).stdout
    assert shown.count("客户") == 120 and "more" not in shown
    for command in (["events"], ["list", "--kind", "deals"], ["runs"]):
        table = cli(*command, "-f", "table", "--limit", "3", env={"COLUMNS": "80"})
        assert table.exit_code == 0, table.stderr
    events = cli("events", "-f", "table", env={"COLUMNS": "80"}).stdout
    every = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert f"… {every - 100} more (--limit N or --all)" in events


def test_times_are_compact_and_local(cli, busy):
    result = cli("runs", "-f", "table", env={"COLUMNS": "100"})
    assert "11-23 18:00" in result.stdout  # NOW, 10:00 UTC, is 18:00 in Beijing
    assert "2026-11-23T10:00:00Z" in cli("runs", "-f", "csv").stdout


def test_fit_keeps_priority_and_gives_text_the_rest():
    cells = [["1", "北京星辰科技有限公司", "li", "13800000001"]]
    fitted = fit(["id", "name", "owner", "phone"], cells, 30)
    assert fitted.columns == ["id", "name", "owner"] and fitted.left_out == ["phone"]
    assert sum(fitted.widths) + 3 * (len(fitted.widths) - 1) <= 30
    assert fit(["id", "name"], cells, None).widths == [2, 20]
