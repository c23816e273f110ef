"""A crmpool database on PostgreSQL, through psycopg 3 (imported only when --db is a URL).

The rest of crmpool sees the connection API it has on SQLite (sqlite3's): `execute` with `?`
or `:name` parameters, rows readable by position and by name, `lastrowid`, `in_transaction`,
and sqlite3's exception classes, with the SQLite error name (`sqlite_errorname`) that says
what the PostgreSQL error means, so `store.explain` gives the same message and exit code on
both engines. Statements are translated by engines/pg_sql.py.

Write transactions: SQLite lets one writer in at a time (BEGIN IMMEDIATE), and crmpool's
race-safety (a claim reads, then writes; a sweep reads every rule's candidates, then moves
them) rests on that. Here every write transaction takes one transaction-level advisory lock
first, so writers queue exactly as they do on SQLite, readers never wait (MVCC), and a wait
longer than CRMPOOL_BUSY_TIMEOUT is SQLite's "busy" (exit 5).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from crmpool.engines import WRITE_LOCK
from crmpool.engines.pg_sql import translate
from crmpool.errors import DatabaseUnavailable

# Tables whose rows get their id from the database: a plain INSERT into one returns it, for
# `lastrowid`.
ID_TABLES = frozenset({"customers", "contacts", "deals", "rules", "runs", "events", "warnings",
                       "notifications", "distributions"})


def shown_url(url: str) -> str:
    """The URL as messages may show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def local_zone() -> str:
    """The process's time zone, by name where it has one, for the session's TimeZone: SQLite's
    'localtime' is the process's zone, and so is PostgreSQL's here."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and not tz.startswith("/"):
        return tz
    link = Path(tz or "/etc/localtime")
    try:
        target = str(link.resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    from datetime import datetime

    # No name: today's offset, in POSIX form (where east of Greenwich is negative).
    offset = datetime.now().astimezone().utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign, (hours, mins) = ("+" if minutes > 0 else "-"), divmod(abs(minutes), 60)
    return f"<{sign}{hours:02d}{mins:02d}>{'-' if minutes > 0 else '+'}{hours}:{mins:02d}"


# What a PostgreSQL error (its SQLSTATE) means, in SQLite's error names, which store.explain
# turns into the user's message and exit code.
_ERROR_NAMES = {
    "55P03": "SQLITE_BUSY",  # lock_not_available: waited past lock_timeout
    "40P01": "SQLITE_BUSY",  # deadlock_detected
    "40001": "SQLITE_BUSY",  # serialization_failure
    "57014": "SQLITE_BUSY",  # query_canceled (statement_timeout)
    "53100": "SQLITE_FULL",  # disk_full
    "25006": "SQLITE_READONLY",  # read_only_sql_transaction (a standby)
    "42501": "SQLITE_PERM",  # insufficient_privilege
    "23505": "SQLITE_CONSTRAINT_UNIQUE",
    "23503": "SQLITE_CONSTRAINT_FOREIGNKEY",
    "23502": "SQLITE_CONSTRAINT_NOTNULL",
    "23514": "SQLITE_CONSTRAINT_CHECK",
    "22001": "SQLITE_TOOBIG",  # string_data_right_truncation
    "54000": "SQLITE_TOOBIG",  # program_limit_exceeded
}


class _Named:
    """sqlite3's exception classes, carrying a SQLite error name and the PostgreSQL error."""

    sqlite_errorname: str
    pg_error: Exception


class IntegrityError(sqlite3.IntegrityError, _Named):
    pass


class OperationalError(sqlite3.OperationalError, _Named):
    pass


class DatabaseError(sqlite3.DatabaseError, _Named):
    pass


