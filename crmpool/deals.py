"""Deals (成交 / 签单): money as integer cents, open, won or lost."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from crmpool import audit
from crmpool.errors import InputError, NotFound, Refused, UsageError
from crmpool.policy import load_customer, require_access, require_live
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


def _option(option: str, parse, text: str):
    """An option's value through its parser; a bad one is a usage error naming the option."""
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def record_deal(conn: sqlite3.Connection, actor: User, customer_id: int, amount: str,
                now: datetime, *, stage: str = "open", at: datetime | None = None,
                note: str | None = None) -> dict:
    """Record a deal for a customer its owner, their manager or an admin may act on."""
    cents = _option("--amount", parse_amount, amount)
    stage = _option("--stage", parse_stage, stage)
    at = at or now
    if at > now and stage != "open":
        raise InputError("--at is in the future: a deal is won or lost once it has happened")
    with transaction(conn):
        customer = load_customer(conn, customer_id)
        require_access(conn, actor, customer, "record deals on it")
        require_live(customer)
        cursor = conn.execute(
            "INSERT INTO deals (customer_id, amount_cents, stage, at, user, note, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (customer_id, cents, stage, stored(at), actor.name, note, stored(now)),
        )
        if stage == "won":
            _mark_won(conn, actor, customer, cursor.lastrowid, cents, at, now)
    return {"id": cursor.lastrowid, "customer_id": customer_id, "amount": from_cents(cents),
            "stage": stage, "at": stored(at), "user": actor.name}


def _mark_won(conn: sqlite3.Connection, actor: User, customer: sqlite3.Row, deal_id: int,
              cents: int, at: datetime, now: datetime) -> None:
    conn.execute("UPDATE customers SET status = 'won', won_at = max(coalesce(won_at, ''), ?)"
                 " WHERE id = ?", (stored(at), customer["id"]))
    if customer["status"] != "won":
        audit.record(conn, customer["id"], "won", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"],
                     reason=f"deal {deal_id}: {from_cents(cents)}")


def close_deal(conn: sqlite3.Connection, actor: User, deal_id: int, stage: str, now: datetime,
               *, amount: str | None = None, at: datetime | None = None) -> dict:
    """Close an open deal as won or lost (its amount may be settled now); a won one marks
    its customer won. Closing, not a second deal, so the money is counted once."""
    stage = _option("--stage", lambda text: parse_stage(text, default=None), stage)
    if stage == "open":
        raise UsageError("--stage: a deal is closed as won or lost")
    cents = None if amount is None else _option("--amount", parse_amount, amount)
    at = at or now
    if at > now:
        raise InputError("--at is in the future: a deal is won or lost once it has happened")
    with transaction(conn):
        deal = conn.execute("SELECT * FROM deals WHERE id = ?", (deal_id,)).fetchone()
        if deal is None:
            raise NotFound(f"no deal with id {deal_id} (show CUSTOMER lists its deals)")
        customer = load_customer(conn, deal["customer_id"])
        require_access(conn, actor, customer, "close its deals")
        if deal["stage"] != "open":
            raise Refused(f"deal {deal_id} is already {deal['stage']}")
        require_live(customer)
        cents = deal["amount_cents"] if cents is None else cents
        conn.execute("UPDATE deals SET stage = ?, amount_cents = ?, at = ? WHERE id = ?",
                     (stage, cents, stored(at), deal_id))
        audit.record(conn, customer["id"], "deal-close", actor.name, now,
                     from_owner=customer["owner"], to_owner=customer["owner"],
                     reason=f"deal {deal_id}: {stage}, {from_cents(cents)}")
        if stage == "won":
            _mark_won(conn, actor, customer, deal_id, cents, at, now)
    return {"id": deal_id, "customer_id": customer["id"], "amount": from_cents(cents),
            "stage": stage, "at": stored(at), "user": deal["user"]}


DEAL_COLUMNS = ("id", "customer_id", "customer", "amount", "stage", "at", "user", "note")


def list_deals(conn: sqlite3.Connection, *, owner: str | None = None,
               stage: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """Deals, newest first, of one owner's customers or all; of one stage or all."""
    where, params = _deals_where(conn, owner, stage)
    sql = ("SELECT d.id, d.customer_id, c.name AS customer, d.amount_cents, d.stage, d.at,"
           f" d.user, d.note {where} ORDER BY d.at DESC, d.id DESC")
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    for r in conn.execute(sql, params):
        yield dict(r) | {"amount": from_cents(r["amount_cents"])}


def count_deals(conn: sqlite3.Connection, *, owner: str | None = None,
                stage: str | None = None) -> int:
    where, params = _deals_where(conn, owner, stage)
    return conn.execute(f"SELECT count(*) {where}", params).fetchone()[0]


def _deals_where(conn: sqlite3.Connection, owner: str | None, stage: str | None
                 ) -> tuple[str, list[object]]:
    clauses, params = ["TRUE"], []
    if owner:
        from crmpool.users import get_user

        get_user(conn, owner)
        clauses.append("c.owner = ?")
        params.append(owner)
    if stage:
        params.append(_option("--stage", lambda text: parse_stage(text, default=None), stage))
        clauses.append("d.stage = ?")
    return (f"FROM deals d JOIN customers c ON c.id = d.customer_id"
            f" WHERE {' AND '.join(clauses)}", params)
