"""`report pool` (公海分析): what came into the pools and why (each reclaim rule, release,
import, add), what went out and how (claim, assign, distribute), the size at the end of each
period, and how long the customers taken out had waited.

"In a pool" is what `list --in-pool` counts: no owner and not invalid. The size at a moment is
worked back from today's count through the events after it, so the size at a period's end
minus at its start is its inflow minus its outflow, by construction; the tests hold the
worked-back sizes against counts taken at those moments.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.reports.base import Figures, Period

# Each event's move into (+1) or out of (-1) the pools, and its cause.
_MOVE = """CASE
 WHEN e.action = 'reclaim' THEN 'in:reclaim ' || coalesce(e.rule, '')
 WHEN e.action = 'release' THEN 'in:release'
 WHEN e.action IN ('create', 'import') AND e.to_owner IS NULL THEN 'in:' || e.action
 WHEN e.action = 'undo' AND e.to_owner IS NULL AND e.from_owner IS NOT NULL THEN 'in:undo'
 WHEN e.action = 'restore' AND e.from_owner IS NULL THEN 'in:restore'
 WHEN e.action = 'claim' THEN 'out:claim'
 WHEN e.action = 'assign' AND e.from_pool IS NOT NULL AND e.distribution_id IS NOT NULL
  THEN 'out:distribute'
 WHEN e.action = 'assign' AND e.from_pool IS NOT NULL THEN 'out:assign'
 WHEN e.action = 'undo' AND e.to_owner IS NOT NULL AND e.from_owner IS NULL THEN 'out:undo'
 WHEN e.action = 'invalid' AND e.from_owner IS NULL THEN 'out:invalid'
 WHEN e.action = 'merge' AND e.from_owner IS NULL AND e.reason LIKE 'merged into %'
  THEN 'out:merged'
END"""
COLUMNS = ("period", "size_start", "inflow", "outflow", "size_end", "causes",
           "avg_wait_days")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("period", "size_start", "inflow", "outflow", "size_end", "avg_wait_days",
         "causes")


def waiting_now(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM customers WHERE owner IS NULL"
                        " AND status <> 'invalid'").fetchone()[0]


def pool_report(conn: sqlite3.Connection, period: Period, now: datetime) -> Figures:
    bucket = period.bucket("e.at")
    moves = conn.execute(
        f"SELECT {bucket} AS b, move, count(*) AS n FROM (SELECT e.at, {_MOVE} AS move"
        "  FROM events e WHERE e.at >= ?) e"
        " WHERE move IS NOT NULL AND e.at < ? GROUP BY b, move ORDER BY b",
        (period.since_text, period.until_text)).fetchall()
    # Everything after the period, to work the size back from today's count.
    later = conn.execute(
        f"SELECT coalesce(sum(CASE WHEN move LIKE 'in:%' THEN 1 ELSE -1 END), 0) FROM"
        f" (SELECT {_MOVE} AS move FROM events e WHERE e.at >= ?) WHERE move IS NOT NULL",
        (period.until_text,)).fetchone()[0]
    waits = dict(conn.execute(
        f"SELECT {bucket} AS b, avg(julianday(e.at) - julianday((SELECT max(i.at) FROM events i"
        "  WHERE i.customer_id = e.customer_id AND i.at <= e.at AND i.id < e.id AND"
        "  i.action IN ('reclaim', 'release', 'create', 'import', 'undo', 'restore'))))"
        " FROM events e WHERE e.at >= ? AND e.at < ? AND (e.action = 'claim' OR"
        " (e.action = 'assign' AND e.from_pool IS NOT NULL)) GROUP BY b",
        (period.since_text, period.until_text)).fetchall())
    buckets: dict[str, dict[str, int]] = {}
    for b, move, n in moves:
        buckets.setdefault(b, {})[move] = n
    size = waiting_now(conn) - later
    rows = []
    for b in sorted(buckets, reverse=True):  # walking back from the end
        causes = buckets[b]
        inflow = sum(n for m, n in causes.items() if m.startswith("in:"))
        outflow = sum(n for m, n in causes.items() if m.startswith("out:"))
        rows.append({"period": b, "size_start": size - inflow + outflow, "inflow": inflow,
                     "outflow": outflow, "size_end": size,
                     "causes": ", ".join(f"{m} {n}" for m, n in sorted(causes.items())),
                     "avg_wait_days": round(waits[b], 1) if waits.get(b) is not None
                     else None})
        size = size - inflow + outflow
    rows.reverse()
    figures = Figures("pool", f"Pool flow by {period.by}", COLUMNS, rows, period,
                      bars=[(r["period"], r["size_end"]) for r in rows][-20:],
                      bars_of="in the pools at the end", shown=SHOWN)
    figures.series = {"in": [r["inflow"] for r in rows], "out": [r["outflow"] for r in rows],
                      "size": [r["size_end"] for r in rows]}
    figures.notes.append(f"in the pools at the start: {size}; periods without a move are"
                         " left out; avg_wait_days: of the customers taken out, since they"
                         " came in")
    return figures
