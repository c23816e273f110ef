"""Issue "Keep every promise": each group's mechanism, with the issue's examples and more of the
same kind. Every value is checked at the door; errors name their cause; files stay private;
every path shares one policy; the sweep never loses a warning; exports come back exactly."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, NOW_TEXT, add_customers, dump, run_crmpool
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpool import store
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.values import parse_amount
from crmpool.when import BadWhen, parse_when, stored


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def use_rules(conn, users, text: str) -> None:
    with store.transaction(conn):
        set_rules(conn, users["boss"], text, "test", NOW)


# --- 1. Every value is checked at the door -------------------------------------------------

HUGE_RULES = [
    "[[reclaim]]\nname='a'\nidle_days=1000000",
    "[[reclaim]]\nname='a'\nidle_days=9223372036854775807",
    "[[reclaim]]\nname='a'\nno_deal_days=3000000",
    "[[reclaim]]\nname='a'\nmin_amount=1e20\nwithin_days=10",
    "[[reclaim]]\nname='a'\nmin_amount=1e300\nwithin_days=10",
    "[[reclaim]]\nname='a'\nmin_amount=0.001\nwithin_days=10",
    "[[reclaim]]\nname='a'\nmin_amount=nan\nwithin_days=10",
    "[[reclaim]]\nname='a'\nidle_days=30\nwarn_days=99999999",
    "[limits]\ncooldown_days=1000000000",
    "[limits]\nfreeze_max_days=1000000000",
    "[limits]\ncap=-1",
    "[limits]\nclaims_per_day=99999999999",
    "[limits]\nfreezes_per_user=1e3",
    "",
    "# only a comment\n",
]


@pytest.mark.parametrize("text", HUGE_RULES)
def test_rules_out_of_range_are_refused_naming_the_key(cli, tmp_path, text):
    path = write(tmp_path / "r.toml", text)
    for command in ("check", "set"):
        result = cli("rules", command, str(path))
        assert result.exit_code == 3, (text, result.stderr)
        assert "crmpool:" in result.stderr
    assert cli("rules", "set", "-", input="").exit_code == 3


def test_rules_file_not_utf8_is_bad_input(cli, tmp_path):
    path = tmp_path / "r.toml"
    path.write_bytes("[limits]\ncap = 5 # 上限\n".encode("gb18030"))
    result = cli("rules", "check", str(path))
    assert result.exit_code == 3 and "UTF-8" in result.stderr


@pytest.mark.parametrize("value", ["+999999999d", "+100000y", "+2000mo", "0001-01-01",
                                   "9999-12-31T23:59:59-12:00", "+99999999999999999999d",
                                   "1899-12-31", "3000-01-01"])
def test_when_values_out_of_range_are_usage_errors(cli, conn, value):
    add_customers(conn, [{"name": "A", "owner": "li"}])
    for args in (("log", "1", "--at", value), ("freeze", "1", "--until", value, "--reason", "x"),
                 ("events", "--since", value), ("sweep", "--now", value)):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
    assert cli("list", env={"CRMPOOL_NOW": value}).exit_code == 2


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_parse_when_never_fails_otherwise(text):
    try:
        moment = parse_when(text, NOW)
    except BadWhen:
        return
    assert 1900 <= moment.year <= 2999 and len(stored(moment)) == 20


@pytest.mark.parametrize("amount", ["1e20", "1e30", "1e309", "NaN", "inf", "1,2,3",
                                    "1000000000000", "-5", "1.001", "", "12,34.5", "0x10"])
def test_bad_amounts_are_usage_errors(cli, conn, amount):
    add_customers(conn, [{"name": "A", "owner": "li"}])
    result = cli("deal", "1", "--amount", amount)
    assert result.exit_code == 2, (amount, result.stderr)


@given(st.decimals(min_value=0, max_value=10**12 - 1, places=2, allow_nan=False))
def test_amounts_in_range_are_exact(value):
    assert parse_amount(f"{value:,.2f}") == int(value * 100)
    assert parse_amount(f"{value:.2f}") == int(value * 100)


def test_a_deals_file_with_bad_amounts_is_bad_input_even_with_skip_bad(cli, conn, tmp_path):
    add_customers(conn, [{"name": "A", "owner": "li"}])
    path = write(tmp_path / "d.csv", "customer_id,amount,stage\n1,1e20,won\n1,1e309,won\n"
                                     "1,\"1,2,3\",won\n1,NaN,won\n1,100,won\n")
    result = cli("import", str(path), "--kind", "deals")
    assert result.exit_code == 3 and "line 2" in result.stderr
    rejects = tmp_path / "rejects.csv"
    result = cli("import", str(path), "--kind", "deals", "--skip-bad", str(rejects))
    assert result.exit_code == 0, result.stderr
    assert [tuple(r) for r in conn.execute("SELECT amount_cents FROM deals")] == [(10000,)]
    assert rejects.read_text().count("\n") == 5  # header and four rejected rows


@pytest.mark.parametrize("arg", ["1180591620717411303424", "²", "٩", "９", "0", "-1", "1.0",
                                 "9223372036854775808"])
def test_bad_id_arguments_are_usage_errors(cli, conn, arg):
    for args in (("claim", arg), ("show", arg), ("why", arg), ("history", arg),
                 ("deal", arg, "--amount", "1")):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)


@pytest.mark.parametrize("line", ['{"id": 1180591620717411303424}', '{"id": true}', "0", "²",
                                  "٩", '{"id": "1"}', "[" * 100000, "{" + '"a":[' * 50000])
def test_bad_stdin_ids_are_bad_input(cli, conn, line):
    add_customers(conn, [{"name": "A"}])
    result = cli("claim", "-", input=line + "\n", as_user="li")
    assert result.exit_code == 3, (line[:20], result.stderr)
    assert conn.execute("SELECT owner FROM customers").fetchone()[0] is None


@pytest.mark.parametrize("args", [("list", "--limit", str(2**70)), ("list", "--limit", "0"),
                                  ("list", "--idle-over", "1000000"),
                                  ("user", "set", "li", "--cap", str(2**70)),
                                  ("user", "add", "x1", "--cap", "-1"),
                                  ("runs", "--limit", "٣")])
def test_counts_have_ranges(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, (args, result.stderr)


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Pacific/Kiritimati"])
@pytest.mark.parametrize("cell", ["last_contact_at\n0001-01-01T00:00+14:00",
                                  "next_contact_at\n9999-12-31 23:59",
                                  "created_at\n2999-12-31 23:59:59-12:00",
                                  "frozen_until\n99999-01-01"])
def test_time_cells_out_of_range_name_line_and_column(cli, tmp_path, monkeypatch, tz, cell):
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    header, value = cell.split("\n")
    path = write(tmp_path / "c.csv", f"name,owner,{header}\nA,li,{value}\n")
    result = cli("import", str(path))
    assert result.exit_code == 3, result.stderr
    assert "line 2" in result.stderr and header in result.stderr
    contacts = write(tmp_path / "k.csv", f"customer,at\nA,{value}\n")
    assert cli("import", str(contacts), "--kind", "contacts").exit_code == 3


def test_shapes_have_limits(cli, conn, tmp_path):
    wide = write(tmp_path / "w.csv", ",".join(["name", *(f"c{i}" for i in range(13000))])
                 + "\n" + ",".join(["A"] * 13001) + "\n")
    result = cli("import", str(wide))
    assert result.exit_code == 3 and "columns" in result.stderr
    deep = write(tmp_path / "d.json", "[" + '{"name": "A", "x": ' + "[" * 100000 + "]" * 100000
                 + "}]")
    assert cli("import", str(deep)).exit_code == 3
    deep_lines = write(tmp_path / "d.jsonl", '{"name": ' + "[" * 100000 + "]" * 100000 + "}\n")
    assert cli("import", str(deep_lines)).exit_code == 3
    endless = tmp_path / "endless.csv"
    endless.write_bytes(b"name\n" + b"A" * (3 << 20))
    result = cli("import", str(endless))
    assert result.exit_code == 3 and "line 2" in result.stderr and "longer" in result.stderr
    quoted = write(tmp_path / "q.csv", 'name\n"Al"pha Co\n')
    assert cli("import", str(quoted)).exit_code == 3
    garbage = write(tmp_path / "g.json", '[{"name":"A"}] garbage')
    assert cli("import", str(garbage)).exit_code == 3
    nul = write(tmp_path / "n.csv", "name\nA\x00B\n")
    assert cli("import", str(nul)).exit_code == 3
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


def test_dev_zero_is_refused_without_filling_memory(db_path, conn):
    result = run_crmpool("import", "/dev/zero", "--input-format", "csv", db=db_path,
                         timeout=60)
    assert result.returncode == 3, result.stderr
    assert "longer than" in result.stderr or "NUL" in result.stderr


def test_json_values_are_stored_as_data(cli, conn, tmp_path):
    path = write(tmp_path / "j.json", json.dumps([
        {"name": "A", "region": {"x": 1}, "level": True, "phone": 13800000001,
         "来源": [1, 2]}]))
    assert cli("import", str(path)).exit_code == 0
    row = conn.execute("SELECT region, level, phone, extra FROM customers").fetchone()
    assert tuple(row)[:3] == ('{"x": 1}', "true", "13800000001")
    assert json.loads(row[3]) == {"来源": [1, 2]}
    bad = write(tmp_path / "nan.jsonl", '{"name": "B", "phone": NaN}\n')
    assert cli("import", str(bad)).exit_code == 3


@pytest.mark.parametrize("value", ["abc", "inf", "nan", "-1", "99999", "", "٣", "+5", "1e3", "1_0",
                                   " 2.5 "])
def test_busy_timeout_must_be_seconds(cli, value):
    result = cli("list", env={"CRMPOOL_BUSY_TIMEOUT": value})
    assert result.exit_code == (0 if value.strip() in ("", "2.5") else 2), result.stderr


def test_an_ascii_terminal_does_not_break_output(db_path, conn):
    add_customers(conn, [{"name": "北京星辰\x1b[31m", "owner": "li"}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMPOOL_")}
    env |= {"CRMPOOL_DB": str(db_path), "CRMPOOL_USER": "boss", "PYTHONIOENCODING": "ascii"}
    for fmt in ("jsonl", "csv", "table"):
        result = subprocess.run([sys.executable, "-m", "crmpool", "list", "-f", fmt], env=env,
                                capture_output=True)
        assert result.returncode == 0, result.stderr
        assert b"\x1b" not in result.stdout or fmt != "table"
    line = subprocess.run([sys.executable, "-m", "crmpool", "list", "-f", "jsonl"], env=env,
                          capture_output=True).stdout
    assert json.loads(line)["name"] == "北京星辰\x1b[31m"


# --- 2. An error names its real cause ------------------------------------------------------


def _full_disk(monkeypatch, pages: int = 0):
    """Make every opened database hit SQLite's page limit: a real SQLITE_FULL."""
    opened = store.open_db

    def open_full(path):
        conn = opened(path)
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {count + pages}")
        return conn

    monkeypatch.setattr(store, "open_db", open_full)


