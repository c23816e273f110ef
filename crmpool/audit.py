"""The append-only audit trail: one `events` row per change of owner, pool, status or freeze."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from crmpool.choices import EVENT_ACTIONS
from crmpool.errors import UsageError
from crmpool.when import stored

EVENT_COLUMNS = ("id", "customer_id", "at", "action", "actor", "from_owner", "to_owner",
                 "from_pool", "to_pool", "rule", "reason", "run_id", "distribution_id")


def record(conn: sqlite3.Connection, customer_id: int | None, action: str, actor: str,
           now: datetime, *, from_owner: str | None = None, to_owner: str | None = None,
           from_pool: str | None = None, to_pool: str | None = None, rule: str | None = None,
           reason: str | None = None, run_id: int | None = None) -> None:
    """Append one event."""
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, from_pool,"
        " to_pool, rule, reason, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (customer_id, stored(now), action, actor, from_owner, to_owner, from_pool, to_pool,
         rule, reason, run_id),
    )


def history(conn: sqlite3.Connection, customer_id: int) -> list[dict]:
    """Every event of one customer, oldest first."""
    rows = conn.execute(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE customer_id = ? ORDER BY at, id",
        (customer_id,),
    )
    return [dict(row) for row in rows]


def query_events(conn: sqlite3.Connection, *, since: datetime | None = None,
                 action: str | None = None, user: str | None = None,
                 limit: int | None = None) -> Iterator[dict]:
    """Events, oldest first; `user` matches the actor or either owner."""
    where, params = _events_where(conn, since, action, user)
    tail = " LIMIT ?" if limit else ""
    if limit:
        params.append(limit)
    sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events {where} ORDER BY at, id{tail}"
    for row in conn.execute(sql, params):
        yield dict(row)


def count_events(conn: sqlite3.Connection, *, since: datetime | None = None,
                 action: str | None = None, user: str | None = None) -> int:
    where, params = _events_where(conn, since, action, user)
    return conn.execute(f"SELECT count(*) FROM events {where}", params).fetchone()[0]


def _events_where(conn: sqlite3.Connection, since: datetime | None, action: str | None,
                  user: str | None) -> tuple[str, list[object]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("at >= ?")
        params.append(stored(since))
    if action:
        if action not in EVENT_ACTIONS:
            raise UsageError(f"--action {action!r}: not an action; one of"
                             f" {', '.join(EVENT_ACTIONS)}")
        clauses.append("action = ?")
        params.append(action)
    if user:
        from crmpool.users import get_user

        if user != "sweep":
            get_user(conn, user)  # an unknown name is a refusal, not an empty answer
        clauses.append("(actor = ? OR from_owner = ? OR to_owner = ?)")
        params.extend([user, user, user])
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
