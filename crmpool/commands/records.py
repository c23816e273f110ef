"""A rep's records: `due` (today's work), `edit` a customer, `merge` duplicates, `restore` an
invalid one, and `deal` (record one, or `deal close` an open one)."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from typing import Annotated

import typer

from crmpool.cli import (
    AllOpt,
    ColumnsOpt,
    FormatOpt,
    IdArg,
    IdsArg,
    QuietOpt,
    UsageError,
    WhenHelp,
    WideOpt,
    _checked,
    command,
    over_ids,
    session,
    view,
    when,
)


@command()
def due(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option(help="Your customers (the default for a rep).")]
    = False,
    owner: Annotated[str | None, typer.Option(help="This user's customers.")] = None,
    team: Annotated[str | None, typer.Option(help="Everyone in this team.")] = None,
    days: Annotated[int, typer.Option(
        help="Also what falls due in the next N days (0: today only).", metavar="N",
        parser=_checked("parse_days"))] = 0,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
    all_: AllOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Today's work (今日待跟进): follow-ups due or overdue, customers about to go back to the
    pool, freezes ending; overdue first."""
    from crmpool.due import DUE_COLUMNS
    from crmpool.due import due as due_work

    if sum(map(bool, (mine, owner, team))) > 1:
        raise UsageError("give one of --mine, --owner or --team")
    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        who = owner or (s.actor.name if mine or not team and s.actor.role == "rep" else None)
        s.out.rows(due_work(s.conn, s.now, owner=who, team=team, days=days), DUE_COLUMNS)


@command()
def edit(
    ctx: typer.Context,
    customer_id: IdArg,
    name: Annotated[str | None, typer.Option(help="The customer's name.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone (\"\" clears it).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail.")] = None,
    company_id: Annotated[str | None, typer.Option(help="统一社会信用代码.")] = None,
    level: Annotated[str | None, typer.Option(help="Level.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    industry: Annotated[str | None, typer.Option(help="Industry.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="KEY=VALUE in the customer's extra fields (KEY= removes it).",
        metavar="KEY=VALUE", show_default=False)] = None,
    allow_duplicate: Annotated[bool, typer.Option(
        help="Change it even if it then looks like another customer.")] = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Change a customer's fields (owner, their manager, admin), with an `edit` event."""
    from crmpool.editing import EDITABLE, edit_customer
    from crmpool.listing import LIST_COLUMNS

    given = dict(name=name, phone=phone, email=email, company_id=company_id, level=level,
                 region=region, industry=industry)
    fields = {k: v for k, v in given.items() if v is not None}
    extra: dict[str, str | None] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: write it as KEY=VALUE, e.g. --set 来源=展会")
        if key in EDITABLE:
            fields[key] = value
        else:
            extra[key] = value or None
    with session(ctx, fmt, quiet) as s:
        row = edit_customer(s.conn, s.actor, customer_id, s.now, fields=fields, extra=extra,
                            allow_duplicate=allow_duplicate)
        changed = row.pop("changed")
        s.out.say(f"changed {', '.join(changed)}" if changed else "nothing changed")
        s.out.rows([row], LIST_COLUMNS)


@command()
def merge(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(
        help="KEEP then the customers folded into it; - reads one cluster a line (a JSON"
        " object with ids, as `dupes -f jsonl` writes; the first id is kept).",
        metavar="KEEP OTHER...|-", show_default=False)],
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Fold duplicates into one record (合并), keeping their contacts, deals and history."""
    from crmpool.idargs import parse_clusters, parse_ids
    from crmpool.merging import merge as merge_customers

    if ids == ["-"]:
        clusters = parse_clusters()
    else:
        found = parse_ids(ids)
        if len(found) < 2:
            raise UsageError("merge KEEP OTHER...: name the record to keep and at least one"
                             " to fold into it")
        clusters = [found]
    with session(ctx, fmt, quiet) as s:
        done = [merge_customers(s.conn, s.actor, c[0], c[1:], s.now) for c in clusters]
    for result in done:
        s.out.say(f"merged {', '.join(map(str, result['merged']))} into {result['keep']}:"
                  f" {result['contacts']} contacts, {result['deals']} deals moved")
    s.out.rows(done, ["keep", "merged", "contacts", "deals", "warnings", "filled"])


@command()
def restore(ctx: typer.Context, ids: IdsArg, fmt: FormatOpt = None,
            quiet: QuietOpt = False) -> None:
    """Undo `invalid` (manager, admin): back in every list and rule, with an event."""
    from crmpool.editing import restore as restore_customers

    over_ids(ctx, ids, fmt, quiet,
             lambda s, found: restore_customers(s.conn, s.actor, found, s.now))


@command()
def deal(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(
        help="The customer's ID; or `close` to close an open deal.", metavar="ID|close",
        show_default=False)],
    deal_id: Annotated[str | None, typer.Argument(
        help="With close: the deal's ID (show ID lists them).", metavar="[DEAL_ID]",
        show_default=False)] = None,
    amount: Annotated[str | None, typer.Option(help="Amount, e.g. 12000 or 12,000.50.",
                                               show_default=False)] = None,
    stage: Annotated[str | None, typer.Option(
        help="open (default), won or lost (or 赢单, 输单 …); close needs won or lost.",
        show_default=False)] = None,
    at: Annotated[str | None, typer.Option(help=f"When (default now): {WhenHelp}.")] = None,
    note: Annotated[str | None, typer.Option(help="A note.")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Record a deal (成交 / 签单): `deal ID --amount N [--stage]`; or close an open one:
    `deal close DEAL_ID --stage won|lost [--amount N]`. A won deal marks the customer won."""
    from crmpool.deals import close_deal, record_deal
    from crmpool.values import parse_id

    try:
        if target == "close":
            if deal_id is None:
                raise UsageError("deal close DEAL_ID --stage won|lost: which deal?")
            number = parse_id(deal_id)
        else:
            if deal_id is not None:
                raise UsageError(f"unexpected {deal_id!r}: deal ID --amount N")
            number = parse_id(target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with session(ctx, fmt, quiet) as s:
        if target == "close":
            if stage is None:
                raise UsageError("deal close: give --stage won or --stage lost")
            row = close_deal(s.conn, s.actor, number, stage, s.now, amount=amount,
                             at=when(at, s.now, "--at"))
        else:
            if amount is None:
                raise UsageError("deal ID --amount N: how much?")
            row = record_deal(s.conn, s.actor, number, amount, s.now, stage=stage or "open",
                              at=when(at, s.now, "--at"), note=note)
        s.out.rows([row])