@pytest.mark.sqlite_only
def test_a_full_disk_is_named_and_leaves_nothing(cli, conn, db_path, tmp_path, monkeypatch):
    rows = "".join(f"C{i},1380000{i:04d},{'x' * 200}\n" for i in range(3000))
    path = write(tmp_path / "c.csv", "name,phone,note\n" + rows)
    use_rules(conn, {"boss": conn and __import__("crmpool.users").users.get_user(conn, "boss")},
              "[[reclaim]]\nname='idle'\nidle_days=1")
    add_customers(conn, [{"name": f"o{i}", "owner": "li", "assigned_at": "2026-01-01T00:00:00Z"}
                         for i in range(50)])
    before = dump(db_path)
    _full_disk(monkeypatch)
    for args in (("import", str(path)), ("sweep",)):
        result = cli(*args)
        assert result.exit_code == 5, (args, result.stderr)
        assert "disk is full" in result.stderr and "rollback" not in result.stderr
    assert dump(db_path) == before


def test_output_to_a_full_device_is_named(db_path, conn):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "crmpool", "export", "-f", "csv"],
                                env={**os.environ, "CRMPOOL_DB": str(db_path),
                                     "CRMPOOL_USER": "boss"},
                                stdout=full, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 5 and "No space left" in result.stderr


