"""Changing a customer's record: `edit` its fields, `restore` one marked invalid.

Each change goes through the same policy as every other (owner, their manager, an admin),
recomputes the duplicate keys (a change that makes the customer look like another is
refused unless allowed), and writes an event with every field's old and new value.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from crmpool import audit
from crmpool.errors import Refused, UsageError
from crmpool.outcomes import Outcome, for_each_id
from crmpool.policy import load_customer, require_access, require_live
from crmpool.store import transaction
from crmpool.users import User, require_role

# Fields `edit` may change, each with its option; anything else --set puts in `extra`.
EDITABLE = ("name", "phone", "email", "company_id", "level", "region", "industry")
MAX_TEXT = 1000  # characters in one field


def _shown(value: object) -> str:
    text = "" if value is None else str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def edit_customer(conn: sqlite3.Connection, actor: User, customer_id: int, now: datetime, *,
                  fields: dict[str, str | None], extra: dict[str, str | None],
                  allow_duplicate: bool = False) -> dict:
    """Change fields (None or "" clears one; a name cannot be cleared) and extra keys."""
    from crmpool.customers import customer_row, describe_duplicate, find_duplicates, keys_of

    unknown = [f for f in fields if f not in EDITABLE]
    if unknown:
        raise UsageError(f"{unknown[0]!r} is not a field edit changes")
    for field, value in [*fields.items(), *extra.items()]:
        if value is not None and (len(value) > MAX_TEXT or "\0" in value):
            raise UsageError(f"--{field.replace('_', '-')}: at most {MAX_TEXT:,} characters,"
                             " no NUL")
    if not fields and not extra:
        raise UsageError("nothing to change: give --name, --phone, … or --set KEY=VALUE")
    if "name" in fields and not (fields["name"] or "").strip():
        raise UsageError("--name: a customer needs a name")
    with transaction(conn):
        customer = load_customer(conn, customer_id)
        require_access(conn, actor, customer, "edit it")
        require_live(customer)
        new = {f: (v.strip() if f == "name" else v) or None for f, v in fields.items()}
        changes = {f: (customer[f], v) for f, v in new.items() if customer[f] != v}
        stored_extra = json.loads(customer["extra"]) if customer["extra"] else {}
        merged = dict(stored_extra)
        for key, value in extra.items():
            if value in (None, ""):
                merged.pop(key, None)
            else:
                merged[key] = value
        for key in sorted(set(stored_extra) | set(merged)):
            if stored_extra.get(key) != merged.get(key):
                changes[f"extra.{key}"] = (stored_extra.get(key), merged.get(key))
        if not changes:
            return customer_row(conn, customer_id) | {"changed": []}
        after = {f: new.get(f, customer[f]) for f in ("name", "phone", "email", "company_id")}
        keys = keys_of(after["name"], after["phone"], after["email"], after["company_id"])
        duplicates = [d for d in find_duplicates(conn, keys) if d["id"] != customer_id]
        if duplicates and not allow_duplicate and any(f in changes for f in after):
            raise Refused("that would make it look like another customer: "
                          + "; ".join(describe_duplicate(d) for d in duplicates)
                          + " (add --allow-duplicate if it is really another customer)")
        columns = {**new, **keys, "extra": json.dumps(merged, ensure_ascii=False)
                   if merged else None}
        # Column names come from EDITABLE and the key names, never from user text.
        conn.execute(f"UPDATE customers SET {', '.join(f'{c} = ?' for c in columns)}"
                     " WHERE id = ?", (*columns.values(), customer_id))
        audit.record(conn, customer_id, "edit", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"],
                     reason="; ".join(f"{f}: {_shown(old)} -> {_shown(value)}"
                                      for f, (old, value) in changes.items()))
    return customer_row(conn, customer_id) | {"changed": sorted(changes)}


def restore(conn: sqlite3.Connection, actor: User, ids: Iterable[int],
            now: datetime) -> list[Outcome]:
    """Undo `invalid` (a manager or an admin): the customer is back in every list and rule."""

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if customer["status"] != "invalid":
            raise Refused(f"customer {customer_id} is not marked invalid")
        if customer["merged_into"]:
            raise Refused(f"customer {customer_id} was merged into {customer['merged_into']};"
                          " its history lives there now")
        if customer["owner"] is not None:  # a pool customer is any manager's to restore
            require_access(conn, actor, customer, "restore it")
        status = "won" if customer["won_at"] else "active"
        conn.execute("UPDATE customers SET status = ?, invalid_reason = NULL WHERE id = ?",
                     (status, customer_id))
        audit.record(conn, customer_id, "restore", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"],
                     reason=f"was invalid: {customer['invalid_reason'] or ''}")
        return f"restored {customer['name']} ({status})"

    return for_each_id(conn, ids, one, "restored",
                       before=lambda: require_role(actor, "manager", "admin",
                                                   to="restore customers"))
