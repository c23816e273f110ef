"""`crmpool copy --to`: a whole team into a new database of either engine, checked, and the
team goes on working there with the same answers."""

from __future__ import annotations

import json

import pytest
from conftest import NOW, Cli

from crmpool import store
from crmpool.copying import NOT_COPIED, TABLES, tables_of

RULES = """
[limits]
cap = 50
[[reclaim]]
name = "idle"
idle_days = 30
warn_days = 5
[[warn]]
name = "quiet"
idle_days = 10
level = "low"
"""


def a_working_team(cli: Cli) -> None:
    """A team with a history: customers owned and pooled, contacts, a deal, a merge, a
    sweep with warnings and reclaims, a pool with members."""
    assert cli("rules", "set", "-", "-q", input=RULES).exit_code == 0
    assert cli("pool", "add", "east", "--member", "team:east", "--admin", "wang").exit_code == 0
    rows = "name,phone,owner,assigned_at,last_contact_at\n" + "".join(
        f"客户{i},1380000{i:04d},{('li', 'zhang', '')[i % 3]},2026-09-01,"
        f"2026-{9 + (i // 3) % 3:02d}-{1 + i % 8:02d}\n" for i in range(60))
    assert cli("import", "-", "--input-format", "csv", "-q", input=rows).exit_code == 0
    assert cli("log", "2", "--via", "call", "--note", "约了下周", as_user="zhang").exit_code == 0
    assert cli("deal", "2", "--amount", "1200.50", "--stage", "won").exit_code == 0
    assert cli("add", "ACME Trading Ltd", "--owner", "li", "--level", "a", "-q").exit_code == 0
    assert cli("log", "61", "--next", "+2d", "-q", as_user="li").exit_code == 0
    assert cli("sweep", "-q").exit_code == 0
    assert cli("claim", "3", as_user="chen").exit_code in (0, 4)


def answers(cli: Cli) -> list[str]:
    out = []
    assert "ACME" in cli("list", "--search", "acme trading", "-f", "csv").stdout
    for args in (["list", "--all", "-f", "csv"], ["warnings", "--all", "-f", "csv"],
                 ["events", "-f", "csv"], ["pool", "list", "-f", "csv"],
                 ["user", "list", "-f", "csv"], ["runs", "-f", "csv"],
                 ["report", "owners", "-f", "csv"], ["list", "--search", "客户1", "-f", "csv"],
                 # case-insensitive search, local days, the figures: the engines agree
                 ["list", "--search", "acme trading", "-f", "csv"],
                 ["list", "--level", "A", "-f", "csv"],
                 ["forecast", "--days", "14", "-f", "csv"], ["due", "-f", "csv"],
                 ["report", "pool", "--by", "day", "-f", "csv"],
                 ["report", "ageing", "-f", "csv"], ["report", "sales", "-f", "csv"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        out.append(result.stdout)
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path, pg_server):
    if request.param == "sqlite":
        return tmp_path / "copy.db"
    return pg_server.new_database()


def test_a_copy_holds_every_row_and_gives_the_same_answers(cli, conn, target):
    a_working_team(cli)
    result = cli("copy", "--to", str(target), "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"]["customers"] == 61 and report["rows"]["events"] > 60
    assert report["rows"]["warnings"] > 0 and report["rows"]["rules"] == 1
    copied = Cli(target)
    assert answers(copied) == answers(cli)
    # ... and the team goes on working there: new ids follow the copied ones.
    added = copied.rows("add", "新客户", "--owner", "li")
    assert added[0]["id"] == 62
    assert copied("sweep", "--now", "+40d", "-q").exit_code == 0


def test_copy_refuses_a_target_that_holds_something(cli, conn, target, tmp_path):
    assert cli("add", "Acme", "-q").exit_code == 0
    assert cli("copy", "--to", str(target), "-q").exit_code == 0
    again = cli("copy", "--to", str(target))
    assert again.exit_code == 4, again.stderr


def test_only_an_admin_copies_the_team(cli, conn, tmp_path):
    result = cli("copy", "--to", str(tmp_path / "mine.db"), as_user="li")
    assert result.exit_code == 4 and "admin" in result.stderr
    assert not (tmp_path / "mine.db").exists()


def test_every_table_of_a_new_database_is_copied_or_named_as_not(db_path):
    conn = store.create_db(db_path, NOW)
    try:
        assert tables_of(conn) == set(TABLES) | set(NOT_COPIED)
    finally:
        conn.close()


def test_a_table_that_does_not_match_keeps_nothing(cli, conn, target, monkeypatch):
    from crmpool import copying
    from crmpool.errors import DatabaseUnavailable

    assert cli("add", "Acme", "-q").exit_code == 0
    real = copying.checksum

    def tampered(db, table, columns):
        count, digest = real(db, table, columns)
        return (count + 1, digest) if table == "events" else (count, digest)

    monkeypatch.setattr(copying, "checksum", tampered)
    with pytest.raises(DatabaseUnavailable, match="events does not match"):
        copying.copy_database(conn, target, NOW)
    if isinstance(target, str):
        copied = store.open_db(target)  # the schema stays; no row does
        try:
            assert all(copied.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0
                       for t in TABLES)
        finally:
            copied.close()
    else:
        assert not target.exists()
