"""Freeze (冻结 / 锁定): exempt an owned customer from reclaim until a date, with a reason."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta

from crmpool import audit
from crmpool.errors import Refused, UsageError
from crmpool.outcomes import Outcome, for_each_id
from crmpool.policy import is_frozen, load_customer, require_access, require_live
from crmpool.ruleset import active_limits
from crmpool.users import User, require_role
from crmpool.values import plural
from crmpool.when import local_display, stored


def freeze(conn: sqlite3.Connection, actor: User, ids: Iterable[int], until: datetime,
           reason: str, now: datetime) -> list[Outcome]:
    """Freeze customers until `until` (a manager or admin), within the freeze limits."""
    if not reason.strip():
        raise UsageError("--reason must say why the customer is frozen")
    if until <= now:
        raise UsageError("--until must be in the future")
    limits = active_limits(conn)
    if until > now + timedelta(days=limits.freeze_max_days):
        longest = plural(limits.freeze_max_days, "day")
        raise Refused(f"the longest freeze allowed is {longest}, until"
                      f" {local_display(stored(now + timedelta(days=limits.freeze_max_days)))}")

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if customer["owner"] is None:
            raise Refused(f"customer {customer_id} is in the pool; only owned customers are"
                          " frozen")
        require_access(conn, actor, customer, "freeze it")
        require_live(customer)
        frozen = conn.execute(
            "SELECT count(*) FROM customers WHERE owner = ? AND frozen_until > ? AND id <> ?",
            (customer["owner"], stored(now), customer_id),
        ).fetchone()[0]
        if frozen >= limits.freezes_per_user:
            already = plural(frozen, "frozen customer")
            raise Refused(f"{customer['owner']} already has {already}, the most"
                          f" allowed is {limits.freezes_per_user}")
        conn.execute(
            "UPDATE customers SET frozen_until = ?, freeze_reason = ? WHERE id = ?",
            (stored(until), reason, customer_id),
        )
        audit.record(conn, customer_id, "freeze", actor.name, now, from_owner=customer["owner"],
                     to_owner=customer["owner"], reason=f"until {stored(until)}: {reason}")
        return f"frozen until {local_display(stored(until))}"

    return for_each_id(conn, ids, one, "frozen",
                       before=lambda: require_role(actor, "manager", "admin",
                                                   to="freeze customers"))


def unfreeze(conn: sqlite3.Connection, actor: User, ids: Iterable[int],
             now: datetime) -> list[Outcome]:
    """Lift freezes early (a manager or admin)."""

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if not is_frozen(customer, now):
            raise Refused(f"customer {customer_id} is not frozen")
        require_access(conn, actor, customer, "unfreeze it")
        conn.execute(
            "UPDATE customers SET frozen_until = NULL, freeze_reason = NULL WHERE id = ?",
            (customer_id,),
        )
        audit.record(conn, customer_id, "unfreeze", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"])
        return "unfrozen"

    return for_each_id(conn, ids, one, "unfrozen",
                       before=lambda: require_role(actor, "manager", "admin",
                                                   to="unfreeze customers"))
