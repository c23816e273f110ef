"""The database: connection, pragmas, migrations and transactions. A SQLite file by default;
a PostgreSQL URL opens through crmpool/engines/ (pg_database.py, postgres.py).

Every write command is one `BEGIN IMMEDIATE` transaction, so two writers never interleave a
read-then-write; readers are never blocked (WAL).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from crmpool.engines import engine_of, is_url
from crmpool.errors import CrmpoolError, DatabaseUnavailable, InputError, Refused, UsageError
from crmpool.migrations import CHANGES_IN_EVENTS, MIGRATIONS, run_step
from crmpool.when import stored

APP_ID = "crmpool"
DEFAULT_BUSY_TIMEOUT = 10.0


MAX_BUSY_TIMEOUT = 3600.0


_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def busy_timeout() -> float:
    """Seconds to wait for another writer (`CRMPOOL_BUSY_TIMEOUT`, 0 to 3600, default 10)."""
    raw = os.environ.get("CRMPOOL_BUSY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT
    # ASCII decimals only, as every count crmpool reads: float() alone would also take
    # '٣' (Arabic-Indic three), '+5', '1e3' and '1_0'.
    value = float(raw) if _SECONDS.fullmatch(raw) else -1.0
    if not 0 <= value <= MAX_BUSY_TIMEOUT:
        raise UsageError(f"CRMPOOL_BUSY_TIMEOUT={raw!r}: give seconds from 0 to"
                         f" {MAX_BUSY_TIMEOUT:g}, such as 10 or 2.5")
    return value


def explain(exc: sqlite3.Error, path: object = None) -> CrmpoolError | None:
    """What SQLite's error means for the user, with the documented exit code; None for a
    bug. Read from the error's name (SQLITE_FULL, …), not its text."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    db = f"the database {path}" if path else "the database"
    if name == "SQLITE_READONLY_DIRECTORY":
        return DatabaseUnavailable(
            f"cannot use {db}: its folder is read-only, and SQLite (WAL mode) must create"
            " its -wal and -shm files beside it; make the folder writable; nothing was changed")
    if name.startswith("SQLITE_READONLY") or name == "SQLITE_PERM":
        return DatabaseUnavailable(f"{db} is read-only for you ({exc}); nothing was changed")
    if name == "SQLITE_FULL":
        return DatabaseUnavailable(f"the disk is full ({exc}); nothing was changed")
    if name.startswith("SQLITE_IOERR"):
        return DatabaseUnavailable(f"cannot read or write {db}: disk I/O error ({name});"
                                   " nothing was changed")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseUnavailable(
            f"the database is busy: another crmpool is writing and did not finish within"
            f" {busy_timeout():g} s (CRMPOOL_BUSY_TIMEOUT); try again")
    if name.startswith("SQLITE_CANTOPEN"):
        return DatabaseUnavailable(f"cannot open {db} ({exc})")
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or name.startswith("SQLITE_CORRUPT"):
        return DatabaseUnavailable(f"{db} is not a crmpool database, or is damaged ({exc})")
    if name == "SQLITE_TOOBIG":
        return InputError(f"a value is too big to store ({exc})")
    return None


