"""`report owners|pool|ageing|lost|conversion|sales`, `report html`, `report mail`."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    QuietOpt,
    UsageError,
    WhenHelp,
    WideOpt,
    _checked,
    command,
    report_app,
    session,
    view,
    when,
)

SinceOpt = Annotated[str | None, typer.Option(
    help=f"From (default: Monday 00:00 of this week): {WhenHelp}.")]
UntilOpt = Annotated[str | None, typer.Option(help=f"Until (default: now): {WhenHelp}.")]
ByOpt = Annotated[str, typer.Option(help="Periods: day, week or month (for the pool and sales).")]
TeamOpt = Annotated[str | None, typer.Option(help="Only this team.")]
OwnerOpt = Annotated[str | None, typer.Option(help="Only this owner.")]
DaysOpt = Annotated[int, typer.Option(help="N days (default 90).", metavar="N",
                                      parser=_checked("parse_window_days"))]


def _scope(s: Any, team: str | None, owner: str | None) -> Any:
    """A rep sees their own figures; managers and admins whom they ask for."""
    from crmpool.reports.scope import Scope

    if team and owner:
        raise UsageError("give --team or --owner, not both")
    if s.actor.role == "rep":
        if (owner and owner != s.actor.name) or team:
            from crmpool.errors import Refused

            raise Refused("a rep's reports show their own figures; a manager or an admin"
                          " may ask for others'")
        return Scope(owner=s.actor.name)
    return Scope(team=team, owner=owner)


def _period(s: Any, since: str | None, until: str | None, by: str) -> Any:
    from crmpool.reports.base import BY, Period, this_week

    if by not in BY:
        raise UsageError(f"--by must be one of {', '.join(BY)}")
    start = when(since, s.now, "--since") or this_week(s.now)
    end = when(until, s.now, "--until") or s.now
    if end <= start:
        raise UsageError("--until must be after --since")
    return Period(start, end, by)


def build(s: Any, name: str, period: Any, scope: Any, days: int = 90,
          group: str = "region") -> Any:
    """One report's figures, as of the session's moment."""
    from crmpool.ruleset import active_limits

    if name == "owners":
        from crmpool.reports.owners import owners_report

        return owners_report(s.conn, period, scope, active_limits(s.conn), s.now)
    if name == "pool":
        from crmpool.reports.pool import pool_report

        return pool_report(s.conn, period, s.now)
    if name == "ageing":
        from crmpool.reports.ageing import ageing_report

        return ageing_report(s.conn, scope, s.now)
    if name == "lost":
        from crmpool.reports.lost import lost_report

        return lost_report(s.conn, scope, days, s.now)
    if name == "conversion":
        from crmpool.reports.conversion import conversion_report

        return conversion_report(s.conn, period, scope, days)
    from crmpool.reports.sales import sales_report

    return sales_report(s.conn, period, scope, group)


def _show(s: Any, figures: Any) -> None:
    s.out.rows(figures.rows, figures.columns, for_people=figures.shown)
    if s.out.for_people and not s.out.quiet:
        import shutil

        from crmpool.reports.charts import picture

        width = min(shutil.get_terminal_size((80, 24)).columns, 120)
        lines = picture(figures, width)
        if lines:
            print("", *lines, sep="\n", file=s.out.out)
        period = f"{figures.period.describe()}; " if figures.period else ""
        s.out.say(f"{figures.title} ({period}{'; '.join(figures.notes)})")


# Which options each report reads; any other is refused rather than silently ignored.
TAKES = {
    "owners": {"since", "until", "team", "owner"},
    "pool": {"since", "until", "by"},
    "ageing": {"team", "owner"},
    "lost": {"days", "team", "owner"},
    "conversion": {"since", "until", "days", "team", "owner"},
    "sales": {"since", "until", "by", "group", "team", "owner"},
}


def _report(name: str, doc: str) -> None:
    """Register `report NAME` with the options that report takes."""

    def run(ctx: typer.Context, since: SinceOpt = None, until: UntilOpt = None,
            by: Annotated[str | None, typer.Option(
                help="Periods: day, week (default) or month.")] = None,
            team: TeamOpt = None, owner: OwnerOpt = None,
            days: Annotated[int | None, typer.Option(
                help="N days (default 90).", metavar="N",
                parser=_checked("parse_window_days"))] = None,
            group: Annotated[str | None, typer.Option(
                help="region (default), industry or level.")] = None,
            columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False,
            fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
        given = {k for k, v in (("since", since), ("until", until), ("by", by), ("team", team),
                                ("owner", owner), ("days", days), ("group", group))
                 if v is not None}
        for option in sorted(given - TAKES[name]):
            raise UsageError(f"--{option} does not go with report {name} (it takes"
                             f" {', '.join('--' + o for o in sorted(TAKES[name]))})")
        with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
            _show(s, build(s, name, _period(s, since, until, by or "week"),
                           _scope(s, team, owner), days or 90, group or "region"))

    run.__doc__ = doc
    run.__name__ = f"report_{name}"
    command(name, group=report_app)(run)


_report("owners", "Per owner, with team totals: held now, done in the period (工作量).")
_report("pool", "The pools' inflow by cause and outflow per period, size, waiting time.")
_report("ageing", "Owned customers by days since the last contact, per owner (账龄).")
_report("lost", "Bought before, nothing won for --days, or reclaimed after buying (流失).")
_report("conversion", "Of those claimed, assigned or imported, how many won within --days.")
_report("sales", "Won amount per period by --group, beside a year before (销售统计).")


@command("html", group=report_app)
def report_html(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="The page to write.")],
    since: SinceOpt = None, until: UntilOpt = None, by: ByOpt = "week",
    team: TeamOpt = None, owner: OwnerOpt = None, days: DaysOpt = 90,
    quiet: QuietOpt = False,
) -> None:
    """Every report on one self-contained HTML page (inline SVG, no script, no links out)."""
    from crmpool.reports.page import every_report, render

    with session(ctx, None, quiet) as s:
        period = _period(s, since, until, by)
        page = render(every_report(lambda name: build(s, name, period, _scope(s, team, owner),
                                                      days)), period, s.now)
    _write_new(output, page)
    s.out.say(f"wrote {output} ({len(page.encode('utf-8')):,} bytes)")


def _write_new(path: Path, text: str) -> None:
    import os

    from crmpool.errors import Refused

    if path.exists():
        raise Refused(f"{path} exists; choose a new file name")
    if not path.parent.is_dir():
        raise UsageError(f"-o {path}: there is no folder {path.parent}")
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


@command("mail", group=report_app)
def report_mail(
    ctx: typer.Context,
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="manager, admins or user:NAME (repeatable; default: admins).")] = None,
    channel: Annotated[str | None, typer.Option(
        help="The smtp channel to send through (default: the first).")] = None,
    since: SinceOpt = None, until: UntilOpt = None, by: ByOpt = "week",
    team: TeamOpt = None, days: DaysOpt = 90,
    fmt: FormatOpt = None, quiet: QuietOpt = False,
) -> None:
    """E-mail the page through an smtp channel of the rules file (a weekly cron line)."""
    from crmpool.reports.mail import send_report
    from crmpool.reports.page import every_report, render
    from crmpool.ruleset import active_rules

    with session(ctx, fmt, quiet) as s:
        period = _period(s, since, until, by)
        scope = _scope(s, team, None)
        page = render(every_report(lambda name: build(s, name, period, scope, days)), period,
                      s.now)
        sent = send_report(s.conn, active_rules(s.conn), page, period, to or ["admins"],
                           channel, team)
    for line in sent:
        s.out.say(line)