@pytest.mark.sqlite_only
def test_a_read_only_database_is_named_and_reads_still_work(cli, conn, db_path, monkeypatch):
    add_customers(conn, [{"name": "A"}])
    connect = store._connect
    monkeypatch.setattr(store, "_connect", lambda path, mode: connect(path, "ro"))
    assert cli("list").exit_code == 0
    for args in (("claim", "1"), ("sweep", "--dry-run"), ("add", "B")):
        result = cli(*args)
        assert result.exit_code == 5 and "read-only" in result.stderr, (args, result.stderr)


def test_a_read_only_folder_is_explained():
    error = sqlite3.OperationalError("attempt to write a readonly database")
    error.sqlite_errorname = "SQLITE_READONLY_DIRECTORY"
    explained = store.explain(error, "team.db")
    assert "folder is read-only" in str(explained) and "-shm" in str(explained)


@pytest.mark.parametrize("how", ["migration", "user_version"])
@pytest.mark.sqlite_only
def test_a_newer_schema_is_refused_untouched(cli, conn, db_path, how):
    with store.transaction(conn):
        if how == "migration":
            conn.execute("INSERT INTO migrations VALUES (99, 'future', ?)", (NOW_TEXT,))
        else:
            conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db_path.read_bytes()
    for args in (("list",), ("sweep",)):
        result = cli(*args)
        assert result.exit_code == 5 and "99" in result.stderr and "newer" in result.stderr
    assert db_path.read_bytes() == before


def test_a_file_with_only_a_meta_table_is_not_ours(cli, tmp_path):
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE crmpool_meta (key TEXT, value TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    result = cli("list", env={"CRMPOOL_DB": str(path)})
    assert result.exit_code == 5 and "not a crmpool database" in result.stderr
    assert path.read_bytes() == before


def test_init_through_a_dangling_symlink(cli, tmp_path):
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "nowhere" / "x.db")
    result = cli("init", env={"CRMPOOL_DB": str(link)})
    assert result.exit_code == 2 and "does not exist" in result.stderr


# --- 3. Files stay private -----------------------------------------------------------------


def test_init_makes_an_existing_empty_file_private(cli, tmp_path):
    path = tmp_path / "new.db"
    path.touch()
    path.chmod(0o666)
    assert cli("init", "--admin", "boss", env={"CRMPOOL_DB": str(path)}).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.sqlite_only
def test_backup_never_follows_or_keeps_a_partial_file(cli, conn, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "b.db.partial").symlink_to(victim)
    loose = tmp_path / "c.db.partial"
    loose.write_text("old")
    loose.chmod(0o644)
    for name in ("b.db", "c.db"):
        assert cli("backup", str(tmp_path / name)).exit_code == 0
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert victim.read_text() == "keep me"
    leftovers = [p.name for p in tmp_path.iterdir() if "partial" in p.name
                 and p.name not in ("b.db.partial", "c.db.partial")]
    assert leftovers == []


@pytest.mark.sqlite_only
def test_a_failed_backup_leaves_nothing_behind(cli, conn, tmp_path, monkeypatch):
    real = sqlite3.Connection.backup

    def failing(self, target, **kw):
        target.execute("PRAGMA max_page_count = 1")
        return real(self, target, **kw)

    monkeypatch.setattr(store.Connection, "backup", failing)
    result = cli("backup", str(tmp_path / "x.db"))
    assert result.exit_code == 5, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".x", "x"))) == []


# --- 4. Every path that changes a customer goes through the same policy --------------------


