"""`crmpool import --kind contacts|deals`: follow-ups and deals from a file, all or nothing.

Rows are checked in Python (one parser per kind of value, crmpool/values.py), staged in a
temp table, their customers resolved in SQL, duplicates found in SQL (the old CRM's id when
the file has one, otherwise the same customer, stage, amount and time for a deal, or the same
customer, time, way and note for a contact), then inserted at once.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from crmpool.errors import InputError
from crmpool.imports.fields import Layout, RowError
from crmpool.values import parse_amount, parse_id, parse_stage, parse_via, plural
from crmpool.when import stored

CHUNK = 20_000
_STAGE = """CREATE TEMP TABLE IF NOT EXISTS import_activity (line INTEGER PRIMARY KEY,
    cid INTEGER, customer TEXT, ckey TEXT, pkey TEXT, at TEXT, kind TEXT, amount INTEGER,
    note TEXT, user TEXT, next_at TEXT, external_id TEXT, dup_of INTEGER, dup_line INTEGER)"""
# What makes two rows the same deal or contact when there is no external id; `r` is the
# staged row, `x` the stored one (`IS` so that two missing notes match).
_SAME = {
    "deals": "x.customer_id = r.cid AND x.stage = r.kind AND x.amount_cents = r.amount"
             " AND x.at = r.at",
    "contacts": "x.customer_id = r.cid AND x.at = r.at AND x.via = r.kind AND x.note IS r.note",
}

_SAME_NAMES = {"deals": ("customer", "stage", "amount", "at"),
               "contacts": ("customer", "at", "via", "note")}


def converter(kind: str, actor_name: str, users: set[str], now_text: str
              ) -> Callable[[dict, Layout], tuple]:
    """The function that turns one record into a staged row, or raises RowError."""
    deals = kind == "deals"

    def convert(record: dict, f: Layout) -> tuple:
        cell = f.cells(record)
        get = cell.get
        raw_id = get("customer_id")
        customer, phone = get("customer"), get("phone")
        if raw_id is None and customer is None and phone is None:
            raise RowError(f.where("customer"),
                           "say which customer: customer_id, customer (name) or phone")
        try:
            customer_id = None if raw_id is None else parse_id(raw_id)
        except ValueError as exc:
            raise RowError(f.where("customer_id"), str(exc)) from None
        user = get("user") or actor_name
        if user not in users:
            raise RowError(f.where("user"), f"{user!r} is not a crmpool user")
        at = f.parse_time(cell, "at", now_text)
        try:
            if deals:
                stage = parse_stage(get("stage"))
                amount_text = get("amount")
                if amount_text is None and stage != "open":
                    raise RowError(f.where("amount"), "a won or lost deal needs an amount")
                # An open deal often has no figure yet.
                kind_, amount, next_at = stage, parse_amount(amount_text or "0"), None
            else:
                kind_, amount = parse_via(get("via")), None
                next_at = f.parse_time(cell, "next_at", now_text, past=False)
        except ValueError as exc:
            field = "stage" if deals and "stage" in str(exc) else ("amount" if deals else "via")
            raise RowError(f.where(field), str(exc)) from None
        from crmpool.normalize import name_key, phone_key

        return (customer_id, customer, name_key(customer), phone_key(phone), at or now_text,
                kind_, amount, get("note"), user, next_at, get("external_id"))

    return convert


def load(conn: sqlite3.Connection, actor_name: str, source_name: str, kind: str,
         on_duplicate: str, rows: Iterator[tuple], lines: array, now: datetime,
         summary, progress: Callable[[], None] | None) -> None:
    """Stage `rows` (their lines in `lines`), resolve, de-duplicate and insert them."""
    now_text = stored(now)
    conn.execute(_STAGE)
    conn.execute("DELETE FROM temp.import_activity")
    chunk: list[tuple] = []

    def flush() -> None:
        start = len(lines) - len(chunk)
        conn.executemany(
            "INSERT INTO temp.import_activity VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " NULL, NULL)", [(lines[start + i], *row) for i, row in enumerate(chunk)])
        chunk.clear()
        if progress:
            progress()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    _resolve_customers(conn, source_name)
    _find_duplicates(conn, kind)
    _settle_duplicates(conn, kind, on_duplicate, source_name, summary)
    file_name = Path(source_name).name
    fresh = "dup_of IS NULL AND dup_line IS NULL"
    if kind == "deals":
        summary.inserted = conn.execute(
            "INSERT INTO deals (customer_id, amount_cents, stage, at, user, note, created_at,"
            f" external_id) SELECT cid, amount, kind, at, user, note, ?, external_id"
            f" FROM temp.import_activity WHERE {fresh} ORDER BY line", (now_text,)).rowcount
        _mark_won(conn, actor_name, file_name, now_text)
    else:
        summary.inserted = conn.execute(
            "INSERT INTO contacts (customer_id, at, via, note, user, next_at, created_at,"
            f" external_id) SELECT cid, at, kind, note, user, next_at, ?, external_id"
            f" FROM temp.import_activity WHERE {fresh} ORDER BY line", (now_text,)).rowcount
        conn.execute(
            "UPDATE customers SET"
            " last_contact_at = max(coalesce(customers.last_contact_at, ''), a.at),"
            " next_contact_at = coalesce(a.next_at, customers.next_contact_at)"
            " FROM (SELECT cid, max(at) AS at, max(next_at) AS next_at"
            f"       FROM temp.import_activity WHERE {fresh} GROUP BY cid) a"
            " WHERE a.cid = customers.id")
    conn.execute("DELETE FROM temp.import_activity")


def _resolve_customers(conn: sqlite3.Connection, source_name: str) -> None:
    # Each row's customer: by id, else by phone, else by name; it must be exactly one.
    conn.execute(
        """UPDATE temp.import_activity SET cid = coalesce(
               (SELECT id FROM customers c WHERE c.id = import_activity.cid),
               CASE WHEN cid IS NULL THEN coalesce(
                   (SELECT CASE WHEN count(*) = 1 THEN min(id) END FROM customers c
                      WHERE c.phone_key = import_activity.pkey),
                   (SELECT CASE WHEN count(*) = 1 THEN min(id) END FROM customers c
                      WHERE c.name_key = import_activity.ckey)) END,
               -1)""")
    missing = conn.execute(
        "SELECT line, customer FROM temp.import_activity WHERE cid = -1 ORDER BY line LIMIT 1"
    ).fetchone()
    if missing:
        count = conn.execute(
            "SELECT count(*) FROM temp.import_activity WHERE cid = -1").fetchone()[0]
        raise InputError(f"{source_name} line {missing[0]}: no single customer matches"
                         f" ({missing[1] or 'by id or phone'}); {plural(count, 'row')} unmatched,"
                         " nothing imported")


def _find_duplicates(conn: sqlite3.Connection, kind: str) -> None:
    table, same = kind, _SAME[kind]
    conn.execute(f"""UPDATE temp.import_activity AS r SET dup_of = (SELECT x.id FROM {table} x
                     WHERE x.external_id = r.external_id ORDER BY x.id LIMIT 1)
                     WHERE r.external_id IS NOT NULL""")
    conn.execute(f"""UPDATE temp.import_activity AS r SET dup_of = (SELECT x.id FROM {table} x
                     WHERE {same} ORDER BY x.id LIMIT 1) WHERE r.external_id IS NULL""")
    # Within the file: an earlier line with the same external id, or the same fields.
    conn.execute("CREATE INDEX IF NOT EXISTS temp.import_activity_ext"
                 " ON import_activity (external_id)")
    conn.execute("CREATE INDEX IF NOT EXISTS temp.import_activity_same"
                 " ON import_activity (cid, at)")
    conn.execute("""UPDATE temp.import_activity AS r SET dup_line = (SELECT min(e.line)
                    FROM temp.import_activity e WHERE e.external_id = r.external_id
                    AND e.line < r.line) WHERE r.external_id IS NOT NULL""")
    earlier = same.replace("x.customer_id", "x.cid").replace("x.stage", "x.kind").replace(
        "x.amount_cents", "x.amount").replace("x.via", "x.kind")
    conn.execute(f"""UPDATE temp.import_activity AS r SET dup_line = (SELECT min(x.line)
                     FROM temp.import_activity x WHERE {earlier} AND x.line < r.line
                     AND x.external_id IS NULL) WHERE r.external_id IS NULL""")


def _settle_duplicates(conn: sqlite3.Connection, kind: str, on_duplicate: str,
                       source_name: str, summary) -> None:
    dups = conn.execute(
        "SELECT line, dup_of, dup_line, external_id IS NOT NULL FROM temp.import_activity"
        " WHERE dup_of IS NOT NULL OR dup_line IS NOT NULL ORDER BY line").fetchall()
    if not dups:
        return
    what = kind[:-1]
    summary.duplicates = [
        {"line": line, "existing_id": None, "existing_line": None,
         "existing": f"{what} {dup_of}" if dup_of else f"line {dup_line} of this file",
         "existing_name": None, "existing_owner": None,
         "same": ["external_id"] if by_id else list(_SAME_NAMES[kind])}
        for line, dup_of, dup_line, by_id in dups]
    if on_duplicate == "fail":
        line, dup_of, dup_line, _ = dups[0]
        first = f"{what} {dup_of}" if dup_of else f"line {dup_line} of this file"
        raise InputError(f"{source_name} line {line}: the same {what} as {first};"
                         f" {plural(len(dups), 'duplicate')} in all, nothing imported"
                         " (--on-duplicate skip or update to go on)")
    if on_duplicate == "update":
        # A row naming a stored one by its external id brings its new values (the last line
        # wins); a row that matched on every field has nothing new to bring.
        latest = ("(SELECT dup_of, max(line) AS line FROM temp.import_activity"
                  " WHERE dup_of IS NOT NULL AND external_id IS NOT NULL GROUP BY dup_of) m"
                  " JOIN temp.import_activity r ON r.line = m.line")
        if kind == "deals":
            sets = "amount_cents = r.amount, stage = r.kind, at = r.at, note = r.note"
        else:
            sets = "at = r.at, via = r.kind, note = r.note, next_at = r.next_at"
        summary.updated = conn.execute(
            f"UPDATE {kind} SET {sets} FROM {latest} WHERE {kind}.id = m.dup_of").rowcount
    summary.duplicates_skipped = len(dups) - summary.updated


def _mark_won(conn: sqlite3.Connection, actor_name: str, file_name: str, now_text: str) -> None:
    """Customers with a newly imported won deal are won, with a `won` event each."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_won (cid INTEGER PRIMARY KEY,"
                 " won_at TEXT)")
    conn.execute("DELETE FROM temp.import_won")
    conn.execute("INSERT INTO temp.import_won SELECT cid, max(at) FROM temp.import_activity"
                 " WHERE kind = 'won' AND dup_of IS NULL AND dup_line IS NULL GROUP BY cid")
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason)"
        " SELECT c.id, ?, 'won', ?, c.owner, c.owner, ? FROM customers c"
        " JOIN temp.import_won w ON w.cid = c.id WHERE c.status = 'active'",
        (now_text, actor_name, f"won deal imported from {file_name}"))
    conn.execute(
        "UPDATE customers SET won_at = max(coalesce(customers.won_at, ''), w.won_at),"
        " status = CASE customers.status WHEN 'active' THEN 'won' ELSE customers.status END"
        " FROM temp.import_won w WHERE w.cid = customers.id")
