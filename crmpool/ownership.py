"""Who holds a customer: claim (领取), release (退回公海) and assign (分配)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from crmpool import audit
from crmpool.errors import Refused, UsageError
from crmpool.outcomes import Outcome, for_each_id
from crmpool.policy import (
    check_cap,
    check_claim_limit,
    check_cooldown,
    load_customer,
    manages,
    require_access,
    require_usable,
)
from crmpool.pool_access import (
    admin_pools,
    administers,
    pool_limits,
    require_member,
    require_open,
)
from crmpool.pools import require_pool
from crmpool.ruleset import active_limits
from crmpool.users import User, get_user
from crmpool.when import stored


def _take(conn: sqlite3.Connection, customer_id: int, owner: str, now: datetime) -> None:
    conn.execute(
        "UPDATE customers SET owner = ?, assigned_at = ? WHERE id = ?",
        (owner, stored(now), customer_id),
    )


def claim(conn: sqlite3.Connection, actor: User, ids: Iterable[int],
          now: datetime) -> list[Outcome]:
    """Take customers from their pool, within cap, daily claim limit and cooldown."""
    limits = active_limits(conn)

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if customer["owner"] == actor.name:
            raise Refused(f"you already own customer {customer_id}")
        if customer["owner"] is not None:
            raise Refused(f"customer {customer_id} already belongs to {customer['owner']}")
        require_open(conn, actor, customer["pool"], customer_id)
        require_usable(customer, now)
        pool_rules = pool_limits(conn, customer["pool"], limits)
        check_cooldown(conn, actor, customer_id, pool_rules, now)
        check_claim_limit(conn, actor, limits, now, customer["pool"])
        check_cap(conn, actor, limits, you=True)
        _take(conn, customer_id, actor.name, now)
        audit.record(conn, customer_id, "claim", actor.name, now, to_owner=actor.name,
                     from_pool=customer["pool"])
        return f"claimed {customer['name']} from the {customer['pool']!r} pool"

    return for_each_id(conn, ids, one, "claimed")


def release(conn: sqlite3.Connection, actor: User, ids: Iterable[int], reason: str,
            now: datetime, pool: str | None = None) -> list[Outcome]:
    """Give customers back to a pool (their home pool unless `pool`), with a reason."""
    if not reason.strip():
        raise UsageError("--reason must say why the customer goes back to the pool")
    if pool is not None:
        require_pool(conn, pool)

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if customer["owner"] is None:
            raise Refused(f"customer {customer_id} is already in the {customer['pool']!r} pool")
        require_access(conn, actor, customer, "release it")
        require_usable(customer, now)
        target = pool or customer["pool"]
        conn.execute(
            "UPDATE customers SET owner = NULL, assigned_at = NULL, pool = ? WHERE id = ?",
            (target, customer_id),
        )
        audit.record(conn, customer_id, "release", actor.name, now,
                     from_owner=customer["owner"], from_pool=customer["pool"], to_pool=target,
                     reason=reason)
        return f"released {customer['name']} to the {target!r} pool"

    return for_each_id(conn, ids, one, "released")


def assign(conn: sqlite3.Connection, actor: User, ids: Iterable[int], to: str,
           now: datetime) -> list[Outcome]:
    """Hand customers to a user, within their cap, daily limit and cooldown: a manager within
    their team, an admin to anyone, a pool's admin its waiting customers to its members."""
    limits = active_limits(conn)
    target: list[User] = []

    def check_target() -> None:
        if actor.role == "rep" and not admin_pools(conn, actor):
            raise Refused("only a manager, an admin or a pool admin can assign customers")
        user = get_user(conn, to)
        if not user.active:
            raise Refused(f"{to} is inactive and cannot be given customers")
        if actor.role == "manager" and not manages(conn, actor, to) and not admin_pools(
                conn, actor):
            raise Refused(f"{to} is not in your team ({actor.team or 'none'})")
        target.append(user)

    def one(customer_id: int) -> str:
        user = target[0]
        customer = load_customer(conn, customer_id)
        if customer["owner"] == user.name:
            raise Refused(f"customer {customer_id} already belongs to {user.name}")
        in_pool = customer["owner"] is None
        by_team = actor.role != "rep" and manages(conn, actor, user.name)
        if not in_pool:
            require_access(conn, actor, customer, "reassign it")
            if not by_team:
                raise Refused(f"{to} is not in your team ({actor.team or 'none'})")
        elif not by_team:
            # A pool admin hands the pool's customers to its members (or keeps them).
            if not administers(conn, actor, customer["pool"]):
                raise Refused(f"customer {customer_id} waits in the {customer['pool']!r} pool:"
                              f" only its admins, {to}'s manager or an admin may assign it")
            require_member(conn, user, customer["pool"])
        require_usable(customer, now)
        you = user.name == actor.name
        check_cap(conn, user, limits, you=you)
        if in_pool:
            check_cooldown(conn, user, customer_id, pool_limits(conn, customer["pool"], limits),
                           now, you=you)
            check_claim_limit(conn, user, limits, now, customer["pool"], you=you)
        _take(conn, customer_id, user.name, now)
        audit.record(conn, customer_id, "assign", actor.name, now,
                     from_owner=customer["owner"], to_owner=user.name,
                     from_pool=customer["pool"] if in_pool else None)
        return f"assigned {customer['name']} to {user.name}"

    return for_each_id(conn, ids, one, "assigned", before=check_target)
