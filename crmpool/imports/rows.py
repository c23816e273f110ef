"""How one imported row becomes a customers row.

A bulk import runs one INSERT per row, built here once per file layout: SQLite cleans, checks
and converts every cell itself (with a few Python functions registered for times, extra
columns and the unusual forms of the duplicate keys), so Python does no per-row work beyond
reading the file. A row the INSERT refuses (a constraint, or a function raising) is explained
by `reference_row`, which applies the same rules in Python and names the column and the
reason. Both ways give the same row; tests/test_import.py checks that on generated rows.
"""

from __future__ import annotations

import json
import sqlite3
from typing import NamedTuple

from crmpool.choices import needs_guard
from crmpool.imports.fields import STATUS_WORDS, Layout, RowError
from crmpool.normalize import (
    company_id_key,
    company_id_key_sql,
    email_key,
    email_key_sql,
    name_key,
    name_key_sql,
    phone_key,
    phone_key_sql,
    register_key_functions,
)
from crmpool.values import parse_status
from crmpool.when import to_stored_time

# Columns the INSERT fills, in order; `customer_values` gives each one's SQL.
COLUMNS = ("name", "phone", "email", "company_id", "level", "region", "industry", "owner",
           "pool", "status", "assigned_at", "last_contact_at", "next_contact_at",
           "frozen_until", "freeze_reason", "won_at", "invalid_reason", "created_at", "extra",
           "name_key", "phone_key", "email_key", "company_id_key")
PLAIN_TEXT = ("phone", "email", "company_id", "level", "region", "industry", "invalid_reason")


class Context(NamedTuple):
    """What every row is checked against: fixed for one import."""

    now: str  # stored time
    users: dict[str, bool]  # name -> active
    team: set[str] | None  # owners a manager may import for; None for an admin
    pools: set[str]
    default_pool: str
    owner: str | None  # --owner: every row's owner
    date_order: str | None = None  # --date-order, for 3/4/2018
    freeze_until_most: str | None = None  # the latest freeze allowed (freeze_max_days)


