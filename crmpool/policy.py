"""Who may act on which customer, and the `[limits]` every claim and assignment must respect.

Each check raises Refused with a sentence a salesperson understands; none writes anything.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from crmpool.errors import NotFound, Refused
from crmpool.limits import Limits
from crmpool.users import User
from crmpool.values import plural
from crmpool.when import from_stored, local_display, start_of_local_day, stored


def load_customer(conn: sqlite3.Connection, customer_id: int) -> sqlite3.Row:
    """One customer row, or NotFound."""
    row = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    return row


def manages(conn: sqlite3.Connection, actor: User, owner: str | None) -> bool:
    """True when `owner` is the actor, or the actor is an admin, or their team's manager."""
    if actor.role == "admin" or (owner is not None and owner == actor.name):
        return True
    if actor.role != "manager" or owner is None or actor.team is None:
        return False
    row = conn.execute("SELECT team FROM users WHERE name = ?", (owner,)).fetchone()
    return row is not None and row["team"] == actor.team


def require_access(conn: sqlite3.Connection, actor: User, customer: sqlite3.Row,
                   to: str) -> None:
    """Refuse unless the actor owns the customer, manages its owner's team, or is an admin."""
    if manages(conn, actor, customer["owner"]):
        return
    cid = customer["id"]
    if customer["owner"] is None:
        raise Refused(f"customer {cid} is in the {customer['pool']!r} pool: claim it before you"
                      f" {to}")
    raise Refused(f"customer {cid} belongs to {customer['owner']}: only they, their manager or"
                  f" an admin can {to}")


def require_live(customer: sqlite3.Row) -> None:
    """Refuse a customer marked invalid (无效): out of every action until restored."""
    if customer["status"] == "invalid":
        reason = f" ({customer['invalid_reason']})" if customer["invalid_reason"] else ""
        raise Refused(f"customer {customer['id']} is marked invalid{reason}")


def require_usable(customer: sqlite3.Row, now: datetime) -> None:
    """Refuse invalid customers and those frozen past `now`."""
    cid = customer["id"]
    require_live(customer)
    if is_frozen(customer, now):
        raise Refused(
            f"customer {cid} is frozen until {local_display(customer['frozen_until'])}"
            f" ({customer['freeze_reason']}); a manager can unfreeze it first"
        )


def is_frozen(customer: sqlite3.Row, now: datetime) -> bool:
    """True while the customer's freeze ends after `now`."""
    return bool(customer["frozen_until"]) and customer["frozen_until"] > stored(now)


def cap_of(user: User, limits: Limits) -> int:
    """The most customers this user may own."""
    return user.cap if user.cap is not None else limits.cap


def owned_count(conn: sqlite3.Connection, user: str, limits: Limits) -> int:
    """How many customers count toward this user's cap."""
    won = "" if limits.cap_counts_won else " AND status <> 'won'"
    return conn.execute(
        f"SELECT count(*) FROM customers WHERE owner = ? AND status <> 'invalid'{won}", (user,)
    ).fetchone()[0]


def check_cap(conn: sqlite3.Connection, user: User, limits: Limits, *, you: bool) -> None:
    """Refuse when one more customer would take the user over their cap."""
    cap = cap_of(user, limits)
    counted = owned_count(conn, user.name, limits)
    if counted >= cap:
        owned = conn.execute("SELECT count(*) FROM customers WHERE owner = ?"
                             " AND status <> 'invalid'", (user.name,)).fetchone()[0]
        who = "you own" if you else f"{user.name} owns"
        which = ("all of them count" if limits.cap_counts_won
                 else "won ones do not count (cap_counts_won = false)")
        held = (f"{plural(owned, 'customer')}, {counted} of them toward the cap of {cap}"
                f" ({which})" if owned != counted
                else f"{plural(owned, 'customer')} and the cap is {cap}")
        raise Refused(f"{who} {held}: release some first")


def check_claim_limit(conn: sqlite3.Connection, user: User, limits: Limits, now: datetime,
                      pool: str | None = None, *, you: bool = True) -> None:
    """Refuse when the user has taken today's quota from pools (local calendar day).

    It counts what the user received from a pool however it came: claimed, assigned or
    distributed. A pool with its own claims_per_day counts what came from it alone; the
    `[limits]` one counts what came from the pools without their own.
    """
    from crmpool.pool_access import pool_limits, pools_with_own_daily_limit

    limit = pool_limits(conn, pool, limits).claims_per_day if pool else limits.claims_per_day
    if limit == 0:
        return
    made = taken_today(conn, [user.name], pool, now).get(user.name, 0)
    if made >= limit:
        own = pools_with_own_daily_limit(conn)
        where = f"from the {pool!r} pool " if pool in own else "from pools "
        who = "you have" if you else f"{user.name} has"
        raise Refused(f"{who} taken {plural(made, 'customer')} {where}today and the daily limit"
                      f" is {limit}: try again tomorrow")


def taken_today(conn: sqlite3.Connection, names: list[str], pool: str | None,
                now: datetime) -> dict[str, int]:
    """What each user received from pools this local day, as the daily limit counts it:
    from `pool` alone if it has its own claims_per_day, else from the pools without one."""
    from crmpool.pool_access import pools_with_own_daily_limit

    own = pools_with_own_daily_limit(conn)
    if pool in own:
        which, params = "from_pool = ?", [pool]
    else:
        which, params = f"from_pool NOT IN ({', '.join('?' * len(own))})", own
    day_start = start_of_local_day(now)
    return dict(conn.execute(
        f"SELECT to_owner, count(*) FROM events WHERE to_owner IN ({', '.join('?' * len(names))})"
        " AND from_pool IS NOT NULL AND action IN ('claim', 'assign') AND at >= ? AND at < ?"
        f" AND {which} GROUP BY to_owner",
        [*names, stored(day_start), stored(day_start + timedelta(days=1)), *params]).fetchall())


# The events after which a previous owner waits out the cooldown: a release or a reclaim,
# except the reclaims of an undone sweep run, which never happened as far as cooldowns go.
COOLING_SQL = ("{e}.action IN ('release', 'reclaim') AND ({e}.run_id IS NULL OR {e}.run_id NOT IN"
               " (SELECT id FROM runs WHERE undone_at IS NOT NULL))")


def check_cooldown(conn: sqlite3.Connection, actor: User, customer_id: int, limits: Limits,
                   now: datetime, *, you: bool = True) -> None:
    """Refuse a previous owner who gave the customer up less than cooldown_days ago
    (`limits` already carry the customer's pool's own cooldown_days, if it has one)."""
    if limits.cooldown_days == 0:
        return
    row = conn.execute(
        "SELECT at, action, rule FROM events e WHERE customer_id = ? AND from_owner = ?"
        f" AND {COOLING_SQL.format(e='e')} ORDER BY at DESC, id DESC LIMIT 1",
        (customer_id, actor.name),
    ).fetchone()
    if row is None:
        return
    until = from_stored(row["at"]) + timedelta(days=limits.cooldown_days)
    if until > now:
        who, whom = ("you", "you") if you else (actor.name, actor.name)
        how = (f"{who} released customer {customer_id}" if row["action"] == "release" else
               f"customer {customer_id} was reclaimed from {whom} by rule {row['rule']!r}")
        raise Refused(
            f"{how} on {local_display(row['at'])}; a previous owner may claim it again after"
            f" {plural(limits.cooldown_days, 'day')}, from {local_display(stored(until))}"
        )
