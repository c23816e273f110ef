"""`crmpool import`, `dupes` and `demo`: customers, contacts and deals in, duplicates found."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    DateOrder,
    Encoding,
    Format,
    FormatOpt,
    ImportKind,
    InputFormat,
    OnDuplicate,
    QuietOpt,
    UsageError,
    WideOpt,
    clock,
    command,
    plural,
    session,
    view,
)

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
    sheet: Annotated[str | None, typer.Option(
        help="An Excel workbook's sheet (default: the first).", show_default=False)] = None,
    date_order: Annotated[DateOrder | None, typer.Option(
        help="How to read 3/4/2018: dmy (4 March) or mdy (March 4); ymd is always read.",
        show_default=False)] = None,
    distribute: Annotated[str | None, typer.Option(
        help="Hand the rows that land in a pool to its members at once: round-robin,"
        " least-loaded, territory or performance.", show_default=False)] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Bulk-load customers, contacts or deals; all rows or none (see --skip-bad)."""
    from crmpool.imports.importer import ImportOptions, import_file
    from crmpool.imports.sources import open_source

    mapping = {}
    for item in map_ or []:
        src, sep, target = item.partition("=")
        if not sep or not src or not target:
            raise UsageError(f"--map {item!r}: write it as SRC=FIELD, e.g. --map 客户=name")
        mapping[src] = target.strip()
    opts = ImportOptions(kind=kind.value, mapping=mapping, on_duplicate=on_duplicate.value,
                         owner=owner, pool=pool, dry_run=dry_run, skip_bad=skip_bad,
                         date_order=date_order.value if date_order else None,
                         distribute=distribute)
    if distribute is not None:
        from crmpool.distribute_rules import STRATEGIES

        if distribute not in STRATEGIES:
            raise UsageError(f"--distribute must be one of {', '.join(STRATEGIES)}")
        if kind.value != "customers":
            raise UsageError("--distribute goes with --kind customers")
    # The summary is a report for people unless a machine format is asked for by name.
    with session(ctx, fmt or Format.table, quiet) as s:
        source = open_source(file, input_format.value if input_format else None,
                             encoding.value, sheet)
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
    encoding = "UTF-8 or GB18030" if summary.encoding == "auto" else summary.encoding
    out.say(f"{summary.file} ({summary.format}, {encoding}): read {summary.read},"
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
        if dup.get("existing"):  # a deal or contact
            what = dup["existing"]
        elif dup["existing_id"]:
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
    if summary.distributed:
        given = ", ".join(f"{u} {n}" for u, n in summary.distributed["per_user"].items())
        out.say(f"  distributed {summary.distributed['assigned']} by"
                f" {summary.distributed['strategy']}{': ' + given if given else ''}")
        for why, count in summary.distributed["left_by_reason"].items():
            out.say(f"    {count} left in the pool: {why}")
    if summary.kind == "customers" and summary.would_reclaim_today:
        out.say(f"  a sweep today would reclaim {summary.would_reclaim_today} of them"
                " (crmpool sweep --dry-run)")


@command()
def dupes(ctx: typer.Context, columns: ColumnsOpt = None, wide: WideOpt = False,
          all_: AllOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Clusters of likely duplicates (查重) by phone, e-mail, company id or name."""
    from crmpool.dupes import CLUSTER_COLUMNS, duplicate_clusters
    from crmpool.visibility import viewer

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        seer = viewer(s.conn, s.actor)
        s.out.rows([seer.shown_cluster(c) for c in duplicate_clusters(s.conn)], CLUSTER_COLUMNS,
                   for_people=("same", "count", "ids", "names", "owners", "key"))


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
