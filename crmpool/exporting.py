"""`crmpool export`: every table out as rows, in the column names `import` reads back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

from crmpool.audit import EVENT_COLUMNS
from crmpool.customers import EXPORT_COLUMNS
from crmpool.deals import from_cents
from crmpool.errors import UsageError

CONTACT_COLUMNS = ("id", "customer_id", "at", "via", "note", "user", "next_at")
DEAL_COLUMNS = ("id", "customer_id", "amount", "stage", "at", "user", "note")
_SQL = {
    "customers": f"SELECT {', '.join(EXPORT_COLUMNS)} FROM customers ORDER BY id",
    "contacts": "SELECT id, customer_id, at, via, note, user, next_at FROM contacts ORDER BY id",
    "deals": "SELECT id, customer_id, amount_cents, stage, at, user, note FROM deals ORDER BY id",
    "events": f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id",
}
_COLUMNS = {"customers": EXPORT_COLUMNS, "contacts": CONTACT_COLUMNS, "deals": DEAL_COLUMNS,
            "events": EVENT_COLUMNS}


def export_rows(conn: sqlite3.Connection, kind: str) -> tuple[tuple[str, ...], Iterator[dict]]:
    """The columns and a stream of rows of one kind."""
    if kind not in _SQL:
        raise UsageError(f"--kind must be one of {', '.join(_SQL)}")

    def rows() -> Iterator[dict]:
        for row in conn.execute(_SQL[kind]):
            item = dict(row)
            if kind == "deals":
                item["amount"] = from_cents(item.pop("amount_cents"))
            elif kind == "customers" and item["extra"]:
                # An object in JSON, its JSON text in a CSV cell; import reads both.
                item["extra"] = json.loads(item["extra"])
            yield item

    return _COLUMNS[kind], rows()