def test_a_manager_updates_only_what_they_may_act_on(cli, conn, tmp_path):
    add_customers(conn, [{"name": "West Co", "email": "w@x.cn", "owner": "chen", "level": "C"},
                         {"name": "East Co", "email": "e@x.cn", "owner": "li", "level": "C"}])
    path = write(tmp_path / "u.csv", "name,email,level\nWest Co,w@x.cn,A\nEast Co,e@x.cn,A\n")
    result = cli("import", str(path), "--on-duplicate", "update", "-f", "json", as_user="wang")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["updated"], summary["not_updated"]) == (1, 1)
    levels = dict(conn.execute("SELECT name, level FROM customers").fetchall())
    assert levels == {"West Co": "C", "East Co": "A"}
    events = [tuple(r) for r in conn.execute("SELECT customer_id, action FROM events"
                                             " WHERE action = 'import-update'")]
    assert events == [(2, "import-update")]


def test_imported_freezes_follow_the_freeze_rules(cli, conn, tmp_path):
    far = write(tmp_path / "f.csv", "name,owner,frozen_until\n" +
                "".join(f"C{i},li,2099-01-01\n" for i in range(15)))
    result = cli("import", str(far), as_user="wang")
    assert result.exit_code == 3 and "frozen_until" in result.stderr
    many = write(tmp_path / "m.csv", "name,owner,frozen_until\n" +
                 "".join(f"C{i},li,+5d\n".replace("+5d", "2026-12-01") for i in range(15)))
    result = cli("import", str(many), as_user="wang")
    assert result.exit_code == 3 and "freezes_per_user" in result.stderr
    few = write(tmp_path / "few.csv", "name,owner,frozen_until\nA,li,2026-12-01\nB,,2026-12-01\n")
    assert cli("import", str(few), as_user="wang").exit_code == 0
    assert conn.execute("SELECT count(*) FROM customers WHERE frozen_until IS NOT NULL"
                        ).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM events WHERE action = 'freeze'").fetchone()[0] == 1


def test_rights_are_read_inside_the_write_lock(conn, db_path):
    add_customers(conn, [{"name": "A"}])
    if getattr(conn, "engine", "sqlite") == "postgresql":
        holder = store.open_db(db_path)  # another writer, holding the database's write lock
        holder.begin_write(10)
    else:
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    result: dict = {}

    def claim():
        result["p"] = run_crmpool("claim", "1", db=db_path, user="li")

    worker = threading.Thread(target=claim)
    worker.start()
    time.sleep(1.5)  # the claim has started and waits for the lock
    holder.execute("UPDATE users SET active = 0 WHERE name = 'li'")
    holder.execute("COMMIT")
    worker.join(60)
    assert result["p"].returncode == 4, result["p"].stderr
    assert "deactivated" in result["p"].stderr
    assert conn.execute("SELECT owner FROM customers").fetchone()[0] is None


@pytest.mark.parametrize("name", [" li ", "li ", "sweep", "-x", "a  b", "li\x1b", "", "x" * 65,
                                  "ｌｉ", "a\tb", "x;y"])
def test_user_and_pool_names_are_checked(cli, name):
    assert cli("user", "add", name).exit_code == 2, name
    if name != "sweep":  # reserved for users only
        assert cli("pool", "add", name).exit_code == 2, name


def test_names_people_use_are_fine_and_look_alikes_are_not(cli):
    for name in ("Anna Snelling", "李雷", "o.brien", "wang_2"):
        assert cli("user", "add", name).exit_code == 0, name
    refused = cli("user", "add", "LI")
    assert refused.exit_code == 4 and "looks the same as 'li'" in refused.stderr


def test_messages_say_what_happened(cli, conn, users):
    ids = add_customers(conn, [{"name": "A", "owner": "li", "assigned_at": "2026-09-01T00:00:00Z"},
                               {"name": "B", "owner": "li", "status": "won"},
                               {"name": "C", "owner": "li", "status": "won"}])
    use_rules(conn, users, "[limits]\ncap = 1\n[[reclaim]]\nname = 'idle'\nidle_days = 30")
    listed = {u["name"]: u for u in cli.rows("user", "list")}
    assert (listed["li"]["owned"], listed["li"]["counted"]) == (3, 1)
    add_customers(conn, [{"name": "D"}])
    refused = cli("claim", "4", as_user="li")
    assert "you own 3 customers, 1 of them toward the cap of 1" in refused.stderr
    assert cli("sweep").exit_code == 0
    refused = cli("claim", str(ids[0]), as_user="li")
    assert "was reclaimed from you by rule 'idle'" in refused.stderr
    assert "you gave" not in refused.stderr
    refused = cli("freeze", str(ids[1]), "--until", "+3d", "--reason", "x", as_user="li")
    assert refused.exit_code == 4 and "only a manager or an admin" in refused.stderr


# --- 5. The sweep never loses a warning ----------------------------------------------------

WARN = "[[reclaim]]\nname = 'idle'\nidle_days = 30\nwarn_days = 5\n"


def test_a_frozen_customer_is_warned_before_its_freeze_ends(cli, conn, users):
    # Idle long enough to be reclaimed, but frozen until NOW + 10 days.
    add_customers(conn, [{"name": "A", "owner": "li", "assigned_at": "2026-09-01T00:00:00Z",
                          "frozen_until": stored(NOW + timedelta(days=10))}])
    use_rules(conn, users, WARN)
    for day in range(0, 12):
        as_of = NOW + timedelta(days=day)
        report = sweep(conn, users["boss"], as_of, as_of)
        warned = conn.execute("SELECT count(*) FROM warnings").fetchone()[0]
        owner = conn.execute("SELECT owner FROM customers").fetchone()[0]
        if day < 5:
            assert warned == 0 and owner == "li", day
        elif day < 10:
            assert warned == 1 and owner == "li", day
        else:
            assert owner is None, day  # reclaimed once the freeze is over, never before
            assert report.reclaimed in (0, 1)
    why = cli("why", "1")
    assert why.exit_code == 0


