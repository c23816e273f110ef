"""`crmpool list`: customers by filter, sort and search (公共检索).

Every filter value reaches SQL as a bound parameter; sort keys and shown columns come from
fixed lists. Search matches a name by substring after the folding the duplicate keys use
(full-width to half-width, case and spacing), a phone only for a phone fragment (digits and
separators, at least four digits), an e-mail only for text with `@`, a company id only for
text shaped like one; several words must all match. Results rank exact name, then prefix,
then substring.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmpool.errors import UsageError
from crmpool.normalize import company_id_key, name_key, phone_key
from crmpool.pools import require_pool
from crmpool.users import get_user, require_team
from crmpool.when import start_of_local_day, stored

# What `list` prints in machine formats, in order; JSON keys are these column names.
LIST_COLUMNS = ("id", "name", "phone", "email", "company_id", "level", "region", "industry",
                "owner", "pool", "status", "assigned_at", "last_contact_at", "next_contact_at",
                "frozen_until")
# Worked out for each row (`-c` picks them in any format).
COMPUTED = ("holder", "idle_days", "marks", "waiting_since", "previous_owner", "came_by")
# A rep's view on an 80-column screen, most important first (tables leave out the last).
TABLE_COLUMNS = ("id", "name", "holder", "level", "idle_days", "next_contact_at", "marks",
                 "phone", "region", "status", "last_contact_at")
# The pool's view: since when each customer waits, whose it was, and why it came.
POOL_COLUMNS = ("id", "name", "pool", "level", "waiting_since", "previous_owner", "came_by",
                "phone", "region")
SORTS = {"id": "c.id", "idle": "c.idle_since", "name": "c.name_key", "created": "c.created_at",
         "last_contact": "c.last_contact_at", "next_contact": "c.next_contact_at"}
STATUSES = ("active", "won", "invalid")
# Words name keys leave out (crmpool/normalize.py), which only the name itself can match.
LEGAL_WORDS = ("公司", "ltd", "limited", "inc", "corp", "llc", "gmbh", "plc", "co")
_PHONE_FRAGMENT = re.compile(r"[+0-9()\-\s.]+")
_COMPANY_ID = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
# The event that put a pool customer where it is, its latest move out of someone's hands.
_ARRIVAL = ("(SELECT e.{field} FROM events e WHERE e.customer_id = c.id AND e.action IN"
            " ('reclaim', 'release', 'create', 'import') ORDER BY e.at DESC, e.id DESC LIMIT 1)")


@dataclass
class CustomerFilter:
    """The filters of `crmpool list`; every value reaches SQL as a bound parameter."""

    owner: str | None = None
    team: str | None = None
    pool: str | None = None
    in_pool: bool = False
    level: str | None = None
    region: str | None = None
    industry: str | None = None
    status: str | None = None
    idle_over: int | None = None
    frozen: bool = False
    due: bool = False
    search: str | None = None
    sort: str = "id"
    desc: bool = False
    limit: int | None = None


def fold(text: str) -> str:
    """Search text folded as names are for their keys: width, case and spacing."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())


def _search(term: str) -> tuple[str, list[object]]:
    """One search word as a predicate on `c`."""
    folded = fold(term)
    parts = ["instr(c.name_key, ?) > 0"]
    params: list[object] = [folded]
    # The name itself only when the key cannot hold the word: punctuation, or a legal form
    # (有限公司, Ltd) that keys leave out. Lower-casing every name costs as much as the rest.
    if not folded.isalnum() or any(form in folded for form in LEGAL_WORDS):
        parts.append("instr(lower(c.name), ?) > 0")
        params.append(term.lower())
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", term))
    if _PHONE_FRAGMENT.fullmatch(unicodedata.normalize("NFKC", term)) and len(digits) >= 4:
        parts.append("instr(c.phone_key, ?) > 0")
        params.append(phone_key(term) if len(digits) >= 11 else digits)
    if "@" in term:
        parts.append("instr(c.email_key, ?) > 0")
        params.append(unicodedata.normalize("NFKC", term).strip().lower())
    key = company_id_key(term)
    if key and _COMPANY_ID.fullmatch(key):
        parts.append("c.company_id_key = ?")
        params.append(key)
    return "(" + " OR ".join(parts) + ")", params


