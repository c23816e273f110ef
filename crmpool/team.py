"""Setting up and changing a team at once: `user import FILE`, and handing a leaving user's
customers over (`user set NAME --inactive --handover-to OTHER`).

Both are all or nothing, in one transaction, through the same checks as one user at a time.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.errors import InputError, Refused, UsageError
from crmpool.users import UNSET, User, add_user, get_user, require_role, set_user
from crmpool.values import parse_cap
from crmpool.when import stored

USER_FIELDS = ("name", "display", "role", "team", "cap", "email")
USER_ALIASES = {"用户名": "name", "账号": "name", "login": "name", "user": "name",
                "姓名": "display", "显示名": "display", "display_name": "display",
                "角色": "role", "团队": "team", "部门": "team", "team_name": "team",
                "上限": "cap", "保有量上限": "cap", "邮箱": "email", "e-mail": "email",
                "mail": "email"}


def owned_by(conn: sqlite3.Connection, name: str) -> int:
    """How many live customers a user holds."""
    return conn.execute("SELECT count(*) FROM customers WHERE owner = ? AND status <> 'invalid'",
                        (name,)).fetchone()[0]


def hand_over(conn: sqlite3.Connection, actor: User, leaving: str, to: str,
              now: datetime) -> int:
    """Move every customer `leaving` holds to `to`, with an `assign` event each (inside the
    caller's transaction); the receiver's cap holds. Returns how many moved."""
    from crmpool.policy import cap_of, owned_count
    from crmpool.ruleset import active_limits

    receiver = get_user(conn, to)
    if not receiver.active:
        raise Refused(f"{to} is inactive and cannot be given customers")
    if to == leaving:
        raise UsageError("--handover-to must name someone else")
    limits = active_limits(conn)
    arriving = conn.execute(
        "SELECT count(*) FROM customers WHERE owner = ? AND status <> 'invalid'"
        + ("" if limits.cap_counts_won else " AND status <> 'won'"), (leaving,)).fetchone()[0]
    held, cap = owned_count(conn, to, limits), cap_of(receiver, limits)
    if held + arriving > cap:
        raise Refused(f"{to} holds {held} of a cap of {cap}; {arriving} more would pass it"
                      f" (raise it with `crmpool user set {to} --cap N`)")
    at = stored(now)
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason)"
        " SELECT id, ?, 'assign', ?, owner, ?, ? FROM customers WHERE owner = ?",
        (at, actor.name, to, f"handover from {leaving}", leaving))
    return conn.execute("UPDATE customers SET owner = ?, assigned_at = ? WHERE owner = ?",
                        (to, at, leaving)).rowcount


def deactivate(conn: sqlite3.Connection, actor: User, name: str, now: datetime,
               handover_to: str | None) -> int:
    """Deactivate a user; one who still holds customers needs someone to hand them to."""
    require_role(actor, "admin", to="change users")
    get_user(conn, name)
    held = owned_by(conn, name)
    moved = 0
    if held and handover_to is None:
        raise Refused(f"{name} still holds {held} customer{'s' if held != 1 else ''}: pass"
                      " --handover-to NAME to move them in the same step")
    if handover_to is not None:
        moved = hand_over(conn, actor, name, handover_to, now)
    set_user(conn, actor, name, now, active=False)
    return moved


def import_users(conn: sqlite3.Connection, actor: User, source, now: datetime) -> dict:
    """Add (or bring up to date) every user a file names: all or nothing."""
    from crmpool.imports.sources import read_records

    require_role(actor, "admin", to="add users")
    headers, records = read_records(source)
    column = {}
    for header in headers:
        field = header.strip().lower()
        field = field if field in USER_FIELDS else USER_ALIASES.get(field) or \
            USER_ALIASES.get(header.strip())
        if field and field not in column:
            column[field] = header
    if headers and "name" not in column:
        raise InputError(f"{source.name}: no name column (name, 用户名, login …)")
    added = updated = 0
    for line, record in records:
        def cell(field: str, record=record) -> str | None:
            header = column.get(field, field)
            value = record.get(header)
            value = None if value is None else str(value).strip()
            return value or None

        where = f"{source.name} line {line}"
        name = cell("name")
        if name is None:
            raise InputError(f"{where}, column {column.get('name', 'name')!r}: no name")
        try:
            cap = None if cell("cap") is None else parse_cap(cell("cap"))
        except ValueError as exc:
            raise InputError(f"{where}, column {column.get('cap', 'cap')!r}: {exc}") from None
        role = (cell("role") or "rep").lower()
        try:
            exists = conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
            if exists:
                set_user(conn, actor, name, now, role=role, team=cell("team"), cap=cap,
                         display=cell("display"), email=cell("email") or UNSET)
                updated += 1
            else:
                add_user(conn, actor, name, now, role=role, team=cell("team"), cap=cap,
                         display=cell("display"), email=cell("email"))
                added += 1
        except (UsageError, Refused) as exc:
            raise InputError(f"{where}: {exc}") from None
    return {"file": source.name, "added": added, "updated": updated}
