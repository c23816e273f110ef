"""Who may receive a pool's customers, and how many each: active members of the pool (or the
users asked for, who must be members), under their cap and the day's limit; and, per waiting
customer, the previous owners still inside the pool's cooldown. A handful of grouped queries
for the whole pool, never one per customer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from crmpool.distribute.strategies import Receiver, Waiting
from crmpool.errors import Refused
from crmpool.limits import Limits
from crmpool.policy import COOLING_SQL, taken_today
from crmpool.pool_access import TEAM_PREFIX, admins_of, members_of, pool_limits
from crmpool.users import get_user, require_team
from crmpool.when import stored


def expand(conn: sqlite3.Connection, who: str, *, strict: bool = True) -> set[str]:
    """A user's name, or the active users of `team:NAME`; a name that is no user or team is
    refused (`strict`), or stands for nobody (a rule's, so the nightly sweep goes on)."""
    if who.startswith(TEAM_PREFIX):
        team = who[len(TEAM_PREFIX):]
        if strict:
            require_team(conn, team)
        return {r[0] for r in conn.execute(
            "SELECT name FROM users WHERE team = ? AND active = 1", (team,))}
    if strict:
        return {get_user(conn, who).name}
    return {r[0] for r in conn.execute("SELECT name FROM users WHERE name = ?", (who,))}


def member_names(conn: sqlite3.Connection, pool: str, to: Sequence[str], *,
                 strict: bool = True) -> tuple[set[str], str]:
    """The users a distribution may give to, and what that set is, for messages.

    `to` narrows the pool's members: one outside the pool is refused (`strict`, asked on
    the command line), or passed over and named (a rule: the nightly sweep goes on). A pool
    without members hands out to every active user who is not an admin (admins sell
    rarely, and can claim)."""
    members = members_of(conn, pool)
    # Members were checked when added; a team since emptied stands for nobody.
    pool_set = (set().union(*(expand(conn, m, strict=False) for m in members)) if members
                else None)
    if to:
        asked = set().union(*(expand(conn, who, strict=strict) for who in to))
        described = ", ".join(dict.fromkeys(to))  # `--to li --to li` says li once
        if pool_set is not None:
            outside = sorted(asked - pool_set - set(admins_of(conn, pool)))
            if outside and strict:
                raise Refused(f"{', '.join(outside)}: not a member of the {pool!r} pool"
                              f" ({', '.join(members)})")
            if outside:
                asked -= set(outside)
                described += f" (not members, passed over: {', '.join(outside)})"
        return asked, described
    if pool_set is not None:
        return pool_set, f"the {pool!r} pool's members"
    return ({r[0] for r in conn.execute(
        "SELECT name FROM users WHERE active = 1 AND role <> 'admin'")},
        "every active rep and manager (the pool has no members)")


def receivers(conn: sqlite3.Connection, pool: str, names: set[str], limits: Limits,
              now: datetime, performance_days: int | None = None) -> list[Receiver]:
    """The active ones among `names`, with their room under cap and the day's limit."""
    if not names:
        return []
    marks = ", ".join("?" * len(names))
    ordered = sorted(names)
    users = conn.execute(f"SELECT name, cap FROM users WHERE active = 1 AND name IN ({marks})"
                         " ORDER BY name", ordered).fetchall()
    won = "" if limits.cap_counts_won else " AND status <> 'won'"
    loads = dict(conn.execute(
        f"SELECT owner, count(*) FROM customers WHERE owner IN ({marks})"
        f" AND status <> 'invalid'{won} GROUP BY owner", ordered).fetchall())
    daily = pool_limits(conn, pool, limits).claims_per_day
    taken = taken_today(conn, ordered, pool, now) if daily else {}
    won_cents: dict[str, int] = {}
    if performance_days:
        won_cents = dict(conn.execute(
            f"SELECT user, sum(amount_cents) FROM deals WHERE stage = 'won' AND at > ?"
            f" AND at <= ? AND user IN ({marks}) GROUP BY user",
            [stored(now - timedelta(days=performance_days)), stored(now), *ordered]).fetchall())
    result = []
    for name, cap in users:
        load = loads.get(name, 0)
        result.append(Receiver(
            name, max((limits.cap if cap is None else cap) - load, 0),
            max(daily - taken.get(name, 0), 0) if daily else None, load,
            won_cents.get(name) or 0))
    return result


def waiting(conn: sqlite3.Connection, pool: str, limits: Limits, now: datetime, *,
            limit: int | None, first_id: int = 0, with_values: bool = False) -> list[Waiting]:
    """The pool's customers that may be handed out (live, not frozen), oldest first, each
    with the previous owners inside the pool's cooldown."""
    rows, cooling = waiting_rows(conn, pool, limits, now, limit=limit, first_id=first_id,
                                 with_values=with_values)
    return as_waiting(rows, cooling, with_values)


class Waitings(Sequence):
    """Waiting customers, each made when asked for: a plan that needed only their ids (a
    rotation) shows them one by one, if at all."""

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [Waiting(cid, {}, frozenset(), name) for cid, name in self._rows[index]]
        cid, name = self._rows[index]
        return Waiting(cid, {}, frozenset(), name)

    def __iter__(self):
        for cid, name in self._rows:
            yield Waiting(cid, {}, frozenset(), name)


def waiting_rows(conn: sqlite3.Connection, pool: str, limits: Limits, now: datetime, *,
                 limit: int | None, first_id: int = 0, with_values: bool = False
                 ) -> tuple[list[tuple], dict[int, set[str]]]:
    """The waiting customers' rows (id, name[, region, industry, level, extra]) and, by id,
    the previous owners inside the pool's cooldown."""
    now_text = stored(now)
    # What territories match on only for them: a row is cheaper without its `extra`.
    columns = "id, name, region, industry, level, extra" if with_values else "id, name"
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a Row each costs more than the row's use
    rows = cursor.execute(
        f"SELECT {columns} FROM customers WHERE owner IS NULL"
        " AND pool = ? AND status <> 'invalid' AND (frozen_until IS NULL OR frozen_until <= ?)"
        " AND id >= ? ORDER BY id LIMIT ?", (pool, now_text, first_id, limit or 2**62)).fetchall()
    cooldown = pool_limits(conn, pool, limits).cooldown_days
    cooling: dict[int, set[str]] = {}
    if cooldown and rows:
        # From the cooldown's span of events (events_at), which is what a pool mostly
        # holds anyway, rather than one lookup per waiting customer (policy.check_cooldown).
        for customer_id, owner in conn.execute(
                "SELECT e.customer_id, e.from_owner FROM events e CROSS JOIN customers c"
                f" ON c.id = e.customer_id WHERE e.at > ? AND {COOLING_SQL.format(e='e')}"
                " AND e.from_owner IS NOT NULL AND c.owner IS NULL AND c.pool = ? AND c.id >= ?",
                (stored(now - timedelta(days=cooldown)), pool, first_id)):
            cooling.setdefault(customer_id, set()).add(owner)
    return rows, cooling


def as_waiting(rows: list[tuple], cooling: dict[int, set[str]],
               with_values: bool) -> list[Waiting]:
    import json

    if not with_values:
        # The common case, a hundred thousand rows at a time: nothing to read but the id.
        nobody: frozenset[str] = frozenset()
        return [Waiting(cid, {}, frozenset(cooling[cid]) if cid in cooling else nobody, name)
                for cid, name in rows]
    result = []
    for customer_id, name, region, industry, level, extra in rows:
        values: dict[str, object] = {}
        if extra:
            loaded = json.loads(extra)
            if isinstance(loaded, dict):
                values.update(loaded)
        values.update(region=region, industry=industry, level=level)
        result.append(Waiting(customer_id, values, frozenset(cooling.get(customer_id, ())),
                              name))
    return result
