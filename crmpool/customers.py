"""Customers (客户): add one, query many, show one whole, mark dead records invalid (无效)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from crmpool import audit
from crmpool.deals import from_cents
from crmpool.errors import Refused, UsageError
from crmpool.listing import LIST_COLUMNS
from crmpool.normalize import company_id_key, email_key, name_key, phone_key
from crmpool.outcomes import Outcome, for_each_id
from crmpool.policy import check_cap, load_customer, manages, require_access
from crmpool.pools import DEFAULT_POOL, require_pool
from crmpool.ruleset import active_limits
from crmpool.store import transaction
from crmpool.users import User, get_user, require_role
from crmpool.when import stored

# What `export` writes: everything `import` reads back.
EXPORT_COLUMNS = (*LIST_COLUMNS, "freeze_reason", "won_at", "invalid_reason", "created_at",
                  "extra")
KEY_FIELDS = (("phone_key", "phone"), ("email_key", "e-mail"), ("company_id_key", "company id"),
              ("name_key", "company name"))


def keys_of(name: str | None, phone: str | None, email: str | None,
            company_id: str | None) -> dict[str, str | None]:
    """The normalised duplicate-check keys of one customer."""
    return {"name_key": name_key(name), "phone_key": phone_key(phone),
            "email_key": email_key(email), "company_id_key": company_id_key(company_id)}


def find_duplicates(conn: sqlite3.Connection, keys: dict[str, str | None]) -> list[dict]:
    """Existing customers sharing any key with `keys`, with what they share."""
    found: dict[int, dict] = {}
    for column, label in KEY_FIELDS:
        if not keys.get(column):
            continue
        # `column` comes from the fixed KEY_FIELDS list.
        for row in conn.execute(
            f"SELECT id, name, owner, pool FROM customers WHERE {column} = ?"
            " AND status <> 'invalid'",
            (keys[column],),
        ):
            entry = found.setdefault(row["id"], dict(row) | {"same": []})
            entry["same"].append(label)
    return list(found.values())


def describe_duplicate(dup: dict) -> str:
    """`#12 Acme (owned by li, same phone)` for messages."""
    holder = f"owned by {dup['owner']}" if dup["owner"] else f"in the {dup['pool']!r} pool"
    return f"#{dup['id']} {dup['name']} ({holder}, same {' and '.join(dup['same'])})"


def add_customer(conn: sqlite3.Connection, actor: User, now: datetime, name: str, *,
                 phone: str | None = None, email: str | None = None,
                 company_id: str | None = None, level: str | None = None,
                 region: str | None = None, industry: str | None = None,
                 owner: str | None = None, pool: str | None = None,
                 allow_duplicate: bool = False) -> dict:
    """Add one customer: owned by `owner` (default: the actor) or waiting in `pool`."""
    if not name or not name.strip():
        raise UsageError("a customer needs a name")
    if owner and pool:
        raise UsageError("give --owner or --pool, not both")
    with transaction(conn):
        if pool:
            require_role(actor, "manager", "admin",
                         to="add customers to a pool (a rep adds customers for themselves)")
            require_pool(conn, pool)
        else:
            owner = owner or actor.name
            user = get_user(conn, owner)
            if not user.active:
                raise Refused(f"{owner} is inactive and cannot be given customers")
            if not manages(conn, actor, owner):
                raise Refused(f"only {owner}, their manager or an admin can add customers for"
                              f" {owner}")
            check_cap(conn, user, active_limits(conn), you=owner == actor.name)
        keys = keys_of(name, phone, email, company_id)
        duplicates = find_duplicates(conn, keys)
        if duplicates and not allow_duplicate:
            raise Refused("looks like a customer already here: "
                          + "; ".join(describe_duplicate(d) for d in duplicates)
                          + " (add --allow-duplicate if it is really another customer)")
        cursor = conn.execute(
            "INSERT INTO customers (name, phone, email, company_id, level, region, industry,"
            " owner, pool, status, created_at, assigned_at, name_key, phone_key, email_key,"
            " company_id_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
            (name.strip(), phone, email, company_id, level, region, industry,
             None if pool else owner, pool or DEFAULT_POOL, stored(now),
             None if pool else stored(now), keys["name_key"], keys["phone_key"],
             keys["email_key"], keys["company_id_key"]),
        )
        customer_id = cursor.lastrowid
        audit.record(conn, customer_id, "create", actor.name, now,
                     to_owner=None if pool else owner, to_pool=pool or DEFAULT_POOL)
    return customer_row(conn, customer_id)


def customer_row(conn: sqlite3.Connection, customer_id: int) -> dict:
    """One customer as `list` prints it."""
    row = load_customer(conn, customer_id)
    return {column: row[column] for column in LIST_COLUMNS}


def show_customer(conn: sqlite3.Connection, customer_id: int) -> dict:
    """One customer with its contacts, deals and ownership history."""
    row = load_customer(conn, customer_id)
    shown = {column: row[column] for column in EXPORT_COLUMNS}
    shown["extra"] = json.loads(shown["extra"]) if shown["extra"] else None
    shown["contacts"] = [dict(r) for r in conn.execute(
        "SELECT id, at, via, note, user, next_at FROM contacts WHERE customer_id = ?"
        " ORDER BY at, id", (customer_id,))]
    shown["deals"] = [
        dict(r) | {"amount": from_cents(r["amount_cents"])}
        for r in conn.execute(
            "SELECT id, amount_cents, stage, at, user, note FROM deals WHERE customer_id = ?"
            " ORDER BY at, id", (customer_id,))
    ]
    for deal in shown["deals"]:
        del deal["amount_cents"]
    shown["history"] = audit.history(conn, customer_id)
    return shown


def mark_invalid(conn: sqlite3.Connection, actor: User, ids: Iterable[int], reason: str,
                 now: datetime) -> list[Outcome]:
    """Mark dead records (wrong number, closed company): out of every list and every rule."""
    if not reason.strip():
        raise UsageError("--reason must say why the record is invalid")

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        if customer["status"] == "invalid":
            raise Refused(f"customer {customer_id} is already marked invalid")
        require_access(conn, actor, customer, "mark it invalid")
        conn.execute(
            "UPDATE customers SET status = 'invalid', invalid_reason = ? WHERE id = ?",
            (reason, customer_id),
        )
        audit.record(conn, customer_id, "invalid", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"], reason=reason)
        return f"marked {customer['name']} invalid"

    return for_each_id(conn, ids, one, "marked invalid")
