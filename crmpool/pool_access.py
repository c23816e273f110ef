"""Who may take a pool's customers (公海成员), who assigns them (客户池管理员), and the limits a
pool sets for itself.

A pool's members are users and whole teams (`team:east`); a pool without members is open to
everyone, as every pool was before members existed. An admin may take from any pool. A pool's
admins may claim from it and assign its customers to its members or to themselves; a
manager's powers over their own team are not the pool's to narrow.
"""

from __future__ import annotations

import sqlite3

from crmpool.errors import Refused
from crmpool.limits import Limits
from crmpool.users import User

TEAM_PREFIX = "team:"


def members_of(conn: sqlite3.Connection, pool: str) -> list[str]:
    """The pool's members as written: user names and `team:NAME`, sorted."""
    return [r[0] for r in conn.execute(
        "SELECT member FROM pool_members WHERE pool = ? ORDER BY member", (pool,))]


def admins_of(conn: sqlite3.Connection, pool: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT user FROM pool_admins WHERE pool = ? ORDER BY user", (pool,))]


def administers(conn: sqlite3.Connection, user: User, pool: str) -> bool:
    """True for an admin, or an admin of this pool."""
    return user.role == "admin" or conn.execute(
        "SELECT 1 FROM pool_admins WHERE pool = ? AND user = ?", (pool, user.name)
    ).fetchone() is not None


def admin_pools(conn: sqlite3.Connection, user: User) -> set[str]:
    """The pools this user is an admin of (not counting the role admin, who has all)."""
    return {r[0] for r in conn.execute("SELECT pool FROM pool_admins WHERE user = ?",
                                       (user.name,))}


def is_member(conn: sqlite3.Connection, user: User, pool: str) -> bool:
    """True when the pool has no members, or lists the user or their team."""
    rows = members_of(conn, pool)
    return not rows or user.name in rows or (
        user.team is not None and f"{TEAM_PREFIX}{user.team}" in rows)


def open_to(conn: sqlite3.Connection, user: User, pool: str) -> bool:
    """May the user see this pool's customers as claimable and claim them?"""
    return is_member(conn, user, pool) or administers(conn, user, pool)


def closed_pools(conn: sqlite3.Connection, user: User) -> list[str]:
    """The pools whose customers this user may not claim (their pool customers are not
    listed for them)."""
    if user.role == "admin":
        return []
    return [name for (name,) in conn.execute("SELECT name FROM pools ORDER BY name")
            if not open_to(conn, user, name)]


def require_open(conn: sqlite3.Connection, user: User, pool: str, customer_id: int) -> None:
    """Refuse a claim from a pool the user is not a member of, saying whom to ask."""
    if open_to(conn, user, pool):
        return
    members = ", ".join(members_of(conn, pool))
    admins = admins_of(conn, pool)
    ask = (f"ask its admin ({', '.join(admins)}) or an admin" if admins else "ask an admin")
    raise Refused(f"customer {customer_id} waits in the {pool!r} pool, which is open to its"
                  f" members only ({members}): {ask} to add you")


def require_member(conn: sqlite3.Connection, user: User, pool: str) -> None:
    """Refuse to hand a pool's customer to someone outside the pool."""
    if not is_member(conn, user, pool) and not administers(conn, user, pool):
        raise Refused(f"{user.name} is not a member of the {pool!r} pool"
                      f" ({', '.join(members_of(conn, pool))})")


def pool_limits(conn: sqlite3.Connection, pool: str | None, limits: Limits) -> Limits:
    """`[limits]` with the pool's own claims_per_day and cooldown_days put over them."""
    if pool is None:
        return limits
    row = conn.execute("SELECT claims_per_day, cooldown_days FROM pools WHERE name = ?",
                       (pool,)).fetchone()
    if row is None:
        return limits
    return limits._replace(
        claims_per_day=limits.claims_per_day if row[0] is None else row[0],
        cooldown_days=limits.cooldown_days if row[1] is None else row[1])


def pools_with_own_daily_limit(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM pools WHERE claims_per_day IS NOT NULL ORDER BY name")]
