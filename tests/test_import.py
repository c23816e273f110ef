"""crmpool import: formats, encodings, headers, duplicates, owners, atomicity, round trip."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import NOW_TEXT, add_customers, dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpool.imports.importer import ImportOptions, import_file
from crmpool.imports.sources import open_source

HEADER_ZH = "客户名称,手机,邮箱,客户级别,地区,行业,负责人,最后跟进时间,来源"


def write(path, text: str, encoding: str = "utf-8", newline: str = "\n"):
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def customers(conn) -> list[dict]:
    return [dict(r) for r in conn.execute(
        "SELECT name, phone, owner, pool, level, region, industry, last_contact_at,"
        " assigned_at, extra FROM customers ORDER BY id")]


def test_gb18030_with_chinese_headers_and_crlf(cli, conn, tmp_path):
    path = write(tmp_path / "wps-export.csv",
                 f"{HEADER_ZH}\n"
                 "北京星辰科技有限公司,13800000001,a@x.cn,A,北京,软件,li,2026-11-01 09:30,展会\n"
                 "上海云帆物流有限公司,13900000002,,B,上海,物流,,2026/10/5,官网\n",
                 encoding="gb18030", newline="\r\n")
    result = cli("import", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["encoding"], summary["read"], summary["inserted"]) == ("gb18030", 2, 2)
    assert summary["extra_columns"] == ["来源"]
    rows = customers(conn)
    assert rows[0] | {"extra": json.loads(rows[0]["extra"])} == {
        "name": "北京星辰科技有限公司", "phone": "13800000001", "owner": "li", "pool": "public",
        "level": "A", "region": "北京", "industry": "软件",
        "last_contact_at": "2026-11-01T01:30:00Z", "assigned_at": NOW_TEXT,
        "extra": {"来源": "展会"}}
    assert rows[1]["owner"] is None and rows[1]["assigned_at"] is None
    assert rows[1]["last_contact_at"] == "2026-10-04T16:00:00Z"
    events = conn.execute("SELECT action, actor, to_owner FROM events WHERE action = 'import'"
                          " ORDER BY customer_id").fetchall()
    assert [tuple(e) for e in events] == [("import", "boss", "li"), ("import", "boss", None)]


def test_a_repeated_or_blank_header_keeps_every_cell_on_either_engine(cli, conn, tmp_path):
    # The first of a repeated name is the field; the others, and blank headers, are extra
    # columns of their own names. Extra cells are trimmed as every cell is.
    path = write(tmp_path / "dup.csv", 'name,phone,phone,,note,note\n'
                                       '甲,13800000001,13900000002,x,"  large ",b\n')
    result = cli("import", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["extra_columns"] == [
        "phone (2)", "column 4", "note", "note (2)"]
    row = customers(conn)[0]
    assert row["phone"] == "13800000001"
    assert json.loads(row["extra"]) == {"phone (2)": "13900000002", "column 4": "x",
                                        "note": "large", "note (2)": "b"}


def test_utf8_with_bom_tsv_json_jsonl_and_stdin(cli, conn, tmp_path):
    write(tmp_path / "a.csv", "\ufeffname,phone\nA,1\n")
    write(tmp_path / "b.tsv", "name\tphone\nB\t2\n")
    write(tmp_path / "c.json", json.dumps([{"name": "C", "phone": 3},
                                           {"name": "D", "email": "d@x"}], indent=2))
    write(tmp_path / "e.jsonl", '{"name": "E"}\n\n{"name": "F", "客户级别": "A"}\n')
    for name in ("a.csv", "b.tsv", "c.json", "e.jsonl"):
        result = cli("import", str(tmp_path / name))
        assert result.exit_code == 0, (name, result.stderr)
    result = cli("import", "-", "--input-format", "csv", input="name\nG\n")
    assert result.exit_code == 0, result.stderr
    assert cli("import", "-", input="name\nG\n").exit_code == 2
    assert [r["name"] for r in customers(conn)] == list("ABCDEFG")
    assert customers(conn)[2]["phone"] == "3"
    assert customers(conn)[5]["level"] == "A"


def test_map_option_and_english_aliases(cli, conn, tmp_path):
    path = write(tmp_path / "accounts.csv", "account,sector,office_location,Boss\n"
                                            "Acme,retail,Berlin,zhang\n")
    result = cli("import", str(path), "--map", "Boss=owner")
    assert result.exit_code == 0, result.stderr
    row = customers(conn)[0]
    assert (row["name"], row["industry"], row["region"], row["owner"]) == (
        "Acme", "retail", "Berlin", "zhang")
    assert cli("import", str(path), "--map", "Boss=colour").exit_code == 2
    assert cli("import", str(path), "--map", "Boss").exit_code == 2


@pytest.mark.parametrize("row, column, words", [
    ("X,13800000009,,,,,li,2026-99-01,", "最后跟进时间", "not a valid date"),
    ("X,13800000009,,,,,li,2027-01-01,", "最后跟进时间", "in the future"),
    ("X,13800000009,,,,,ghost,,", "负责人", "'ghost' is not a crmpool user"),
    (",13800000009,,,,,li,,", "客户名称", "needs a name"),
])
def test_a_bad_row_names_file_line_and_column_and_writes_nothing(cli, conn, db_path, tmp_path,
                                                                 row, column, words):
    good = "\n".join(f"C{i},139{i:08d},,,,,li,," for i in range(2000))
    more = "\n".join(f"D{i},137{i:08d},,,,,,," for i in range(2000))
    path = write(tmp_path / "big.csv", f"{HEADER_ZH}\n{good}\n{row}\n{more}\n")
    before = dump(db_path)
    result = cli("import", str(path))
    assert result.exit_code == 3
    assert f"big.csv line 2002, column {column!r}" in result.stderr and words in result.stderr
    assert dump(db_path) == before


def test_skip_bad_imports_the_good_rows_and_sets_the_bad_aside(cli, conn, tmp_path):
    path = write(tmp_path / "in.csv", "name,owner,last_contact_at\nA,li,\nB,ghost,\n"
                                      "C,,2026-02-30\nD,,\n")
    rejects = tmp_path / "rejects.csv"
    result = cli("import", str(path), "--skip-bad", str(rejects), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rejected"] == 2
    assert [r["name"] for r in customers(conn)] == ["A", "D"]
    lines = rejects.read_text().splitlines()
    assert lines[0] == "name,owner,last_contact_at,crmpool_line,crmpool_reason"
    assert lines[1].startswith("B,ghost,,3,") and lines[2].startswith("C,,2026-02-30,4,")
    # The rejected file, fixed, imports back (crmpool_ columns are ignored).
    fixed = write(tmp_path / "fixed.csv", rejects.read_text().replace("ghost", "li")
                  .replace("2026-02-30", "2026-02-28"))
    assert cli("import", str(fixed), "-f", "json").exit_code == 0
    assert [r["name"] for r in customers(conn)] == ["A", "D", "B", "C"]
    assert customers(conn)[2]["extra"] is None


def test_duplicates_within_the_file_and_against_the_database(cli, conn, tmp_path):
    add_customers(conn, [{"name": "北京星辰科技有限公司", "phone": "13800000001", "owner": "li"}])
    path = write(tmp_path / "dups.csv",
                 "name,phone,email,owner,level\n"
                 "星辰科技股份有限公司,+86 138-0000-0001,,zhang,A\n"  # db dup by phone
                 "Acme Inc.,1,hello@acme.com,zhang,B\n"
                 "ACME,2,,zhang,C\n"  # file dup by name
                 "Other,3,HELLO@acme.com ,,\n"  # file dup by e-mail
                 "New,4,,,\n")
    result = cli("import", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["inserted"], summary["duplicates_skipped"]) == (2, 3)
    dups = {d["line"]: d for d in summary["duplicates"]}
    assert dups[2]["existing_id"] == 1 and dups[2]["existing_owner"] == "li"
    assert dups[2]["same"] == ["phone"]
    assert dups[4]["existing_line"] == 3 and dups[4]["same"] == ["name"]
    assert dups[5]["existing_line"] == 3 and dups[5]["same"] == ["email"]
    assert [r["name"] for r in customers(conn)] == ["北京星辰科技有限公司", "Acme Inc.", "New"]
    text = cli("import", str(path), "--dry-run")
    assert "owned by li" in text.stderr and "would import 0" in text.stderr


def test_on_duplicate_update_and_fail(cli, conn, db_path, tmp_path):
    add_customers(conn, [{"name": "Acme", "phone": "1", "owner": "li", "level": "C"}])
    path = write(tmp_path / "u.csv", "name,phone,level,region,owner\nAcme,1,A,北京,zhang\n")
    before = dump(db_path)
    result = cli("import", str(path), "--on-duplicate", "fail")
    assert result.exit_code == 3 and "line 2: duplicate of customer 1" in result.stderr
    assert dump(db_path) == before
    result = cli("import", str(path), "--on-duplicate", "update", "-f", "json")
    assert json.loads(result.stdout)["updated"] == 1
    row = customers(conn)
    assert len(row) == 1 and (row[0]["level"], row[0]["region"], row[0]["owner"]) == (
        "A", "北京", "li")


def test_owner_at_cap_sends_rows_to_the_pool(cli, conn, tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text("[limits]\ncap = 2\n")
    assert cli("rules", "set", str(rules)).exit_code == 0
    add_customers(conn, [{"name": "held", "owner": "li"}])
    path = write(tmp_path / "cap.csv", "name,owner\nA,li\nB,li\nC,li\nD,zhang\n")
    result = cli("import", str(path), "-f", "json")
    summary = json.loads(result.stdout)
    assert summary["sent_to_pool_over_cap"] == 2 and summary["over_cap"] == {"li": 2}
    assert [(r["name"], r["owner"]) for r in customers(conn)] == [
        ("held", "li"), ("A", "li"), ("B", None), ("C", None), ("D", "zhang")]


def test_owner_and_pool_options(cli, conn, tmp_path):
    cli("pool", "add", "leads")
    path = write(tmp_path / "o.csv", "name,owner\nA,zhang\nB,\n")
    assert cli("import", str(path), "--owner", "li").exit_code == 0
    assert [r["owner"] for r in customers(conn)] == ["li", "li"]
    path = write(tmp_path / "p.csv", "name\nC\n")
    assert cli("import", str(path), "--pool", "leads").exit_code == 0
    assert customers(conn)[-1]["pool"] == "leads"
    assert cli("import", str(path), "--owner", "ghost").exit_code == 2


def test_summary_counts_what_a_sweep_today_would_reclaim(cli, conn, tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[reclaim]]\nname = "idle"\nidle_days = 30\n')
    cli("rules", "set", str(rules))
    path = write(tmp_path / "s.csv", "name,owner,assigned_at,last_contact_at\n"
                                     "old,li,2026-01-01,2026-02-01\nnew,li,,\n")
    result = cli("import", str(path), "-f", "json")
    assert json.loads(result.stdout)["would_reclaim_today"] == 1


def test_undecidable_encoding_and_bad_utf8_later(cli, conn, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name\n\xff\xfe\xfa\n")
    result = cli("import", str(bad))
    assert result.exit_code == 3 and "--encoding" in result.stderr
    # GBK text after 64 KB of ASCII (Excel's files often start so): read as GB18030 from
    # the first byte that is not UTF-8, since both agree on ASCII.
    late = tmp_path / "late.csv"
    late.write_bytes(b"name\n" + b"A\n" * 40000 + "星辰".encode("gb18030") + b"\n")
    result = cli("import", str(late), "--on-duplicate", "skip")
    assert result.exit_code == 0, result.stderr
    assert conn.execute("SELECT count(*) FROM customers WHERE name = '星辰'").fetchone()[0] == 1
    # After real UTF-8 text, a bad byte is an error naming its line, not a silent switch.
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("name\n北京\n".encode() + b"B\n" * 40000 + "星辰".encode("gb18030")
                      + b"\n")
    result = cli("import", str(mixed))
    assert result.exit_code == 3 and "line 40003" in result.stderr, result.stderr
    assert cli("import", str(mixed), "--encoding", "gb18030").exit_code == 0


def test_ragged_rows_and_bad_json_name_the_line(cli, conn, tmp_path):
    ragged = write(tmp_path / "r.csv", "name,phone\nA,1\nB,2,3\n")
    result = cli("import", str(ragged))
    assert result.exit_code == 3 and "r.csv line 3: 3 fields" in result.stderr
    broken = write(tmp_path / "b.jsonl", '{"name": "A"}\n{"name": \n')
    result = cli("import", str(broken))
    assert result.exit_code == 3 and "b.jsonl line 2" in result.stderr
    array = write(tmp_path / "b.json", '[\n {"name": "A"},\n {"name": "B",\n')
    result = cli("import", str(array))
    assert result.exit_code == 3 and "b.json line" in result.stderr
    assert cli("import", str(tmp_path / "missing.csv")).exit_code == 2
    assert cli("import", str(tmp_path / "r.xlsx")).exit_code == 2


def test_large_json_array_streams(conn, users, tmp_path):
    path = tmp_path / "many.json"
    with path.open("w") as out:
        out.write("[\n")
        out.write(",\n".join(json.dumps({"name": f"n{i}", "phone": f"1{i:010d}",
                                         "note": "x" * 50}) for i in range(30000)))
        out.write("\n]\n")
    from conftest import NOW

    summary = import_file(conn, users["boss"], open_source(str(path)), ImportOptions(), NOW)
    assert summary.inserted == 30000 and summary.extra_columns == ["note"]


def test_contacts_and_deals_import_by_id_phone_or_name(cli, conn, tmp_path):
    ids = add_customers(conn, [
        {"name": "北京星辰科技有限公司", "phone": "13800000001", "owner": "li",
         "assigned_at": "2026-01-01T00:00:00Z"},
        {"name": "Acme Inc.", "phone": "2", "owner": "li"}])
    contacts = write(tmp_path / "c.csv", "客户名称,电话,跟进时间,跟进方式,跟进内容\n"
                                         "北京星辰科技,,2026-11-01 10:00,拜访,谈价格\n"
                                         ",+86 138 0000 0001,2026-11-10,电话,\n")
    result = cli("import", str(contacts), "--kind", "contacts", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["inserted"] == 2
    row = conn.execute("SELECT last_contact_at FROM customers WHERE id = ?", (ids[0],))
    assert row.fetchone()[0] == "2026-11-09T16:00:00Z"
    vias = [r[0] for r in conn.execute("SELECT via FROM contacts ORDER BY id")]
    assert vias == ["visit", "call"]
    deals = write(tmp_path / "d.csv", "customer_id,amount,stage,at\n"
                                      f"{ids[1]},\"12,000.50\",WON,2026-11-02\n"
                                      f"{ids[1]},99,Lost,2026-11-03\n")
    result = cli("import", str(deals), "--kind", "deals")
    assert result.exit_code == 0, result.stderr
    status = conn.execute("SELECT status, won_at FROM customers WHERE id = ?", (ids[1],))
    assert tuple(status.fetchone()) == ("won", "2026-11-01T16:00:00Z")
    amounts = [r[0] for r in conn.execute("SELECT amount_cents FROM deals ORDER BY id")]
    assert amounts == [1200050, 9900]
    for bad, words in (("-5,won", "negative"), ("5,maybe", "not a stage")):
        path = write(tmp_path / "bad.csv", f"customer_id,amount,stage\n{ids[1]},{bad}\n")
        result = cli("import", str(path), "--kind", "deals")
        assert result.exit_code == 3 and words in result.stderr
    path = write(tmp_path / "nobody.csv", "customer,at\nNobody Ltd,2026-11-01\n")
    result = cli("import", str(path), "--kind", "contacts")
    assert result.exit_code == 3 and "nobody.csv line 2" in result.stderr


def test_export_then_import_gives_the_same_rows(cli, conn, tmp_path):
    add_customers(conn, [
        {"name": "=cmd|' /C calc'!A0", "phone": "+86 138 0000 0001", "owner": "li",
         "level": "A", "last_contact_at": "2026-11-01T01:30:00Z",
         "assigned_at": "2026-10-01T00:00:00Z", "extra": '{"来源": "展会"}'},
        {"name": "@SUM(1)", "phone": "-2", "region": "北京", "status": "won",
         "won_at": "2026-09-01T00:00:00Z"},
        {"name": "Dead", "status": "invalid", "invalid_reason": "空号"},
        {"name": "Frozen", "owner": "zhang", "frozen_until": "2026-12-01T00:00:00Z",
         "freeze_reason": "signing"},
    ])
    from conftest import Cli

    for fmt in ("csv", "tsv", "json", "jsonl"):
        exported = cli("export", "-f", fmt).stdout
        if fmt in ("csv", "tsv"):
            assert "'=cmd" in exported and "'@SUM" in exported and "'+86" in exported
        target = tmp_path / f"copy-{fmt}.db"
        other = Cli(target)
        assert other("init", "--admin", "boss").exit_code == 0
        for name in ("li", "zhang"):
            assert other("user", "add", name).exit_code == 0
        source = tmp_path / f"export.{fmt}"
        source.write_text(exported, encoding="utf-8")
        result = other("import", str(source))
        assert result.exit_code == 0, (fmt, result.stderr)
        again = other("export", "-f", "jsonl").stdout
        assert again == cli("export", "-f", "jsonl").stdout, fmt


def test_dupes_lists_clusters(cli, conn):
    add_customers(conn, [
        {"name": "Acme Inc.", "phone": "13800000001", "owner": "li"},
        {"name": "ACME", "phone": "2"},
        {"name": "Other", "phone": "+86 138 0000 0001"},
        {"name": "Dead", "phone": "13800000001", "status": "invalid"},
    ])
    clusters = cli.rows("dupes")
    assert {(c["same"], tuple(c["ids"])) for c in clusters} == {("name", (1, 2)),
                                                                 ("phone", (1, 3))}
    assert clusters[0]["owners"] == ["li", None]
    # Data, not display text: the clusters pipe straight into a command over IDs.
    result = cli("invalid", "-", "--reason", "dup", input="\n".join(
        __import__("json").dumps(c) for c in clusters if c["same"] == "phone"))
    assert result.exit_code == 0, result.stderr
    assert cli("invalid", "-", "--reason", "x", input='{"ids": [true]}').exit_code == 3


def test_reps_cannot_import_and_managers_import_for_their_team(cli, conn, tmp_path):
    path = write(tmp_path / "t.csv", "name,owner\nA,li\n")
    result = cli("import", str(path), as_user="li")
    assert result.exit_code == 4 and "only a manager or an admin can import" in result.stderr
    assert cli("import", str(path), as_user="wang").exit_code == 0
    other = write(tmp_path / "o.csv", "name,owner\nB,chen\n")
    result = cli("import", str(other), as_user="wang")
    assert result.exit_code == 3 and "'chen' is not in your team" in result.stderr


# The bulk INSERT (SQL) and reference_row (Python) must build the same customer from the same
# cells, and refuse the same rows: the SQL does the work, the Python explains refusals.
FIELD_VALUES = {
    "name": st.sampled_from(["北京星辰科技有限公司", " 上海云帆物流股份有限公司 ", "Acme Co., Ltd.",
                             "ＡＣＭＥ　Inc", "公司", "'=SUM(A1)", "", "  ", "客户12 集团公司",
                             "inc公司", "Disco"]),
    "phone": st.sampled_from(["13800000001", "+86 138-0000-0001", "(0086)13800000001",
                              "１３８００００００01", "'+86 13800000001", "010-6512 3456", "",
                              "n/a", "8613800000001", "0086 10 6512 3456"]),
    "email": st.sampled_from(["a@x.cn", "A@X.CN", " b@y.com ", "ｃ@ｘ.cn", "é@x.fr", ""]),
    "company_id": st.sampled_from(["91110105MA01ABCD1X", "9111 0105-ma01abcd1x", "９１", ""]),
    "owner": st.sampled_from(["li", "zhang", "chen", "ghost", "gone", "", " li "]),
    "pool": st.sampled_from(["", "public", "east", "nowhere"]),
    "status": st.sampled_from(["", "active", "WON", "已成交", "无效", "lost"]),
    "last_contact_at": st.sampled_from(["", "2026-11-01 09:30", "2026/10/5", "2026-02-30",
                                        "2026-11-23T09:59:59Z", "2027-01-01", "yesterday",
                                        "2026年3月5日"]),
    "assigned_at": st.sampled_from(["", "2026-01-05", "2030-01-01"]),
    "frozen_until": st.sampled_from(["", "2026-12-31", "2026-01-01", "never"]),
    "freeze_reason": st.sampled_from(["", "签约中"]),
    "created_at": st.sampled_from(["", "2025-06-01T00:00:00Z"]),
    "level": st.sampled_from(["", "A", "'-1"]),
    "来源": st.sampled_from(["", "展会", " 官网 "]),
    "extra": st.sampled_from(["", '{"old": 1}', "not json"]),
}


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=8, unique=True)
       .flatmap(lambda headers: st.tuples(st.just(headers), st.tuples(
           *(FIELD_VALUES[h] for h in headers)))),
       st.sampled_from([None, "zhang"]))
@pytest.mark.sqlite_only
def test_the_bulk_insert_and_the_reference_rules_agree(conn, users, drawn, fixed_owner):
    from crmpool.imports import rows as customer_rows
    from crmpool.imports.fields import Layout, RowError

    headers, values = drawn
    headers, values = list(headers), list(values)
    ctx = customer_rows.Context(
        now=NOW_TEXT, users={"li": True, "zhang": True, "chen": True, "gone": False},
        team=None, pools={"public", "east"}, default_pool="public", owner=fixed_owner)
    if not conn.execute("SELECT 1 FROM pools WHERE name = 'east'").fetchone():
        conn.execute("INSERT INTO pools (name, created_at) VALUES ('east', ?)", (NOW_TEXT,))
        conn.execute("INSERT INTO users (name, role, active, created_at)"
                     " VALUES ('gone', 'rep', 0, ?)", (NOW_TEXT,))
    layout = Layout("customers", headers, {})
    conn.execute("SAVEPOINT example")
    try:
        customer_rows.prepare(conn, ctx)
        sql = customer_rows.insert_sql(layout, len(headers),
                                       customer_rows.register_extra(conn, layout),
                                       fixed_owner is not None)
        record = dict(zip(headers, map(str.strip, values), strict=True))
        try:
            expected = customer_rows.reference_row(
                layout.cells(record), layout, ctx,
                customer_rows.merge_extra(layout.cells(record).get("extra"),
                                          layout.extras(record)))
        except RowError:
            expected = None
        try:
            cursor = conn.execute(sql, customer_rows.cleaned(values) + customer_rows.settings(ctx))
        except (sqlite3.IntegrityError, sqlite3.OperationalError):
            got = None
        else:
            got = dict(conn.execute(f"SELECT {', '.join(customer_rows.COLUMNS)} FROM customers"
                                    " WHERE id = ?", (cursor.lastrowid,)).fetchone())
        if expected and got:
            expected["extra"] = expected["extra"] and json.loads(expected["extra"])
            got["extra"] = got["extra"] and json.loads(got["extra"])
        assert got == expected, (headers, values)
    finally:
        conn.execute("ROLLBACK TO example")
        conn.execute("RELEASE example")


def test_skip_bad_past_the_first_chunk_keeps_lines_and_duplicates_right(cli, conn, tmp_path):
    # More rows than the importer reads ahead (20,000), refusals before and after that
    # point, and a duplicate at the end whose line the summary must still get right.
    lines = ["name,phone,owner,last_contact_at"]
    lines += [f"客户{i},1380{i:07d},li,2026-11-01" for i in range(25_000)]
    lines[2] = "坏的,13999999999,ghost,"
    lines[20_005] = "坏的二,13999999998,,2026-13-01"
    lines.append("重复,+86 138-0000-0000,,")
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.csv"
    postgresql = getattr(conn, "engine", "sqlite") == "postgresql"
    indexes = ("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
               " ORDER BY 1" if postgresql else
               "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
    before = conn.execute(indexes).fetchall()
    result = cli("import", str(path), "--skip-bad", str(rejects), "-f", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["rejected"], summary["inserted"]) == (25_001, 2, 24_998)
    assert [d["line"] for d in summary["duplicates"]] == [25_002]
    assert summary["duplicates"][0]["existing_line"] == 2
    rejected = rejects.read_text().splitlines()[1:]
    assert [r.split(",")[4] for r in rejected] == ["3", "20006"]
    assert conn.execute("SELECT count(*) FROM events WHERE action = 'import'").fetchone()[0] \
        == 24_998
    # A load this size drops the indexes and builds them again, some before the duplicates
    # go and the rest after: every one is back, and consistent with the table.
    assert conn.execute(indexes).fetchall() == before
    if postgresql:
        # The rebuilt indexes answer as the table does (the search index among them).
        assert cli("list", "--search", "客户24997", "-f", "csv", "-c", "name").stdout \
            == "name\n客户24997\n"
    else:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_without_a_name_column_is_refused_at_once(cli, conn, tmp_path):
    path = write(tmp_path / "phones.csv", "phone,owner\n13800000001,li\n")
    result = cli("import", str(path))
    assert result.exit_code == 3
    assert "no name column" in result.stderr and "--map" in result.stderr
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
