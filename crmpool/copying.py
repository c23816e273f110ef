"""`crmpool copy --to TARGET`: a whole team from one database to another, either engine to
either (a SQLite file to PostgreSQL to move offices onto a server, and back).

The target is new: a file that does not exist yet, or an empty PostgreSQL database (or one
that a failed copy left with crmpool's schema and no rows). Its schema is created at this
crmpool's version, then every row goes over in one transaction on the target, read from one
snapshot of the source (others may keep working on it meanwhile), ids kept. Before that
transaction commits, each table's row count and checksum on the target are compared with the
source's; any difference rolls everything back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from crmpool import store
from crmpool.engines import engine_of, is_url, shown
from crmpool.errors import DatabaseUnavailable, Refused

# Every table of a crmpool database, parents before children (references are checked on
# each insert). A table not named here or in NOT_COPIED stops the copy: a new table must be
# placed here (tests/test_copy.py checks the list against a new database).
TABLES = ("users", "pools", "rules", "runs", "customers", "contacts", "deals",
          "distributions", "events", "warnings", "notifications", "pool_members",
          "pool_admins", "distribution_turns", "customer_changes", "warn_rule_state")
# The target's own: its schema's record, and SQLite's search index (kept by triggers).
NOT_COPIED = ("migrations", "crmpool_meta", "search_deferred")
# Rows the copy moves per batch.
BATCH = 5000


@dataclass
class CopyReport:
    target: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    checksums: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"target": self.target, "rows": self.tables, "checksums": self.checksums}


def tables_of(conn) -> set[str]:
    if engine_of(conn) == "postgresql":
        from crmpool.engines import pg_database

        return pg_database.tables(conn)
    return {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'customer_search%'")}


def columns_of(conn, table: str) -> list[str]:
    """The columns a row is written with, in order (not generated ones)."""
    if engine_of(conn) == "postgresql":
        return [row[0] for row in conn.execute_native(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position", (table,)).fetchall()]
    return [row[1] for row in conn.execute(f'PRAGMA table_xinfo("{table}")') if row[6] == 0]


def _order(columns: list[str]) -> str:
    # Rows in a fixed order for the checksum: by id where the table has one, else by all.
    return "id" if "id" in columns else ", ".join(_quoted(c) for c in columns)


def _quoted(column: str) -> str:
    return f'"{column}"'


class _Digest:
    """A table's row count and checksum: sha256 over each row's repr. Both engines give a
    row as the same Python values (ints, texts, None), so the same rows hash the same."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def add(self, row: tuple) -> None:
        self.count += 1
        self.sha.update(repr(row).encode("utf-8", "surrogatepass"))

    def result(self) -> tuple[int, str]:
        return self.count, self.sha.hexdigest()


def _hashed(rows, digest: _Digest):
    """The rows as they pass, each added to `digest` (the source's side, read once)."""
    for row in rows:
        digest.add(row)
        yield row


def _rows(conn, table: str, columns: list[str]):
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(f"SELECT {', '.join(_quoted(c) for c in columns)} FROM {table}"
                   f" ORDER BY {_order(columns)}")
    while batch := cursor.fetchmany(BATCH):
        yield from (tuple(row) for row in batch)


def checksum(conn, table: str, columns: list[str]) -> tuple[int, str]:
    digest = _Digest()
    for row in _rows(conn, table, columns):
        digest.add(row)
    return digest.result()


def _open_target(target: str | Path, now: datetime):
    """The new database: a file that does not exist yet, or an empty PostgreSQL database
    (or one a failed copy or init left without users, which store.create_db carries on)."""
    if not is_url(target) and Path(target).exists():
        raise Refused(f"{target} exists; copy to a new file")
    return store.create_db(target, now)


def copy_database(source, target: str | Path, now: datetime) -> CopyReport:
    """Copy every row of `source` into the new database `target`; returns what was copied."""
    report = CopyReport(shown(target))
    if source_is(source, target):
        raise Refused("--to names the database being copied")
    created_file = not is_url(target)
    dest = _open_target(target, now)
    try:
        unknown = tables_of(source) - set(TABLES) - set(NOT_COPIED)
        if unknown:
            raise RuntimeError(f"copy: tables {sorted(unknown)} are not in copying.TABLES")
        _snapshot(source)
        try:
            with store.transaction(dest):
                _copy_rows(source, dest, report)
        finally:
            if source.in_transaction:
                source.execute("ROLLBACK")  # the snapshot, read only
    except BaseException:
        dest.close()
        if created_file:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        raise
    dest.close()
    return report


def source_is(source, target: str | Path) -> bool:
    if engine_of(source) == "postgresql" or is_url(target):
        return engine_of(source) == "postgresql" and getattr(source, "url", None) == target
    path = source.execute("PRAGMA database_list").fetchone()[2]
    return Path(path).resolve() == Path(target).resolve()


def _snapshot(source) -> None:
    """Read every table from one moment of the source, while others may write."""
    if engine_of(source) == "postgresql":
        source.execute_native("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        source.execute("BEGIN")  # WAL: the snapshot is taken by the first read


def _copy_rows(source, dest, report: CopyReport) -> None:
    postgresql = engine_of(dest) == "postgresql"
    if not postgresql:
        # customers.merged_into may point at a later row: checked at commit instead.
        dest.execute("PRAGMA defer_foreign_keys = ON")
    meta = source.execute("SELECT key, value FROM crmpool_meta WHERE key <> 'app'").fetchall()
    dest.executemany("DELETE FROM crmpool_meta WHERE key = ?", [(k,) for k, _ in meta])
    dest.executemany("INSERT INTO crmpool_meta (key, value) VALUES (?, ?)",
                     [tuple(row) for row in meta])
    for table in TABLES:
        columns = [c for c in columns_of(source, table) if c in set(columns_of(dest, table))]
        read = _Digest()
        rows = _hashed(_rows(source, table, columns), read)
        # Into an empty table, every index is built once at the end: one sort each, not a
        # row at a time (on PostgreSQL the trigram search index most of all).
        with store.indexes_rebuilt(dest, table):
            if postgresql:
                _copy_pg(dest, table, columns, rows)
            else:
                from crmpool import search_index

                marks = ", ".join("?" * len(columns))
                sql = (f"INSERT INTO {table} ({', '.join(_quoted(c) for c in columns)})"
                       f" VALUES ({marks})")
                if table == "customers":
                    # The search index takes them all in one statement at the end.
                    with search_index.deferred(dest, 0):
                        dest.executemany(sql, rows)
                else:
                    dest.executemany(sql, rows)
        source_count, source_sum = read.result()
        dest_count, dest_sum = checksum(dest, table, columns)
        if (source_count, source_sum) != (dest_count, dest_sum):
            raise DatabaseUnavailable(
                f"copy: {table} does not match after copying ({source_count} rows, checksum"
                f" {source_sum[:12]}, against {dest_count}, {dest_sum[:12]} on the target);"
                " nothing was kept")
        report.tables[table] = dest_count
        report.checksums[table] = dest_sum[:16]


def _copy_pg(dest, table: str, columns: list[str], rows) -> None:
    """COPY, PostgreSQL's bulk path; then the table's identity continues after its ids."""
    names = ", ".join(_quoted(c) for c in columns)
    dest.copy_rows(f"COPY {table} ({names}) FROM STDIN", rows)
    dest.execute_native(f"ANALYZE {table}")  # plan the checks on what is there now
    if "id" in columns:
        dest.execute_native(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" coalesce((SELECT max(id) FROM {table}), 1),"
                            f" (SELECT max(id) FROM {table}) IS NOT NULL)")
