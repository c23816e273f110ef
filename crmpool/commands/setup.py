"""`crmpool init`, `user add|set|list`, `pool add|set|list`: a team's database, users, pools."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    QuietOpt,
    Settings,
    UsageError,
    WideOpt,
    _checked,
    acting_name,
    clock,
    command,
    done,
    pool_app,
    session,
    user_app,
    view,
)

# --- setup -------------------------------------------------------------------------------


@command()
def init(
    ctx: typer.Context,
    admin: Annotated[str | None, typer.Option(
        help="Name of the first admin (default: --as, CRMPOOL_USER or your login).")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Create the database file (mode 0600) with its first admin and the `public` pool."""
    from crmpool import store
    from crmpool.output import Output
    from crmpool.pools import DEFAULT_POOL, add_pool
    from crmpool.users import add_user, check_user_name

    settings: Settings = ctx.obj
    now = clock()
    name = admin or acting_name(settings)
    check_user_name(name)  # before the file exists: a bad name leaves nothing behind
    conn = store.create_db(settings.db, now)
    try:
        with store.transaction(conn):
            add_pool(conn, None, DEFAULT_POOL, now)
            add_user(conn, None, name, now, role="admin")
    finally:
        conn.close()
    private = " (readable by you only)" if isinstance(settings.db, Path) else ""
    done(Output(fmt.value if fmt else None, quiet), {"db": settings.shown_db, "admin": name},
         f"created {settings.shown_db}{private} with admin {name!r}")


