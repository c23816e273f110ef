"""Opening and creating a crmpool database on PostgreSQL: what store.open_db and
store.create_db do for a SQLite file, for a URL."""

from __future__ import annotations

from crmpool.engines.pg_functions import FUNCTIONS
from crmpool.engines.postgres import Connection, connect, shown_url
from crmpool.errors import DatabaseUnavailable, Refused


def tables(conn: Connection) -> set[str]:
    """The database's tables (in its current schema)."""
    return {row[0] for row in conn.execute_native(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'").fetchall()}


def _is_crmpool(conn: Connection, app_id: str) -> bool | None:
    """True for crmpool's database, False for someone else's, None for an empty one."""
    present = tables(conn)
    if not present:
        return None
    if not {"crmpool_meta", "migrations"} <= present:
        return False
    row = conn.execute("SELECT value FROM crmpool_meta WHERE key = 'app'").fetchone()
    return row is not None and row[0] == app_id


def schema_version(conn: Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM migrations").fetchone()[0]


def functions_fingerprint() -> str:
    import hashlib

    return hashlib.sha256("\n".join(FUNCTIONS).encode()).hexdigest()[:16]


def install_functions(conn: Connection) -> None:
    """SQLite's functions, as crmpool's SQL calls them (inside the caller's transaction),
    and their fingerprint, so a crmpool whose functions differ installs its own."""
    for statement in FUNCTIONS:
        conn.execute_native(statement)
    if "crmpool_meta" in tables(conn):
        conn.execute("INSERT INTO crmpool_meta (key, value) VALUES ('pg_functions', ?)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (functions_fingerprint(),))


def functions_current(conn: Connection) -> bool:
    row = conn.execute("SELECT value FROM crmpool_meta WHERE key = 'pg_functions'").fetchone()
    return row is not None and row[0] == functions_fingerprint()


def open_db(url: str, app_id: str, timeout: float, latest: int) -> Connection:
    conn = connect(url, timeout)
    try:
        known = _is_crmpool(conn, app_id)
        if not known:
            raise DatabaseUnavailable(
                f"{shown_url(url)} is not a crmpool database" + (
                    " (it is empty: create one with `crmpool init`)" if known is None else "")
                + "; it was not changed")
        version = schema_version(conn)
        if version > latest:
            raise DatabaseUnavailable(
                f"{shown_url(url)} has schema version {version}, newer than this crmpool's"
                f" {latest}: upgrade crmpool to use it; nothing was changed")
    except BaseException:
        conn.close()
        raise
    return conn


def create_db(url: str, app_id: str, timeout: float) -> Connection:
    """The crmpool schema in an empty database: refused in one that has tables already."""
    conn = connect(url, timeout)
    try:
        known = _is_crmpool(conn, app_id)
        if known and _half_made(conn):
            conn.resume = True
            return conn
        if known:
            raise Refused(f"{shown_url(url)} is already a crmpool database")
        if known is False:
            raise DatabaseUnavailable(f"{shown_url(url)} has tables and is not a crmpool"
                                      " database; not changed")
    except BaseException:
        conn.close()
        raise
    return conn


def _half_made(conn: Connection) -> bool:
    """An `init` that stopped part-way (a migration refused, say for want of pg_trgm): the
    schema is crmpool's but no user was ever added, so `init` may carry on from there."""
    if "users" not in tables(conn):
        return True
    return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None


def bootstrap(conn: Connection, app_id: str, now_text: str) -> None:
    """The tables every crmpool database starts with (inside the caller's transaction)."""
    install_functions(conn)
    conn.execute("CREATE TABLE crmpool_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("CREATE TABLE migrations (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    conn.executemany("INSERT INTO crmpool_meta (key, value) VALUES (?, ?)",
                     [("app", app_id), ("created_at", now_text),
                      ("pg_functions", functions_fingerprint())])