def test_why_agrees_with_the_warning_of_a_frozen_customer(cli, conn, users):
    add_customers(conn, [{"name": "A", "owner": "li", "assigned_at": "2026-09-01T00:00:00Z",
                          "frozen_until": stored(NOW + timedelta(days=3))}])
    use_rules(conn, users, WARN)
    sweep(conn, users["boss"], NOW, NOW)
    row = cli.rows("why", "1")[0]
    warning = cli.rows("warnings")[0]
    assert row["fires_at"] == warning["due_at"] == stored(NOW + timedelta(days=3))
    assert row["warn_from"] <= NOW_TEXT


def test_time_does_not_run_backwards(cli, conn, users):
    add_customers(conn, [{"name": "A", "owner": "li",
                          "assigned_at": stored(NOW - timedelta(days=27))}])
    use_rules(conn, users, WARN)
    assert cli("sweep").exit_code == 0
    result = cli("sweep", "--now", "-3d")
    assert result.exit_code == 4 and "run 1" in result.stderr
    assert cli("sweep", "--now", "-3d", "--dry-run").exit_code == 0
    assert len(cli.rows("warnings")) == 1


def test_a_warning_that_holds_again_opens_again(cli, conn, users):
    add_customers(conn, [{"name": "A", "owner": "li",
                          "assigned_at": stored(NOW - timedelta(days=27))}])
    use_rules(conn, users, WARN)
    sweep(conn, users["boss"], NOW, NOW)
    with store.transaction(conn):
        conn.execute("UPDATE warnings SET closed_at = ?", (NOW_TEXT,))
    sweep(conn, users["boss"], NOW + timedelta(hours=1), NOW)
    assert conn.execute("SELECT count(*) FROM warnings WHERE closed_at IS NULL"
                        ).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM warnings").fetchone()[0] == 2


def test_sweep_prints_jsonl_when_piped_and_streams_json(db_path, conn, users):
    use_rules(conn, users, WARN)
    add_customers(conn, [{"name": f"c{i}", "owner": "li",
                          "assigned_at": stored(NOW - timedelta(days=26 + i))} for i in range(8)])
    result = run_crmpool("sweep", "--dry-run", db=db_path, now=NOW_TEXT)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["kind"] == "run" and {x["kind"] for x in lines} == {"reclaim", "warning",
                                                                          "run"}
    whole = json.loads(run_crmpool("sweep", "-f", "json", db=db_path, now=NOW_TEXT).stdout)
    assert len(whole["reclaimed_customers"]) == 4 and len(whole["warned_customers"]) == 4
    csv_out = run_crmpool("sweep", "-f", "csv", "--dry-run", db=db_path, now=NOW_TEXT).stdout
    assert "(home pool)" not in csv_out


def test_undo_puts_back_exactly_one_run(cli, conn, users, db_path):
    use_rules(conn, users, WARN + "[limits]\ncooldown_days = 30\n")
    ids = add_customers(conn, [
        {"name": f"c{i}", "owner": "li", "assigned_at": stored(NOW - timedelta(days=31 + i))}
        for i in range(3)] + [
        {"name": "warned", "owner": "zhang", "assigned_at": stored(NOW - timedelta(days=27))},
        {"name": "frozen", "owner": "zhang", "assigned_at": stored(NOW - timedelta(days=1)),
         "frozen_until": stored(NOW - timedelta(hours=1)), "freeze_reason": "合同"}])
    before = {r["id"]: r for r in cli.rows("export")}
    assert cli("sweep").exit_code == 0
    assert cli.rows("runs")[0]["reclaimed"] == 3
    # One customer changes hands again after the run: it is left alone.
    assert cli("claim", str(ids[2]), as_user="zhang").exit_code == 0
    dry = cli("sweep", "--undo", "1", "--dry-run", "-f", "json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["restored"] == 3
    result = cli("sweep", "--undo", "1", "-f", "json")
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout)
    assert (done["restored"], done["left_alone"], done["warnings_removed"]) == (3, 1, 1)
    after = {r["id"]: r for r in cli.rows("export")}
    for cid in (ids[0], ids[1], ids[4]):
        assert after[cid] == before[cid]
    assert after[ids[2]]["owner"] == "zhang"
    assert cli.rows("warnings") == []
    assert cli("sweep", "--undo", "1").exit_code == 4
    assert cli("sweep", "--undo", "99").exit_code == 4
    assert cli("sweep", "--undo", "1", as_user="wang").exit_code == 4
    # The undone reclaim starts no cooldown: li may claim a customer the run took.
    assert cli("release", str(ids[0]), "--reason", "x", as_user="boss").exit_code == 0
    undo_events = cli.rows("events", "--action", "undo")
    assert {e["run_id"] for e in undo_events} == {1} and len(undo_events) == 2


# --- 6. What goes out comes back exactly ---------------------------------------------------

AWKWARD = ["a\rb", "a\r\nb", "line\nbreak", "\t=1+2", "\r=cmd", "'=Quote Co", "'plain",
           "  lead", "trail  ", "\ttab", "=SUM(A1)", "+86 138", "-x", "@x", "back\\slash",
           "tab\there", "'", "''", "x'", "中文，逗号", '"quoted"']


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_export_import_round_trip_is_exact(cli, conn, tmp_path, fmt):
    add_customers(conn, [{"name": f"C{i:03d}", "region": v, "industry": v}
                         for i, v in enumerate(AWKWARD)])
    exported = cli("export", "-f", fmt)
    assert exported.exit_code == 0
    if fmt == "tsv":
        assert all(line.count("\t") == exported.stdout.splitlines()[0].count("\t")
                   for line in exported.stdout.splitlines())
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(exported.stdout_bytes)  # .stdout folds CRLF, which the test is about
    other = tmp_path / "other.db"
    assert cli("init", "--admin", "boss", env={"CRMPOOL_DB": str(other)}).exit_code == 0
    result = cli("import", str(path), env={"CRMPOOL_DB": str(other)})
    assert result.exit_code == 0, result.stderr
    back = sqlite3.connect(other).execute("SELECT region, industry FROM customers ORDER BY id")
    assert [tuple(r) for r in back] == [(v, v) for v in AWKWARD]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=12))
@settings(max_examples=60, deadline=None)
def test_the_guard_and_clean_are_inverse(value):
    from crmpool.imports.fields import clean
    from crmpool.imports.rows import cleaned
    from crmpool.output import guard_formula

    guarded = guard_formula(value)
    assert not guarded.startswith(("=", "+", "-", "@", "\t", "\r"))
    expected = value if value.strip() or value != value.strip() else None
    assert clean(guarded) == cleaned([guarded])[0] == (value if value.strip() else expected)


def test_machine_formats_carry_data(cli, conn, users):
    add_customers(conn, [{"name": "A", "extra": '{"来源": "展会"}', "owner": "li",
                          "assigned_at": "2026-01-01T00:00:00Z"}])
    use_rules(conn, users, "[[reclaim]]\nname = 'idle'\nidle_days = 30")
    assert cli("sweep").exit_code == 0
    run = cli.rows("runs")[0]
    assert run["per_rule"] == {"idle": {"reclaimed": 1, "warned": 0}}
    shown = json.loads(cli("show", "1", "-f", "json").stdout)
    assert shown["extra"] == {"来源": "展会"}
    assert cli.rows("export")[0]["extra"] == {"来源": "展会"}
    users_csv = cli("user", "list", "-f", "csv").stdout
    assert ",true," in users_csv and "True" not in users_csv


