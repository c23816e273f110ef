"""Follow-ups (跟进记录): a logged contact stops the idle clock; a future one is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from crmpool.choices import VIAS  # noqa: F401 - re-exported for callers
from crmpool.errors import InputError
from crmpool.outcomes import Outcome, for_each_id
from crmpool.policy import load_customer, require_access, require_live
from crmpool.users import User
from crmpool.when import local_display, stored


def log_contact(conn: sqlite3.Connection, actor: User, ids: Iterable[int], now: datetime, *,
                via: str = "call", note: str | None = None, at: datetime | None = None,
                next_at: datetime | None = None) -> list[Outcome]:
    """Log one contact per customer, by its owner, their manager or an admin."""
    at = at or now
    if at > now:
        # A future time would stop the idle clock for contacts that have not happened.
        raise InputError(f"--at {local_display(stored(at))} is in the future; log contacts"
                         " once they have happened")
    when = stored(at)

    def one(customer_id: int) -> str:
        customer = load_customer(conn, customer_id)
        require_access(conn, actor, customer, "log contacts on it")
        require_live(customer)
        conn.execute(
            "INSERT INTO contacts (customer_id, at, via, note, user, next_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (customer_id, when, via, note, actor.name, next_at and stored(next_at), stored(now)),
        )
        conn.execute(
            "UPDATE customers SET last_contact_at = max(coalesce(last_contact_at, ''), ?),"
            " next_contact_at = coalesce(?, next_contact_at) WHERE id = ?",
            (when, next_at and stored(next_at), customer_id),
        )
        return f"logged a {via} with {customer['name']}"

    return for_each_id(conn, ids, one, "logged")
