"""Users and roles (rep 销售, manager 销售经理, admin 管理员), and who the acting user is."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import NamedTuple

from crmpool.errors import NotFound, Refused, UsageError
from crmpool.when import stored

ROLES = ("rep", "manager", "admin")


class User(NamedTuple):
    """One row of `users`."""

    name: str
    role: str
    team: str | None
    cap: int | None
    display: str | None
    active: bool
    email: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> User:
        return cls(row["name"], row["role"], row["team"], row["cap"], row["display"],
                   bool(row["active"]),
                   row["email"] if "email" in row.keys() else None)  # noqa: SIM118 - a Row


def get_user(conn: sqlite3.Connection, name: str) -> User:
    """The user called `name`, or NotFound."""
    row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no user named {name!r}; an admin can add one with `crmpool user add`")
    return User.from_row(row)


def require_team(conn: sqlite3.Connection, team: str) -> str:
    """`team` if some user is in it, else NotFound (a mistyped team is a refusal)."""
    if not conn.execute("SELECT 1 FROM users WHERE team = ?", (team,)).fetchone():
        raise NotFound(f"no team named {team!r} (crmpool user list shows the teams)")
    return team


def resolve_actor(conn: sqlite3.Connection, name: str) -> User:
    """The acting user, refused when unknown or inactive."""
    try:
        user = get_user(conn, name)
    except NotFound:
        raise NotFound(
            f"you are acting as {name!r}, who is not a crmpool user; pass --as NAME or set"
            " CRMPOOL_USER, or ask an admin to run `crmpool user add`"
        ) from None
    if not user.active:
        raise Refused(f"user {name!r} is inactive; an admin can reactivate them")
    return user


def still_same(conn: sqlite3.Connection, actor: User) -> None:
    """Refuse when the acting user changed since the command started (inside the write
    lock): deactivated, demoted, moved to another team while it waited."""
    row = conn.execute("SELECT * FROM users WHERE name = ?", (actor.name,)).fetchone()
    now = User.from_row(row) if row else None
    if now == actor:
        return
    if now is None or not now.active:
        raise Refused(f"user {actor.name!r} was deactivated while this command waited for the"
                      " database; nothing was done")
    raise Refused(f"user {actor.name!r} was changed (role {now.role}, team"
                  f" {now.team or 'none'}) while this command waited for the database;"
                  " nothing was done: run it again")


def require_role(actor: User, *roles: str, to: str) -> None:
    """Refuse unless the actor has one of `roles`; `to` says what they tried."""
    if actor.role not in roles:
        allowed = " or ".join(f"an {r}" if r[0] in "aeiou" else f"a {r}" for r in roles)
        raise Refused(f"only {allowed} can {to} (you, {actor.name}, are a {actor.role})")


# The sweep acts under this name in the audit trail; no person may take it.
RESERVED_NAMES = ("sweep", "crmpool", "system")


def check_user_name(name: str) -> None:
    """A user name that cannot be mistaken for another user, an option or the sweep."""
    from crmpool.values import check_name

    try:
        check_name(name, "user name")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if name.lower() in RESERVED_NAMES:
        raise UsageError(f"user name {name!r} is reserved (crmpool's own actors:"
                         f" {', '.join(RESERVED_NAMES)})")


def _check_team(conn: sqlite3.Connection, team: str) -> None:
    from crmpool.values import check_name, same_name

    try:
        check_name(team, "--team")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # A team is the users who name it: joining one is fine, but `EAST` beside `east` would
    # be a second team that nobody could tell from the first, as with user and pool names.
    others = conn.execute("SELECT DISTINCT team FROM users WHERE team IS NOT NULL AND team <> ?",
                          (team,))
    same = same_name(team, (row[0] for row in others))
    if same:
        raise Refused(f"team {team!r} {same}; use that team, or a name of its own")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UsageError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")


def _check_email(email: str) -> None:
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise UsageError(f"--email {email!r}: not an e-mail address")


def add_user(conn: sqlite3.Connection, actor: User | None, name: str, now: datetime, *,
             role: str = "rep", team: str | None = None, cap: int | None = None,
             display: str | None = None, email: str | None = None) -> User:
    """Add a user; only admins may (`actor` None is `init` making the first admin)."""
    if actor is not None:
        require_role(actor, "admin", to="add users")
    _check_role(role)
    check_user_name(name)
    if team is not None:
        _check_team(conn, team)
    if cap is not None and cap < 0:
        raise UsageError("--cap must be 0 or more")
    if email is not None:
        _check_email(email)
    from crmpool.values import same_name

    same = same_name(name, (row[0] for row in conn.execute("SELECT name FROM users")))
    if same:
        raise Refused(f"a user named {name!r} {same}; change it with `crmpool user set`")
    conn.execute(
        "INSERT INTO users (name, role, team, cap, display, active, created_at)"
        " VALUES (?, ?, ?, ?, ?, 1, ?)",
        (name, role, team, cap, display, stored(now)),
    )
    if email is not None:
        conn.execute("UPDATE users SET email = ? WHERE name = ?", (email, name))
    conn.execute(
        "INSERT INTO events (at, action, actor, to_owner, reason) VALUES (?, 'user-add', ?, ?, ?)",
        (stored(now), actor.name if actor else name, name, f"role={role}"),
    )
    return get_user(conn, name)


UNSET = object()  # "not given", where None means "clear it"


def set_user(conn: sqlite3.Connection, actor: User, name: str, now: datetime, *,
             role: str | None = None, team: object = UNSET, cap: object = UNSET,
             display: object = UNSET, active: bool | None = None,
             email: object = UNSET) -> User:
    """Change a user's role, team, cap, display name or active flag (admin only)."""
    require_role(actor, "admin", to="change users")
    user = get_user(conn, name)
    changes: dict[str, object] = {}
    if role is not None:
        _check_role(role)
        changes["role"] = role
    if team is not UNSET:
        if team is not None:
            _check_team(conn, team)  # type: ignore[arg-type]
        changes["team"] = team
    if cap is not UNSET:
        if cap is not None and cap < 0:  # type: ignore[operator]
            raise UsageError("--cap must be 0 or more")
        changes["cap"] = cap
    if display is not UNSET:
        changes["display"] = display
    if email is not UNSET:
        if email is not None:
            _check_email(email)  # type: ignore[arg-type]
        changes["email"] = email
    if active is not None:
        if not active and name == actor.name:
            raise Refused("you cannot deactivate yourself; ask another admin")
        changes["active"] = int(active)
    if not changes:
        raise UsageError("nothing to change; give --role, --team, --cap, --display, --email"
                         " or --active")
    # Only what differs is a change (a re-run of `user import` changes nothing).
    changes = {k: v for k, v in changes.items() if getattr(user, k) != (
        bool(v) if k == "active" else v)}
    if not changes:
        return user
    if changes.get("role", "admin") != "admin" or changes.get("active") == 0:
        remaining = conn.execute(
            "SELECT count(*) FROM users WHERE role = 'admin' AND active = 1 AND name <> ?",
            (name,),
        ).fetchone()[0]
        if user.role == "admin" and remaining == 0:
            raise Refused(f"{name!r} is the last active admin; make another admin first")
    # Column names come from the fixed keys above, never from user text.
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE users SET {assignments} WHERE name = ?", (*changes.values(), name))
    conn.execute(
        "INSERT INTO events (at, action, actor, to_owner, reason) VALUES (?, 'user-set', ?, ?, ?)",
        (stored(now), actor.name, name, ", ".join(f"{k}={v}" for k, v in changes.items())),
    )
    return get_user(conn, name)


def list_users(conn: sqlite3.Connection, default_cap: int, counts_won: bool) -> list[dict]:
    """Every user with the customers they own, how many of those count toward their cap
    (won ones do not unless cap_counts_won), and the cap."""
    won_clause = "" if counts_won else " AND c.status <> 'won'"
    rows = conn.execute(
        f"""SELECT u.name, u.role, u.team, u.display, u.active,
                   (SELECT count(*) FROM customers c WHERE c.owner = u.name
                      AND c.status <> 'invalid') AS owned,
                   (SELECT count(*) FROM customers c WHERE c.owner = u.name
                      AND c.status <> 'invalid'{won_clause}) AS counted,
                   coalesce(u.cap, ?) AS cap
            FROM users u ORDER BY u.name""",
        (default_cap,),
    )
    return [dict(row) | {"active": bool(row["active"])} for row in rows]