class Connection(sqlite3.Connection):
    """A connection with `begin_hooks`: checks that `transaction` runs inside each write
    transaction, before its work (the session re-reads the acting user there)."""

    begin_hooks: list


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # mode=rw never creates a file: a mistyped --db must not leave an empty database behind.
    uri = f"file:{path.as_posix()}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout(), isolation_level=None,
                               factory=Connection)
        conn.begin_hooks = []
    except sqlite3.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def _is_crmpool(conn: sqlite3.Connection, path: Path) -> bool:
    """True for a crmpool database: its meta table says so and it has its migrations.

    Read-only: nothing is written before this says yes (not even the journal mode).
    """
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"crmpool_meta", "migrations"} <= tables:
            return False
        row = conn.execute("SELECT value FROM crmpool_meta WHERE key = 'app'").fetchone()
    except sqlite3.DatabaseError as exc:
        known = explain(exc, path)
        if known is not None and not str(known).startswith(f"the database {path} is not"):
            raise known from None
        raise DatabaseUnavailable(f"{path} is not a crmpool database (not SQLite, or"
                                  " damaged); it was not changed") from None
    return row is not None and row[0] == APP_ID


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that a newer crmpool has migrated: its schema is not ours to read."""
    recorded = conn.execute("SELECT coalesce(max(id), 0) FROM migrations").fetchone()[0]
    version = max(recorded, conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise DatabaseUnavailable(
            f"{path} has schema version {version}, newer than this crmpool's"
            f" {len(MIGRATIONS)}: upgrade crmpool to use it; nothing was changed")


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA foreign_keys = ON")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def open_db(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing crmpool database, bringing its schema up to date: a SQLite file, or
    a PostgreSQL database named by a URL."""
    if is_url(path):
        from crmpool.engines import pg_database

        conn = pg_database.open_db(str(path), APP_ID, busy_timeout(), len(MIGRATIONS))
        try:
            migrate(conn)
            if not pg_database.functions_current(conn):  # installed by another crmpool
                with transaction(conn):
                    pg_database.install_functions(conn)
        except BaseException:
            conn.close()
            raise
        return conn  # type: ignore[return-value]
    db_path = Path(path)
    if not db_path.exists():
        raise DatabaseUnavailable(
            f"no crmpool database at {db_path}; create one with `crmpool init`"
            " or point --db / CRMPOOL_DB at yours"
        )
    conn = _connect(db_path, "rw")
    try:
        if not _is_crmpool(conn, db_path):
            raise DatabaseUnavailable(f"{db_path} is not a crmpool database; it was not"
                                      " changed")
        _check_version(conn, db_path)
        _configure(conn)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def create_db(path: str | os.PathLike[str], now: datetime) -> sqlite3.Connection:
    """Create a new crmpool database file, readable by its owner only (0600); or, for a
    PostgreSQL URL, crmpool's schema in that (empty) database."""
    if is_url(path):
        from crmpool.engines import pg_database

        conn = pg_database.create_db(str(path), APP_ID, busy_timeout())
        try:
            if not conn.resume:  # else: an init that stopped part-way
                with transaction(conn):  # type: ignore[arg-type]
                    pg_database.bootstrap(conn, APP_ID, stored(now))  # type: ignore[arg-type]
            migrate(conn, now)  # type: ignore[arg-type]
        except BaseException:
            conn.close()
            raise
        return conn  # type: ignore[return-value]
    db_path = Path(path)
    if db_path.is_symlink() and not db_path.exists():
        raise UsageError(f"{db_path} is a symbolic link to {os.readlink(db_path)}, which does"
                         " not exist; point --db at the real file")
    if db_path.exists() and db_path.stat().st_size > 0:
        conn = _connect(db_path, "rw")
        known = _is_crmpool(conn, db_path)
        conn.close()
        if known:
            raise Refused(f"{db_path} is already a crmpool database")
        raise DatabaseUnavailable(f"{db_path} exists and is not a crmpool database; not changed")
    try:
        if not db_path.exists():
            # Create the file ourselves so that it is never readable by others, even for a
            # moment.
            fd = os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        else:
            os.chmod(db_path, 0o600)  # an empty file someone made: private from now on
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create {db_path}: {exc.strerror}") from None
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
    if engine_of(conn) == "postgresql":
        return _migrate_postgresql(conn, now)
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
                    run_step(conn, step)
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


