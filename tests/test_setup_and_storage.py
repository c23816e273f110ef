"""init, the database file, identity, help text, backup: what every command stands on."""

from __future__ import annotations

import re
import sqlite3
import stat

import pytest
from conftest import NOW, NOW_TEXT, Cli, add_customers, app, dump, make_team
from typer.testing import CliRunner

from crmpool import store
from crmpool.migrations import MIGRATIONS


def test_init_creates_a_private_database_with_its_admin(tmp_path):
    db = tmp_path / "new.db"
    result = CliRunner().invoke(app, ["--db", str(db), "init", "--admin", "lily"])
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    cli = Cli(db)
    users = cli.rows("user", "list", as_user="lily")
    assert [(u["name"], u["role"]) for u in users] == [("lily", "admin")]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_init_twice_is_refused(cli):
    result = cli("init", "--admin", "x")
    assert result.exit_code == 4
    assert "already a crmpool database" in result.stderr


def test_a_file_that_is_not_a_crmpool_database_exits_5_untouched(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (t TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    text_file = tmp_path / "text.db"
    text_file.write_text("just some text, not sqlite at all" * 100)
    for path in (other, text_file):
        original = path.read_bytes()
        result = Cli(path)("list")
        assert result.exit_code == 5, result.stderr
        assert "not a crmpool database" in result.stderr
        assert "Traceback" not in result.stderr
        assert path.read_bytes() == original
        result = Cli(path)("init")
        assert result.exit_code == 5
        assert path.read_bytes() == original
    assert other.read_bytes() == before


def test_a_missing_database_is_not_created_by_accident(tmp_path):
    db = tmp_path / "typo.db"
    result = Cli(db)("list")
    assert result.exit_code == 5
    assert "crmpool init" in result.stderr
    assert not db.exists()


@pytest.mark.sqlite_only
def test_migrations_run_from_blank_and_record_themselves(conn):
    applied = conn.execute("SELECT id, name FROM migrations ORDER BY id").fetchall()
    assert [tuple(r) for r in applied] == [(i + 1, m[0]) for i, m in enumerate(MIGRATIONS)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.migrate(conn) == 0


@pytest.mark.sqlite_only
def test_migrations_catch_up_an_old_database(db_path, conn):
    # An old file: as if only a crmpool with no migrations had touched it.
    conn.execute("PRAGMA user_version = 0")
    conn.execute("DELETE FROM migrations")
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("PRAGMA foreign_keys = OFF")
    # Virtual tables first: dropping one drops its shadow tables too.
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                 " ORDER BY sql NOT LIKE 'CREATE VIRTUAL%'").fetchall():
        kept = table in ("migrations", "crmpool_meta") or table.startswith("sqlite_")
        if not kept and conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                     (table,)).fetchone():
            conn.execute(f"DROP TABLE {table}")
    conn.close()
    reopened = store.open_db(db_path)
    assert reopened.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    assert reopened.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


def test_a_table_rebuilding_migration_keeps_every_row_and_reference(tmp_path, monkeypatch):
    # A file made by the first release (core schema only), with customers that others point
    # at; then the current crmpool opens it.
    db = tmp_path / "old.db"
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:1])
    old = store.create_db(db, NOW)
    make_team(old)
    ids = add_customers(old, [{"name": "甲", "owner": "li"}, {"name": "乙", "status": "won"}])
    with store.transaction(old):
        old.execute("INSERT INTO contacts (customer_id, at, via, created_at)"
                    " VALUES (?, ?, 'call', ?)", (ids[0], NOW_TEXT, NOW_TEXT))
        old.execute("INSERT INTO deals (customer_id, amount_cents, stage, at, created_at)"
                    " VALUES (?, 100, 'won', ?, ?)", (ids[1], NOW_TEXT, NOW_TEXT))
        old.execute("INSERT INTO events (customer_id, at, action, actor)"
                    " VALUES (?, ?, 'add', 'boss')", (ids[0], NOW_TEXT))
    old.close()
    before = [line for line in dump(db) if line.startswith("INSERT")]
    # Migration 2 rebuilds tables; later ones add columns, which a dump would show.
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:2])
    conn = store.open_db(db)
    after = [line for line in dump(db) if line.startswith("INSERT")]
    assert [line for line in after if '"migrations"' not in line] == [
        line for line in before if '"migrations"' not in line]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    schema = " ".join(row[0] for row in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name IN ('customers', 'contacts', 'deals')"))
    assert " IN (" not in schema
    indexes = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers'")}
    assert {"customers_owner", "customers_idle", "customers_name_key"} <= indexes
    # The constraints still hold, worded differently.
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE customers SET status = 'lost' WHERE id = ?", (ids[0],))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE contacts SET via = 'fax'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE deals SET stage = 'maybe'")
    assert conn.execute("SELECT idle_since FROM customers WHERE id = ?",
                        (ids[0],)).fetchone()[0] == NOW_TEXT


def test_unknown_and_inactive_users_are_refused(cli):
    result = cli("list", "--mine", as_user="ghost")
    assert result.exit_code == 4
    assert "'ghost'" in result.stderr and "not a crmpool user" in result.stderr
    assert cli("user", "set", "li", "--inactive").exit_code == 0
    result = cli("claim", "1", as_user="li")
    assert result.exit_code == 4
    assert "inactive" in result.stderr


def test_unknown_users_are_refused_reads_too(cli):
    for command in (["list"], ["dupes"], ["runs"], ["export"], ["why", "1"]):
        result = cli(*command, as_user="ghost")
        assert result.exit_code == 4 and "not a crmpool user" in result.stderr, command


def test_as_option_wins_over_environment(cli):
    result = cli("--as", "li", "user", "add", "x")
    assert result.exit_code == 4
    assert "only an admin can add users" in result.stderr


def test_every_command_and_option_has_help_text():
    from typer.main import get_command

    root = get_command(app)
    missing = []

    def walk(command, path):
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "help", None) \
                    and param.name not in ("help",):
                missing.append(f"{path} --{param.name}")
            if param.param_type_name == "argument" and not getattr(param, "help", None):
                missing.append(f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "crmpool")
    assert missing == []


def test_every_whole_number_option_is_read_by_crmpool_not_by_click():
    """Click's int takes '٣٠' (Arabic-Indic digits) and '+30' as 30 and words its own
    range message; crmpool.values reads ASCII digits only and names the range, for every
    option alike."""
    import click
    from typer.main import get_command

    clicks = []

    def walk(command, path):
        for param in command.params:
            if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
                clicks.append(f"{path} {param.opts[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(get_command(app), "crmpool")
    assert clicks == []


@pytest.mark.parametrize("args", [
    ["distribute", "--strategy", "performance", "--days", "٣٠", "--dry-run"],
    ["distribute", "--floor-pct", "150", "--dry-run"],
    ["report", "conversion", "--days", "+30"],
    ["pool", "add", "p", "--claims-per-day", "٣"],
    ["pool", "add", "p", "--cooldown-days", "-1"],
])
def test_a_count_in_other_digits_or_out_of_range_is_a_usage_error(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "is not a whole number from" in result.output
    assert all(r["name"] != "p" for r in cli.rows("pool", "list"))  # nothing half-made


@pytest.mark.parametrize("target", ["mysql://crm:s3cret@db.example.com/crm",
                                    "sqlite:///srv/crm/pool.db"])
def test_a_url_crmpool_does_not_speak_is_a_usage_error_not_a_file(cli, tmp_path,
                                                                   monkeypatch, target):
    here = tmp_path / "here"  # where a file named after the URL would have been made
    here.mkdir()
    monkeypatch.chdir(here)
    for args, env in ((["copy", "--to", target], None), (["list"], {"CRMPOOL_DB": target}),
                      (["--db", target, "list"], None)):
        result = cli(*args, env=env)
        assert result.exit_code == 2, result.output
        said = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # Rich's box, unwrapped
        assert f"{target.split(':')[0]}:// is not a database crmpool opens" in said
        assert "s3cret" not in said
    assert list(here.iterdir()) == []


def test_version_prints_and_exits_zero():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("crmpool ")


def test_events_are_append_only(conn):
    add_customers(conn, [{"name": "A"}])
    conn.execute("INSERT INTO events (at, action, actor) VALUES ('x', 'y', 'z')")
    for sql in ("UPDATE events SET actor = 'me'", "DELETE FROM events"):
        try:
            conn.execute(sql)
        except sqlite3.IntegrityError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{sql} was allowed")


@pytest.mark.sqlite_only
def test_backup_is_a_consistent_private_copy(cli, conn, tmp_path):
    add_customers(conn, [{"name": "A", "owner": "li"}, {"name": "B"}])
    target = tmp_path / "copy.db"
    result = cli("backup", str(target))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT name FROM customers ORDER BY id").fetchall() == [("A",), ("B",)]
    again = cli("backup", str(target))
    assert again.exit_code == 4 and "exists" in again.stderr
    nowhere = cli("backup", str(tmp_path / "no" / "such" / "dir.db"))
    assert nowhere.exit_code == 2 and "cannot write the backup" in nowhere.stderr


@pytest.mark.sqlite_only
def test_backup_while_another_process_writes(cli, conn, db_path, tmp_path):
    import subprocess
    import sys

    add_customers(conn, [{"name": f"c{i}"} for i in range(2000)])
    writer = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, time
c = sqlite3.connect({str(db_path)!r}, timeout=10, isolation_level=None)
for i in range(200):
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE customers SET level = ? WHERE id % 7 = ?", (str(i), i % 7))
    c.execute("COMMIT")
"""])
    try:
        result = cli("backup", str(tmp_path / "live.db"))
    finally:
        writer.wait(timeout=60)
    assert result.exit_code == 0, result.stderr
    copy = sqlite3.connect(tmp_path / "live.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM customers").fetchone()[0] == 2000


def test_unexpected_errors_exit_1_without_traceback(cli, monkeypatch):
    import crmpool.listing as customers

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(customers, "list_customers", broken)
    result = cli("list")
    assert result.exit_code == 1
    assert "this is a bug" in result.stderr and "Traceback" not in result.stderr
    result = cli("list", env={"CRMPOOL_DEBUG": "1"})
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_dump_helper_sees_changes(conn, db_path):
    before = dump(db_path)
    add_customers(conn, [{"name": "A"}])
    assert dump(db_path) != before


def test_only_the_invoked_command_is_built():
    from crmpool.cli import invoked_command, only

    assert invoked_command(["--db", "x.db", "--as", "li", "claim", "3"]) == "claim"
    assert invoked_command(["--version"]) is None
    slim = only("claim")
    assert [c.callback.__name__ for c in slim.registered_commands] == ["claim"]
    assert only("user").registered_groups[0].name == "user"
    assert only("no-such-command") is app  # Typer then says what exists


def test_the_console_entry_point_runs_commands(conn, db_path):
    from conftest import run_crmpool

    ids = add_customers(conn, [{"name": "A"}])
    result = run_crmpool("--as", "li", "claim", str(ids[0]), db=db_path)
    assert result.returncode == 0, result.stderr
    assert run_crmpool("--version", db=db_path).stdout.startswith("crmpool ")
    help_text = run_crmpool("--help", db=db_path).stdout
    assert "claim" in help_text and "sweep" in help_text
    assert run_crmpool("frobnicate", db=db_path).returncode == 2


def test_the_readme_names_every_command():
    from pathlib import Path

    from typer.main import get_command

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    root = get_command(app)
    missing = []
    for name, command in root.commands.items():
        if f"`{name}" not in readme:
            missing.append(name)
        for sub in getattr(command, "commands", {}):
            if sub not in readme:
                missing.append(f"{name} {sub}")
    assert missing == []


def test_rollback_inside_a_transaction_undoes_and_is_not_an_error(conn):
    with store.transaction(conn):
        add_pool_sql = "INSERT INTO pools (name, created_at) VALUES ('tmp', 'x')"
        conn.execute(add_pool_sql)
        raise store.Rollback
    assert conn.execute("SELECT count(*) FROM pools WHERE name = 'tmp'").fetchone()[0] == 0
    assert not conn.in_transaction


def test_shell_completion_for_bash_zsh_and_fish(tmp_path, db_path, conn):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMPOOL_", "_CRMPOOL"))}
    env |= {"HOME": str(tmp_path), "CRMPOOL_DB": str(db_path)}
    crmpool = [sys.executable, "-m", "crmpool"]
    for shell, mark in (("bash", "complete -o"), ("zsh", "#compdef crmpool"),
                        ("fish", "complete --command crmpool")):
        script = subprocess.run(crmpool, env=env | {"_CRMPOOL_COMPLETE": f"source_{shell}"},
                                capture_output=True, text=True)
        assert script.returncode == 0 and mark in script.stdout, (shell, script.stdout[:200])
    words = subprocess.run(crmpool, env=env | {"_CRMPOOL_COMPLETE": "complete_bash",
                                               "COMP_WORDS": "crmpool cl", "COMP_CWORD": "1"},
                           capture_output=True, text=True)
    assert words.stdout.split() == ["claim"]
    sub = subprocess.run(crmpool, env=env | {"_CRMPOOL_COMPLETE": "complete_bash",
                                             "COMP_WORDS": "crmpool user ", "COMP_CWORD": "2"},
                         capture_output=True, text=True)
    assert {"add", "set", "list", "import"} <= set(sub.stdout.split())
    # Installing from bash writes the script where bash reads it.
    installed = subprocess.run(["bash", "-c", " ".join(crmpool) + " --install-completion"],
                               env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert "crmpool" in (tmp_path / ".bashrc").read_text()
