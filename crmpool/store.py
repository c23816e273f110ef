"""The SQLite file: connection, pragmas, migrations and transactions.

Every write command is one `BEGIN IMMEDIATE` transaction, so two writers never interleave a
read-then-write; readers are never blocked (WAL).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from crmpool.errors import DatabaseUnavailable, Refused, UsageError
from crmpool.migrations import MIGRATIONS
from crmpool.when import stored

APP_ID = "crmpool"
DEFAULT_BUSY_TIMEOUT = 10.0


def busy_timeout() -> float:
    """Seconds to wait for another writer (`CRMPOOL_BUSY_TIMEOUT`, default 10)."""
    raw = os.environ.get("CRMPOOL_BUSY_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_BUSY_TIMEOUT
    except ValueError:
        return DEFAULT_BUSY_TIMEOUT


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # mode=rw never creates a file: a mistyped --db must not leave an empty database behind.
    uri = f"file:{path.as_posix()}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout(), isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def _is_crmpool(conn: sqlite3.Connection, path: Path) -> bool:
    try:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'crmpool_meta'"
        ).fetchone()
    except sqlite3.DatabaseError:
        raise DatabaseUnavailable(f"{path} is not a crmpool database (not SQLite)") from None
    return row is not None


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA foreign_keys = ON")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def open_db(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing crmpool database, bringing its schema up to date."""
    db_path = Path(path)
    if not db_path.exists():
        raise DatabaseUnavailable(
            f"no crmpool database at {db_path}; create one with `crmpool init`"
            " or point --db / CRMPOOL_DB at yours"
        )
    conn = _connect(db_path, "rw")
    if not _is_crmpool(conn, db_path):
        conn.close()
        raise DatabaseUnavailable(f"{db_path} is not a crmpool database; it was not changed")
    _configure(conn)
    migrate(conn)
    return conn


def create_db(path: str | os.PathLike[str], now: datetime) -> sqlite3.Connection:
    """Create a new crmpool database file, readable by its owner only (0600)."""
    db_path = Path(path)
    if db_path.exists() and db_path.stat().st_size > 0:
        conn = _connect(db_path, "rw")
        known = _is_crmpool(conn, db_path)
        conn.close()
        if known:
            raise Refused(f"{db_path} is already a crmpool database")
        raise DatabaseUnavailable(f"{db_path} exists and is not a crmpool database; not changed")
    if not db_path.exists():
        # Create the file ourselves so that it is never readable by others, even for a moment.
        fd = os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    conn = _connect(db_path, "rw")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    with transaction(conn):
        conn.execute("CREATE TABLE crmpool_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(
            "CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        conn.executemany(
            "INSERT INTO crmpool_meta (key, value) VALUES (?, ?)",
            [("app", APP_ID), ("created_at", stored(now))],
        )
    migrate(conn, now)
    return conn


def migrate(conn: sqlite3.Connection, now: datetime | None = None) -> int:
    """Apply the migrations this database lacks; returns how many were applied."""
    # user_version mirrors the migrations table so that an up-to-date open costs one pragma.
    if conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return 0
    applied_at = stored(now or datetime.now(UTC))
    count = 0
    # A migration may rebuild a table that others reference (drop, then rename a copy into
    # place), which SQLite allows only with foreign keys off; they are checked by hand below
    # before each migration commits, and turned back on whatever happens.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for number, (name, steps) in enumerate(MIGRATIONS, start=1):
            with transaction(conn):
                # Checked inside the write lock: two processes opening an old file migrate
                # once.
                if conn.execute("SELECT 1 FROM migrations WHERE id = ?", (number,)).fetchone():
                    continue
                for step in steps:
                    if callable(step):
                        step(conn)
                    else:
                        conn.execute(step)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken:
                    raise RuntimeError(f"migration {number} ({name}) broke a reference:"
                                       f" {tuple(broken)}")
                conn.execute(
                    "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                    (number, name, applied_at),
                )
                conn.execute(f"PRAGMA user_version = {number}")
                count += 1
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return count


class Rollback(Exception):  # noqa: N818 - it is an instruction, not an error
    """Raise inside `transaction` to undo everything and carry on: dry runs, repeats."""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE; rolled back on any error.

    Raising Rollback inside rolls back too, and is not an error: the block simply ends.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _busy(exc) from None
    try:
        yield conn
    except Rollback:
        conn.execute("ROLLBACK")
        return
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        raise _busy(exc) from None


def _busy(exc: sqlite3.OperationalError) -> Exception:
    if "locked" in str(exc) or "busy" in str(exc):
        return DatabaseUnavailable(
            f"the database is busy: another crmpool is writing and did not finish within"
            f" {busy_timeout():g} s (CRMPOOL_BUSY_TIMEOUT); try again"
        )
    return exc


class DroppedIndexes:
    """A table's indexes, dropped for a bulk load; `build` puts some or all of them back."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.pending: dict[str, tuple[str, set[str]]] = {}  # name -> (sql, its columns)
        for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                " AND sql IS NOT NULL", (table,)).fetchall():
            columns = {row[2] for row in conn.execute(f'PRAGMA index_info("{name}")')}
            self.pending[name] = (sql, columns)
            conn.execute(f'DROP INDEX "{name}"')

    def build(self, within: set[str] | None = None) -> None:
        """Build the dropped indexes whose columns all lie `within` (None: all of them)."""
        for name, (sql, columns) in list(self.pending.items()):
            if within is None or columns <= within:
                self.conn.execute(sql)
                del self.pending[name]


@contextmanager
def indexes_rebuilt(conn: sqlite3.Connection, table: str) -> Iterator[DroppedIndexes]:
    """Drop a table's indexes for a bulk load and build them again afterwards.

    One sort per index is much faster than a million random index inserts. The caller may
    build some early (those its later statements look up by); the rest are built on the way
    out. Inside the caller's transaction, so a failure or a kill brings the indexes back with
    everything.
    """
    dropped = DroppedIndexes(conn, table)
    yield dropped
    dropped.build()


def backup(conn: sqlite3.Connection, target: str | os.PathLike[str]) -> Path:
    """A consistent copy through SQLite's online backup, while others keep writing."""
    dest = Path(target)
    if dest.exists():
        raise Refused(f"{dest} exists; choose a new file name for the backup")
    partial = dest.with_name(dest.name + ".partial")
    try:
        fd = os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write the backup {dest}: {exc.strerror}") from None
    os.close(fd)
    try:
        copy = sqlite3.connect(partial)
        with copy:
            conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
        copy.close()
        # Rename last, so that FILE is either absent or a whole backup.
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest
