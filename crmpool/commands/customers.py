"""The commands on customers: add, list, show, log, claim, release, assign, freeze, unfreeze, deal,
invalid."""

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
    LimitOpt,
    QuietOpt,
    ReasonOpt,
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
    team: Annotated[str | None, typer.Option(help="Owned by this team's members.")] = None,
    pool: Annotated[str | None, typer.Option(help="Home pool is this one.")] = None,
    in_pool: Annotated[bool, typer.Option(help="Unowned: waiting in a pool.")] = False,
    level: Annotated[str | None, typer.Option(help="Customer level (any case).")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    industry: Annotated[str | None, typer.Option(help="Industry.")] = None,
    status: Annotated[str | None, typer.Option(
        help="active, won or invalid (default: all but invalid).")] = None,
    idle_over: Annotated[int | None, typer.Option(
        help="Owned, with no contact or assignment for more than DAYS.", metavar="DAYS",
        parser=_checked("parse_days"))]
    = None,
    frozen: Annotated[bool, typer.Option(help="Frozen now.")] = False,
    due: Annotated[bool, typer.Option(
        help="A follow-up (log --next) due today or overdue.")] = False,
    search: Annotated[str | None, typer.Option(
        help="Name (any width, case or spacing), phone fragment, e-mail or company id.")]
    = None,
    sort: Annotated[str, typer.Option(
        help="id, idle, name, created, last_contact or next_contact.")] = "id",
    kind: Annotated[str, typer.Option(
        help="customers, or deals (with their IDs, for `deal close`).")] = "customers",
    stage: Annotated[str | None, typer.Option(
        help="With --kind deals: open, won or lost.")] = None,
    desc: Annotated[bool, typer.Option(help="Sort the other way.")] = False,
    limit: LimitOpt = None,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
    all_: AllOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List customers matching every filter given (the pool's view with --in-pool)."""
    from crmpool.listing import (
        COMPUTED,
        LIST_COLUMNS,
        POOL_COLUMNS,
        TABLE_COLUMNS,
        CustomerFilter,
        count_customers,
        list_customers,
    )

    if owner and mine:
        raise UsageError("give --owner or --mine, not both")
    if kind not in ("customers", "deals"):
        raise UsageError("--kind must be customers or deals")
    if kind == "deals":
        from crmpool.deals import DEAL_COLUMNS, count_deals, list_deals

        with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
            whose = s.actor.name if mine else owner
            s.out.rows(list_deals(s.conn, owner=whose, stage=stage,
                                  limit=s.out.fetch_limit(limit)), DEAL_COLUMNS,
                       total=lambda: count_deals(s.conn, owner=whose, stage=stage))
        return
    if stage is not None:
        raise UsageError("--stage goes with --kind deals")
    if pool and in_pool:
        raise UsageError("give --pool or --in-pool, not both")
    from crmpool.pool_access import closed_pools
    from crmpool.visibility import viewer

    with session(ctx, fmt, quiet, view(columns, wide, all_)) as s:
        # A rep does not see the customers of pools they may not claim from; contact
        # details show in full only where the user may work the customer.
        hidden = tuple(closed_pools(s.conn, s.actor)) if s.actor.role == "rep" else ()
        where = CustomerFilter(owner=s.actor.name if mine else owner, team=team, pool=pool,
                               in_pool=in_pool, level=level, region=region, industry=industry,
                               status=status, idle_over=idle_over, frozen=frozen, due=due,
                               search=search, sort=sort, desc=desc,
                               limit=s.out.fetch_limit(limit), hidden_pools=hidden)
        people = POOL_COLUMNS if in_pool else TABLE_COLUMNS
        seer = viewer(s.conn, s.actor)
        s.out.rows((seer.shown(row) for row in list_customers(s.conn, where, s.now)),
                   [*LIST_COLUMNS, *COMPUTED] if (wide or columns) else LIST_COLUMNS,
                   for_people=people, total=lambda: count_customers(s.conn, where, s.now))


@command()
def show(ctx: typer.Context, customer_id: IdArg,
         fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """One customer with its contacts, deals and ownership history."""
    from crmpool.customers import show_customer
    from crmpool.visibility import viewer

    with session(ctx, fmt, quiet) as s:
        shown = viewer(s.conn, s.actor).shown(show_customer(s.conn, customer_id))
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

    over_ids(ctx, ids, fmt, quiet, lambda s, found: log_contact(
        s.conn, s.actor, found, s.now, via=via, note=note, at=when(at, s.now, "--at"),
        next_at=when(next_, s.now, "--next")))


@command()
def claim(ctx: typer.Context, ids: IdsArg, fmt: FormatOpt = None,
          quiet: QuietOpt = False) -> None:
    """Take customers from a pool (领取), within your cap, daily limit and cooldown."""
    from crmpool.ownership import claim as claim_customers

    over_ids(ctx, ids, fmt, quiet, lambda s, found: claim_customers(s.conn, s.actor, found, s.now))


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
    from crmpool.ownership import release as release_customers

    over_ids(ctx, ids, fmt, quiet, lambda s, found: release_customers(
        s.conn, s.actor, found, reason, s.now, pool=pool))


@command()
def assign(
    ctx: typer.Context,
    ids: IdsArg,
    to: Annotated[str, typer.Option(help="The user who gets them.", show_default=False)],
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Hand customers to a user (分配): managers within their team, admins anyone."""
    from crmpool.ownership import assign as assign_customers

    over_ids(ctx, ids, fmt, quiet,
             lambda s, found: assign_customers(s.conn, s.actor, found, to, s.now))


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

    over_ids(ctx, ids, fmt, quiet, lambda s, found: freeze_customers(
        s.conn, s.actor, found, when(until, s.now, "--until"), reason, s.now))


@command()
def unfreeze(ctx: typer.Context, ids: IdsArg, fmt: FormatOpt = None,
             quiet: QuietOpt = False) -> None:
    """Lift freezes early; managers and admins."""
    from crmpool.freezes import unfreeze as unfreeze_customers

    over_ids(ctx, ids, fmt, quiet,
             lambda s, found: unfreeze_customers(s.conn, s.actor, found, s.now))


@command()
def invalid(ctx: typer.Context, ids: IdsArg, reason: ReasonOpt, fmt: FormatOpt = None,
            quiet: QuietOpt = False) -> None:
    """Mark dead records invalid (无效): out of every list and every rule."""
    from crmpool.customers import mark_invalid

    over_ids(ctx, ids, fmt, quiet,
             lambda s, found: mark_invalid(s.conn, s.actor, found, reason, s.now))
