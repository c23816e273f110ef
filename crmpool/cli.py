"""The `crmpool` command: the app, the shared options, the session and the error boundary.

The commands themselves live in crmpool/commands/, one module per group, imported only when
one of their commands runs (`load_commands`); domain modules are imported inside the commands
that use them. So `crmpool --version` and one-ID commands start fast (shell loops call us
thousands of times). No SQL and no policy here.
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
    # --install-completion and --show-completion for bash, zsh and fish; completing loads
    # every command (the shell passes no command word), a normal run only its own.
    add_completion=True,
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
warnings_app = typer.Typer(help="Open warnings (预警), and `ack` for the ones you have seen.")
notify_app = typer.Typer(help="Send the notifications waiting in the outbox (通知).")
app.add_typer(warnings_app, name="warnings")
app.add_typer(notify_app, name="notify")
report_app = typer.Typer(help="Reports for managers (统计): owners, pool, ageing, lost,"
                         " conversion, sales; html and mail for the whole page.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


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
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", "-c", help="Show these columns, comma-separated (any format).",
    metavar="A,B,C", show_default=False)]
WideOpt = Annotated[bool, typer.Option("--wide", help="A table with every column.")]
AllOpt = Annotated[bool, typer.Option(
    "--all", help="Every row (a table on a terminal stops at 100).")]


class Settings:
    """The global options: which database, acting as whom."""

    def __init__(self, db: Path | str, user: str | None) -> None:
        self.db = db  # a SQLite file's path, or a PostgreSQL URL
        self.user = user

    @property
    def shown_db(self) -> str:
        """The database as messages name it (a URL without its password)."""
        from crmpool.engines import shown

        return shown(self.db)


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
    from crmpool.screen import printable

    print(f"crmpool: {printable(message)}", file=sys.stderr)
    return typer.Exit(code)


def command(name: str | None = None, group: typer.Typer = app, default: bool = False,
            **options: Any) -> Callable:
    """Register a command behind the one boundary that turns errors into exit codes
    (`default`: as the group's callback, which runs when no subcommand is named)."""

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
                if exc.filename is not None and exc.errno in (
                        errno.ENOENT, errno.EACCES, errno.EISDIR, errno.ENOTDIR, errno.EPERM):
                    # A file named by an option (-o FILE): a bad value, said with its name.
                    raise _fail(f"{exc.filename}: {exc.strerror}", 2) from None
                raise _unexpected(exc) from None
            except Exception as exc:  # a bug: say so, and hide the traceback unless asked
                raise _unexpected(exc) from None

        if default:
            # The group's own command (`crmpool warnings` beside `crmpool warnings ack`).
            return group.callback(invoke_without_command=True, **options)(guarded)
        return group.command(name, **options)(guarded)

    return decorate


def _unexpected(exc: Exception) -> typer.Exit:
    if os.environ.get("CRMPOOL_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    return _fail(f"unexpected error ({type(exc).__name__}: {exc}); this is a bug."
                 " Set CRMPOOL_DEBUG=1 to see the traceback.", 1)


def view(columns: str | None = None, wide: bool = False, all_rows: bool = False,
         now: datetime | None = None) -> Any:
    """How tables show rows: --columns, --wide, --all (crmpool/tables.py fits them)."""
    from crmpool.output import View

    picked = None
    if columns is not None:
        picked = [c.strip() for c in columns.split(",") if c.strip()]
        if not picked:
            raise UsageError("--columns: name one or more columns, e.g. -c id,name,owner")
    return View(picked, wide, all_rows, now)


@contextmanager
def session(ctx: typer.Context, fmt: Format | None = None, quiet: bool = False,
            shown: Any = None) -> Iterator[Session]:
    """Open the database, resolve the acting user, read the clock once.

    Every command that opens the database knows who acts: an unknown or inactive user is
    refused even a read (SPEC), so a mistyped --as never goes unnoticed.
    """
    from crmpool import store
    from crmpool.output import Output

    settings: Settings = ctx.obj
    now = clock()
    shown = shown or view()
    shown.now = now
    out = Output(fmt.value if fmt else None, quiet, view=shown)
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


def report(out: Any, outcomes: list, noun: str = "customer") -> None:
    """A result per ID: rows on stdout, refusals also on stderr; exit with the worst code."""
    failed = [o for o in outcomes if not o.ok]
    if out.for_people:
        if not out.quiet:
            from crmpool.screen import printable

            for outcome in outcomes:
                if outcome.ok:
                    print(f"{outcome.id}\t{printable(outcome.message)}", file=out.out)
    else:
        out.rows((o.as_row() for o in outcomes), ["id", "ok", "result", "message"])
    for outcome in failed:
        named = f"{noun} {outcome.id}" in outcome.message
        out.error(outcome.message if named else f"{noun} {outcome.id}: {outcome.message}")
    if failed:
        if len(outcomes) > 1:
            out.error(f"{len(failed)} of {len(outcomes)} failed")
        raise typer.Exit(max(o.exit_code for o in failed))


def over_ids(ctx: typer.Context, ids: list[str], fmt: Any, quiet: bool,
             act: Callable[[Session, list[int]], list], noun: str = "customer") -> None:
    """A command over many IDs: read them (stdin only with -) before the database is
    opened, act on them in one session, report one result per ID."""
    from crmpool.idargs import parse_ids

    customer_ids = parse_ids(ids)
    with session(ctx, fmt, quiet) as s:
        outcomes = act(s, customer_ids)
    report(s.out, outcomes, noun)


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
    db: Annotated[str, typer.Option(
        "--db", envvar="CRMPOOL_DB", metavar="PATH|URL",
        help="The team's database: a SQLite file, or postgresql://USER@HOST/DBNAME.",
        parser=_checked("parse_database"))] = "crmpool.db",
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
    from crmpool.engines import is_url

    ctx.obj = Settings(db if is_url(db) else Path(db), as_user)


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


# Which module of crmpool/commands/ registers each command word.
COMMAND_GROUPS = {
    "init": "setup", "user": "setup", "pool": "setup",
    "add": "customers", "list": "customers", "show": "customers", "log": "customers",
    "claim": "customers", "release": "customers", "assign": "customers",
    "freeze": "customers", "unfreeze": "customers", "invalid": "customers",
    "due": "records", "edit": "records", "merge": "records", "restore": "records",
    "deal": "records",
    "history": "trail", "events": "trail", "export": "trail", "backup": "trail", "copy": "trail",
    "rules": "rules",
    "import": "imports", "dupes": "imports", "demo": "imports",
    "sweep": "sweep", "why": "sweep", "warnings": "sweep", "runs": "sweep",
    "forecast": "sweep", "notify": "notify", "distribute": "distribute", "report": "report",
}


def load_commands(name: str | None = None) -> typer.Typer:
    """Register the commands of `name`'s group (every group for None, or an unknown word,
    so that help and "no such command" list them all); returns the app."""
    import importlib

    groups = ({COMMAND_GROUPS[name]} if name in COMMAND_GROUPS
              else set(COMMAND_GROUPS.values()))
    for group in sorted(groups):
        importlib.import_module(f"crmpool.commands.{group}")
    return app


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
    load_commands(name)
    # One name however it was started (python -m crmpool too): usage lines and completion.
    (only(name) if name else app)(prog_name="crmpool")


if __name__ == "__main__":
    main()
