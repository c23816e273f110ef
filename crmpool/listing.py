"""`crmpool list`: customers by filter and sort, and by search (crmpool/search.py).

Every filter value reaches SQL as a bound parameter; sort keys and shown columns come from
fixed lists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmpool import search
from crmpool.errors import UsageError
from crmpool.pools import require_pool
from crmpool.users import get_user, require_team
from crmpool.when import start_of_local_day, stored

# What `list` prints in machine formats, in order; JSON keys are these column names.
LIST_COLUMNS = ("id", "name", "phone", "email", "company_id", "level", "region", "industry",
                "owner", "pool", "status", "assigned_at", "last_contact_at", "next_contact_at",
                "frozen_until")
# Worked out for each row (`-c` picks them in any format).
COMPUTED = ("holder", "idle_days", "marks", "waiting_since", "previous_owner", "came_by")
# A rep's view on an 80-column screen, most important first (tables leave out the last).
TABLE_COLUMNS = ("id", "name", "holder", "level", "idle_days", "next_contact_at", "marks",
                 "phone", "region", "status", "last_contact_at")
# The pool's view: since when each customer waits, whose it was, and why it came.
POOL_COLUMNS = ("id", "name", "pool", "level", "waiting_since", "previous_owner", "came_by",
                "phone", "region")
SORTS = {"id": "c.id", "idle": "c.idle_since", "name": "c.name_key", "created": "c.created_at",
         "last_contact": "c.last_contact_at", "next_contact": "c.next_contact_at"}
STATUSES = ("active", "won", "invalid")
# The event that put a pool customer where it is, its latest move out of someone's hands.
_ARRIVAL = ("(SELECT e.{field} FROM events e WHERE e.customer_id = c.id AND e.action IN"
            " ('reclaim', 'release', 'create', 'import') ORDER BY e.at DESC, e.id DESC LIMIT 1)")


@dataclass
class CustomerFilter:
    """The filters of `crmpool list`; every value reaches SQL as a bound parameter."""

    owner: str | None = None
    team: str | None = None
    pool: str | None = None
    in_pool: bool = False
    level: str | None = None
    region: str | None = None
    industry: str | None = None
    status: str | None = None
    idle_over: int | None = None
    frozen: bool = False
    due: bool = False
    search: str | None = None
    sort: str = "id"
    desc: bool = False
    limit: int | None = None
    # Pools whose waiting customers are not listed: those the user may not claim from
    # (crmpool/pool_access.closed_pools).
    hidden_pools: tuple[str, ...] = ()


def list_customers(conn: sqlite3.Connection, where: CustomerFilter, now: datetime
                   ) -> Iterator[dict]:
    """Customers matching the filter; invalid ones only when asked for by status."""
    clauses, params, ranked = _query(conn, where, now)
    remaining = where.limit
    for arm in ranked:
        for row in _select(conn, arm, clauses, params, where, remaining, now):
            yield row
            if remaining is not None:
                remaining -= 1
        if remaining == 0:
            return


def count_customers(conn: sqlite3.Connection, where: CustomerFilter, now: datetime) -> int:
    """How many customers match the filter (the limit aside): a table's "… N more"."""
    clauses, params, ranked = _query(conn, where, now)
    return sum(conn.execute(
        f"SELECT count(*) FROM {arm.source} WHERE {' AND '.join([*clauses, *arm.clauses])}",
        [*params, *arm.params]).fetchone()[0] for arm in ranked)