def list_customers(conn: sqlite3.Connection, where: CustomerFilter, now: datetime
                   ) -> Iterator[dict]:
    """Customers matching the filter; invalid ones only when asked for by status."""
    clauses: list[str] = []
    params: list[object] = []
    if where.owner:
        get_user(conn, where.owner)  # a mistyped name is a refusal, not "no customers"
        clauses.append("c.owner = ?")
        params.append(where.owner)
    if where.team:
        require_team(conn, where.team)
        clauses.append("c.owner IN (SELECT name FROM users WHERE team = ?)")
        params.append(where.team)
    if where.in_pool:
        clauses.append("c.owner IS NULL")
    if where.pool:
        require_pool(conn, where.pool)
        clauses.append("c.pool = ?")
        params.append(where.pool)
    for column in ("level", "region", "industry"):
        value = getattr(where, column)
        if value:
            # Any case, as rule scopes match (a, A): people type levels both ways.
            clauses.append(f"c.{column} = ? COLLATE NOCASE")
            params.append(value)
    if where.status:
        if where.status not in STATUSES:
            raise UsageError(f"--status must be one of {', '.join(STATUSES)}")
        clauses.append("c.status = ?")
        params.append(where.status)
    else:
        clauses.append("c.status <> 'invalid'")
    if where.idle_over is not None:
        clauses.append("c.owner IS NOT NULL AND c.idle_since <= ?")
        params.append(stored(now - timedelta(days=where.idle_over)))
    if where.frozen:
        clauses.append("c.frozen_until > ?")
        params.append(stored(now))
    if where.due:
        clauses.append("c.owner IS NOT NULL AND c.next_contact_at < ?")
        params.append(stored(start_of_local_day(now) + timedelta(days=1)))
    rank = ""
    rank_params: list[object] = []
    if where.search and where.search.strip():
        text = where.search.strip()
        # A phone written with spaces (138 0000 0001) is one term; other words must all
        # match, each on its own.
        whole_phone = _PHONE_FRAGMENT.fullmatch(unicodedata.normalize("NFKC", text))
        for term in ([text] if whole_phone else text.split()):
            predicate, term_params = _search(term)
            clauses.append(predicate)
            params.extend(term_params)
        whole = fold(where.search)
        key = name_key(where.search) or whole
        rank = ("CASE WHEN c.name_key = ? OR lower(c.name) = ? THEN 0"
                " WHEN substr(c.name_key, 1, length(?)) = ? THEN 1 ELSE 2 END, ")
        rank_params = [key, where.search.strip().lower(), whole, whole]
    if where.sort not in SORTS:
        raise UsageError(f"--sort must be one of {', '.join(SORTS)}")
    order = f"{SORTS[where.sort]}{' DESC' if where.desc else ''}"
    now_text = stored(now)
    arrival = {f: _ARRIVAL.format(field=f) for f in ("at", "from_owner", "rule", "reason")}
    computed = (
        "coalesce(c.owner, 'pool:' || c.pool) AS holder,"
        " CASE WHEN c.owner IS NOT NULL THEN"
        "  CAST(julianday(?) - julianday(c.idle_since) AS INTEGER) END AS idle_days,"
        " trim(CASE WHEN c.frozen_until > ? THEN 'frozen ' ELSE '' END"
        " || CASE WHEN c.owner IS NOT NULL AND EXISTS (SELECT 1 FROM warnings w"
        "  WHERE w.customer_id = c.id AND w.closed_at IS NULL AND w.owner = c.owner)"
        "  THEN 'warned' ELSE '' END) AS marks,"
        f" CASE WHEN c.owner IS NULL THEN {arrival['at']} END AS waiting_since,"
        f" CASE WHEN c.owner IS NULL THEN {arrival['from_owner']} END AS previous_owner,"
        f" CASE WHEN c.owner IS NULL THEN coalesce({arrival['rule']}, {arrival['reason']})"
        " END AS came_by")
    sql = (f"SELECT {', '.join('c.' + col for col in LIST_COLUMNS)}, {computed}"
           f" FROM customers c WHERE {' AND '.join(clauses)} ORDER BY {rank}{order}, c.id")
    all_params = [now_text, now_text, *params, *rank_params]
    if where.limit is not None:
        sql += " LIMIT ?"
        all_params.append(where.limit)
    for row in conn.execute(sql, all_params):
        yield dict(row)
