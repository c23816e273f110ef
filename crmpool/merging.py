"""`crmpool merge KEEP OTHER...`: fold duplicate records (撞单) into one, keeping their history.

Contacts, deals and warnings move to KEEP (the others' open warnings are closed first: the
next sweep opens KEEP's own), KEEP's empty fields are filled from the others in the order
given, its idle clock and won state take the latest of all, and the others are marked invalid
and merged into KEEP (kept for the audit trail, out of every list and rule). One transaction,
an event on each side. A manager merges their team's and the pool's customers; an admin any.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from crmpool import audit
from crmpool.errors import Refused, UsageError
from crmpool.policy import load_customer, manages, require_live
from crmpool.store import transaction
from crmpool.users import User, require_role
from crmpool.when import stored

FILLED = ("phone", "email", "company_id", "level", "region", "industry", "next_contact_at")


def _check(conn: sqlite3.Connection, actor: User, customer: sqlite3.Row) -> None:
    require_live(customer)
    if customer["owner"] is not None and not manages(conn, actor, customer["owner"]):
        raise Refused(f"customer {customer['id']} belongs to {customer['owner']}, who is not in"
                      " your team")


def merge(conn: sqlite3.Connection, actor: User, keep_id: int, other_ids: list[int],
          now: datetime) -> dict:
    """Merge `other_ids` into `keep_id`; returns what moved."""
    others = list(dict.fromkeys(other_ids))
    if not others:
        raise UsageError("name the customers to merge into KEEP: merge KEEP OTHER...")
    if keep_id in others:
        raise UsageError(f"customer {keep_id} cannot be merged into itself")
    require_role(actor, "manager", "admin", to="merge customers")
    at = stored(now)
    with transaction(conn):
        keep = load_customer(conn, keep_id)
        _check(conn, actor, keep)
        rows = [load_customer(conn, other) for other in others]
        for row in rows:
            _check(conn, actor, row)
        marks = ", ".join("?" * len(others))
        filled = {}
        for field in FILLED:
            if keep[field] is None:
                value = next((r[field] for r in rows if r[field] is not None), None)
                if value is not None:
                    filled[field] = value
        extra = {}
        for row in reversed(rows):
            extra |= json.loads(row["extra"]) if row["extra"] else {}
        extra |= json.loads(keep["extra"]) if keep["extra"] else {}
        if "phone" in filled:
            filled["phone_key"] = next(r["phone_key"] for r in rows if r["phone"] is not None)
        if "email" in filled:
            filled["email_key"] = next(r["email_key"] for r in rows if r["email"] is not None)
        if "company_id" in filled:
            filled["company_id_key"] = next(r["company_id_key"] for r in rows
                                            if r["company_id"] is not None)
        filled["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
        # Column names come from FILLED and the key names, never from user text.
        conn.execute(f"UPDATE customers SET {', '.join(f'{c} = ?' for c in filled)}"
                     " WHERE id = ?", (*filled.values(), keep_id))
        # The latest contact and win of any of them are KEEP's now.
        conn.execute(
            "UPDATE customers SET last_contact_at = (SELECT max(last_contact_at) FROM customers"
            f" WHERE id = ? OR id IN ({marks})), won_at = (SELECT max(won_at) FROM customers"
            f" WHERE id = ? OR id IN ({marks})) WHERE id = ?",
            (keep_id, *others, keep_id, *others, keep_id))
        conn.execute("UPDATE customers SET status = 'won' WHERE id = ? AND won_at IS NOT NULL",
                     (keep_id,))
        moved = {}
        for table in ("contacts", "deals"):
            moved[table] = conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id"
                                        f" IN ({marks})", (keep_id, *others)).rowcount
        conn.execute(f"UPDATE warnings SET closed_at = ? WHERE closed_at IS NULL"
                     f" AND customer_id IN ({marks})", (at, *others))
        moved["warnings"] = conn.execute(f"UPDATE warnings SET customer_id = ? WHERE"
                                         f" customer_id IN ({marks})",
                                         (keep_id, *others)).rowcount
        for row in rows:
            conn.execute("UPDATE customers SET status = 'invalid', merged_into = ?,"
                         " invalid_reason = ?, frozen_until = NULL, freeze_reason = NULL"
                         " WHERE id = ?", (keep_id, f"merged into {keep_id}", row["id"]))
            audit.record(conn, row["id"], "merge", actor.name, now, from_owner=row["owner"],
                         to_owner=row["owner"], reason=f"merged into {keep_id}")
        audit.record(conn, keep_id, "merge", actor.name, now, from_owner=keep["owner"],
                     to_owner=keep["owner"],
                     reason=f"merged in {', '.join(str(o) for o in others)}; filled"
                            f" {', '.join(f for f in filled if f in FILLED) or 'nothing'}")
    return {"keep": keep_id, "merged": others, **moved,
            "filled": [f for f in filled if f in FILLED]}
