"""crmpool on PostgreSQL, against a real server this run starts (tests/pg_server.py): what only
a server has (an empty database, someone else's, a password, a second writer holding the
lock), and the engines agreeing on the same team. The rest of the suite runs against
PostgreSQL too, with CRMPOOL_TEST_ENGINE=postgresql (`python3 scripts/dev.py pytest`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import NOW_TEXT, dump, run_crmpool

from crmpool import store


def crmpool(*args: str, db: str, user: str = "boss", env: dict | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CRMPOOL_", "PG"))}
    environment |= {"CRMPOOL_DB": db, "CRMPOOL_USER": user, "CRMPOOL_NOW": NOW_TEXT,
                    **(env or {})}
    return subprocess.run([sys.executable, "-m", "crmpool", *args], env=environment,
                          input=input, capture_output=True, text=True, timeout=120)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public'")}


def test_init_creates_the_schema_in_an_empty_database_and_refuses_a_second_time(pg_server):
    url = pg_server.new_database()
    first = crmpool("init", "--admin", "boss", db=url)
    assert first.returncode == 0, first.stderr
    assert {"customers", "events", "warnings", "migrations"} <= tables(url)
    again = crmpool("init", "--admin", "boss", db=url)
    assert again.returncode == 4 and "already a crmpool database" in again.stderr


def test_a_database_that_is_not_crmpools_is_left_untouched(pg_server):
    url = pg_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, total numeric)")
        conn.execute("INSERT INTO invoices VALUES (1, 99.5)")
    for args in (["init", "--admin", "boss"], ["list"], ["sweep"]):
        result = crmpool(*args, db=url)
        assert result.returncode == 5, (args, result.stderr)
        assert "not a crmpool database" in result.stderr
    assert tables(url) == {"invoices"}
    with psycopg.connect(url) as conn:
        functions = conn.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                                 " ON n.oid = p.pronamespace WHERE n.nspname = 'public'")
        assert functions.fetchone()[0] == 0


def test_an_empty_database_says_to_run_init(pg_server):
    result = crmpool("list", db=pg_server.new_database())
    assert result.returncode == 5 and "crmpool init" in result.stderr


def test_a_password_in_the_url_is_never_printed(pg_server):
    url = pg_server.url("no_such_database").replace("crmpool@", "crmpool:s3cret-pw@")
    result = crmpool("list", db=url)
    assert result.returncode == 5
    assert "cannot connect" in result.stderr and "s3cret-pw" not in result.stderr
    assert "***" in result.stderr


def test_a_writer_waiting_past_the_busy_timeout_exits_5(pg_server):
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("add", "Acme", "-q", db=url).returncode == 0
    holder = store.open_db(url)
    with store.transaction(holder):  # another crmpool, in the middle of a write
        started = time.monotonic()
        result = crmpool("release", "1", "--reason", "busy test", db=url,
                         env={"CRMPOOL_BUSY_TIMEOUT": "0.5"})
        waited = time.monotonic() - started
        # Reading is never blocked by a writer.
        listed = crmpool("list", "-f", "csv", "-c", "name", db=url)
    holder.close()
    assert result.returncode == 5 and "busy" in result.stderr, result.stderr
    assert waited >= 0.5
    assert listed.returncode == 0 and "Acme" in listed.stdout
    # A timeout of 0 is "do not wait" (PostgreSQL's own 0 would wait for ever).
    holder = store.open_db(url)
    with store.transaction(holder):
        at_once = crmpool("release", "1", "--reason", "x", db=url,
                          env={"CRMPOOL_BUSY_TIMEOUT": "0"})
    holder.close()
    assert at_once.returncode == 5 and "busy" in at_once.stderr, at_once.stderr
    assert crmpool("release", "1", "--reason", "x", db=url).returncode == 0  # then it goes


def test_sqlite_commands_never_import_the_postgresql_driver(tmp_path):
    db = tmp_path / "team.db"
    assert run_crmpool("init", "--admin", "boss", db=db).returncode == 0
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from crmpool.cli import main; sys.argv = ['crmpool', 'list', '-q'];"
         "\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
         "print('psycopg' in sys.modules)"],
        env={**os.environ, "CRMPOOL_DB": str(db), "CRMPOOL_USER": "boss"},
        capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip().splitlines()[-1] == "False", probe.stderr


def test_two_sweeps_at_once_apply_once(pg_server):
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("user", "add", "li", db=url).returncode == 0
    rules = '[limits]\ncap = 100000\n[[reclaim]]\nname = "idle"\nidle_days = 30\n'
    assert crmpool("rules", "set", "-", "-q", db=url, input=rules).returncode == 0
    rows = "\n".join(f"客户{i},li" for i in range(500))
    assert crmpool("import", "-", "--input-format", "csv", "-q", db=url,
                   input="name,owner\n" + rows + "\n").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMPOOL_", "PG"))}
    env |= {"CRMPOOL_DB": url, "CRMPOOL_USER": "boss", "CRMPOOL_NOW": "+40d"}
    sweeps = [subprocess.Popen([sys.executable, "-m", "crmpool", "sweep", "-f", "json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    results = [(p, *p.communicate(timeout=120)) for p in sweeps]
    for proc, _out, err in results:
        assert proc.returncode == 0, err
    reclaimed = sorted(json.loads(out)["reclaimed"] for _, out, _ in results)
    assert reclaimed == [0, 500]
    with psycopg.connect(url) as check:
        events = check.execute("SELECT count(*) FROM events WHERE action = 'reclaim'")
        assert events.fetchone()[0] == 500


def test_a_killed_sweep_leaves_nothing_behind(pg_server):
    built = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=built).returncode == 0
    assert crmpool("user", "add", "li", db=built).returncode == 0
    rules = ('[limits]\ncap = 100000\n[[reclaim]]\nname = "idle"\nidle_days = 30\n'
             'warn_days = 5\n')
    assert crmpool("rules", "set", "-", "-q", db=built, input=rules).returncode == 0
    rows = "\n".join(f"客户{i},li" for i in range(60_000))
    assert crmpool("import", "-", "--input-format", "csv", "-q", db=built,
                   input="name,owner\n" + rows + "\n").returncode == 0

    def state(url: str) -> tuple:
        with psycopg.connect(url) as check:
            return tuple(check.execute(q).fetchone()[0] for q in (
                "SELECT count(*) FROM runs", "SELECT count(*) FROM events",
                "SELECT count(*) FROM customers WHERE owner IS NULL",
                "SELECT count(*) FROM warnings", "SELECT count(*) FROM notifications"))

    before = state(built)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMPOOL_", "PG"))}
    env |= {"CRMPOOL_USER": "boss", "CRMPOOL_NOW": "+40d"}
    caught = None
    for attempt, delay in enumerate((0.3, 0.15, 0.05, 0.6)):
        # Each attempt on a fresh copy of the built database.
        template = built.split("?")[0].rsplit("/", 1)[1]
        name = f"{template}_kill{attempt}"
        with pg_server.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = pg_server.url(name)
        proc = subprocess.Popen([sys.executable, "-m", "crmpool", "sweep", "-q"],
                                env={**env, "CRMPOOL_DB": url})
        # Kill once its transaction holds the write lock (it is writing).
        deadline = time.monotonic() + 30
        with pg_server.admin() as watch:
            while time.monotonic() < deadline and proc.poll() is None:
                held = watch.execute("SELECT count(*) FROM pg_locks WHERE locktype ="
                                     " 'advisory' AND granted").fetchone()[0]
                if held:
                    break
                time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            time.sleep(0.2)  # the server notices the closed connection and rolls back
            assert state(url) == before
            caught = url
            break
    assert caught, "never caught the sweep in the middle"
    rerun = crmpool("sweep", "-f", "json", db=caught, env={"CRMPOOL_NOW": "+40d"})
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["reclaimed"] == 60_000


def test_a_newer_schema_is_refused_untouched(pg_server):
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
    result = crmpool("list", db=url)
    assert result.returncode == 5 and "newer than this crmpool's" in result.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT max(id) FROM migrations").fetchone()[0] == 999


def test_names_sort_and_match_as_on_sqlite_whatever_the_servers_collation(pg_server, tmp_path):
    # The test server's databases default to ICU en-US (tests/pg_server.py), where 'apple'
    # sorts before 'Banana' and punctuation is nearly ignored; crmpool's text is in code
    # point order on both engines.
    names = ["apple", "Banana", "_under", "Äpfel", "北京", "a-b", "ab", "Ab", "a b"]
    outputs = []
    for db in (str(tmp_path / "team.db"), pg_server.new_database()):
        assert crmpool("init", "--admin", "boss", db=db).returncode == 0
        for name in names:
            assert crmpool("add", name, "--allow-duplicate", "-q", db=db).returncode == 0
        sorted_names = crmpool("list", "--sort", "name", "-f", "csv", "-c", "name", db=db)
        prefixed = crmpool("list", "--search", "a", "-f", "csv", "-c", "name", db=db)
        assert sorted_names.returncode == 0 and prefixed.returncode == 0, prefixed.stderr
        outputs.append((sorted_names.stdout, prefixed.stdout))
    assert outputs[0] == outputs[1]


def test_a_read_only_server_is_named_and_reads_still_work(pg_server):
    # A standby, or a role whose transactions are read-only: PGOPTIONS reaches the server
    # beside crmpool's own session settings.
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("add", "Acme", "-q", db=url).returncode == 0
    read_only = {"PGOPTIONS": "-c default_transaction_read_only=on"}
    listed = crmpool("list", "-f", "csv", "-c", "name", db=url, env=read_only)
    assert listed.returncode == 0 and "Acme" in listed.stdout, listed.stderr
    refused = crmpool("release", "1", "--reason", "x", db=url, env=read_only)
    assert refused.returncode == 5 and "read-only" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_database_without_pg_trgm_says_what_to_do_and_finishes_after(pg_server):
    # A role that may create tables but not extensions (no CREATE on the database).
    url = pg_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
                     " 'clerk') THEN CREATE ROLE clerk LOGIN; END IF; END $$")
        conn.execute("GRANT ALL ON SCHEMA public TO clerk")
    clerk = url.replace("crmpool@", "clerk@")
    first = crmpool("init", "--admin", "boss", db=clerk)
    assert first.returncode == 5, first.stderr
    assert "pg_trgm" in first.stderr and "Traceback" not in first.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
    again = crmpool("init", "--admin", "boss", db=clerk)
    assert again.returncode == 0, again.stderr
    assert crmpool("add", "Acme", "-q", db=clerk).returncode == 0
    assert "Acme" in crmpool("list", "--search", "acm", "-f", "csv", db=clerk).stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname ="
                            " 'customers_search'").fetchone()[0] == 1
    # Once it has users it is a team's database: init refuses, as ever.
    assert crmpool("init", "--admin", "boss", db=clerk).returncode == 4


def test_functions_an_older_crmpool_installed_are_replaced_on_open(pg_server):
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("add", "Acme Trading", "-q", db=url).returncode == 0
    with psycopg.connect(url, autocommit=True) as conn:
        # As if an earlier crmpool had installed a different (here: broken) function.
        conn.execute("CREATE OR REPLACE FUNCTION sqlite_instr(haystack text, needle text)"
                     " RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0 $$")
        conn.execute("UPDATE crmpool_meta SET value = 'older' WHERE key = 'pg_functions'")
    found = crmpool("list", "--search", "trading", "-f", "csv", "-c", "name", db=url)
    assert found.returncode == 0 and "Acme Trading" in found.stdout, found.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT sqlite_instr('abc', 'c')").fetchone()[0] == 3


def test_a_full_disk_is_named_and_leaves_nothing(pg_server, tmp_path):
    """A real full disk: the team's tables moved to a tablespace on a small tmpfs, then the
    tmpfs filled to its last byte, so the next page any table needs cannot be written; a
    copy's target database lives there too."""
    if os.geteuid() != 0:
        # Mounting a filesystem of a chosen size needs root (CI and dev.py run as root).
        pytest.skip("a filesystem of a chosen size is mounted as root only")
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("user", "add", "li", db=url).returncode == 0
    assert crmpool("rules", "set", "-", "-q", db=url,
                   input="[[reclaim]]\nname = 'idle'\nidle_days = 1\n").returncode == 0
    rows = "".join(f"o{i},li,2026-01-01\n" for i in range(50))
    assert crmpool("import", "-", "--input-format", "csv", "-q", db=url,
                   input="name,owner,assigned_at\n" + rows).returncode == 0
    place = pg_server.root / "small"  # where the server's user may go
    place.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(place)], check=True)
    database = url.split("?")[0].rsplit("/", 1)[1]
    try:
        os.chown(place, *_postgres_ids())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE small LOCATION '{place}'")
            conn.execute("ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE small")
            conn.execute("ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE small")
        with pg_server.admin() as admin:
            admin.execute(f'CREATE DATABASE "{database}_to" TABLESPACE small')
        with psycopg.connect(pg_server.url(f"{database}_to")):
            pass  # a first connection writes the database's cache file
        team = str(tmp_path / "team.db")
        assert crmpool("init", "--admin", "boss", db=team).returncode == 0
        assert crmpool("import", "-", "--input-format", "csv", "-q", db=team,
                       input="name\n" + "".join(f"客户{i}\n" for i in range(20_000))
                       ).returncode == 0
        before = dump(url)
        with open(place / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass  # full
        big = "".join(f"C{i},1380000{i:04d},{'x' * 200}\n" for i in range(3000))
        for args, given in ((("import", "-", "--input-format", "csv"), "name,phone,note\n" + big),
                            (("sweep",), None)):
            result = crmpool(*args, db=url, input=given)
            assert result.returncode == 5, (args, result.stderr)
            assert "disk is full" in result.stderr, result.stderr
        # Room for the schema, not for 20,000 customers: the COPY is what finds it full.
        filler = place / "filler"
        os.truncate(filler, filler.stat().st_size - (2 << 20))
        result = crmpool("copy", "--to", pg_server.url(f"{database}_to"), db=team)
        assert result.returncode == 5 and "disk is full" in result.stderr, result.stderr
        (place / "filler").unlink()
        # Room again, and to spare: the copy's target keeps its catalogs there too.
        subprocess.run(["mount", "-o", "remount,size=256m", str(place)], check=True)
        assert dump(url) == before
        # What a failed copy leaves: the schema, no rows; with room again, it goes through.
        with psycopg.connect(pg_server.url(f"{database}_to")) as target:
            assert target.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
        again = crmpool("copy", "--to", pg_server.url(f"{database}_to"), "-q", db=team)
        assert again.returncode == 0, again.stderr
        with psycopg.connect(pg_server.url(f"{database}_to")) as target:
            assert target.execute("SELECT count(*) FROM customers").fetchone()[0] == 20_000
    finally:
        (place / "filler").unlink(missing_ok=True)
        with pg_server.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
            admin.execute(f'DROP DATABASE IF EXISTS "{database}_to"')
            admin.execute("DROP TABLESPACE IF EXISTS small")
        subprocess.run(["umount", str(place)], check=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def test_a_bulk_rebuild_sorts_in_memory_without_lowering_a_servers_own_setting(pg_server):
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    for server_has, rebuild_has in (("64MB", "512MB"), ("2GB", "2GB")):
        conn = store.open_db(f"{url}&options=-c%20maintenance_work_mem%3D{server_has}")
        try:
            with store.transaction(conn):
                dropped = store.DroppedIndexes(conn, "customers")
                assert conn.execute_native("SHOW maintenance_work_mem").fetchone()[0] \
                    == rebuild_has
                dropped.build()
            assert conn.execute_native("SHOW maintenance_work_mem").fetchone()[0] == server_has
        finally:
            conn.close()
