"""On PostgreSQL the references a sweep writes in bulk are checked a statement at a time
(crmpool/engines/pg_references.py): they must refuse, lock and report exactly as the
foreign keys they replace did, for crmpool and for anyone writing with psql."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
import pytest
from test_postgresql import crmpool

from crmpool import store


@pytest.fixture
def team(pg_server) -> str:
    url = pg_server.new_database()
    assert crmpool("init", "--admin", "boss", db=url).returncode == 0
    assert crmpool("add", "Acme", "--owner", "boss", "-q", db=url).returncode == 0
    swept = crmpool("sweep", "-q", "--no-notify", db=url)
    assert swept.returncode == 0, swept.stderr
    return url


WARNING = ("INSERT INTO warnings (customer_id, rule, owner, due_at, due_day, created_at,"
           " run_id) VALUES (%s, 'r', 'boss', 'x', '-', 'x', %s)")


def test_a_reference_to_nothing_is_refused_as_a_foreign_key_would_be(team):
    with psycopg.connect(team) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as missing_customer:
            conn.execute(WARNING, (999, 1))
        conn.rollback()
        assert missing_customer.value.diag.constraint_name == "warnings_customer_id_fkey"
        assert "Key (customer_id)=(999)" in missing_customer.value.diag.message_detail
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="warnings_run_id_fkey"):
            conn.execute(WARNING, (1, 77))
        conn.rollback()
        # A bulk statement: one missing among good ones is enough.
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="events_run_id_fkey"):
            conn.execute("INSERT INTO events (customer_id, at, action, actor, run_id)"
                         " SELECT 1, 'x', 'note', 'boss', r FROM (VALUES (1), (1), (42)) v(r)")
        conn.rollback()
        conn.execute(WARNING, (1, 1))
        # An update is checked for the references it changes, and only those.
        with pytest.raises(psycopg.errors.ForeignKeyViolation,
                           match="warnings_closed_run_id_fkey"):
            conn.execute("UPDATE warnings SET closed_run_id = 5")
        conn.rollback()
        conn.execute(WARNING, (1, 1))
        conn.execute("UPDATE warnings SET owner = 'boss', closed_run_id = 1")
        with pytest.raises(psycopg.errors.ForeignKeyViolation,
                           match="warnings_customer_id_fkey"):
            conn.execute("UPDATE warnings SET customer_id = customer_id + 100")
        conn.rollback()
    # crmpool reads it as SQLite's foreign key error, so it says the same on both engines.
    conn = store.open_db(team)
    with pytest.raises(sqlite3.IntegrityError) as crmpools:
        conn.execute("INSERT INTO warnings (customer_id, rule, owner, due_at, due_day,"
                     " created_at) VALUES (999, 'r', 'boss', 'x', '-', 'x')")
    conn.close()
    assert crmpools.value.sqlite_errorname == "SQLITE_CONSTRAINT_FOREIGNKEY"


def test_a_referenced_row_cannot_go(team):
    with psycopg.connect(team) as conn:
        conn.execute(WARNING, (1, 1))
        conn.commit()
        for statement, constraint in (
                ("DELETE FROM runs", "warnings_run_id_fkey"),
                ("UPDATE runs SET id = 999", "warnings_run_id_fkey"),
                ("TRUNCATE runs CASCADE", "warnings_run_id_fkey"),
                ("TRUNCATE customers CASCADE", "warnings_customer_id_fkey")):
            with pytest.raises(psycopg.errors.ForeignKeyViolation, match=constraint):
                conn.execute(statement)
            conn.rollback()
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        # What nothing refers to goes as before.
        run = conn.execute("INSERT INTO runs (as_of, started_at, rules_fingerprint, actor,"
                           " dry_run) VALUES ('x', 'x', 'x', 'boss', 1) RETURNING id"
                           ).fetchone()[0]
        conn.execute("DELETE FROM runs WHERE id = %s", (run,))
        conn.commit()


def _customer_without_events(conn) -> int:
    """A customer only psql could add: nothing else (no event) refers to it yet, so deleting
    it is for the warnings' reference alone to allow or refuse."""
    found = conn.execute("INSERT INTO customers (name, created_at) VALUES ('Loose', 'x')"
                         " RETURNING id").fetchone()[0]
    conn.commit()
    return found


def test_a_reference_holds_its_row_against_a_concurrent_delete(team):
    """A row a transaction refers to cannot be deleted under it, as with a foreign key: the
    DELETE waits for the referring transaction (here it gives up after 300 ms), and once that
    has committed, is refused rather than leaving the reference dangling."""
    with psycopg.connect(team) as writer, psycopg.connect(team) as other:
        loose = _customer_without_events(writer)
        writer.execute(WARNING, (loose, 1))  # not committed
        for statement in (f"DELETE FROM customers WHERE id = {loose}",
                          "DELETE FROM runs WHERE id = 1"):
            # SET LOCAL: the rollback of each attempt takes the timeout with it.
            other.execute("SET LOCAL lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(statement)
            other.rollback()
        other.execute("SET LOCAL lock_timeout = '20s'")
        with ThreadPoolExecutor(1) as background:
            deleting = _waiting(background, other, f"DELETE FROM customers WHERE id = {loose}")
            writer.commit()
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
                deleting.result()
        assert refused.value.diag.constraint_name == "warnings_customer_id_fkey"
        other.rollback()
        assert writer.execute("SELECT count(*) FROM customers WHERE id = %s",
                              (loose,)).fetchone()[0] == 1


def test_a_reference_to_a_row_being_deleted_waits_and_is_refused(team):
    """The other order: a reference to a row another transaction has deleted, but not yet
    committed, waits for it; then the row is gone, and the reference is refused."""
    with psycopg.connect(team) as deleter, psycopg.connect(team) as writer:
        loose = _customer_without_events(deleter)
        deleter.execute("DELETE FROM customers WHERE id = %s", (loose,))  # not committed
        writer.execute("SET LOCAL lock_timeout = '20s'")
        with ThreadPoolExecutor(1) as background:
            adding = _waiting(background, writer, WARNING % (loose, 1))
            deleter.commit()
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
                adding.result()
        assert refused.value.diag.constraint_name == "warnings_customer_id_fkey"


def _waiting(background: ThreadPoolExecutor, conn, statement: str) -> Future:
    """The statement, started in the background and given time to reach its wait."""
    started = background.submit(conn.execute, statement)
    time.sleep(0.5)
    assert not started.done(), "it should be waiting for the other transaction"
    return started
