"""Warnings (预警) the sweep records: customers a rule will reclaim soon, one episode each.

A warning opens when a customer enters a rule's warning window, stays open while the same
owner faces the same due day, and closes (with the run that closed it) when that stops. A
closed warning stays closed; if its condition holds again, a new one opens (only open
warnings are unique: migration 3's warnings_episode index). Set-based, inside the sweep's
transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.rules import OWNED_LIVE_SQL as OWNED_LIVE
from crmpool.rules import Rules


def record_warnings(conn: sqlite3.Connection, rules: Rules, as_of_time: datetime, as_of: str,
          run_id: int) -> tuple[dict[str, int], int]:
    """Close warnings that no longer hold, then open new ones; (new per rule, closed).

    A warning is one episode: it stays open while the same owner faces the same due day,
    and once closed stays closed; if its condition holds again, a new one opens.
    """
    warning_rules = [(rule, rule.warns_sql(as_of_time)) for rule in rules.reclaim
                     if rule.warn_days]
    names = [rule.name for rule, _ in warning_rules]
    # Rules that no longer warn (changed or gone) leave nothing open behind them.
    closed = conn.execute(
        "UPDATE warnings SET closed_at = ?, closed_run_id = ? WHERE closed_at IS NULL"
        f" AND rule NOT IN ({', '.join('?' * len(names))})", (as_of, run_id, *names)).rowcount
    counts: dict[str, int] = {}
    for rule, parts in warning_rules:
        # Open while some part still holds with the same due day; one lookup per warning.
        still = " OR ".join(
            f"EXISTS (SELECT 1 FROM customers c WHERE c.id = warnings.customer_id"
            f" AND c.owner = warnings.owner AND {OWNED_LIVE} AND {part.predicate}"
            f" AND {part.due_day} = warnings.due_day)" for part in parts)
        closed += conn.execute(
            f"UPDATE warnings SET closed_at = ?, closed_run_id = ? WHERE closed_at IS NULL"
            f" AND rule = ? AND NOT ({still})",
            (as_of, run_id, rule.name, *(p for part in parts for p in part.params)),
        ).rowcount
        counts[rule.name] = 0
        for part in parts:
            # Only open warnings are unique (warnings_episode), so this adds nothing for an
            # episode already open.
            counts[rule.name] += conn.execute(
                "INSERT OR IGNORE INTO warnings (customer_id, rule, owner, due_at, due_day,"
                f" run_id, created_at) SELECT c.id, ?, c.owner, {part.due}, {part.due_day},"
                f" ?, ? FROM customers c WHERE {OWNED_LIVE} AND {part.predicate}",
                (rule.name, run_id, as_of, *part.params),
            ).rowcount
    return counts, closed


def open_warnings(conn: sqlite3.Connection, owner: str | None = None) -> list[dict]:
    """Warnings still open for the customer's current owner, soonest due first."""
    sql = ("SELECT w.customer_id AS id, c.name, w.owner, w.rule, w.due_at, w.created_at"
           " FROM warnings w JOIN customers c ON c.id = w.customer_id"
           " WHERE w.closed_at IS NULL AND c.owner = w.owner AND c.status <> 'invalid'")
    params: list[object] = []
    if owner:
        sql += " AND w.owner = ?"
        params.append(owner)
    return [dict(r) for r in conn.execute(sql + " ORDER BY w.due_at, w.id", params)]