def _migrate_postgresql(conn, now: datetime | None) -> int:
    """The same list of migrations on PostgreSQL: each step's PostgreSQL form where the
    engines differ (migrations.PerEngine); DDL is transactional there too, and references
    stay checked throughout, so nothing is switched off."""
    from crmpool.engines import pg_database

    if pg_database.schema_version(conn) >= len(MIGRATIONS):
        return 0
    applied_at = stored(now or datetime.now(UTC))
    count = 0
    for number, (name, steps) in enumerate(MIGRATIONS, start=1):
        with transaction(conn):
            if conn.execute("SELECT 1 FROM migrations WHERE id = ?", (number,)).fetchone():
                continue
            if count == 0:
                pg_database.install_functions(conn)  # a newer crmpool may mend one
            for step in steps:
                run_step(conn, step)
            conn.execute("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                         (number, name, applied_at))
            count += 1
    return count


class Rollback(Exception):  # noqa: N818 - it is an instruction, not an error
    """Raise inside `transaction` to undo everything and carry on: dry runs, repeats."""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE; rolled back on any error.

    Raising Rollback inside rolls back too, and is not an error: the block simply ends.
    """
    try:
        if engine_of(conn) == "postgresql":
            conn.begin_write(busy_timeout())  # type: ignore[attr-defined]
        else:
            conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise (explain(exc) or exc) from None
    try:
        for hook in getattr(conn, "begin_hooks", ()):
            hook(conn)
        yield conn
    except Rollback:
        _rollback(conn)
        return
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise (explain(exc) or exc) from None


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite rolls back by itself on some errors (a full disk among them); a second
    # ROLLBACK would fail and hide the error that matters.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class DroppedIndexes:
    """A table's indexes, dropped for a bulk load; `build` puts some or all of them back."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.pending: dict[str, tuple[str, set[str]]] = {}  # name -> (sql, its columns)
        if engine_of(conn) == "postgresql":
            self._drop_postgresql(table)
            return
        for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                " AND sql IS NOT NULL", (table,)).fetchall():
            columns = {row[2] for row in conn.execute(f'PRAGMA index_info("{name}")')}
            self.pending[name] = (sql, columns)
            conn.execute(f'DROP INDEX "{name}"')

    def _drop_postgresql(self, table: str) -> None:
        # Not the indexes behind constraints (the primary key); an expression index (the
        # search index) counts as over every column its definition names.
        columns = {row[0] for row in self.conn.execute_native(  # type: ignore[attr-defined]
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s", (table,)).fetchall()}
        for name, sql in self.conn.execute_native(  # type: ignore[attr-defined]
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s"
                " AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM"
                " pg_constraint k WHERE k.conname = i.indexname)", (table,)).fetchall():
            named = {word for word in _words(sql.split(" USING ", 1)[-1]) if word in columns}
            self.pending[name] = (sql, named)
            self.conn.execute_native(f'DROP INDEX "{name}"')  # type: ignore[attr-defined]
        # Room to sort in memory while they are built again, for this transaction only: the
        # default 64 MB spills the search index's trigrams to disk (its build at 200,000
        # customers: 2.36 s with it, 2.0 with 256 MB, 1.74 with 1 GB). 512 MB: what a
        # restore is commonly given; a server that gives more keeps its own.
        self.conn.execute_native(  # type: ignore[attr-defined]
            "SELECT set_config('maintenance_work_mem', '512MB', true) WHERE pg_size_bytes("
            "current_setting('maintenance_work_mem')) < pg_size_bytes('512MB')")

    def build(self, within: set[str] | None = None) -> None:
        """Build the dropped indexes whose columns all lie `within` (None: all of them)."""
        native = getattr(self.conn, "execute_native", self.conn.execute)
        for name, (sql, columns) in list(self.pending.items()):
            if within is None or columns <= within:
                native(sql)
                del self.pending[name]


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"[a-z_][a-z0-9_]*", text))


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


@contextmanager
def changes_in_events(conn: sqlite3.Connection) -> Iterator[None]:
    """Statements whose every change to a customer is recorded in an event of the sweep's
    run, which the warning rules read as well as customer_changes (sweep/warnings.py).

    On PostgreSQL the row trigger that notes changes stands aside for them: a PL/pgSQL call
    and an upsert per row was a second of a 130,000-customer reclaim (3.6 s against 2.6 s
    without it). SQLite's trigger costs little and runs as before. The setting is local to
    the transaction, so a failure cannot leave it on.
    """
    if engine_of(conn) != "postgresql":
        yield
        return
    native = conn.execute_native  # type: ignore[attr-defined]
    native("SELECT set_config(%s, 'on', true)", (CHANGES_IN_EVENTS,))
    yield
    native("SELECT set_config(%s, '', true)", (CHANGES_IN_EVENTS,))


def backup(conn: sqlite3.Connection, target: str | os.PathLike[str]) -> Path:
    """A consistent copy through SQLite's online backup, while others keep writing.

    Written to a new private file (created exclusively, 0600, never through a symlink), then
    linked into place, which fails rather than overwrite anything that appeared meanwhile;
    on any failure nothing is left behind.
    """
    import tempfile

    dest = Path(target)
    if dest.exists() or dest.is_symlink():
        raise Refused(f"{dest} exists; choose a new file name for the backup")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial",
                                    dir=dest.parent if str(dest.parent) else ".")
    except OSError as exc:
        raise UsageError(f"cannot write the backup {dest}: {exc.strerror}") from None
    os.close(fd)
    partial = Path(name)
    copy = None
    try:
        copy = sqlite3.connect(partial)
        with copy:
            conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
        copy.close()
        copy = None
        os.link(partial, dest)
    except sqlite3.Error as exc:
        raise (explain(exc, dest) or exc) from None
    except FileExistsError:
        raise Refused(f"{dest} appeared while the backup was written; nothing was"
                      " replaced") from None
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot write the backup {dest}: {exc.strerror}") from None
    finally:
        if copy is not None:
            copy.close()
        for leftover in (partial, Path(f"{partial}-journal"), Path(f"{partial}-wal"),
                         Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
    return dest
