"""`report ageing` (账龄): owned customers by days since the idle clock last restarted (the
later of the last contact and the assignment, as the reclaim rules count), per owner. The
buckets add up to the owned total."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.reports.base import Figures
from crmpool.reports.scope import Scope
from crmpool.when import stored

BUCKETS = (("d0_7", None, 7), ("d8_14", 8, 14), ("d15_30", 15, 30), ("d31_60", 31, 60),
           ("d61_90", 61, 90), ("over_90", 91, None))
COLUMNS = ("owner", "team", *(b[0] for b in BUCKETS), "owned")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("owner", "d0_7", "d8_14", "d15_30", "d31_60", "d61_90", "over_90", "owned",
         "team")


def ageing_report(conn: sqlite3.Connection, scope: Scope, now: datetime) -> Figures:
    where, params = scope.sql("c.owner")
    days = "CAST(julianday(?) - julianday(c.idle_since) AS INTEGER)"
    cases = ", ".join(
        f"sum({days} <= {high}) AS {name}" if low is None
        else f"sum({days} BETWEEN {low} AND {high}) AS {name}" if high is not None
        else f"sum({days} >= {low}) AS {name}" for name, low, high in BUCKETS)
    now_text = stored(now)
    rows = [dict(r) for r in conn.execute(
        f"SELECT c.owner, u.team, {cases}, count(*) AS owned FROM customers c"
        " LEFT JOIN users u ON u.name = c.owner"
        f" WHERE c.owner IS NOT NULL AND c.status <> 'invalid' AND {where}"
        " GROUP BY c.owner, u.team ORDER BY coalesce(u.team, ''), c.owner",
        [now_text] * len(BUCKETS) + params)]
    for row in rows:
        for name, _, _ in BUCKETS:
            row[name] = row[name] or 0
    if len(rows) > 1:
        rows.append({"owner": "all", "team": None,
                     **{c: sum(r[c] for r in rows) for c in COLUMNS[2:]}})
    total = rows[-1] if rows else {}
    figures = Figures("ageing", "Ageing: days since the last contact or assignment", COLUMNS,
                      rows, bars=[(name, total.get(name, 0)) for name, _, _ in BUCKETS],
                      bars_of="owned customers by days", shown=SHOWN)
    figures.notes.append("days since the later of the last contact and the assignment;"
                         " a future contact time counts as 0")
    return figures