@command("add", group=user_app)
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login-style user name.")],
    role: Annotated[str, typer.Option(help="rep, manager or admin.")] = "rep",
    team: Annotated[str | None, typer.Option(help="Team name; managers manage their team.")]
    = None,
    cap: Annotated[int | None, typer.Option(
        help="The most customers this user may own (default: the rules' cap).",
        parser=_checked("parse_cap"))] = None,
    display: Annotated[str | None, typer.Option(help="Display name, e.g. 李雷.")] = None,
    email: Annotated[str | None, typer.Option(help="Their e-mail address.")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Add a user (admin only)."""
    from crmpool.store import transaction
    from crmpool.users import add_user

    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        user = add_user(s.conn, s.actor, name, s.now, role=role, team=team, cap=cap,
                        display=display, email=email)
    done(s.out, user._asdict(), f"added {user.role} {user.name}")


@command("set", group=user_app)
def user_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user to change.")],
    role: Annotated[str | None, typer.Option(help="rep, manager or admin.")] = None,
    team: Annotated[str | None, typer.Option(help="Team name; \"\" for none.")] = None,
    cap: Annotated[int | None, typer.Option(help="Their own cap.",
                                            parser=_checked("parse_cap"))] = None,
    default_cap: Annotated[bool, typer.Option(
        "--default-cap", help="Drop their own cap; the rules' cap applies again.")] = False,
    display: Annotated[str | None, typer.Option(help="Display name.")] = None,
    active: Annotated[bool | None, typer.Option(
        "--active/--inactive", help="An inactive user can do nothing.", show_default=False)]
    = None,
    email: Annotated[str | None, typer.Option(help="E-mail; \"\" for none.")] = None,
    handover_to: Annotated[str | None, typer.Option(
        help="With --inactive: give every customer they hold to this user.",
        metavar="NAME")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Change a user's role, team, cap, display name, e-mail or active flag (admin only);
    deactivating one who holds customers needs --handover-to."""
    from crmpool.store import transaction
    from crmpool.team import deactivate
    from crmpool.users import get_user, set_user

    if cap is not None and default_cap:
        raise UsageError("give --cap N or --default-cap, not both")
    if handover_to is not None and active is not False:
        raise UsageError("--handover-to goes with --inactive")
    fields: dict = {}
    if role is not None:
        fields["role"] = role
    if team is not None:
        fields["team"] = team or None
    if default_cap or cap is not None:
        fields["cap"] = None if default_cap else cap
    if display is not None:
        fields["display"] = display or None
    if email is not None:
        fields["email"] = email or None
    if active:
        fields["active"] = True
    if not fields and active is not False:
        raise UsageError("nothing to change; give --role, --team, --cap, --display, --email"
                         " or --active/--inactive")
    moved = 0
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        if fields:
            set_user(s.conn, s.actor, name, s.now, **fields)
        if active is False:
            moved = deactivate(s.conn, s.actor, name, s.now, handover_to)
        user = get_user(s.conn, name)
    done(s.out, user._asdict() | {"handed_over": moved},
         f"changed {name}" + (f"; {moved} customers handed over to {handover_to}"
                              if handover_to else ""))


@command("import", group=user_app)
def user_import(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(
        help="CSV, TSV or JSON with name, display, role, team, cap, email (or 用户名, 姓名,"
        " 角色, 团队, 上限, 邮箱).")],
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Set up a team at once (admin): every user in the file added or brought up to date,
    all or nothing."""
    from crmpool.imports.sources import open_source
    from crmpool.store import transaction
    from crmpool.team import import_users

    with session(ctx, fmt, quiet) as s:
        source = open_source(file)
        with transaction(s.conn):
            summary = import_users(s.conn, s.actor, source, s.now)
    done(s.out, summary, f"{file}: {summary['added']} users added, {summary['updated']}"
         " brought up to date")


@command("list", group=user_app)
def user_list(ctx: typer.Context, columns: ColumnsOpt = None, wide: WideOpt = False,
              all_: AllOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every user, with how many customers they own against their cap."""
    from crmpool.ruleset import active_limits
    from crmpool.users import list_users

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        limits = active_limits(s.conn)
        s.out.rows(list_users(s.conn, limits.cap, limits.cap_counts_won),
                   ["name", "role", "team", "display", "active", "owned", "counted", "cap"],
                   for_people=("name", "role", "team", "owned", "counted", "cap", "active",
                               "display"))


MemberOpt = Annotated[list[str] | None, typer.Option(
    "--member", help="A user or team:NAME who may claim from the pool (repeatable).")]
AdminOpt = Annotated[list[str] | None, typer.Option(
    "--admin", help="A user who may assign the pool's customers (repeatable).")]
ClaimsOpt = Annotated[int | None, typer.Option(
    "--claims-per-day", help="The pool's own daily limit (0 = unlimited).", metavar="N",
    parser=_checked("parse_claims"))]
CooldownOpt = Annotated[int | None, typer.Option(
    "--cooldown-days", help="The pool's own cooldown for previous owners.", metavar="DAYS",
    parser=_checked("parse_days"))]


@command("add", group=pool_app)
def pool_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Pool name.")],
             member: MemberOpt = None, admin: AdminOpt = None,
             claims_per_day: ClaimsOpt = None, cooldown_days: CooldownOpt = None,
             fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Create a pool (admin only): with members only they may claim from it."""
    from crmpool.pools import PoolSettings, add_pool
    from crmpool.store import transaction

    settings = PoolSettings(add_members=member or [], add_admins=admin or [],
                            claims_per_day=claims_per_day, cooldown_days=cooldown_days)
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        add_pool(s.conn, s.actor, name, s.now, settings)
    done(s.out, {"pool": name}, f"created pool {name!r}")


@command("set", group=pool_app)
def pool_set(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Pool name.")],
    member: MemberOpt = None, admin: AdminOpt = None,
    remove_member: Annotated[list[str] | None, typer.Option(
        "--remove-member", help="Take a member off (repeatable).")] = None,
    remove_admin: Annotated[list[str] | None, typer.Option(
        "--remove-admin", help="Take an admin off (repeatable).")] = None,
    claims_per_day: ClaimsOpt = None, cooldown_days: CooldownOpt = None,
    default_limits: Annotated[bool, typer.Option(
        "--default-limits", help="Drop the pool's own limits: [limits] applies.")] = False,
    fmt: FormatOpt = None, quiet: QuietOpt = False,
) -> None:
    """Change a pool's members, admins and limits (admin only)."""
    from crmpool.pools import PoolSettings, set_pool
    from crmpool.store import transaction

    settings = PoolSettings(member or [], remove_member or [], admin or [], remove_admin or [],
                            claims_per_day, cooldown_days, default_limits)
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        set_pool(s.conn, s.actor, name, settings)
    done(s.out, {"pool": name}, f"changed pool {name!r}")


@command("list", group=pool_app)
def pool_list(ctx: typer.Context, columns: ColumnsOpt = None, wide: WideOpt = False,
              all_: AllOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every pool: members, admins, customers waiting, its own limits."""
    from crmpool.pools import list_pools

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        s.out.rows(list_pools(s.conn), ["name", "members", "admins", "waiting", "home_of",
                                        "claims_per_day", "cooldown_days"])
