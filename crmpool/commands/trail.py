"""The audit trail and copies out: `history`, `events`, `export`, `backup`."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

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
        fast = not (s.out.ascii or columns or s.out.quiet)
        if fast and s.out.format in ("json", "jsonl"):
            s.out.json_texts(export_json_texts(s.conn, kind.value, scope))
        elif fast and s.out.format in ("csv", "tsv"):
            s.out.lines(*export_lines(s.conn, kind.value, s.out.format, scope))
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

    with session(ctx, fmt, quiet) as s:
        store.backup(s.conn, file)
    done(s.out, {"backup": str(file)}, f"backed up to {file}")
