"""`report sales` (销售统计): won amount per period by region, industry or level, beside the
same period a year before — the sales-history statistics. Deals keep their own dates (an
imported deals file's date column is the deal's time)."""

from __future__ import annotations

import sqlite3

from crmpool.deals import from_cents
from crmpool.reports.base import Figures, Period
from crmpool.reports.scope import Scope

GROUPS = ("region", "industry", "level")
COLUMNS = ("period", "group", "deals", "amount", "year_before", "change_pct")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("period", "group", "amount", "year_before", "change_pct", "deals")


def sales_report(conn: sqlite3.Connection, period: Period, scope: Scope, group: str
                 ) -> Figures:
    if group not in GROUPS:
        from crmpool.errors import UsageError

        raise UsageError(f"--group must be one of {', '.join(GROUPS)}")
    where, params = scope.sql("d.user")

    def sums(at: str) -> dict[tuple[str, str], tuple[int, int]]:
        """Won deals whose time `at` (the deal's, or a year on) falls in the period."""
        return {(b, g): (n, cents) for b, g, n, cents in conn.execute(
            f"SELECT {period.bucket(at)} AS b, coalesce(c.{group}, '(none)') AS g, count(*),"
            " sum(d.amount_cents) FROM deals d JOIN customers c ON c.id = d.customer_id"
            f" WHERE d.stage = 'won' AND {at} >= ? AND {at} < ? AND {where}"
            " GROUP BY b, g", [period.since_text, period.until_text, *params])}

    now_sums = sums("d.at")
    # The same days a calendar year before, in the buckets they fall in a year on.
    before = sums("strftime('%Y-%m-%dT%H:%M:%SZ', d.at, '+1 year')")
    rows = []
    buckets = {b for b, _ in now_sums}
    for key in sorted(set(now_sums) | {k for k in before if k[0] in buckets}):
        n, cents = now_sums.get(key, (0, 0))
        _, old = before.get(key, (0, 0))
        rows.append({"period": key[0], "group": key[1], "deals": n, "amount": from_cents(cents),
                     "year_before": from_cents(old),
                     "change_pct": round(100 * (cents - old) / old, 1) if old else None})
    by_group: dict[str, float] = {}
    for row in rows:
        by_group[row["group"]] = by_group.get(row["group"], 0) + float(row["amount"])
    figures = Figures("sales", f"Sales by {group} and {period.by}, beside a year before",
                      COLUMNS, rows, period, bars=sorted(by_group.items(), key=lambda g: -g[1]),
                      bars_of=f"won amount by {group}", shown=SHOWN)
    figures.notes.append("won deals by the time they were won; year_before: the same"
                         f" {period.by} a year earlier")
    return figures

