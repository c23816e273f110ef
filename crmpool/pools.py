"""Named pools (公海 / 客户池) where ownerless customers wait; `public` always exists."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from crmpool.errors import NotFound, Refused, UsageError
from crmpool.users import User, get_user, require_role, require_team
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


def add_pool(conn: sqlite3.Connection, actor: User | None, name: str, now: datetime,
             settings: PoolSettings | None = None) -> None:
    """Create a pool (admin only; `actor` None is `init` making `public`), with members,
    admins and limits of its own if given."""
    if actor is not None:
        require_role(actor, "admin", to="create pools")
    from crmpool.values import check_name, same_name

    try:
        check_name(name, "pool name")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    same = same_name(name, (row[0] for row in conn.execute("SELECT name FROM pools")))
    if same:
        raise Refused(f"a pool named {name!r} {same}")
    conn.execute("INSERT INTO pools (name, created_at) VALUES (?, ?)", (name, stored(now)))
    if settings is not None:
        _apply(conn, name, settings)


@dataclass
class PoolSettings:
    """What `pool add` and `pool set` change: members (a user or `team:NAME`) and admins
    added and removed, and the pool's own limits (`clear_limits`: back to `[limits]`)."""

    add_members: list[str] = field(default_factory=list)
    remove_members: list[str] = field(default_factory=list)
    add_admins: list[str] = field(default_factory=list)
    remove_admins: list[str] = field(default_factory=list)
    claims_per_day: int | None = None
    cooldown_days: int | None = None
    clear_limits: bool = False


def set_pool(conn: sqlite3.Connection, actor: User, name: str, settings: PoolSettings) -> None:
    """Change a pool's members, admins and limits (admin only)."""
    require_role(actor, "admin", to="change pools")
    require_pool(conn, name)
    _apply(conn, name, settings)


def _apply(conn: sqlite3.Connection, pool: str, settings: PoolSettings) -> None:
    # Members and admins alike: (table, its column, what one is, how a name is checked).
    lists = (("pool_members", "member", "a member", settings.add_members,
              settings.remove_members, _check_member),
             ("pool_admins", "user", "an admin", settings.add_admins, settings.remove_admins,
              get_user))
    for table, column, noun, added, removed, check in lists:
        for name in added:
            check(conn, name)
            conn.execute(f"INSERT OR IGNORE INTO {table} (pool, {column}) VALUES (?, ?)",
                         (pool, name))
        for name in removed:
            if not conn.execute(f"DELETE FROM {table} WHERE pool = ? AND {column} = ?",
                                (pool, name)).rowcount:
                raise NotFound(f"{name} is not {noun} of the {pool!r} pool")
    if settings.clear_limits:
        conn.execute("UPDATE pools SET claims_per_day = NULL, cooldown_days = NULL"
                     " WHERE name = ?", (pool,))
    from crmpool.values import MAX_COUNT, MAX_DAYS

    # The ranges of the same keys in [limits].
    for column, most in (("claims_per_day", MAX_COUNT), ("cooldown_days", MAX_DAYS)):
        value = getattr(settings, column)
        if value is not None:
            if not 0 <= value <= most:
                raise UsageError(f"--{column.replace('_', '-')} must be a whole number from 0"
                                 f" to {most:,}, not {value}")
            conn.execute(f"UPDATE pools SET {column} = ? WHERE name = ?", (value, pool))


def _check_member(conn: sqlite3.Connection, member: str) -> None:
    """A member is a user or `team:NAME` of a team that has users."""
    from crmpool.pool_access import TEAM_PREFIX

    if member.startswith(TEAM_PREFIX):
        require_team(conn, member[len(TEAM_PREFIX):])
    else:
        get_user(conn, member)


def list_pools(conn: sqlite3.Connection) -> list[dict]:
    """Every pool: its members, admins, customers waiting and calling it home, and limits
    (an empty one follows `[limits]`)."""
    rows = conn.execute(
        """SELECT p.name,
                  (SELECT group_concat(member, ', ') FROM (SELECT member FROM pool_members m
                     WHERE m.pool = p.name ORDER BY member)) AS members,
                  (SELECT group_concat(user, ', ') FROM (SELECT user FROM pool_admins a
                     WHERE a.pool = p.name ORDER BY user)) AS admins,
                  (SELECT count(*) FROM customers c WHERE c.pool = p.name AND c.owner IS NULL
                     AND c.status <> 'invalid') AS waiting,
                  (SELECT count(*) FROM customers c WHERE c.pool = p.name) AS home_of,
                  p.claims_per_day, p.cooldown_days
           FROM pools p ORDER BY p.name"""
    )
    return [dict(row) | {"members": row["members"] or "everyone"} for row in rows]