def prepare(conn: sqlite3.Connection, ctx: Context) -> None:
    """Register the SQL functions and fill the temp tables the INSERT reads."""
    register_key_functions(conn)
    order = ctx.date_order

    def time(text: str | None) -> str | None:
        return None if text is None else to_stored_time(text, order)

    def past(text: str | None, now: str) -> str | None:
        value = time(text)
        if value is not None and value > now:
            raise ValueError(f"{text!r} is in the future")
        return value

    def freeze(text: str | None, now: str) -> str | None:
        value = time(text)
        if value is not None and ctx.freeze_until_most and value > ctx.freeze_until_most:
            raise ValueError("past freeze_max_days")  # reference_row says why
        return value if value is not None and value > now else None  # an ended freeze: none

    conn.create_function("crmpool_time", 1, time, deterministic=True)
    conn.create_function("crmpool_past", 2, past, deterministic=True)
    conn.create_function("crmpool_freeze", 2, freeze, deterministic=True)
    conn.create_function("crmpool_refuse", 0, _refuse)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_owners (name TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.import_owners")
    conn.executemany("INSERT INTO temp.import_owners VALUES (?)",
                     [(name,) for name, active in ctx.users.items()
                      if active and (ctx.team is None or name in ctx.team)])


def register_extra(conn: sqlite3.Connection, layout: Layout) -> str:
    """A function that builds the `extra` JSON of a row of this layout; returns its SQL."""
    if not layout.extra and "extra" not in layout.position:
        return "NULL"
    headers = layout.extra
    cells = [f"?{i}" for i in layout.extra_positions]
    # SQLite passes a function at most 127 arguments: wide files send theirs in JSON arrays.
    grouped = len(cells) > 100
    if grouped:
        cells = [f"json_array({', '.join(cells[i:i + 100])})" for i in range(0, len(cells), 100)]

    def extra(stored: str | None, *values: str) -> str | None:
        if grouped:
            values = tuple(v for group in values for v in json.loads(group))
        return merge_extra(stored, dict(zip(headers, values, strict=True)))

    conn.create_function("crmpool_extra", -1, extra, deterministic=True)
    stored = f"?{layout.position['extra']}" if "extra" in layout.position else "NULL"
    return f"crmpool_extra({', '.join([stored, *cells])})"


def settings(ctx: Context) -> list:
    """What the INSERT takes after a row's `width` cells: now, the default pool, --owner.

    Bound with every row: reading them from a one-row table instead cost about 1 us a row.
    """
    return [ctx.now, ctx.default_pool, ctx.owner]


def insert_sql(layout: Layout, width: int, extra_sql: str, fixed_owner: bool) -> str:
    """The INSERT for one row of `layout`: its `width` cells bound as ?1, ?2, … in header
    order, then the `settings`."""
    values = customer_values(layout, fixed_owner, extra_sql, now=f"?{width + 1}",
                             pool=f"?{width + 2}", owner=f"?{width + 3}")
    # SQLite wants exactly as many values as the highest ?N, and not every statement reads
    # the last setting: the WHERE names it, and is always true.
    return (f"INSERT INTO customers ({', '.join(COLUMNS)})"
            f" SELECT {', '.join(values[c] for c in COLUMNS)} WHERE ?{width + 3} IS NULL OR 1")


def _cell_sql(position: int | None) -> str:
    """One cell: `cleaned` has already trimmed it, undone the guard and made '' NULL."""
    return "NULL" if position is None else f"?{position}"


def cleaned(values: list[str]) -> list[str | None]:
    """A row's cells as the INSERT takes them: fields.clean for a whole row of text at once.
    Done here, once per cell, because an SQL expression is evaluated again wherever the
    statement repeats it (a cell feeds its column, its key and its checks)."""
    return [v[1:] if v[:1] == "'" and needs_guard(v[1:]) else v.strip() or None
            for v in values]


def customer_values(layout: Layout, fixed_owner: bool, extra_sql: str, *, now: str,
                    pool: str, owner: str) -> dict[str, str]:
    """Column -> SQL expression; `now`, `pool` and `owner` are the settings' parameters
    (`owner` is --owner, used when `fixed_owner`)."""
    cell = {field: _cell_sql(layout.position.get(field)) for field in
            ("name", *PLAIN_TEXT, "owner", "pool", "status", "assigned_at",
             "last_contact_at", "next_contact_at", "frozen_until", "freeze_reason", "won_at",
             "created_at")}
    present = layout.position.__contains__

    def past(field: str) -> str:
        c = cell[field]
        return (f"CASE WHEN {c} IS NOT NULL THEN crmpool_past({c}, {now}) END"
                if present(field) else "NULL")

    if fixed_owner:
        owner_cell = owned = owner  # checked once, up front
    elif present("owner"):
        owner_cell = cell["owner"]
        owned = (f"CASE WHEN {owner_cell} IS NULL THEN NULL WHEN {owner_cell} IN"
                 f" temp.import_owners THEN {owner_cell} ELSE crmpool_refuse() END")
    else:
        owner_cell = owned = "NULL"
    frozen = (f"crmpool_freeze({cell['frozen_until']}, {now})" if present("frozen_until")
              else "NULL")
    # An unknown status word maps to NULL, which NOT NULL refuses: the row is explained.
    status = ("'active'" if not present("status") else
              f"CASE coalesce(lower({cell['status']}), '') WHEN '' THEN 'active'"
              + "".join(f" WHEN '{word}' THEN '{status}'" for word, status in
                        STATUS_WORDS.items()) + " END")
    values = {field: cell[field] for field in ("name", *PLAIN_TEXT)}
    values |= {
        "owner": owned,
        # An unknown pool is refused by the pools foreign key.
        "pool": f"coalesce({cell['pool']}, {pool})",
        "status": status,
        # Documented: an owned row without an assignment time is assigned at the import.
        # (The owner's cell, not the checked owner: a refused owner refuses the row anyway.)
        # An unowned row's time is dropped, but still checked, as every time cell is.
        "assigned_at": f"CASE WHEN {owner_cell} IS NOT NULL"
                       f" THEN coalesce({past('assigned_at')}, {now})"
                       f" WHEN {past('assigned_at')} IS NULL THEN NULL END",
        "last_contact_at": past("last_contact_at"),
        "next_contact_at": (f"crmpool_time({cell['next_contact_at']})"
                            if present("next_contact_at") else "NULL"),
        "frozen_until": frozen,
        "freeze_reason": (f"CASE WHEN ({frozen}) IS NOT NULL THEN {cell['freeze_reason']} END"
                          if present("freeze_reason") else "NULL"),
        "won_at": past("won_at"),
        "created_at": f"coalesce({past('created_at')}, {now})",
        "extra": extra_sql,
        "name_key": name_key_sql(cell["name"]) if present("name") else "NULL",
        "phone_key": phone_key_sql(cell["phone"]) if present("phone") else "NULL",
        "email_key": email_key_sql(cell["email"]) if present("email") else "NULL",
        "company_id_key": (company_id_key_sql(cell["company_id"]) if present("company_id")
                           else "NULL"),
    }
    return values


def _refuse() -> None:
    raise ValueError("refused")  # reference_row says why


def merge_extra(stored: str | None, extra: dict) -> str | None:
    """The `extra` JSON: a stored one (from an export) updated with this file's columns."""
    extra = {k: v for k, v in extra.items() if v not in (None, "")}
    if stored:
        try:
            earlier = json.loads(stored)
        except json.JSONDecodeError:
            earlier = {"extra": stored}
        if isinstance(earlier, dict):
            extra = earlier | extra
    return json.dumps(extra, ensure_ascii=False) if extra else None


def reference_row(cells: dict, layout: Layout, ctx: Context, extra: str | None) -> dict:
    """The customers row for one record's cleaned cells, in Python; RowError names a refusal.

    The same rules as `customer_values`: used to explain a row the INSERT refused, and by the
    tests as the yardstick for the SQL.
    """
    get = cells.get
    name = get("name")
    if name is None:
        raise RowError(layout.where("name"), "every customer needs a name")
    owner = ctx.owner or get("owner")
    if owner is not None and not ctx.users.get(owner, False):
        why = "is inactive" if owner in ctx.users else "is not a crmpool user"
        raise RowError(layout.where("owner"),
                       f"{owner!r} {why} (add them first, or import without owners)")
    if owner is not None and ctx.team is not None and owner not in ctx.team:
        raise RowError(layout.where("owner"), f"{owner!r} is not in your team")
    pool = get("pool") or ctx.default_pool
    if pool not in ctx.pools:
        raise RowError(layout.where("pool"), f"no pool named {pool!r}")
    try:
        status = parse_status(get("status"))
    except ValueError as exc:
        raise RowError(layout.where("status"), str(exc)) from None
    now = ctx.now
    last_contact = layout.parse_time(cells, "last_contact_at", now)
    assigned = layout.parse_time(cells, "assigned_at", now)
    frozen = layout.parse_time(cells, "frozen_until", now, past=False)
    if frozen is not None and ctx.freeze_until_most and frozen > ctx.freeze_until_most:
        raise RowError(layout.where("frozen_until"),
                       f"{get('frozen_until')!r} is past the longest freeze allowed"
                       f" (freeze_max_days: until {ctx.freeze_until_most} at the latest)")
    if frozen is not None and frozen <= now:
        frozen = None
    phone, email, company_id = get("phone"), get("email"), get("company_id")
    return {
        "name": name, "phone": phone, "email": email, "company_id": company_id,
        "level": get("level"), "region": get("region"), "industry": get("industry"),
        "owner": owner, "pool": pool, "status": status,
        "assigned_at": None if owner is None else assigned or now,
        "last_contact_at": last_contact,
        "next_contact_at": layout.parse_time(cells, "next_contact_at", now, past=False),
        "frozen_until": frozen, "freeze_reason": get("freeze_reason") if frozen else None,
        "won_at": layout.parse_time(cells, "won_at", now),
        "invalid_reason": get("invalid_reason"),
        "created_at": layout.parse_time(cells, "created_at", now) or now,
        "extra": extra,
        "name_key": name_key(name), "phone_key": phone_key(phone),
        "email_key": email_key(email), "company_id_key": company_id_key(company_id),
    }
