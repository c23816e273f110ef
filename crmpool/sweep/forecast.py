"""`crmpool forecast`: day by day, which customers go back to the pool and by which rule if
nobody acts — a rep's "what do I lose this week".

One set-based pass, not a dry-run sweep per day: for every owned, live customer each reclaim
rule's due moment (after its freeze, for a frozen customer) where the rule's other conditions
hold, the earliest of them, and the rule it belongs to (the first in file order on a tie, as
the sweep picks). Nothing is written.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from crmpool.rule_parts import OWNED_LIVE_SQL as OWNED_LIVE
from crmpool.rules import Rules
from crmpool.values import MAX_DAYS
from crmpool.when import stored

FORECAST_COLUMNS = ("day", "id", "name", "owner", "rule", "due_at", "frozen_until")
_NEVER = "9999-12-31T00:00:00Z"


def forecast(conn: sqlite3.Connection, rules: Rules, now: datetime, days: int, *,
             owner: str | None = None, team: str | None = None) -> list[dict]:
    """Customers due to go back within `days` of `now`, by local day, soonest first; those
    already due go at the next sweep and show under today."""
    if not 0 <= days <= MAX_DAYS:  # 0: only those already due, which the next sweep takes
        from crmpool.errors import UsageError

        raise UsageError(f"--days must be from 0 to {MAX_DAYS:,}")
    if not rules.reclaim:
        return []
    dues, params = [], []
    for rule in rules.reclaim:
        condition, condition_params = rule.condition_sql()
        # A freeze holds a rule back until it ends (the sweep's rule, README "Freezes").
        dues.append(f"CASE WHEN {condition} THEN CASE WHEN c.frozen_until > ?"
                    f" THEN max({rule.due_sql()}, c.frozen_until) ELSE {rule.due_sql()} END END")
        params += [*condition_params, stored(now)]
    earliest = "min(" + ", ".join(f"coalesce(due{i}, '{_NEVER}')" for i in range(len(dues))) + ")"
    if len(dues) == 1:
        earliest = f"coalesce(due0, '{_NEVER}')"
    which = " ".join(f"WHEN due{i} = first THEN ?" for i in range(len(dues)))
    filters, filter_params = [], []
    if owner:
        filters.append("c.owner = ?")
        filter_params.append(owner)
    if team:
        filters.append("c.owner IN (SELECT name FROM users WHERE team = ?)")
        filter_params.append(team)
    where = " AND ".join([OWNED_LIVE, *filters])
    sql = (
        f"SELECT date(max(first, ?), 'localtime') AS day, id, name, owner,"
        f" CASE {which} END AS rule, first AS due_at, frozen_until FROM ("
        f"  SELECT *, {earliest} AS first FROM ("
        f"   SELECT c.id, c.name, c.owner, c.frozen_until,"
        f"   {', '.join(f'{due} AS due{i}' for i, due in enumerate(dues))}"
        f"   FROM customers c WHERE {where}))"
        " WHERE first <= ? ORDER BY first, id")
    now_text = stored(now)
    all_params = [now_text, *(r.name for r in rules.reclaim), *params, *filter_params,
                  stored(now + timedelta(days=days))]
    return [dict(r) for r in conn.execute(sql, all_params)]
