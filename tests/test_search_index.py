"""The search index (crmpool/search_index.py): `list --search` is answered from it, and it stays
exactly in step with the customers through every kind of write, in the same transaction."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import add_customers

from crmpool import search_index
from crmpool.imports import importer

SEEN: set[str] = set()  # every text ever indexed in a test, so stale entries are looked for


def texts(conn) -> list[str]:
    found = [row[0] for row in conn.execute(
        f"SELECT {search_index.SEARCH_TEXT.format(row='c')} FROM customers c")]
    SEEN.update(found)
    return found


def assert_index_agrees(conn) -> None:
    """Every trigram of every text finds the same customers in the live index as in one built
    afresh from the table: nothing missing, nothing stale (a stale entry would stay hidden
    behind the column check, so it is looked for here)."""
    texts(conn)
    conn.execute("DROP TABLE IF EXISTS temp.fresh")
    conn.execute("CREATE VIRTUAL TABLE temp.fresh USING fts5("
                 "text, tokenize = 'trigram', detail = none, content = '')")
    conn.execute("INSERT INTO temp.fresh (rowid, text) SELECT id,"
                 f" {search_index.SEARCH_TEXT.format(row='c')} FROM customers c")
    grams = {text[i:i + 3] for text in SEEN for i in range(len(text) - 2)}
    assert grams
    for gram in grams:
        query = '"' + gram.replace('"', '""') + '"'
        live = {r[0] for r in conn.execute(
            "SELECT rowid FROM customer_search WHERE customer_search MATCH ?", (query,))}
        fresh = {r[0] for r in conn.execute(
            "SELECT rowid FROM temp.fresh WHERE fresh MATCH ?", (query,))}
        assert live == fresh, gram
    assert conn.execute("SELECT count(*) FROM search_deferred").fetchone()[0] == 0


@pytest.fixture(autouse=True)
def _forget_texts():
    SEEN.clear()


@pytest.mark.sqlite_only
def test_every_write_keeps_the_index_in_step(cli, conn, tmp_path, monkeypatch):
    ids = add_customers(conn, [
        {"name": "北京星辰科技有限公司", "phone": "13800000001", "owner": "li"},
        {"name": "ＡＢＣ贸易有限公司", "email": "info@abc-trade.cn"},
        {"name": "重庆山城火锅", "phone": "13711110000", "owner": "li"}])
    assert_index_agrees(conn)
    assert cli("add", "新月物流", "--phone", "13900000003", "--pool", "public").exit_code == 0
    assert cli("edit", str(ids[0]), "--name", "北京辰星科技", "--phone", "13800000009",
               "--email", "x@chenxing.cn", as_user="li").exit_code == 0
    assert_index_agrees(conn)
    assert cli("invalid", str(ids[2]), "--reason", "空号").exit_code == 0
    assert cli("merge", str(ids[1]), str(ids[2])).exit_code in (0, 4)
    # An import: new customers, a duplicate of an existing one (its row is deleted again) and
    # an update of an existing customer's phone.
    data = tmp_path / "more.csv"
    data.write_text("name,phone,email\n湖北九州通医药,13912345678,\n"
                    "ＡＢＣ贸易有限公司,13500000005,\n另一家,13600000006,a@b.cn\n",
                    encoding="utf-8")
    result = cli("import", str(data), "--on-duplicate", "update")
    assert result.exit_code == 0, result.stderr
    assert_index_agrees(conn)
    # The sqlite3 shell: the triggers need nothing of crmpool's.
    shell = sqlite3.connect(cli.db)
    with shell:
        shell.execute("UPDATE customers SET name = '上海新名字', name_key = '上海新名字'"
                      " WHERE id = ?", (ids[0],))
        shell.execute("DELETE FROM customers WHERE name = '另一家'")
    shell.close()
    assert_index_agrees(conn)
    assert [r["name"] for r in cli.rows("list", "--search", "新名字")] == ["上海新名字"]
    assert cli.rows("list", "--search", "辰星科技") == []
    # A bulk import (the path that defers the index): duplicates within it and of the table.
    monkeypatch.setattr(importer, "CHUNK", 3)
    rows = [f"批量客户{i},1370000{i:04d}" for i in range(8)] + ["湖北九州通医药,13912345678"]
    data.write_text("name,phone\n" + "\n".join(rows) + "\n批量客户1,13700000001\n",
                    encoding="utf-8")
    result = cli("import", str(data))
    assert result.exit_code == 0, result.stderr
    assert_index_agrees(conn)
    assert [r["name"] for r in cli.rows("list", "--search", "批量客户7")] == ["批量客户7"]


@pytest.mark.sqlite_only
def test_a_refused_import_leaves_the_index_as_it_was(cli, conn, tmp_path, monkeypatch):
    add_customers(conn, [{"name": "北京星辰科技有限公司", "phone": "13800000001"}])
    assert_index_agrees(conn)
    monkeypatch.setattr(importer, "CHUNK", 2)
    data = tmp_path / "bad.csv"
    data.write_text("name,phone,owner\n甲公司,13900000001,\n乙公司,13900000002,\n"
                    "丙公司,13900000003,nobody\n", encoding="utf-8")
    assert cli("import", str(data)).exit_code == 3
    assert_index_agrees(conn)
    assert cli.rows("list", "--search", "甲公司") == []
    assert cli("add", "丁公司", "--pool", "public").exit_code == 0
    assert [r["name"] for r in cli.rows("list", "--search", "丁公司")] == ["丁公司"]


def plans_of_search(conn, cli, text: str) -> list[list[str]]:
    """The query plan of every statement `list --search TEXT` runs for its rows."""
    statements: list[str] = []
    conn.close()
    from crmpool import store

    original = store.open_db

    def traced(*args, **kwargs):
        opened = original(*args, **kwargs)
        opened.set_trace_callback(statements.append)
        return opened

    mp = pytest.MonkeyPatch()
    mp.setattr(store, "open_db", traced)
    try:
        assert cli("list", "--search", text, "-f", "jsonl").exit_code == 0
    finally:
        mp.undo()
    reader = sqlite3.connect(cli.db)
    try:
        return [[row[3] for row in reader.execute(f"EXPLAIN QUERY PLAN {query}")]
                for query in statements if query.lstrip().startswith("SELECT c.id, c.name")]
    finally:
        reader.close()


@pytest.mark.sqlite_only
def test_a_search_reads_the_index_not_every_customer(cli, conn):
    add_customers(conn, [{"name": f"客户{i}科技有限公司", "phone": f"1380000{i:04d}",
                          "email": f"c{i}@example.cn"} for i in range(50)]
                  + [{"name": "星辰", "company_id": "91110105MA01ABCD1X"}]
                  # Others, so that no word above is in a tenth of the names.
                  + [{"name": f"其他{chr(0x4e00 + i)}"} for i in range(500)])

    def reads_every_row(plan: list[str]) -> bool:
        return any(step in ("SCAN c", "SCAN customers") or step.startswith("SCAN c ")
                   for step in plan)

    for text in ("客户12科技", "1380000", "c12@exam", "有限公司", "客户 12科", "星辰", "12",
                 "91110105MA01ABCD1X"):
        plans = plans_of_search(conn, cli, text)
        assert plans, text
        assert any("customer_search VIRTUAL TABLE" in step for plan in plans
                   for step in plan), (text, plans)
        assert not any(reads_every_row(plan) for plan in plans), (text, plans)
    # Two characters that begin no indexed trigram: nobody is read at all.
    assert plans_of_search(conn, cli, "辰星") == []


def test_index_and_scan_find_the_same_customers(cli, conn, monkeypatch):
    # Whether a short word goes to the index or to a scan is a matter of speed only.
    add_customers(conn, [
        {"name": "北京星辰科技有限公司", "phone": "13800000001", "email": "a@xc.cn"},
        {"name": "星辰"}, {"name": "辰星物流"}, {"name": "ＡＢＣ贸易有限公司"},
        {"name": "abc"}, {"name": "Cabco Ltd", "phone": "13900000002"},
        {"name": "重庆山城火锅", "phone": "13711110000", "email": "hot@pot.cn"}])
    searches = ["星", "辰", "星辰", "c", "ab", "公", "有限", "@", "0", "火锅", "ltd", "b c"]

    def results(share: int) -> list[list[str]]:
        monkeypatch.setattr(search_index, "COMMON_SHARE", share)
        return [[r["name"] for r in cli.rows("list", "--search", text)] for text in searches]

    by_index, by_scan = results(0), results(10**9)
    assert by_index == by_scan
    assert by_index[2] == ["星辰", "北京星辰科技有限公司"]
    assert sum(1 for names in by_index if names) >= 9


def test_two_characters_are_found_wherever_they_stand(cli, conn):
    add_customers(conn, [{"name": "北京星辰"}, {"name": "星辰"}, {"name": "星辰物流"},
                         {"name": "辰星"}, {"name": "Ab"}, {"name": "xAbx Ltd"}]
                  + [{"name": f"其他{chr(0x4e00 + i)}"} for i in range(100)])
    found = [r["name"] for r in cli.rows("list", "--search", "星辰")]
    assert found == ["星辰", "星辰物流", "北京星辰"]
    assert [r["name"] for r in cli.rows("list", "--search", "ab")] == ["Ab", "xAbx Ltd"]
    assert cli.rows("list", "--search", "辰辰") == []