def test_control_characters_never_reach_the_terminal(cli, conn):
    add_customers(conn, [{"name": "Evil\x1b]0;pwned\x07\x1b[2J"}])
    result = cli("claim", "1", "-f", "table", as_user="li")
    assert result.exit_code == 0 and "\x1b" not in result.stdout + result.stderr
    assert "\\x1b" in result.stdout
    result = cli("add", "Evil\x1b]0;pwned\x07\x1b[2J", as_user="li")
    assert result.exit_code == 4 and "\x1b" not in result.stderr


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_export_for_excel_and_wps(cli, conn, tmp_path, encoding):
    add_customers(conn, [{"name": "北京星辰科技有限公司"}])
    result = subprocess.run([sys.executable, "-m", "crmpool", "export", "-f", "csv",
                             "--encoding", encoding],
                            env={**os.environ, "CRMPOOL_DB": str(cli.db), "CRMPOOL_USER": "boss"},
                            capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "北京星辰科技有限公司" in result.stdout.decode(encoding)
    if encoding == "utf-8-sig":
        assert result.stdout.startswith(b"\xef\xbb\xbf")


def test_deals_and_contacts_are_not_imported_twice(cli, conn, tmp_path):
    add_customers(conn, [{"name": "A", "owner": "li"}])
    deals = write(tmp_path / "d.csv", "customer_id,amount,stage,时间\n1,100,won,2026-11-01\n"
                                      "1,200,won,2026-11-02\n")
    for _ in range(2):
        assert cli("import", str(deals), "--kind", "deals").exit_code == 0
    rows = [tuple(r) for r in conn.execute("SELECT amount_cents, at FROM deals ORDER BY id")]
    assert rows == [(10000, "2026-10-31T16:00:00Z"), (20000, "2026-11-01T16:00:00Z")]
    assert cli("import", str(deals), "--kind", "deals", "--on-duplicate", "fail").exit_code == 3
    by_id = write(tmp_path / "e.csv", "deal_id,customer_id,amount,stage,date\n"
                                      "X-1,1,300,open,2026-11-03\n")
    assert cli("import", str(by_id), "--kind", "deals").exit_code == 0
    changed = write(tmp_path / "e2.csv", "deal_id,customer_id,amount,stage,date\n"
                                         "X-1,1,350,won,2026-11-04\n")
    result = cli("import", str(changed), "--kind", "deals", "--on-duplicate", "update",
                 "-f", "json")
    assert json.loads(result.stdout)["updated"] == 1
    assert tuple(conn.execute("SELECT amount_cents, stage FROM deals WHERE external_id ="
                              " 'X-1'").fetchone()) == (35000, "won")
    contacts = write(tmp_path / "k.csv", "customer_id,at,via,note\n1,2026-11-01,电话,hi\n")
    for _ in range(2):
        assert cli("import", str(contacts), "--kind", "contacts").exit_code == 0
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1
    ghost = write(tmp_path / "g.csv", "customer_id,amount,stage,user\n1,5,won,ghost\n")
    result = cli("import", str(ghost), "--kind", "deals")
    assert result.exit_code == 3 and "ghost" in result.stderr
    reasons = [r[0] for r in conn.execute("SELECT reason FROM events WHERE action = 'won'")]
    assert reasons and all(str(tmp_path) not in r for r in reasons)


def test_one_parser_per_kind_of_value(cli, conn):
    add_customers(conn, [{"name": "A", "owner": "li"}])
    assert cli("deal", "1", "--amount", "5", "--stage", "Won").exit_code == 0
    assert cli("deal", "1", "--amount", "5", "--stage", "赢单").exit_code == 0
    assert cli("log", "1", "--via", "微信", "--at", "2026/11/20").exit_code == 0
    assert cli("log", "1", "--via", "fax").exit_code == 2
    assert tuple(conn.execute("SELECT via, at FROM contacts").fetchone()) == (
        "message", "2026-11-19T16:00:00Z")


def test_files_excel_and_wps_write(cli, conn, tmp_path):
    (tmp_path / "u16.txt").write_bytes("客户名称\t电话\n北京星辰\t13800000001\n"
                                       .encode("utf-16"))
    assert cli("import", str(tmp_path / "u16.txt")).exit_code == 0
    write(tmp_path / "semi.csv", "name;phone\nSemi Co;13800000002\n")
    assert cli("import", str(tmp_path / "semi.csv")).exit_code == 0
    write(tmp_path / "us.csv", "name,created_at\nUS1,2/26/2018 19:58\nUS2,3/4/2018 10:00\n")
    result = cli("import", str(tmp_path / "us.csv"))
    assert result.exit_code == 3 and "--date-order" in result.stderr
    assert cli("import", str(tmp_path / "us.csv"), "--date-order", "mdy").exit_code == 0
    big5 = tmp_path / "big5.csv"
    big5.write_bytes("name\n台北市信義區資訊科技股份有限公司\n高雄港務處理\n".encode("big5") * 5)
    result = cli("import", str(big5))
    assert result.exit_code == 3 and "Big5" in result.stderr
    assert cli("import", str(big5), "--encoding", "big5").exit_code == 0
    names = {r[0] for r in conn.execute("SELECT name FROM customers")}
    assert {"北京星辰", "Semi Co", "US1", "US2", "台北市信義區資訊科技股份有限公司"} <= names


# --- 7. Everything the README shows works as written ---------------------------------------


@pytest.mark.parametrize("args", [("init",), ("user", "set", "li", "--display", "x"),
                                  ("pool", "add", "p2"), ("rules", "check", "RULES"),
                                  ("rules", "set", "RULES"), ("backup", "BACKUP")])
def test_format_is_everywhere(cli, tmp_path, args):
    rules = write(tmp_path / "r.toml", "[limits]\ncap = 10\n")
    args = tuple(str(rules) if a == "RULES" else str(tmp_path / "b.db") if a == "BACKUP"
                 else a for a in args)
    env = {"CRMPOOL_DB": str(tmp_path / "fresh.db")} if args == ("init",) else None
    result = cli(*args, "-f", "json", env=env)
    assert result.exit_code == 0, result.stderr
    assert isinstance(json.loads(result.stdout), dict)


def test_unknown_names_are_refusals(cli, conn):
    assert cli("list", "--owner", "nobody").exit_code == 4
    assert cli("list", "--pool", "nope").exit_code == 4
    result = cli("events", "--action", "bogus")
    assert result.exit_code == 2 and "claim" in result.stderr
    add_customers(conn, [{"name": "A", "level": "A"}])
    assert [r["name"] for r in cli.rows("list", "--level", "a")] == ["A"]


def test_global_options_after_the_command_get_a_hint(db_path, conn):
    result = run_crmpool("list", "--as", "li", db=db_path)
    assert result.returncode == 2 and "before the command" in result.stderr


def test_map_must_name_a_column_and_dry_run_writes_rejects(cli, conn, tmp_path):
    path = write(tmp_path / "c.csv", "客户,phone\nA,1\n,2\n")
    result = cli("import", str(path), "--map", "bogus=name")
    assert result.exit_code == 2 and "bogus" in result.stderr
    rejects = tmp_path / "rejects.csv"
    result = cli("import", str(path), "--map", "客户=name", "--dry-run", "--skip-bad",
                 str(rejects))
    assert result.exit_code == 0, result.stderr
    assert "every customer needs a name" in rejects.read_text()
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    assert "(s)" not in result.stderr


# --- why, sweep and warnings agree after any sequence of sweeps ----------------------------

AGREE_RULES = ("[[reclaim]]\nname = 'idle'\nidle_days = 10\nwarn_days = 3\n"
               "[[reclaim]]\nname = 'deal'\nno_deal_days = 20\nwarn_days = 6\n")
STEP = st.one_of(
    st.tuples(st.just("sweep"), st.integers(0, 72)),  # hours later
    st.tuples(st.just("dry"), st.integers(-48, 72)),
    st.tuples(st.just("log"), st.integers(0, 4)),
    st.tuples(st.just("freeze"), st.integers(0, 4), st.integers(1, 15)),
    st.tuples(st.just("claim"), st.integers(0, 4)),
    st.tuples(st.just("undo"), st.just(0)),
)


@given(st.lists(STEP, min_size=3, max_size=14))
@settings(max_examples=40, deadline=None)
def test_why_sweep_and_warnings_agree(tmp_path_factory, steps):
    from conftest import make_team

    from crmpool.contacts import log_contact
    from crmpool.freezes import freeze
    from crmpool.ownership import claim
    from crmpool.sweep.undo import undo_run
    from crmpool.sweep.why import explain
    from crmpool.users import get_user

    conn = store.create_db(tmp_path_factory.mktemp("agree") / "t.db", NOW)
    make_team(conn)
    boss, wang, li = (get_user(conn, n) for n in ("boss", "wang", "li"))
    use_rules(conn, {"boss": boss}, AGREE_RULES)
    ids = add_customers(conn, [{"name": f"c{i}", "owner": "li",
                                "assigned_at": stored(NOW - timedelta(days=2 * i + 1))}
                               for i in range(5)])
    clock = NOW
    for step in steps:
        kind = step[0]
        if kind == "sweep":
            clock += timedelta(hours=step[1])
            sweep(conn, boss, clock, clock)
        elif kind == "dry":
            sweep(conn, boss, clock + timedelta(hours=step[1]), clock, dry_run=True)
        elif kind == "log":
            log_contact(conn, li, [ids[step[1]]], clock)
        elif kind == "freeze":
            freeze(conn, wang, [ids[step[1]]], clock + timedelta(days=step[2]), "x", clock)
        elif kind == "claim":
            claim(conn, li, [ids[step[1]]], clock)
        elif kind == "undo":
            last = conn.execute("SELECT max(id) FROM runs WHERE undone_at IS NULL").fetchone()[0]
            if last:
                undo_run(conn, boss, last, clock)
        swept = conn.execute("SELECT max(as_of) FROM runs WHERE dry_run = 0 AND undone_at IS"
                             " NULL").fetchone()[0]
        if kind != "sweep" or swept is None:
            continue
        # Right after a sweep as of `clock`: nobody it should have reclaimed is still owned,
        # and the open warnings are exactly the rules whose window holds, with why's days.
        open_now = {(r["customer_id"], r["rule"]): r["due_at"] for r in conn.execute(
            "SELECT customer_id, rule, due_at FROM warnings w JOIN customers c"
            " ON c.id = w.customer_id WHERE w.closed_at IS NULL AND c.owner = w.owner")}
        expected = {}
        for cid in ids:
            _, rows = explain(conn, cid, clock)
            for row in rows:
                if not row["applies"]:
                    continue
                assert row["fires_at"] > stored(clock), (cid, row)  # else it was reclaimed
                if row["warn_from"] and row["warn_from"] <= stored(clock):
                    expected[(cid, row["rule"])] = row["fires_at"]
        assert open_now == expected, steps
    conn.close()


def test_migration_3_keeps_old_warnings_and_makes_episodes(tmp_path, monkeypatch):
    from conftest import make_team

    from crmpool.migrations import MIGRATIONS

    db = tmp_path / "old.db"
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:2])
    old = store.create_db(db, NOW)
    make_team(old)
    add_customers(old, [{"name": "A", "owner": "li"}])
    with store.transaction(old):
        old.execute("INSERT INTO warnings (customer_id, rule, owner, due_at, due_day,"
                    " created_at, closed_at) VALUES (1, 'idle', 'li', ?, '2026-11-25', ?, ?)",
                    (NOW_TEXT, NOW_TEXT, NOW_TEXT))
    old.close()
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    conn = store.open_db(db)
    assert conn.execute("SELECT count(*), max(closed_run_id) FROM warnings").fetchone()[0] == 1
    insert = ("INSERT INTO warnings (customer_id, rule, owner, due_at, due_day, created_at)"
              " VALUES (1, 'idle', 'li', ?, '2026-11-25', ?)")
    with store.transaction(conn):
        conn.execute(insert, (NOW_TEXT, NOW_TEXT))  # a new episode beside the closed one
    with pytest.raises(sqlite3.IntegrityError), store.transaction(conn):
        conn.execute(insert, (NOW_TEXT, NOW_TEXT))  # but one open episode at a time
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\x00"), max_size=8),
                min_size=1, max_size=6))
