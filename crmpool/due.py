"""`crmpool due` (今日待跟进): what a rep must do today and in the next N days.

Follow-ups planned with `log --next` whose time has come (overdue ones first), customers in a
reclaim warning window (with the day they go back to the pool), the open warnings of the
`[[warn]]` rules (with their level and what they saw), and freezes that end soon.
One set-based query over the owner's customers; `now` passed in.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from crmpool.ruleset import active_rules
from crmpool.users import get_user, require_team
from crmpool.warning_rules import DETAIL_SQL
from crmpool.when import start_of_local_day, stored

DUE_COLUMNS = ("when", "what", "id", "name", "owner", "detail")


def due(conn: sqlite3.Connection, now: datetime, *, owner: str | None = None,
        team: str | None = None, days: int = 0) -> list[dict]:
    """The work due for `owner` (or everyone in `team`) until the end of day `days` from
    today, local time."""
    if owner:
        get_user(conn, owner)
        scope, params = "c.owner = ?", [owner]
    elif team:
        require_team(conn, team)
        scope, params = "c.owner IN (SELECT name FROM users WHERE team = ?)", [team]
    else:
        scope, params = "c.owner IS NOT NULL", []
    until = stored(start_of_local_day(now) + timedelta(days=days + 1))
    now_text = stored(now)
    live = f"{scope} AND c.status <> 'invalid'"
    # Reclaim warnings say when the customer goes back; a warning rule's say what it saw.
    names = [rule.name for rule in active_rules(conn).reclaim]
    reclaiming = ", ".join("?" * len(names)) or "NULL"
    sql = f"""
        SELECT c.next_contact_at AS "when",
               CASE WHEN c.next_contact_at < ? THEN 'overdue' ELSE 'follow-up' END AS what,
               c.id, c.name, c.owner,
               (SELECT 'planned ' || coalesce(k.note, '') FROM contacts k
                 WHERE k.customer_id = c.id AND k.next_at = c.next_contact_at
                 ORDER BY k.at DESC LIMIT 1) AS detail
          FROM customers c
         WHERE {live} AND c.next_contact_at IS NOT NULL AND c.next_contact_at < ?
           AND (c.last_contact_at IS NULL OR c.last_contact_at < c.next_contact_at)
        UNION ALL
        SELECT w.due_at, CASE WHEN w.rule IN ({reclaiming}) THEN 'reclaim' ELSE 'warning' END,
               c.id, c.name, c.owner,
               CASE WHEN w.rule IN ({reclaiming}) THEN 'goes back to the pool by rule ' || w.rule
               ELSE '[' || w.level || '] ' || {DETAIL_SQL} END
          FROM warnings w JOIN customers c ON c.id = w.customer_id
         WHERE {live} AND w.closed_at IS NULL AND w.owner = c.owner
        UNION ALL
        SELECT c.frozen_until, 'freeze ends', c.id, c.name, c.owner, c.freeze_reason
          FROM customers c
         WHERE {live} AND c.frozen_until > ? AND c.frozen_until < ?"""
    rows = conn.execute(sql, (now_text, *params, until, *names, *names, *params, *params,
                              now_text, until))
    found = [dict(r) for r in rows]
    # Overdue first, then today's and the coming days' in time order.
    found.sort(key=lambda r: (r["what"] != "overdue", r["when"], r["id"]))
    return found