def _as_sqlite_error(exc: Exception) -> sqlite3.Error:
    state = getattr(exc, "sqlstate", None) or ""
    name = _ERROR_NAMES.get(state, f"PG_{state or 'ERROR'}")
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if state.startswith("23"):
        error: sqlite3.Error = IntegrityError(message)
    elif name in ("SQLITE_BUSY", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM") \
            or state.startswith("08"):
        error = OperationalError(message)
    else:
        error = DatabaseError(message)
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    error.pg_error = exc  # type: ignore[attr-defined]
    return error


class Row:
    """A row as sqlite3.Row reads: by position, by column name, `keys()`, and `dict(row)`."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: tuple, index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row{self._values!r}"


class Cursor:
    """What `execute` returns: fetchone/fetchall/iteration over Rows, lastrowid, rowcount."""

    def __init__(self, cursor, lastrowid: int | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.row_factory: object = Row  # None: plain tuples, as on sqlite3 cursors

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self):
        return self._cursor.description

    def _rows(self, values: list[tuple]) -> list:
        if self.row_factory is None or self._cursor.description is None:
            return values
        index = {column.name: i for i, column in enumerate(self._cursor.description)}
        return [Row(v, index) for v in values]

    def fetchone(self):
        values = _run(self._cursor.fetchone)
        return None if values is None else self._rows([values])[0]

    def fetchall(self) -> list:
        return self._rows(_run(self._cursor.fetchall))

    def fetchmany(self, size: int = 1000) -> list:
        return self._rows(_run(self._cursor.fetchmany, size))

    def __iter__(self):
        while True:
            batch = self.fetchmany(1000)
            if not batch:
                return
            yield from batch

    def close(self) -> None:
        self._cursor.close()


def _run(call, *args, sql: str | None = None):
    """A psycopg call, its error raised as sqlite3's (with the SQL under CRMPOOL_DEBUG)."""
    import psycopg

    try:
        return call(*args)
    except psycopg.Error as exc:
        error = _as_sqlite_error(exc)
        if sql is not None and os.environ.get("CRMPOOL_DEBUG"):
            error.add_note(f"SQL: {sql}")  # the statement as PostgreSQL was given it
        raise error from None


class Connection:
    """A PostgreSQL connection that crmpool uses as it uses a sqlite3 one."""

    engine = "postgresql"
    resume = False  # create_db: an init that stopped part-way, to carry on (pg_database)

    def __init__(self, raw, url: str) -> None:
        self.raw = raw
        self.url = url
        self.begin_hooks: list = []

    # -- statements ------------------------------------------------------------------------

    def execute(self, sql: str, params=()) -> Cursor:
        statement = translate(sql)
        text = statement.sql
        returning = statement.inserts_into in ID_TABLES
        if returning:
            text += " RETURNING id"
        cursor = self.raw.cursor()
        _run(cursor.execute, text, statement.params(params) if params is not None else (),
             sql=text)
        lastrowid = None
        if returning:
            row = cursor.fetchone()
            lastrowid = row[0] if row else None
        return Cursor(cursor, lastrowid)

    def executemany(self, sql: str, seq) -> Cursor:
        statement = translate(sql)
        cursor = self.raw.cursor()
        _run(cursor.executemany, statement.sql, [statement.params(p) for p in seq],
             sql=statement.sql)
        return Cursor(cursor)

    def execute_native(self, sql: str, params=None) -> Cursor:
        """PostgreSQL's own SQL, untranslated (functions, triggers, catalog reads)."""
        cursor = self.raw.cursor()
        _run(cursor.execute, sql, params, sql=sql)
        return Cursor(cursor)

    def copy_rows(self, sql: str, rows) -> None:
        """COPY … FROM STDIN (PostgreSQL's own SQL) of `rows`, tuples in its columns' order;
        its errors (a full disk half-way) raised as sqlite3's, as every statement's are."""
        def load() -> None:
            with self.raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)

        _run(load, sql=sql)

    def cursor(self) -> _CursorMaker:
        return _CursorMaker(self)

    # -- transactions ----------------------------------------------------------------------

    def begin_write(self, timeout: float) -> None:
        """BEGIN, then wait (at most `timeout` s) for the database's one write lock."""
        self.execute_native("BEGIN")
        # At least 1 ms: PostgreSQL's 0 means wait for ever, SQLite's (and ours) not at all.
        self.execute_native(f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}")
        self.execute_native("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        self.execute_native("SET LOCAL lock_timeout = 0")

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def commit(self) -> None:
        """As sqlite3's: end an open transaction (crmpool's own go through store)."""
        if self.in_transaction:
            self.execute_native("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute_native("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class _CursorMaker:
    """`conn.cursor()` as sqlite3 has it: execute on it, then read from it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor: Cursor | None = None
        self.row_factory: object = Row

    def execute(self, sql: str, params=()) -> _CursorMaker:
        self._cursor = self._conn.execute(sql, params)
        self._cursor.row_factory = self.row_factory
        return self

    def executemany(self, sql: str, seq) -> _CursorMaker:
        self._cursor = self._conn.executemany(sql, seq)
        return self

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)

    def __iter__(self):
        return iter(self._cursor)  # type: ignore[arg-type]


def _register_types(raw) -> None:
    """Values come back as SQLite gives them: a sum or a count is an int, an average a float,
    a comparison 0 or 1; a Python bool goes in as 0 or 1 (crmpool's flags are integers)."""
    from psycopg.adapt import Loader
    from psycopg.types.numeric import IntDumper

    class NumericLoader(Loader):
        def load(self, data):
            text = bytes(data)
            if b"." in text or b"e" in text or b"N" in text:
                return float(text)
            return int(text)

    class BoolLoader(Loader):
        def load(self, data):
            return 1 if bytes(data) == b"t" else 0

    raw.adapters.register_loader("numeric", NumericLoader)
    raw.adapters.register_loader("bool", BoolLoader)
    raw.adapters.register_dumper(bool, IntDumper)


def connect(url: str, timeout: float) -> Connection:
    """A connection to the database at `url` (autocommit: crmpool says BEGIN itself)."""
    try:
        import psycopg
    except ImportError:
        raise DatabaseUnavailable(
            "--db is a PostgreSQL URL, and the PostgreSQL driver is not installed:"
            " pip install 'crmpool[postgresql]' (psycopg 3)") from None
    try:
        # The user's own server options (in the URL, or PGOPTIONS) are kept; the session's
        # time zone is added to them.
        given = psycopg.conninfo.conninfo_to_dict(url).get("options") \
            or os.environ.get("PGOPTIONS", "")
        raw = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)),
                              options=f"{given} -c TimeZone={local_zone()}".strip(),
                              application_name="crmpool")
    except psycopg.Error as exc:
        # libpq's reason, on one line (it may span several: the failure, then a hint).
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) \
            or type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to {shown_url(url)}: {reason}") from None
    _register_types(raw)
    return Connection(raw, url)
