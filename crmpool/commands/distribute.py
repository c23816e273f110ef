"""`distribute`: hand a pool's waiting customers to its members by a strategy (自动分配)."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from typing import Annotated

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    LimitOpt,
    QuietOpt,
    WideOpt,
    _checked,
    command,
    session,
    view,
)


@command()
def distribute(
    ctx: typer.Context,
    pool: Annotated[str | None, typer.Option(
        help="The pool to hand out (default: every pool with customers waiting).")] = None,
    strategy: Annotated[str, typer.Option(
        help="round-robin, least-loaded, territory ([[territory]] in the rules) or"
        " performance.")] = "round-robin",
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Only to these users or team:NAME (members of the pool; repeatable).")]
    = None,
    limit: LimitOpt = None,
    days: Annotated[int, typer.Option(
        help="performance: won amount over the last N days.", metavar="N",
        parser=_checked("parse_window_days"))] = 90,
    floor_pct: Annotated[int, typer.Option(
        help="performance: the share everyone gets regardless (%).", metavar="PCT",
        parser=_checked("parse_percent"))] = 20,
    dry_run: Annotated[bool, typer.Option(
        help="Print the plan and change nothing; the real run then does exactly this.")]
    = False,
    columns: ColumnsOpt = None, wide: WideOpt = False, all_: AllOpt = False,
    fmt: FormatOpt = None, quiet: QuietOpt = False,
) -> None:
    """Hand waiting customers to the pool's eligible members: active, under cap and the
    daily limit, not a previous owner inside the cooldown. Those nobody may take stay in the
    pool, with the reason."""
    from crmpool.distribute.run import DISTRIBUTION_COLUMNS, Request
    from crmpool.distribute.run import distribute as hand_out
    from crmpool.ruleset import active_rules
    from crmpool.store import transaction

    request = Request(pool=pool, strategy=strategy, to=tuple(to or ()), limit=limit, days=days,
                      floor_pct=floor_pct)
    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        with transaction(s.conn):
            rules = active_rules(s.conn)
            report = hand_out(s.conn, s.actor, request, rules.limits, rules.territories, s.now,
                              dry_run=dry_run)
        if not s.out.quiet:
            s.out.rows(report.rows(), DISTRIBUTION_COLUMNS)
        summary = report.summary()
        given = ", ".join(f"{user} {n}" for user, n in summary["per_user"].items())
        verb = "would assign" if dry_run else "assigned"
        s.out.say(f"{verb} {summary['assigned']} of {report.looked_at} by {strategy}"
                  f"{': ' + given if given else ''} (to {'; '.join(report.notes) or 'nobody'})")
        for why, count in summary["left_by_reason"].items():
            s.out.say(f"  {count} left in the pool: {why}")
