"""`report lost` (流失客户 / 逾期未采购): customers who bought before and have not bought for N
days, and customers reclaimed after a won deal — a list to call back, ranked by what they
bought. `-f jsonl` carries `id`, so it pipes into `crmpool assign - --to NAME`."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from crmpool.deals import from_cents
from crmpool.reports.base import Figures
from crmpool.reports.scope import Scope
from crmpool.when import stored

COLUMNS = ("id", "name", "owner", "pool", "why", "bought", "deals_won", "last_won_at",
           "days_since")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("id", "name", "owner", "bought", "days_since", "why", "deals_won", "pool",
         "last_won_at")


def lost_report(conn: sqlite3.Connection, scope: Scope, days: int, now: datetime
                ) -> Figures:
    where, params = scope.sql("c.owner")
    cutoff = stored(now - timedelta(days=days))
    now_text = stored(now)
    rows = [dict(r) for r in conn.execute(
        "SELECT * FROM (SELECT c.id, c.name, c.owner, c.pool, w.total AS bought_cents,"
        " w.n AS deals_won, w.last AS last_won_at,"
        " CAST(julianday(?) - julianday(w.last) AS INTEGER) AS days_since,"
        " EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id AND e.action = 'reclaim'"
        "  AND e.at > w.first) AS reclaimed"
        " FROM (SELECT customer_id, sum(amount_cents) AS total, count(*) AS n, max(at) AS last,"
        "  min(at) AS first FROM deals WHERE stage = 'won' AND at <= ? GROUP BY customer_id) w"
        f" JOIN customers c ON c.id = w.customer_id WHERE c.status <> 'invalid' AND {where})"
        " WHERE last_won_at <= ? OR reclaimed ORDER BY bought_cents DESC, id",
        [now_text, now_text, *params, cutoff])]
    for row in rows:
        quiet = row["last_won_at"] <= cutoff
        row["why"] = " and ".join(
            [f"no purchase for {row['days_since']} days"] * quiet
            + ["reclaimed after buying"] * bool(row.pop("reclaimed")))
        row["bought"] = from_cents(row.pop("bought_cents"))
    figures = Figures("lost", f"Lost customers: bought before, nothing won for {days} days,"
                      " or reclaimed after buying", COLUMNS, [{c: r[c] for c in COLUMNS}
                                                              for r in rows],
                      bars=[(r["name"], float(r["bought"])) for r in rows[:20]],
                      bars_of="bought", shown=SHOWN)
    figures.notes.append("ranked by the total won; `report lost -f jsonl | crmpool assign -"
                         " --to NAME` hands them to someone")
    return figures