def _query(conn: sqlite3.Connection, where: CustomerFilter, now: datetime
           ) -> tuple[list[str], list[object], list[search.Arm]]:
    """The filter's conditions on `c`, and the ranked queries to run them in."""
    clauses: list[str] = []
    params: list[object] = []
    if where.owner:
        get_user(conn, where.owner)  # a mistyped name is a refusal, not "no customers"
        clauses.append("c.owner = ?")
        params.append(where.owner)
    if where.team:
        require_team(conn, where.team)
        clauses.append("c.owner IN (SELECT name FROM users WHERE team = ?)")
        params.append(where.team)
    if where.in_pool:
        clauses.append("c.owner IS NULL")
    if where.pool:
        require_pool(conn, where.pool)
        clauses.append("c.pool = ?")
        params.append(where.pool)
    if where.hidden_pools:
        clauses.append(f"NOT (c.owner IS NULL AND c.pool IN"
                       f" ({', '.join('?' * len(where.hidden_pools))}))")
        params.extend(where.hidden_pools)
    for column in ("level", "region", "industry"):
        value = getattr(where, column)
        if value:
            # Any case, as rule scopes match (a, A): people type levels both ways.
            clauses.append(f"c.{column} = ? COLLATE NOCASE")
            params.append(value)
    if where.status:
        if where.status not in STATUSES:
            raise UsageError(f"--status must be one of {', '.join(STATUSES)}")
        clauses.append("c.status = ?")
        params.append(where.status)
    else:
        clauses.append("c.status <> 'invalid'")
    if where.idle_over is not None:
        clauses.append("c.owner IS NOT NULL AND c.idle_since <= ?")
        params.append(stored(now - timedelta(days=where.idle_over)))
    if where.frozen:
        clauses.append("c.frozen_until > ?")
        params.append(stored(now))
    if where.due:
        clauses.append("c.owner IS NOT NULL AND c.next_contact_at < ?")
        params.append(stored(start_of_local_day(now) + timedelta(days=1)))
    if where.sort not in SORTS:
        raise UsageError(f"--sort must be one of {', '.join(SORTS)}")
    if where.search and where.search.strip():
        ranked = search.arms(conn, where.search)
    else:
        ranked = [search.Arm("customers c", [], [], "c.id")]
    return clauses, params, ranked


def _select(conn: sqlite3.Connection, arm: search.Arm, clauses: list[str],
            params: list[object], where: CustomerFilter, limit: int | None, now: datetime
            ) -> Iterator[dict]:
    """One rank's customers in the asked order: the ids first, by the sort key alone, then
    the columns of those rows only (a sort over many rows sorts ids, not computed columns)."""
    direction = " DESC" if where.desc else ""
    # By id, the source's own order; another key, then id among equals.
    sort_key = arm.id_order if where.sort == "id" else SORTS[where.sort]
    ties = "" if where.sort == "id" else ", c.id"
    conditions = " AND ".join([*clauses, *arm.clauses])
    now_text = stored(now)
    arrival = {f: _ARRIVAL.format(field=f) for f in ("at", "from_owner", "rule", "reason")}
    computed = (
        "coalesce(c.owner, 'pool:' || c.pool) AS holder,"
        " CASE WHEN c.owner IS NOT NULL THEN"
        "  CAST(julianday(?) - julianday(c.idle_since) AS INTEGER) END AS idle_days,"
        " trim(CASE WHEN c.frozen_until > ? THEN 'frozen ' ELSE '' END"
        " || CASE WHEN c.owner IS NOT NULL AND EXISTS (SELECT 1 FROM warnings w"
        "  WHERE w.customer_id = c.id AND w.closed_at IS NULL AND w.owner = c.owner)"
        "  THEN 'warned' ELSE '' END) AS marks,"
        f" CASE WHEN c.owner IS NULL THEN {arrival['at']} END AS waiting_since,"
        f" CASE WHEN c.owner IS NULL THEN {arrival['from_owner']} END AS previous_owner,"
        f" CASE WHEN c.owner IS NULL THEN coalesce({arrival['rule']}, {arrival['reason']})"
        " END AS came_by")
    columns = f"{', '.join('c.' + col for col in LIST_COLUMNS)}, {computed}"
    picked = (f"SELECT c.id AS picked, {sort_key} AS sort_key FROM {arm.source}"
              f" WHERE {conditions} ORDER BY {sort_key}{direction}{ties}")
    all_params = [now_text, now_text, *params, *arm.params]
    if limit is not None:
        picked += " LIMIT ?"
        all_params.append(limit)
    sql = (f"SELECT {columns} FROM ({picked}) AS pick JOIN customers c ON c.id = pick.picked"
           f" ORDER BY pick.sort_key{direction}, pick.picked")
    for row in conn.execute(sql, all_params):
        yield dict(row)
