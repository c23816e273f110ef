"""The `crmpool` command: parse arguments, resolve the acting user, call the domain, render.

No SQL and no policy here. Domain modules are imported inside the commands that use them, so
that `crmpool --version` and one-ID commands start fast (shell loops call us thousands of times).
"""

# Deferred annotations: defining thirty commands costs nothing, and Typer evaluates only the
# invoked command's (see `only`), instead of building Annotated objects for all of them.
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from crmpool import __version__
from crmpool.choices import (
    ENCODINGS,
    EXPORT_ENCODINGS,
    EXPORT_KINDS,
    IMPORT_KINDS,
    INPUT_FORMATS,
    ON_DUPLICATE,
    OUTPUT_FORMATS,
)
from crmpool.errors import CrmpoolError, UsageError, exit_code_for

APP_SETTINGS: dict[str, Any] = dict(
    name="crmpool",
    help="A sales team's customers in one SQLite file, with the rules of the public pool (公海).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**APP_SETTINGS)
user_app = typer.Typer(help="Manage users: reps, managers, admins.", no_args_is_help=True)
pool_app = typer.Typer(help="Manage pools (公海 / 客户池).", no_args_is_help=True)
rules_app = typer.Typer(help="The reclaim rules and limits, kept in the database.",
                        no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(pool_app, name="pool")
app.add_typer(rules_app, name="rules")


def _choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """An option's choices as the enum Typer wants, from the domain's own tuple."""
    return StrEnum(name, {value: value for value in values})


Format = _choices("Format", OUTPUT_FORMATS)
Kind = _choices("Kind", EXPORT_KINDS)
OnDuplicate = _choices("OnDuplicate", ON_DUPLICATE)
Encoding = _choices("Encoding", ENCODINGS)
DateOrder = _choices("DateOrder", ("ymd", "dmy", "mdy"))
ExportEncoding = StrEnum("ExportEncoding", {v.replace("-", "_"): v for v in EXPORT_ENCODINGS})
InputFormat = _choices("InputFormat", INPUT_FORMATS)
ImportKind = _choices("ImportKind", IMPORT_KINDS)


def _checked(parse_name: str) -> Callable[[str], Any]:
    """A Typer parser from crmpool.values (imported on use): a bad value is a usage error
    naming the parameter, never a crash (SPEC: every value is checked at the door)."""

    def parser(text: str) -> Any:
        from crmpool import values

        try:
            return getattr(values, parse_name)(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parser


# Parameters declared once, reused by every command (STYLE: Typer apps done well).
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", help="table (default on a terminal), json, jsonl (default otherwise),"
    " csv or tsv.", show_default=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
IdArg = Annotated[int, typer.Argument(help="Customer ID.", metavar="ID",
                                      parser=_checked("parse_id"))]
LimitOpt = Annotated[int | None, typer.Option(help="At most N rows.", metavar="N",
                                              parser=_checked("parse_row_limit"))]
IdsArg = Annotated[list[str], typer.Argument(
    help="Customer IDs; - reads them from stdin, one per line (an ID or JSON with an id).",
    show_default=False, metavar="ID...|-")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; kept in the audit trail.",
                                        show_default=False)]
WhenHelp = "ISO date or datetime, today, now, or +30d / -2w / +3mo / +12h"


class Settings:
    """The global options: which database, acting as whom."""

    def __init__(self, db: Path, user: str | None) -> None:
        self.db = db
        self.user = user


class Session:
    """What a command works with: the database, who acts, when, and where output goes."""

    def __init__(self, conn: Any, actor: Any, now: datetime, out: Any) -> None:
        self.conn = conn
        self.actor = actor
        self.now = now
        self.out = out


def clock() -> datetime:
    """The time every command acts at, read once; CRMPOOL_NOW pretends (tests, what-ifs)."""
    pretend = os.environ.get("CRMPOOL_NOW")
    now = datetime.now(UTC).replace(microsecond=0)
    if pretend:
        from crmpool.when import BadWhen, parse_when

        try:
            return parse_when(pretend, now)
        except BadWhen as exc:
            raise UsageError(f"CRMPOOL_NOW: {exc}") from None
    return now


def acting_name(settings: Settings) -> str:
    """--as, else CRMPOOL_USER (both via the option), else the operating-system login."""
    if settings.user:
        return settings.user
    import getpass

    return getpass.getuser()


def when(value: str | None, now: datetime, option: str) -> datetime | None:
    """A WHEN option parsed, or a usage error naming the option."""
    if value is None:
        return None
    from crmpool.when import BadWhen, parse_when

    try:
        return parse_when(value, now)
    except BadWhen as exc:
        raise UsageError(f"{option}: {exc}") from None


def _fail(message: str, code: int) -> typer.Exit:
    from crmpool.output import printable

    print(f"crmpool: {printable(message)}", file=sys.stderr)
    return typer.Exit(code)


def command(name: str | None = None, group: typer.Typer = app, **options: Any) -> Callable:
    """Register a command behind the one boundary that turns errors into exit codes."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            import sqlite3

            try:
                result = fn(*args, **kwargs)
                sys.stdout.flush()  # a full disk or a closed pipe is this command's error
                return result
            except (typer.Exit, typer.Abort):
                raise
            except BrokenPipeError:
                # `crmpool list | head`: the reader had enough. Not an error; stay quiet.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise typer.Exit(0) from None
            except CrmpoolError as exc:
                raise _fail(str(exc), exit_code_for(exc)) from None
            except sqlite3.Error as exc:
                from crmpool.store import explain

                known = explain(exc)
                if known is None:
                    raise _unexpected(exc) from None
                raise _fail(str(known), exit_code_for(known)) from None
            except OSError as exc:
                import errno

                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
                    # Where output goes (a file, /dev/full) could not take it.
                    raise _fail(f"cannot write: {exc.strerror}", 5) from None
                raise _unexpected(exc) from None
            except Exception as exc:  # a bug: say so, and hide the traceback unless asked
                raise _unexpected(exc) from None

        return group.command(name, **options)(guarded)

    return decorate


def _unexpected(exc: Exception) -> typer.Exit:
    if os.environ.get("CRMPOOL_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    return _fail(f"unexpected error ({type(exc).__name__}: {exc}); this is a bug."
                 " Set CRMPOOL_DEBUG=1 to see the traceback.", 1)


@contextmanager
def session(ctx: typer.Context, fmt: Format | None = None,
            quiet: bool = False) -> Iterator[Session]:
    """Open the database, resolve the acting user, read the clock once.

    Every command that opens the database knows who acts: an unknown or inactive user is
    refused even a read (SPEC), so a mistyped --as never goes unnoticed.
    """
    from crmpool import store
    from crmpool.output import Output

    settings: Settings = ctx.obj
    out = Output(fmt.value if fmt else None, quiet)
    now = clock()
    conn = store.open_db(settings.db)
    try:
        from crmpool.users import resolve_actor, still_same

        actor = resolve_actor(conn, acting_name(settings))
        # Rights are read again inside every write transaction: a user deactivated or
        # demoted while this command waited for the lock must not act with the old ones.
        conn.begin_hooks.append(lambda c: still_same(c, actor))
        yield Session(conn, actor, now, out)
    finally:
        conn.close()


def report(out: Any, outcomes: list) -> None:
    """A result per ID: rows on stdout, refusals also on stderr; exit with the worst code."""
    failed = [o for o in outcomes if not o.ok]
    if out.for_people:
        if not out.quiet:
            from crmpool.output import printable

            for outcome in outcomes:
                if outcome.ok:
                    print(f"{outcome.id}\t{printable(outcome.message)}", file=out.out)
    else:
        out.rows((o.as_row() for o in outcomes), ["id", "ok", "result", "message"])
    for outcome in failed:
        named = f"customer {outcome.id}" in outcome.message
        out.error(outcome.message if named else f"customer {outcome.id}: {outcome.message}")
    if failed:
        if len(outcomes) > 1:
            out.error(f"{len(failed)} of {len(outcomes)} failed")
        raise typer.Exit(max(o.exit_code for o in failed))


def read_text(path: str) -> tuple[str, str]:
    """A file's text, or stdin's for `-`, with the name to show in messages."""
    from crmpool.errors import InputError

    limit = 1 << 20  # a rules file is a page or two; a megabyte is surely a wrong file
    try:
        if path == "-":
            data, name = sys.stdin.buffer.read(limit + 1), "<stdin>"
        else:
            with open(path, "rb") as file:
                data, name = file.read(limit + 1), path
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(f"{name}: more than {limit:,} bytes; is this the right file?")
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{name} line {line}: not UTF-8 text (save it as UTF-8)") from None


def _version(value: bool) -> None:
    if value:
        print(f"crmpool {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[Path, typer.Option("--db", envvar="CRMPOOL_DB", metavar="PATH",
                                     help="The team's database file.")] = Path("crmpool.db"),
    as_user: Annotated[str | None, typer.Option(
        "--as", envvar="CRMPOOL_USER", metavar="NAME",
        help="Act as this user (default: CRMPOOL_USER, else your login name).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """A sales team's customers in one SQLite file, with the rules of the public pool (公海).

    Exit codes: 0 ok, 1 bug, 2 usage, 3 invalid input data, 4 refused by policy,
    5 database busy or not a crmpool database.
    """
    ctx.obj = Settings(db, as_user)


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
    done(Output(fmt.value if fmt else None, quiet), {"db": str(settings.db), "admin": name},
         f"created {settings.db} (readable by you only) with admin {name!r}")


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
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Add a user (admin only)."""
    from crmpool.store import transaction
    from crmpool.users import add_user

    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        user = add_user(s.conn, s.actor, name, s.now, role=role, team=team, cap=cap,
                        display=display)
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
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Change a user's role, team, cap, display name or active flag (admin only)."""
    from crmpool.store import transaction
    from crmpool.users import UNSET, set_user

    if cap is not None and default_cap:
        raise UsageError("give --cap N or --default-cap, not both")
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        user = set_user(
            s.conn, s.actor, name, s.now, role=role,
            team=UNSET if team is None else (team or None),
            cap=None if default_cap else (UNSET if cap is None else cap),
            display=UNSET if display is None else (display or None), active=active,
        )
    done(s.out, user._asdict(), f"changed {name}")


@command("list", group=user_app)
def user_list(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every user, with how many customers they own against their cap."""
    from crmpool.ruleset import active_limits
    from crmpool.users import list_users

    with session(ctx, fmt, quiet) as s:
        limits = active_limits(s.conn)
        s.out.rows(list_users(s.conn, limits.cap, limits.cap_counts_won),
                   ["name", "role", "team", "display", "active", "owned", "counted", "cap"])


@command("add", group=pool_app)
def pool_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Pool name.")],
             fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Create a pool (admin only)."""
    from crmpool.pools import add_pool
    from crmpool.store import transaction

    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        add_pool(s.conn, s.actor, name, s.now)
    done(s.out, {"pool": name}, f"created pool {name!r}")


@command("list", group=pool_app)
def pool_list(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every pool, with how many customers wait in it."""
    from crmpool.pools import list_pools

    with session(ctx, fmt, quiet) as s:
        s.out.rows(list_pools(s.conn), ["name", "waiting", "home_of"])


# --- customers ---------------------------------------------------------------------------


@command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Customer (company or person) name.")],
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    company_id: Annotated[str | None, typer.Option(
        help="Company registry id (统一社会信用代码).")] = None,
    level: Annotated[str | None, typer.Option(help="Customer level, e.g. A, B, C.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    industry: Annotated[str | None, typer.Option(help="Industry.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner (default: you).")] = None,
    pool: Annotated[str | None, typer.Option(help="Put it in this pool, unowned.")] = None,
    allow_duplicate: Annotated[bool, typer.Option(
        help="Add it even if it looks like an existing customer.")] = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Add one customer, owned by you (or --owner) or waiting in --pool."""
    from crmpool.customers import LIST_COLUMNS, add_customer

    with session(ctx, fmt, quiet) as s:
        row = add_customer(s.conn, s.actor, s.now, name, phone=phone, email=email,
                           company_id=company_id, level=level, region=region,
                           industry=industry, owner=owner, pool=pool,
                           allow_duplicate=allow_duplicate)
        s.out.rows([row], LIST_COLUMNS)


@command("list")
def list_(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Owned by this user.")] = None,
    mine: Annotated[bool, typer.Option(help="Owned by you.")] = False,
    pool: Annotated[str | None, typer.Option(help="Home pool is this one.")] = None,
    in_pool: Annotated[bool, typer.Option(help="Unowned: waiting in a pool.")] = False,
    level: Annotated[str | None, typer.Option(help="Customer level.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    status: Annotated[str | None, typer.Option(
        help="active, won or invalid (default: all but invalid).")] = None,
    idle_over: Annotated[int | None, typer.Option(
        help="Owned, with no contact or assignment for more than DAYS.", metavar="DAYS",
        parser=_checked("parse_days"))]
    = None,
    frozen: Annotated[bool, typer.Option(help="Frozen now.")] = False,
    search: Annotated[str | None, typer.Option(help="Text in name, phone or e-mail.")] = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List customers matching every filter given."""
    from crmpool.customers import LIST_COLUMNS, TABLE_COLUMNS, CustomerFilter, list_customers

    if owner and mine:
        raise UsageError("give --owner or --mine, not both")
    if pool and in_pool:
        raise UsageError("give --pool or --in-pool, not both")
    with session(ctx, fmt, quiet) as s:
        where = CustomerFilter(owner=s.actor.name if mine else owner, pool=pool,
                               in_pool=in_pool, level=level, region=region, status=status,
                               idle_over=idle_over, frozen=frozen, search=search, limit=limit)
        s.out.rows(list_customers(s.conn, where, s.now), LIST_COLUMNS,
                   for_people=TABLE_COLUMNS)


@command()
def show(ctx: typer.Context, customer_id: IdArg,
         fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """One customer with its contacts, deals and ownership history."""
    from crmpool.customers import show_customer

    with session(ctx, fmt, quiet) as s:
        shown = show_customer(s.conn, customer_id)
        s.out.record(shown, title=f"customer {customer_id}")


@command("log")
def log_(
    ctx: typer.Context,
    ids: IdsArg,
    via: Annotated[str, typer.Option(
        help="How you were in touch: call, visit, email, message, meeting, other (or 电话,"
        " 拜访, 微信 …).", parser=_checked("parse_via"))] = "call",
    note: Annotated[str | None, typer.Option(help="What was said.")] = None,
    at: Annotated[str | None, typer.Option(help=f"When it happened (default now): {WhenHelp}.")]
    = None,
    next_: Annotated[str | None, typer.Option("--next", help=f"Next follow-up due: {WhenHelp}.")]
    = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Log a contact (跟进); it restarts the idle clock. Future times are refused."""
    from crmpool.contacts import log_contact
    from crmpool.idargs import parse_ids

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = log_contact(s.conn, s.actor, customer_ids, s.now, via=via, note=note,
                               at=when(at, s.now, "--at"), next_at=when(next_, s.now, "--next"))
    report(s.out, outcomes)


@command()
def claim(ctx: typer.Context, ids: IdsArg, fmt: FormatOpt = None,
          quiet: QuietOpt = False) -> None:
    """Take customers from a pool (领取), within your cap, daily limit and cooldown."""
    from crmpool.idargs import parse_ids
    from crmpool.ownership import claim as claim_customers

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = claim_customers(s.conn, s.actor, customer_ids, s.now)
    report(s.out, outcomes)


@command()
def release(
    ctx: typer.Context,
    ids: IdsArg,
    reason: ReasonOpt,
    pool: Annotated[str | None, typer.Option(help="Send them here instead of their home pool.")]
    = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Give customers back to the pool (退回公海), with a reason."""
    from crmpool.idargs import parse_ids
    from crmpool.ownership import release as release_customers

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = release_customers(s.conn, s.actor, customer_ids, reason, s.now, pool=pool)
    report(s.out, outcomes)


@command()
def assign(
    ctx: typer.Context,
    ids: IdsArg,
    to: Annotated[str, typer.Option(help="The user who gets them.", show_default=False)],
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Hand customers to a user (分配): managers within their team, admins anyone."""
    from crmpool.idargs import parse_ids
    from crmpool.ownership import assign as assign_customers

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = assign_customers(s.conn, s.actor, customer_ids, to, s.now)
    report(s.out, outcomes)


@command()
def freeze(
    ctx: typer.Context,
    ids: IdsArg,
    until: Annotated[str, typer.Option(help=f"Frozen until: {WhenHelp}.", show_default=False)],
    reason: ReasonOpt,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Exempt customers from reclaim until a date (冻结); managers and admins."""
    from crmpool.freezes import freeze as freeze_customers
    from crmpool.idargs import parse_ids

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = freeze_customers(s.conn, s.actor, customer_ids,
                                    when(until, s.now, "--until"), reason, s.now)
    report(s.out, outcomes)


@command()
def unfreeze(ctx: typer.Context, ids: IdsArg, fmt: FormatOpt = None,
             quiet: QuietOpt = False) -> None:
    """Lift freezes early; managers and admins."""
    from crmpool.freezes import unfreeze as unfreeze_customers
    from crmpool.idargs import parse_ids

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = unfreeze_customers(s.conn, s.actor, customer_ids, s.now)
    report(s.out, outcomes)


@command()
def deal(
    ctx: typer.Context,
    customer_id: IdArg,
    amount: Annotated[str, typer.Option(help="Amount, e.g. 12000 or 12,000.50.",
                                        show_default=False)],
    stage: Annotated[str, typer.Option(help="open, won or lost (or 赢单, 输单 …).",
                                       parser=_checked("parse_stage"))] = "open",
    at: Annotated[str | None, typer.Option(help=f"When (default now): {WhenHelp}.")] = None,
    note: Annotated[str | None, typer.Option(help="A note.")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Record a deal (成交 / 签单); a won deal marks the customer won."""
    from crmpool.deals import record_deal

    with session(ctx, fmt, quiet) as s:
        row = record_deal(s.conn, s.actor, customer_id, amount, s.now, stage=stage,
                          at=when(at, s.now, "--at"), note=note)
        s.out.rows([row])


@command()
def invalid(ctx: typer.Context, ids: IdsArg, reason: ReasonOpt, fmt: FormatOpt = None,
            quiet: QuietOpt = False) -> None:
    """Mark dead records invalid (无效): out of every list and every rule."""
    from crmpool.customers import mark_invalid
    from crmpool.idargs import parse_ids

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = mark_invalid(s.conn, s.actor, customer_ids, reason, s.now)
    report(s.out, outcomes)


# --- the audit trail, export and backup --------------------------------------------------


@command()
def history(ctx: typer.Context,
            customer_id: IdArg,
            fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """The audit trail of one customer: every change of owner, pool, status or freeze."""
    from crmpool.audit import EVENT_COLUMNS
    from crmpool.audit import history as customer_history
    from crmpool.policy import load_customer

    with session(ctx, fmt, quiet) as s:
        load_customer(s.conn, customer_id)
        s.out.rows(customer_history(s.conn, customer_id), EVENT_COLUMNS)


@command()
def events(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help=f"From this time: {WhenHelp}.")] = None,
    action: Annotated[str | None, typer.Option(
        help="Only this action: claim, release, assign, reclaim, freeze, ...")] = None,
    user: Annotated[str | None, typer.Option(help="Done by, or to, this user.")] = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The append-only audit trail, oldest first."""
    from crmpool.audit import EVENT_COLUMNS, query_events

    with session(ctx, fmt, quiet) as s:
        s.out.rows(query_events(s.conn, since=when(since, s.now, "--since"), action=action,
                                user=user, limit=limit), EVENT_COLUMNS)


@command()
def export(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Option(help="What to export.")] = Kind.customers,
    encoding: Annotated[ExportEncoding, typer.Option(
        help="utf-8 (default); utf-8-sig for Excel, which needs the BOM to see UTF-8;"
        " gb18030 for WPS and older Excel in China.")] = ExportEncoding.utf_8,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Everything out, in any format; `import` reads the customers back."""
    import io

    from crmpool.exporting import export_rows

    with session(ctx, fmt, quiet) as s:
        columns, rows = export_rows(s.conn, kind.value)
        if encoding.value != "utf-8":
            sys.stdout.flush()
            s.out.out = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding.value,
                                         newline="")
            s.out.ascii = False
        s.out.rows(rows, columns)
        if encoding.value != "utf-8":
            s.out.out.flush()
            s.out.out.detach()  # leave sys.stdout's buffer open for the interpreter


@command()
def backup(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(help="The new file to write.")],
           fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """A consistent copy of the database while others keep working (online backup)."""
    from crmpool import store

    with session(ctx, fmt, quiet) as s:
        store.backup(s.conn, file)
    done(s.out, {"backup": str(file)}, f"backed up to {file}")


# --- rules -------------------------------------------------------------------------------


@command("show", group=rules_app)
def rules_show(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Print the rules in force (the built-in defaults until `rules set`)."""
    from crmpool.ruleset import active_rules

    with session(ctx, fmt, quiet) as s:
        rules = active_rules(s.conn)
        if s.out.for_people:
            if not quiet:
                print(rules.text, end="" if rules.text.endswith("\n") else "\n")
            s.out.say(f"# fingerprint {rules.fingerprint}")
        else:
            s.out.record(rules.as_dict())


@command("check", group=rules_app)
def rules_check(ctx: typer.Context,
                file: Annotated[str, typer.Argument(help="A rules file (TOML), or -.")],
                fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Check a rules file without storing it; exit 3 naming every bad key."""
    from crmpool.errors import InputError
    from crmpool.output import Output
    from crmpool.pools import pool_names
    from crmpool.rules import check_rules

    text, source = read_text(file)
    known = None
    if ctx.obj.db.exists():
        with session(ctx, None, quiet) as s:
            known = pool_names(s.conn)
    rules, problems = check_rules(text, known)
    if rules is None:
        raise InputError(f"{source}: " + "\n  ".join(["invalid rules file:", *problems]))
    done(Output(fmt.value if fmt else None, quiet), rules.as_dict(),
         f"{source}: ok, {plural(len(rules.reclaim), 'reclaim rule')}, fingerprint"
         f" {rules.fingerprint}")


@command("set", group=rules_app)
def rules_set(ctx: typer.Context,
              file: Annotated[str, typer.Argument(help="A rules file (TOML), or -.")],
              fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Store a new version of the rules (admin only); older versions are kept."""
    from crmpool.ruleset import set_rules
    from crmpool.store import transaction

    text, source = read_text(file)
    with session(ctx, fmt, quiet) as s, transaction(s.conn):
        rules, changed = set_rules(s.conn, s.actor, text, source, s.now)
    done(s.out, {"fingerprint": rules.fingerprint, "changed": changed},
         f"rules {rules.fingerprint} now in force" if changed
         else f"rules {rules.fingerprint} already in force; nothing changed")


@command("versions", group=rules_app)
def rules_versions(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Every stored version of the rules, newest first."""
    from crmpool.ruleset import rule_versions

    with session(ctx, fmt, quiet) as s:
        s.out.rows(rule_versions(s.conn), ["version", "fingerprint", "set_at", "set_by"])


# --- import, duplicates, demo ------------------------------------------------------------


@command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV, TSV, JSON or JSON lines file, or -.")],
    kind: Annotated[ImportKind, typer.Option(help="What the rows are.")] = ImportKind.customers,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="SRC=FIELD: read column SRC as FIELD (repeatable).",
        show_default=False)] = None,
    encoding: Annotated[Encoding, typer.Option(help="auto detects UTF-8 or GB18030/GBK.")]
    = Encoding.auto,
    input_format: Annotated[InputFormat | None, typer.Option(
        help="Default: from the file extension.", show_default=False)] = None,
    on_duplicate: Annotated[OnDuplicate, typer.Option(
        help="A row that matches a customer by phone, e-mail, company id or name.")]
    = OnDuplicate.skip,
    owner: Annotated[str | None, typer.Option(help="Give every row to this user.")] = None,
    pool: Annotated[str | None, typer.Option(help="Pool for rows with no owner.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and summarise; write nothing.")]
    = False,
    skip_bad: Annotated[str | None, typer.Option(
        help="Import the good rows; write the bad ones, with the reason, to this file.",
        metavar="FILE")] = None,
    date_order: Annotated[DateOrder | None, typer.Option(
        help="How to read 3/4/2018: dmy (4 March) or mdy (March 4); ymd is always read.",
        show_default=False)] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Bulk-load customers, contacts or deals; all rows or none (see --skip-bad)."""
    from crmpool.importer import ImportOptions, import_file
    from crmpool.sources import open_source

    mapping = {}
    for item in map_ or []:
        src, sep, target = item.partition("=")
        if not sep or not src or not target:
            raise UsageError(f"--map {item!r}: write it as SRC=FIELD, e.g. --map 客户=name")
        mapping[src] = target.strip()
    opts = ImportOptions(kind=kind.value, mapping=mapping, on_duplicate=on_duplicate.value,
                         owner=owner, pool=pool, dry_run=dry_run, skip_bad=skip_bad,
                         date_order=date_order.value if date_order else None)
    # The summary is a report for people unless a machine format is asked for by name.
    with session(ctx, fmt or Format.table, quiet) as s:
        source = open_source(file, input_format.value if input_format else None,
                             encoding.value)
        with progress_bar(s.out, source.size) as advance:
            summary = import_file(s.conn, s.actor, source, opts, s.now, advance)
    render_import(s.out, summary)


@contextmanager
def progress_bar(out: Any, total: int | None) -> Iterator[Callable | None]:
    """A Rich progress bar on a terminal, for files over a megabyte; nothing otherwise."""
    if out.quiet or not total or total < (1 << 20) or not out.err.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=None) as bar:
        task = bar.add_task("importing", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def render_import(out: Any, summary: Any) -> None:
    """The import summary: text on stderr, or the whole of it on stdout with -f json."""
    if out.quiet:
        return
    if out.format in ("json", "jsonl"):
        out.record(summary.as_dict())
        return
    verb = "would import" if summary.dry_run else "imported"
    out.say(f"{summary.file} ({summary.format}, {summary.encoding}): read {summary.read},"
            f" {verb} {summary.inserted}, updated {summary.updated}, duplicates skipped"
            f" {summary.duplicates_skipped}, sent to pool over cap"
            f" {summary.sent_to_pool_over_cap}, rejected {summary.rejected}")
    for owner, count in summary.over_cap.items():
        out.say(f"  {owner} is at their cap: {plural(count, 'row')} went to the pool instead")
    if summary.not_updated:
        out.say(f"  not updated: {plural(summary.not_updated, 'existing customer')} of another"
                " team (a manager updates their team's customers and the pool's)")
    shown = summary.duplicates[:20]
    for dup in shown:
        if dup["existing_id"]:
            held = (f"owned by {dup['existing_owner']}" if dup["existing_owner"]
                    else "in the pool")
            what = f"customer {dup['existing_id']} {dup['existing_name']} ({held})"
        else:
            what = f"line {dup['existing_line']} of this file ({dup['existing_name']})"
        out.say(f"  duplicate: line {dup['line']} is {what}, same {' and '.join(dup['same'])}")
    if len(summary.duplicates) > len(shown):
        out.say(f"  ... and {len(summary.duplicates) - len(shown)} more duplicates"
                " (-f json lists them all)")
    if summary.extra_columns:
        kept = ("kept unknown columns in extra" if summary.kind == "customers"
                else "ignored unknown columns")
        out.say(f"  {kept}: {', '.join(summary.extra_columns)}")
    if summary.kind == "customers" and summary.would_reclaim_today:
        out.say(f"  a sweep today would reclaim {summary.would_reclaim_today} of them"
                " (crmpool sweep --dry-run)")


@command()
def dupes(ctx: typer.Context, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Clusters of likely duplicates (查重) by phone, e-mail, company id or name."""
    from crmpool.dupes import CLUSTER_COLUMNS, duplicate_clusters

    with session(ctx, fmt, quiet) as s:
        s.out.rows(duplicate_clusters(s.conn), CLUSTER_COLUMNS)


@command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Where to build the demo database.")]
    = Path("crmpool-demo.db"),
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build a demo database from the bundled examples and show claims, refusals, a sweep."""
    from crmpool.demo import build_demo
    from crmpool.output import Output

    # A walk-through for people: tables even when piped into a pager, unless a machine
    # format is asked for by name (then each step's rows in that format).
    output = Output(fmt.value if fmt else "table", quiet)
    build_demo(out, clock(), output.say, lambda rows, columns: output.rows(rows, columns))


# --- the sweep ---------------------------------------------------------------------------


@command()
def sweep(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="Report what would happen; write nothing.")]
    = False,
    now: Annotated[str | None, typer.Option(
        "--now", help=f"Sweep as of this time (catch-up, what-if): {WhenHelp}.")] = None,
    undo: Annotated[int | None, typer.Option(
        help="Put back exactly what run RUN did (admin); see `crmpool runs`.", metavar="RUN",
        parser=_checked("parse_id"))] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Apply the reclaim rules once (定时回收); safe to run from cron any number of times."""
    if undo is not None:
        if now is not None:
            raise UsageError("give --undo RUN or --now, not both")
        return _undo(ctx, undo, dry_run, fmt, quiet)
    from crmpool.sweep import sweep as run_sweep

    with session(ctx, fmt, quiet) as s:
        as_of = when(now, s.now, "--now") or s.now
        machine = not s.out.for_people and s.out.format in ("json", "jsonl")
        details = functools.partial(render_sweep_details, s.out) if machine else None
        report = run_sweep(s.conn, s.actor, as_of, s.now, dry_run=dry_run, details=details)
    if not machine:
        render_sweep(s.out, report)


def render_sweep_details(out: Any, report: Any, reclaimed: Any, warned: Any) -> None:
    """Every reclaimed and warned customer, streamed: one JSON object with two arrays, or
    JSON lines of kind reclaim, warning and (last) run. Memory stays flat at any size."""
    if out.quiet:
        for _ in reclaimed:
            pass
        return
    if out.format == "jsonl":
        out.rows({"kind": "reclaim", **c} for c in reclaimed)
        out.rows({"kind": "warning", **c} for c in warned)
        out.rows([{"kind": "run", **report.summary()}])
        return
    out.record_with_streams(report.summary(), {"reclaimed_customers": reclaimed,
                                               "warned_customers": warned})


def render_sweep(out: Any, report: Any) -> None:
    """A per-rule summary: a table and a closing line for people, rows otherwise."""
    if out.quiet:
        return
    rows = [{"rule": r.rule, "reclaimed": r.reclaimed, "warned": r.warned,
             "to_pool": r.to_pool} for r in report.rules]
    if not out.for_people:
        out.rows(rows, ["rule", "reclaimed", "warned", "to_pool"])
        return
    from crmpool.when import local_display

    head = "dry run, nothing written" if report.dry_run else (
        f"run {report.run_id}" if report.run_id else
        f"already swept at this time by run {report.repeat_of}; nothing changed")
    out.say(f"sweep as of {local_display(report.as_of)} ({head}), rules {report.fingerprint}")
    out.rows([r | {"to_pool": r["to_pool"] or "(home pool)"} for r in rows],
             ["rule", "reclaimed", "warned", "to_pool"])
    out.say(f"{report.reclaimed} reclaimed, {plural(report.warned, 'new warning')},"
            f" {plural(report.warnings_closed, 'warning')} closed,"
            f" {plural(report.unfrozen, 'freeze')} lifted")


def _undo(ctx: typer.Context, run_id: int, dry_run: bool, fmt: Any, quiet: bool) -> None:
    from crmpool.undo import UNDO_COLUMNS, undo_run

    with session(ctx, fmt, quiet) as s:
        summary, rows = undo_run(s.conn, s.actor, run_id, s.now, dry_run=dry_run)
    if s.out.format == "json":
        s.out.record(summary | {"customers": rows})
        return
    s.out.rows(rows, UNDO_COLUMNS)
    verb = "would put back" if dry_run else "put back"
    s.out.say(f"run {run_id}: {verb} {plural(summary['restored'], 'change')}, left"
              f" {summary['left_alone']} alone (changed since);"
              f" {plural(summary['warnings_removed'], 'warning')} removed,"
              f" {summary['warnings_reopened']} reopened")


def done(out: Any, record: dict, message: str) -> None:
    """What a command that changes one thing did: a sentence for people, data for machines."""
    if out.for_people:
        out.say(message)
    elif not out.quiet:
        out.record(record)


def plural(count: int, noun: str) -> str:
    """`1 customer`, `2 customers` (crmpool.values.plural, imported on use)."""
    from crmpool.values import plural as counted

    return counted(count, noun)


@command()
def why(ctx: typer.Context, customer_id: IdArg,
        fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Which rule will reclaim this customer, from which timestamp, on which day."""
    from crmpool.why import WHY_COLUMNS, WHY_TABLE_COLUMNS, explain

    with session(ctx, fmt, quiet) as s:
        state, rows = explain(s.conn, customer_id, s.now)
        s.out.say(f"customer {customer_id}: {state}")
        if rows:
            s.out.rows(rows, WHY_COLUMNS, for_people=WHY_TABLE_COLUMNS)


@command()
def warnings(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Only this owner's customers.")] = None,
    mine: Annotated[bool, typer.Option(help="Only your customers.")] = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Open warnings (预警): customers a rule will reclaim soon, soonest first."""
    from crmpool.sweep import open_warnings

    with session(ctx, fmt, quiet) as s:
        s.out.rows(open_warnings(s.conn, s.actor.name if mine else owner),
                   ["id", "name", "owner", "rule", "due_at", "created_at"])


@command()
def runs(ctx: typer.Context,
         limit: LimitOpt = None,
         fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Past sweep runs, newest first."""
    from crmpool.sweep import RUN_COLUMNS, list_runs

    with session(ctx, fmt, quiet) as s:
        s.out.rows(list_runs(s.conn, limit), RUN_COLUMNS)


GLOBAL_OPTIONS_WITH_VALUE = ("--db", "--as")


def invoked_command(argv: list[str]) -> str | None:
    """The command word in argv (after the global options), if any."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def only(name: str) -> typer.Typer:
    """The app with just one command (or command group) registered.

    Typer turns every registered command into a Click command on each start; a shell loop
    that runs `crmpool claim ID` a thousand times should pay for one, not thirty.
    """
    from typer.main import get_command_name

    slim = typer.Typer(**{k: v for k, v in APP_SETTINGS.items()})
    slim.registered_callback = app.registered_callback
    slim.registered_commands = [
        c for c in app.registered_commands
        if (c.name or get_command_name(c.callback.__name__)) == name
    ]
    slim.registered_groups = [g for g in app.registered_groups if g.name == name]
    return slim if (slim.registered_commands or slim.registered_groups) else app


def _streams_that_never_fail() -> None:
    # PYTHONIOENCODING=ascii, a C locale: text that the terminal cannot show is escaped,
    # never a crash (JSON output escapes it properly itself, see output.py).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _misplaced_global(argv: list[str], name: str | None) -> str | None:
    """A global option written after the command, which Click would call unknown."""
    if name is None:
        return None
    after = argv[argv.index(name) + 1:]
    for token in after:
        if token == "--":
            return None
        option = token.split("=", 1)[0]
        if option in GLOBAL_OPTIONS_WITH_VALUE:
            return option
    return None


def main() -> None:
    """Console entry point."""
    _streams_that_never_fail()
    argv = sys.argv[1:]
    name = invoked_command(argv)
    misplaced = _misplaced_global(argv, name)
    if misplaced:
        print(f"crmpool: {misplaced} is a global option: put it before the command, as in"
              f" `crmpool {misplaced} VALUE {name} ...`", file=sys.stderr)
        sys.exit(2)
    if name is None and "--version" in argv and not {"-h", "--help"} & set(argv):
        print(f"crmpool {__version__}")  # answered before Typer builds any command
        return
    (only(name) if name else app)()


if __name__ == "__main__":
    main()
