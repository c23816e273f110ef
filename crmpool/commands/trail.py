"""The audit trail and copies out: `history`, `events`, `export`, `backup`."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    ExportEncoding,
    FormatOpt,
    IdArg,
    Kind,
    LimitOpt,
    QuietOpt,
    WhenHelp,
    WideOpt,
    _checked,
    command,
    done,
    session,
    view,
    when,
)

# --- the audit trail, export and backup --------------------------------------------------


@command()
def history(ctx: typer.Context,
            customer_id: IdArg,
            columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False,
            fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """The audit trail of one customer: every change of owner, pool, status or freeze."""
    from crmpool.audit import EVENT_COLUMNS
    from crmpool.audit import history as customer_history
    from crmpool.policy import load_customer

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        load_customer(s.conn, customer_id)
        s.out.rows(customer_history(s.conn, customer_id), EVENT_COLUMNS,
                   for_people=("at", "action", "actor", "from_owner", "to_owner", "reason", "rule",
                               "to_pool", "run_id"))


@command()
def events(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help=f"From this time: {WhenHelp}.")] = None,
    action: Annotated[str | None, typer.Option(
        help="Only this action: claim, release, assign, reclaim, freeze, ...")] = None,
    user: Annotated[str | None, typer.Option(help="Done by, or to, this user.")] = None,
    limit: LimitOpt = None,
    columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False, fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The append-only audit trail, oldest first."""
    from crmpool.audit import EVENT_COLUMNS, count_events, query_events

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        chosen = {"since": when(since, s.now, "--since"), "action": action, "user": user}
        s.out.rows(query_events(s.conn, **chosen, limit=s.out.fetch_limit(limit)),
                   EVENT_COLUMNS,
                   for_people=("id", "at", "customer_id", "action", "actor", "from_owner",
                               "to_owner", "reason", "rule", "run_id"),
                   total=lambda: count_events(s.conn, **chosen))


@command()
def export(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Option(help="What to export.")] = Kind.customers,
    encoding: Annotated[ExportEncoding, typer.Option(
        help="utf-8 (default); utf-8-sig for Excel, which needs the BOM to see UTF-8;"
        " gb18030 for WPS and older Excel in China.")] = ExportEncoding.utf_8,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this new file (needed for -f xlsx).",
        show_default=False)] = None,
    columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False, fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Everything you may see in full out, in any format; `import` reads the customers back.

    An admin exports everything; a manager their team's customers, a rep their own (and a
    pool's admin that pool's), with their contacts, deals and events."""
    import io

    from crmpool.engines import engine_of
    from crmpool.exporting import export_json_texts, export_lines, export_rows
    from crmpool.visibility import viewer

    if output is not None and output.exists():
        from crmpool.errors import Refused

        raise Refused(f"{output} exists; choose a new file name")
    shown = view(columns, wide, all_)
    shown.target = output
    with session(ctx, fmt, quiet, shown) as s:
        if output is not None and s.out.format != "xlsx":
            s.out.out = open(output, "w", encoding=encoding.value, newline="")  # noqa: SIM115
        elif encoding.value != "utf-8":
            sys.stdout.flush()
            s.out.out = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding.value,
                                         newline="")
            s.out.ascii = False
        # A rep exports their own customers, a manager their team's (crmpool/visibility.py).
        scope = viewer(s.conn, s.actor).scope_sql()
        # SQLite writes the JSON and CSV lines itself (its JSON and text functions); on
        # PostgreSQL the rows go through Python's writers, as they do for --columns.
        plain = not (s.out.ascii or columns or s.out.quiet)
        fast = plain and engine_of(s.conn) == "sqlite"
        fast_json = plain and s.out.format in ("json", "jsonl")
        if fast and s.out.format in ("json", "jsonl"):
            s.out.json_texts(export_json_texts(s.conn, kind.value, scope))
        elif fast and s.out.format in ("csv", "tsv"):
            s.out.lines(*export_lines(s.conn, kind.value, s.out.format, scope))
        elif fast_json:
            # The same text as SQLite's json_object writes: compact, non-ASCII as it is.
            _names, rows = export_rows(s.conn, kind.value, scope)
            s.out.json_texts(json.dumps(row, ensure_ascii=False, separators=(",", ":"))
                             for row in rows)
        else:
            names, rows = export_rows(s.conn, kind.value, scope)
            s.out.rows(rows, names)
        if output is not None and s.out.format != "xlsx":
            s.out.out.close()
        elif encoding.value != "utf-8":
            s.out.out.flush()
            s.out.out.detach()  # leave sys.stdout's buffer open for the interpreter


@command()
def backup(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(help="The new file to write.")],
           fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """A consistent copy of the database while others keep working (online backup)."""
    from crmpool import store
    from crmpool.engines import engine_of

    with session(ctx, fmt, quiet) as s:
        if engine_of(s.conn) == "postgresql":
            # A SQLite file of the whole team, from one snapshot (crmpool copy); the
            # server's own backups are pg_dump's and pg_basebackup's.
            from crmpool.copying import copy_database

            copy_database(s.conn, file, s.now)
        else:
            store.backup(s.conn, file)
    done(s.out, {"backup": str(file)}, f"backed up to {file}")


@command()
def copy(ctx: typer.Context,
         to: Annotated[str, typer.Option(
             "--to", metavar="FILE|URL",
             help="The new database: a file that does not exist, or an empty PostgreSQL"
                  " database (postgresql://USER@HOST/DBNAME).",
             parser=_checked("parse_database"))],
         fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Copy the whole team into a new database, either engine (admins only).

    Users, pools, customers, contacts, deals, events, runs, warnings, notifications, rules
    versions and distributions, ids kept, in one transaction on the target; each table's
    row count and checksum are compared before it commits.
    """
    from crmpool.copying import copy_database
    from crmpool.users import require_role

    with session(ctx, fmt, quiet) as s:
        require_role(s.actor, "admin", to="copy the whole team")
        report = copy_database(s.conn, to, s.now)
    total = sum(report.tables.values())
    done(s.out, report.as_dict(),
         f"copied {total} rows in {len(report.tables)} tables to {report.target};"
         " counts and checksums match")
