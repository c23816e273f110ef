"""Named pools (公海 / 客户池) where ownerless customers wait; `public` always exists."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.errors import NotFound, Refused, UsageError
from crmpool.users import User, require_role
from crmpool.when import stored

DEFAULT_POOL = "public"


def pool_names(conn: sqlite3.Connection) -> set[str]:
    """The names of every pool."""
    return {row[0] for row in conn.execute("SELECT name FROM pools")}


def require_pool(conn: sqlite3.Connection, name: str) -> str:
    """`name` if such a pool exists, else NotFound."""
    if not conn.execute("SELECT 1 FROM pools WHERE name = ?", (name,)).fetchone():
        raise NotFound(f"no pool named {name!r}; an admin can create it with `crmpool pool add`")
    return name


def add_pool(conn: sqlite3.Connection, actor: User | None, name: str, now: datetime) -> None:
    """Create a pool (admin only; `actor` None is `init` making `public`)."""
    if actor is not None:
        require_role(actor, "admin", to="create pools")
    from crmpool.values import check_name

    try:
        check_name(name, "pool name")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if conn.execute("SELECT 1 FROM pools WHERE name = ?", (name,)).fetchone():
        raise Refused(f"a pool named {name!r} already exists")
    conn.execute("INSERT INTO pools (name, created_at) VALUES (?, ?)", (name, stored(now)))


def list_pools(conn: sqlite3.Connection) -> list[dict]:
    """Every pool with how many customers wait in it and how many call it home."""
    rows = conn.execute(
        """SELECT p.name,
                  (SELECT count(*) FROM customers c WHERE c.pool = p.name AND c.owner IS NULL
                     AND c.status <> 'invalid') AS waiting,
                  (SELECT count(*) FROM customers c WHERE c.pool = p.name) AS home_of
           FROM pools p ORDER BY p.name"""
    )
    return [dict(row) for row in rows]
