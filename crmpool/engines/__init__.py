"""The database engines crmpool runs on: SQLite (the default, one file) and PostgreSQL (a URL).

`store` opens either; the rest of crmpool writes SQLite's SQL and sees one connection API
(sqlite3's), which engines/postgres.py gives a PostgreSQL connection.
"""

from __future__ import annotations

URL_SCHEMES = ("postgresql://", "postgres://")
# PostgreSQL: the advisory lock every write transaction takes (engines/postgres.py), and
# every reference check before it looks (engines/pg_references.py). One per database; the
# key is arbitrary, the same in every crmpool.
WRITE_LOCK = 7_326_645_221


def is_url(target: object) -> bool:
    """Whether --db names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def engine_of(conn: object) -> str:
    return getattr(conn, "engine", "sqlite")


def shown(target: object) -> str:
    """A database as messages name it: a URL without its password, or the file's path."""
    if is_url(target):
        from crmpool.engines.postgres import shown_url

        return shown_url(str(target))
    return str(target)
