"""`crmpool sweep --undo RUN`: put back exactly what one sweep run did, in one transaction.

Owners, assignment times and pools of the customers it reclaimed (after taking back what its
`[[distribute]]` rules handed out), the freezes it lifted, the
warnings it opened (removed) and closed (opened again). A customer with any event after the
run changed again since, and is left alone and listed. The undo writes one event per change,
naming the run, and marks the run undone: its reclaims no longer start a cooldown
(policy.check_cooldown) and a second undo is refused. Set-based, like the sweep.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.errors import NotFound, Refused
from crmpool.store import Rollback, transaction
from crmpool.users import User, require_role
from crmpool.when import local_display, stored

UNDO_COLUMNS = ("id", "action", "result", "message")
_ITEMS = """CREATE TEMP TABLE IF NOT EXISTS undo_items (event_id INTEGER PRIMARY KEY,
    customer_id INTEGER, action TEXT, rule TEXT, from_owner TEXT, from_pool TEXT,
    from_assigned_at TEXT, from_frozen_until TEXT, from_freeze_reason TEXT,
    changed_by INTEGER, blocked TEXT, to_owner TEXT)"""


def undo_run(conn: sqlite3.Connection, actor: User, run_id: int, now: datetime, *,
             dry_run: bool = False) -> tuple[dict, list[dict]]:
    """Undo run `run_id` (an admin's); returns the run and one row per change it made."""
    require_role(actor, "admin", to="undo a sweep run")
    at = stored(now)
    with transaction(conn):
        run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if run is None:
            raise NotFound(f"no sweep run {run_id} (crmpool runs lists them)")
        if run["undone_at"]:
            raise Refused(f"run {run_id} was already undone on"
                          f" {local_display(run['undone_at'])} by {run['undone_by']}")
        conn.execute(_ITEMS)
        conn.execute("DELETE FROM temp.undo_items")
        last = conn.execute("SELECT max(id) FROM events WHERE run_id = ?",
                            (run_id,)).fetchone()[0] or 0
        conn.execute(
            "INSERT INTO temp.undo_items SELECT e.id, e.customer_id, e.action, e.rule,"
            " e.from_owner, e.from_pool, e.from_assigned_at, e.from_frozen_until,"
            " e.from_freeze_reason, (SELECT min(x.id) FROM events x"
            "  WHERE x.customer_id = e.customer_id AND x.id > ?), NULL, e.to_owner"
            " FROM events e WHERE e.run_id = ? AND (e.action IN ('reclaim', 'unfreeze')"
            " OR (e.action = 'assign' AND e.distribution_id IS NOT NULL))",
            (last, run_id))
        _mark_blocked(conn)
        reason = f"undo of sweep run {run_id} (as of {run['as_of']})"
        # What its [[distribute]] rules handed out goes back to the pool first, so that the
        # reclaims under it can be put back.
        conn.execute(
            "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner,"
            " from_pool, to_pool, rule, reason, run_id) SELECT u.customer_id, ?, 'undo', ?,"
            " c.owner, NULL, NULL, c.pool, u.rule, ?, ? FROM temp.undo_items u"
            " JOIN customers c ON c.id = u.customer_id"
            " WHERE u.action = 'assign' AND u.blocked IS NULL ORDER BY u.event_id",
            (at, actor.name, reason, run_id))
        conn.execute(
            "UPDATE customers SET owner = NULL, assigned_at = NULL FROM temp.undo_items u"
            " WHERE u.customer_id = customers.id AND u.action = 'assign' AND u.blocked IS NULL")
        # Events first, while the customer still shows what the undo replaces.
        conn.execute(
            "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner,"
            " from_pool, to_pool, rule, reason, run_id) SELECT u.customer_id, ?, 'undo', ?,"
            " NULL, u.from_owner, c.pool, u.from_pool, u.rule, ?, ? FROM temp.undo_items u"
            " JOIN customers c ON c.id = u.customer_id"
            " WHERE u.action = 'reclaim' AND u.blocked IS NULL ORDER BY u.event_id",
            (at, actor.name, reason, run_id))
        conn.execute(
            "UPDATE customers SET owner = u.from_owner, assigned_at = u.from_assigned_at,"
            " pool = u.from_pool FROM temp.undo_items u WHERE u.customer_id = customers.id"
            " AND u.action = 'reclaim' AND u.blocked IS NULL")
        conn.execute(
            "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason,"
            " run_id) SELECT u.customer_id, ?, 'freeze', ?, c.owner, c.owner,"
            " 'until ' || u.from_frozen_until || ': ' || coalesce(u.from_freeze_reason, '')"
            " || ' (' || ? || ')', ? FROM temp.undo_items u JOIN customers c"
            " ON c.id = u.customer_id WHERE u.action = 'unfreeze' AND u.blocked IS NULL"
            " ORDER BY u.event_id", (at, actor.name, reason, run_id))
        conn.execute(
            "UPDATE customers SET frozen_until = u.from_frozen_until,"
            " freeze_reason = u.from_freeze_reason FROM temp.undo_items u"
            " WHERE u.customer_id = customers.id AND u.action = 'unfreeze'"
            " AND u.blocked IS NULL")
        # The run's new warnings never were; those it closed are open again (unless the same
        # episode was opened again since).
        # Warning rules look at every customer again on the next run (time went back).
        conn.execute("DELETE FROM warn_rule_state")
        # Its messages not yet sent never go; a warning it raised falls back.
        conn.execute("DELETE FROM notifications WHERE run_id = ? AND status <> 'sent'",
                     (run_id,))
        warnings_removed = conn.execute("DELETE FROM warnings WHERE run_id = ?",
                                        (run_id,)).rowcount
        conn.execute("UPDATE warnings SET level = from_level, from_level = NULL,"
                     " risen_at = NULL, risen_run_id = NULL WHERE risen_run_id = ?", (run_id,))
        warnings_reopened = conn.execute(
            "UPDATE warnings SET closed_at = NULL, closed_run_id = NULL, close_reason = NULL"
            " WHERE closed_run_id = ?"
            " AND NOT EXISTS (SELECT 1 FROM warnings o WHERE o.closed_at IS NULL"
            " AND o.customer_id = warnings.customer_id AND o.rule = warnings.rule"
            " AND o.due_day = warnings.due_day)", (run_id,)).rowcount
        conn.execute("UPDATE runs SET undone_at = ?, undone_by = ? WHERE id = ?",
                     (at, actor.name, run_id))
        rows = [_row(r) for r in conn.execute(
            "SELECT * FROM temp.undo_items ORDER BY event_id")]
        summary = {"run_id": run_id, "as_of": run["as_of"], "dry_run": dry_run,
                   "restored": sum(r["result"] == "restored" for r in rows),
                   "left_alone": sum(r["result"] == "left alone" for r in rows),
                   "warnings_removed": warnings_removed,
                   "warnings_reopened": warnings_reopened}
        conn.execute("DELETE FROM temp.undo_items")
        if dry_run:
            raise Rollback
    return summary, rows


def _mark_blocked(conn: sqlite3.Connection) -> None:
    """Say why a change cannot be put back; NULL where it can."""
    conn.execute(
        "UPDATE temp.undo_items SET blocked = 'changed again since the run (event '"
        " || changed_by || ')' WHERE changed_by IS NOT NULL")
    conn.execute(
        "UPDATE temp.undo_items SET blocked = 'its previous owner ' || from_owner"
        " || ' is no longer active' WHERE blocked IS NULL AND action = 'reclaim'"
        " AND from_owner NOT IN (SELECT name FROM users WHERE active = 1)")
    conn.execute(
        "UPDATE temp.undo_items SET blocked = 'the run predates undo records (migration 3)'"
        " WHERE blocked IS NULL AND ((action = 'reclaim' AND from_assigned_at IS NULL)"
        " OR (action = 'unfreeze' AND from_frozen_until IS NULL))")
    conn.execute(
        "UPDATE temp.undo_items SET blocked = 'it has an owner again' WHERE blocked IS NULL"
        " AND action = 'reclaim' AND (SELECT owner FROM customers c"
        " WHERE c.id = customer_id) IS NOT NULL AND customer_id NOT IN (SELECT customer_id"
        " FROM temp.undo_items WHERE action = 'assign' AND changed_by IS NULL)")


def _row(item: sqlite3.Row) -> dict:
    if item["blocked"]:
        return {"id": item["customer_id"], "action": item["action"], "result": "left alone",
                "message": item["blocked"]}
    if item["action"] == "reclaim":
        message = f"back to {item['from_owner']} (reclaimed by rule {item['rule']!r})"
    elif item["action"] == "assign":
        message = (f"taken back from {item['to_owner']} (handed out by rule"
                   f" {item['rule']!r})")
    else:
        message = f"frozen again until {local_display(item['from_frozen_until'])}"
    return {"id": item["customer_id"], "action": item["action"], "result": "restored",
            "message": message}
