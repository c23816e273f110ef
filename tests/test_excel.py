"""Excel workbooks in and out: dates typed as dates, numbers as digits, the same aliases,
duplicate checks and atomicity as CSV, and an exact round trip."""

from __future__ import annotations

import json
from datetime import datetime

from conftest import add_customers
from openpyxl import Workbook, load_workbook


def workbook(path, rows, sheet="客户"):
    book = Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_a_workbook_imports_like_a_csv(cli, conn, tmp_path):
    path = workbook(tmp_path / "c.xlsx", [
        ["客户名称", "手机", "负责人", "最后跟进时间", "客户级别"],
        ["北京星辰科技有限公司", 13800000001, "li", datetime(2026, 11, 20, 9, 30), "A"],
        ["上海云帆物流", 13900000002.0, None, datetime(2026, 11, 1), "B"],
        [None, None, None, None, None],
        ["北京星辰科技（北京）有限公司", "13800000001", None, None, "C"]])
    result = cli("import", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["inserted"], summary["duplicates_skipped"]) == (2, 1)
    rows = {r["name"]: r for r in cli.rows("list")}
    assert rows["北京星辰科技有限公司"]["last_contact_at"] == "2026-11-20T01:30:00Z"
    assert rows["上海云帆物流"]["phone"] == "13900000002"
    bad = workbook(tmp_path / "bad.xlsx", [["name", "owner"], ["A", "li"], ["B", "nobody"]])
    result = cli("import", str(bad))
    assert result.exit_code == 3 and "line 3" in result.stderr and "owner" in result.stderr
    assert len(cli.rows("list")) == 2
    assert cli("import", str(path), "--sheet", "nope").exit_code == 2
    not_excel = tmp_path / "x.xlsx"
    not_excel.write_text("name\nA\n")
    assert cli("import", str(not_excel)).exit_code == 3


def test_export_to_excel_and_back_is_exact(cli, conn, tmp_path):
    values = ["=SUM(A1)", "'quoted", "  lead", "中文，逗号", "+86 138"]
    add_customers(conn, [{"name": f"C{i}", "region": v, "owner": "li",
                          "last_contact_at": "2026-11-20T01:30:00Z"}
                         for i, v in enumerate(values)])
    out = tmp_path / "team.xlsx"
    assert cli("export", "-f", "xlsx").exit_code == 2  # a workbook needs -o FILE
    result = cli("export", "-f", "xlsx", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    sheet = load_workbook(out, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert isinstance(rows[1][header.index("last_contact_at")], datetime)  # a real date
    assert rows[1][header.index("region")] == "'=SUM(A1)"  # never a formula
    assert cli("export", "-f", "xlsx", "-o", str(out)).exit_code == 4  # never overwritten
    other = tmp_path / "other.db"
    assert cli("init", "--admin", "boss", env={"CRMPOOL_DB": str(other)}).exit_code == 0
    for user in ("li",):
        assert cli("user", "add", user, env={"CRMPOOL_DB": str(other)}).exit_code == 0
    result = cli("import", str(out), env={"CRMPOOL_DB": str(other)})
    assert result.exit_code == 0, result.stderr
    import sqlite3

    back = sqlite3.connect(other).execute(
        "SELECT region, last_contact_at FROM customers ORDER BY id").fetchall()
    assert back == [(v, "2026-11-20T01:30:00Z") for v in values]


def test_csv_export_to_a_file(cli, conn, tmp_path):
    add_customers(conn, [{"name": "北京"}])
    out = tmp_path / "all.csv"
    assert cli("export", "-f", "csv", "-o", str(out), "--encoding", "utf-8-sig").exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf") and "北京" in out.read_text("utf-8-sig")
