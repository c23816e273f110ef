"""The sweep and what it leaves: `sweep` (and `--undo`), `why`, `warnings` (and `ack`),
`forecast`, `runs`."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

import functools
from typing import Annotated, Any

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    IdArg,
    LimitOpt,
    QuietOpt,
    UsageError,
    WhenHelp,
    WideOpt,
    _checked,
    command,
    over_ids,
    plural,
    session,
    view,
    warnings_app,
    when,
)

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
    no_notify: Annotated[bool, typer.Option(
        "--no-notify", help="Leave the run's messages in the outbox for `crmpool notify`.")]
    = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Apply the reclaim and warning rules once (定时回收 / 预警), then send what the run has
    to tell; safe to run from cron any number of times."""
    if undo is not None:
        if now is not None:
            raise UsageError("give --undo RUN or --now, not both")
        return _undo(ctx, undo, dry_run, fmt, quiet)
    from crmpool.sweep import sweep as run_sweep

    with session(ctx, fmt, quiet) as s:
        as_of = when(now, s.now, "--now") or s.now
        # -q prints nothing, so the run's customers are not even read (on PostgreSQL a
        # query is fetched whole: 0.6 s at 1M customers for output nobody sees).
        machine = (not s.out.for_people and not s.out.quiet
                   and s.out.format in ("json", "jsonl"))
        details = functools.partial(render_sweep_details, s.out) if machine else None
        report = run_sweep(s.conn, s.actor, as_of, s.now, dry_run=dry_run, details=details)
        if not dry_run and not no_notify:
            from crmpool.notify.deliver import deliver
            from crmpool.ruleset import active_rules

            # After the run's commit: the network never holds its transaction open.
            sent = deliver(s.conn, active_rules(s.conn), s.now)
            failed = [r for r in sent if not r.ok]
            if sent:
                s.out.say(f"notified: {len(sent) - len(failed)} sent, {len(failed)} failed"
                          + (" (tried again later; crmpool notify list --failed)"
                             if failed else ""))
            for result in failed:
                s.out.error(f"notification {result.id} ({result.channel}): {result.error}")
    if not machine:
        render_sweep(s.out, report)


def render_sweep_details(out: Any, report: Any, reclaimed: Any, warned: Any) -> None:
    """Every reclaimed and warned customer, streamed: one JSON object with two arrays, or
    JSON lines of kind reclaim, warning and (last) run. Memory stays flat at any size."""
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
    for rule, count in report.distributed.items():
        out.say(f"distribute rule {rule!r}: {plural(count, 'customer')} handed out")


def _undo(ctx: typer.Context, run_id: int, dry_run: bool, fmt: Any, quiet: bool) -> None:
    from crmpool.sweep.undo import UNDO_COLUMNS, undo_run

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



@command()
def why(ctx: typer.Context, customer_id: IdArg,
        columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False,
        fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Which rule will reclaim this customer, from which timestamp, on which day."""
    from crmpool.sweep.why import WHY_COLUMNS, WHY_TABLE_COLUMNS, explain

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        state, rows = explain(s.conn, customer_id, s.now)
        s.out.say(f"customer {customer_id}: {state}")
        if rows:
            s.out.rows(rows, WHY_COLUMNS, for_people=WHY_TABLE_COLUMNS)


def _one_whose(owner: str | None, mine: bool, team: str | None) -> None:
    if sum(map(bool, (owner, mine, team))) > 1:
        raise UsageError("give one of --owner, --mine and --team")


def _whose(s: Any, owner: str | None, mine: bool, team: str | None) -> str | None:
    """The owner to show (yours with --mine, and a rep's own by default, as `due` does); a
    mistyped name or team is refused."""
    from crmpool.users import get_user, require_team

    if owner:
        get_user(s.conn, owner)
    if team:
        require_team(s.conn, team)
    if mine or (s.actor.role == "rep" and not owner and not team):
        return s.actor.name
    return owner


@command(group=warnings_app, default=True)
def warnings(
    ctx: typer.Context,
    level: Annotated[str | None, typer.Option(help="Only this level: low, mid or high.")]
    = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's warnings.")] = None,
    mine: Annotated[bool, typer.Option(help="Only your warnings.")] = False,
    team: Annotated[str | None, typer.Option(help="Only this team's warnings.")] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Closed warnings too, with when and why they closed; every row.")]
    = False,
    columns: ColumnsOpt = None, wide: WideOpt = False, fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Open warnings (预警), highest level and soonest first; `warnings ack ID...` marks
    the ones you have seen."""
    if ctx.invoked_subcommand:
        return
    from crmpool.sweep.warnings import WARNING_COLUMNS, list_warnings

    _one_whose(owner, mine, team)
    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        owner = _whose(s, owner, mine, team)
        s.out.rows(list_warnings(s.conn, owner=owner, team=team,
                                 level=level, closed_too=all_), WARNING_COLUMNS,
                   for_people=("id", "customer_id", "name", "level", "owner", "due_at",
                               "detail", "rule", "acked_at", "closed_at", "close_reason"))


@command("ack", group=warnings_app)
def warnings_ack(ctx: typer.Context, ids: Annotated[list[str], typer.Argument(
        help="Warning IDs (`crmpool warnings` lists them), or - to read them from stdin.",
        metavar="ID...", show_default=False)],
        fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """You have seen these warnings: no more notifications about them; each stays open
    until its condition ends."""
    from crmpool.sweep.warnings import ack

    over_ids(ctx, ids, fmt, quiet, lambda s, found: ack(s.conn, s.actor, found, s.now),
             noun="warning")


@command()
def forecast(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="How many days ahead.", metavar="N",
                                      parser=_checked("parse_days"))]
    = 7,
    owner: Annotated[str | None, typer.Option(help="Only this owner's customers.")] = None,
    mine: Annotated[bool, typer.Option(help="Only your customers.")] = False,
    team: Annotated[str | None, typer.Option(help="Only this team's customers.")] = None,
    columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False, fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Day by day, which customers go back to the pool and by which rule if nobody acts."""
    from crmpool.ruleset import active_rules
    from crmpool.sweep.forecast import FORECAST_COLUMNS
    from crmpool.sweep.forecast import forecast as forecast_rows

    _one_whose(owner, mine, team)
    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        owner = _whose(s, owner, mine, team)
        s.out.rows(forecast_rows(s.conn, active_rules(s.conn), s.now, days, owner=owner,
                                 team=team),
                   FORECAST_COLUMNS)


@command()
def runs(ctx: typer.Context,
         limit: LimitOpt = None,
         columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False,
         fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Past sweep runs, newest first."""
    from crmpool.sweep import RUN_COLUMNS, count_runs, list_runs

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        s.out.rows(list_runs(s.conn, s.out.fetch_limit(limit)), RUN_COLUMNS,
                   total=lambda: count_runs(s.conn),
                   for_people=("id", "as_of", "reclaimed", "warned", "unfrozen", "actor",
                               "undone_at", "rules_fingerprint", "started_at", "per_rule"))
