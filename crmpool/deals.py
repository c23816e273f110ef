"""Deals (成交 / 签单): money as integer cents, open, won or lost."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool import audit
from crmpool.errors import InputError, Refused, UsageError
from crmpool.policy import load_customer, require_access
from crmpool.store import transaction
from crmpool.users import User
from crmpool.values import parse_amount, parse_stage
from crmpool.when import stored


def from_cents(cents: int | None) -> str | None:
    """Cents as an exact decimal string: 1234550 -> '12345.50'."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def record_deal(conn: sqlite3.Connection, actor: User, customer_id: int, amount: str,
                now: datetime, *, stage: str = "open", at: datetime | None = None,
                note: str | None = None) -> dict:
    """Record a deal for a customer its owner, their manager or an admin may act on."""
    try:
        cents = parse_amount(amount)
    except ValueError as exc:
        raise UsageError(f"--amount: {exc}") from None
    try:
        stage = parse_stage(stage)
    except ValueError as exc:
        raise UsageError(f"--stage: {exc}") from None
    at = at or now
    if at > now and stage != "open":
        raise InputError("--at is in the future: a deal is won or lost once it has happened")
    with transaction(conn):
        customer = load_customer(conn, customer_id)
        require_access(conn, actor, customer, "record deals on it")
        if customer["status"] == "invalid":
            raise Refused(f"customer {customer_id} is marked invalid")
        cursor = conn.execute(
            "INSERT INTO deals (customer_id, amount_cents, stage, at, user, note, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (customer_id, cents, stage, stored(at), actor.name, note, stored(now)),
        )
        if stage == "won":
            conn.execute(
                "UPDATE customers SET status = 'won', won_at = max(coalesce(won_at, ''), ?)"
                " WHERE id = ?",
                (stored(at), customer_id),
            )
            if customer["status"] != "won":
                audit.record(conn, customer_id, "won", actor.name, now,
                             from_owner=customer["owner"], to_owner=customer["owner"],
                             reason=f"deal {cursor.lastrowid}: {from_cents(cents)}")
    return {"id": cursor.lastrowid, "customer_id": customer_id, "amount": from_cents(cents),
            "stage": stage, "at": stored(at), "user": actor.name}