@settings(max_examples=40, deadline=None)
def test_exports_built_by_sqlite_equal_the_python_writers(tmp_path_factory, values):
    """export's fast paths (SQLite builds JSON, CSV and TSV) give what output.py's writers
    give for the same rows."""
    import csv
    import io

    from conftest import make_team

    from crmpool.exporting import export_json_texts, export_lines, export_rows
    from crmpool.output import Output

    conn = store.create_db(tmp_path_factory.mktemp("fast") / "t.db", NOW)
    make_team(conn)
    add_customers(conn, [{"name": f"C{i}", "region": v, "industry": v or None,
                          "extra": json.dumps({"k": v}, ensure_ascii=False)}
                         for i, v in enumerate(values)])
    for fmt in ("csv", "tsv", "jsonl"):
        slow = io.StringIO()
        names, rows = export_rows(conn, "customers")
        Output(fmt, out=slow).rows(rows, names)
        fast = io.StringIO()
        if fmt == "jsonl":
            Output(fmt, out=fast).json_texts(export_json_texts(conn, "customers"))
            # JSON lines end at \n only (\x85 and U+2028 may stand inside a string).
            assert [json.loads(x) for x in fast.getvalue().split("\n") if x] == [
                json.loads(x) for x in slow.getvalue().split("\n") if x]
        else:
            Output(fmt, out=fast).lines(*export_lines(conn, "customers", fmt))
            if fmt == "tsv":
                assert fast.getvalue() == slow.getvalue()
            else:
                def parsed(text):
                    return list(csv.reader(io.StringIO(text, newline="")))

                assert parsed(fast.getvalue()) == parsed(slow.getvalue())
    conn.close()
