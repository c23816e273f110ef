"""`report conversion` (转化): of the customers claimed, assigned or imported in the period,
how many were won within N days of arriving, per owner and per way they came. A customer
counts once per (owner, way): the first time it came that way in the period; the total row
counts each customer once."""

from __future__ import annotations

import sqlite3

from crmpool.reports.base import Figures, Period
from crmpool.reports.scope import Scope

COLUMNS = ("owner", "way", "customers", "won", "rate_pct")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("owner", "way", "customers", "won", "rate_pct")
_ARRIVAL = """SELECT e.customer_id, coalesce(e.to_owner, '') AS owner,
    CASE WHEN e.action = 'assign' AND e.distribution_id IS NOT NULL THEN 'distribute'
         ELSE e.action END AS way, min(e.at) AS at
  FROM events e WHERE e.action IN ('claim', 'assign', 'import') AND e.at >= ? AND e.at < ?
   AND e.to_owner IS NOT NULL AND {scope}
  GROUP BY e.customer_id, e.to_owner, way"""


def conversion_report(conn: sqlite3.Connection, period: Period, scope: Scope, days: int
                      ) -> Figures:
    where, params = scope.sql("e.to_owner")
    arrival = _ARRIVAL.format(scope=where)
    won = (f"EXISTS (SELECT 1 FROM deals d WHERE d.customer_id = a.customer_id"
           f" AND d.stage = 'won' AND d.at >= a.at AND d.at <= datetime(a.at, '+{days} days'))")
    args = [period.since_text, period.until_text, *params]
    rows = [dict(r) for r in conn.execute(
        f"SELECT a.owner, a.way, count(*) AS customers, sum({won}) AS won FROM ({arrival}) a"
        " GROUP BY a.owner, a.way ORDER BY a.owner, a.way", args)]
    total = conn.execute(
        f"SELECT count(*), coalesce(sum(w), 0) FROM (SELECT a.customer_id, max({won}) AS w"
        f" FROM ({arrival}) a GROUP BY a.customer_id)", args).fetchone()
    if rows:
        rows.append({"owner": "all", "way": "any", "customers": total[0], "won": total[1]})
    for row in rows:
        row["rate_pct"] = round(100 * row["won"] / row["customers"], 1) if row["customers"] \
            else None
    figures = Figures("conversion", f"Conversion: won within {days} days of arriving",
                      COLUMNS, rows, period,
                      bars=[(f"{r['owner']} {r['way']}", r["rate_pct"] or 0) for r in rows],
                      bars_of="won, % of arrivals", shown=SHOWN)
    figures.notes.append("`all` counts each customer once, however many ways it came")
    return figures
