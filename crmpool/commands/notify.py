"""Notifications: `notify` (send what waits; --dry-run shows it), `notify list`, `notify test`."""

# Deferred annotations: Typer evaluates only the invoked command's (crmpool.cli.only).
from __future__ import annotations

from typing import Annotated

import typer

from crmpool.cli import (
    FormatOpt,
    LimitOpt,
    QuietOpt,
    UsageError,
    command,
    notify_app,
    session,
)


@command(group=notify_app, default=True)
def notify(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="Show what would be sent, to whom; send nothing.")]
    = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Send the messages waiting in the outbox (the sweep runs this after itself); a failed
    one is tried again on later runs, with a growing pause, up to six times."""
    if ctx.invoked_subcommand:
        return
    from crmpool.notify.deliver import NOTIFICATION_COLUMNS, deliver, pending
    from crmpool.ruleset import active_rules

    with session(ctx, fmt, quiet) as s:
        if dry_run:
            s.out.rows(pending(s.conn, s.now), NOTIFICATION_COLUMNS,
                       for_people=("id", "channel", "recipient", "address", "subject",
                                   "attempts", "last_error"))
            return
        results = deliver(s.conn, active_rules(s.conn), s.now)
        failed = [r for r in results if not r.ok]
        s.out.rows(({"id": r.id, "channel": r.channel, "recipient": r.recipient,
                     "ok": r.ok, "error": r.error} for r in results),
                   ["id", "channel", "recipient", "ok", "error"])
        if not results:
            s.out.say("nothing to send")
    for result in failed:
        s.out.error(f"notification {result.id} ({result.channel}): {result.error}")
    if failed:
        raise typer.Exit(5)


@command("list", group=notify_app)
def notify_list(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option(
        "--failed", help="Only the ones that failed (for good, or so far).")] = False,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The outbox, newest first: sent, waiting and failed messages, with their errors."""
    from crmpool.notify.deliver import NOTIFICATION_COLUMNS, list_notifications

    with session(ctx, fmt, quiet) as s:
        s.out.rows(list_notifications(s.conn, failed, limit), NOTIFICATION_COLUMNS,
                   for_people=("id", "status", "channel", "recipient", "subject", "attempts",
                               "last_error", "created_at", "sent_at"))


@command("test", group=notify_app)
def notify_test(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="A channel named in the rules file.",
                                           metavar="CHANNEL", show_default=False)],
    to: Annotated[str | None, typer.Option(
        help="E-mail address for an smtp channel (default: your own).")] = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Send one test message through CHANNEL now (not through the outbox)."""
    from crmpool.notify.deliver import test_message
    from crmpool.notify.senders import DeliveryFailed
    from crmpool.ruleset import active_rules

    with session(ctx, fmt, quiet) as s:
        channels = {c.name: c for c in active_rules(s.conn).channels}
        if channel not in channels:
            known = ", ".join(sorted(channels)) or "none; add [[channel]] to the rules file"
            raise UsageError(f"no channel named {channel!r} (channels: {known})")
        address = to or s.actor.email
        if channels[channel].type == "smtp" and not address:
            raise UsageError(f"{s.actor.name} has no e-mail; give --to ADDRESS or set one with"
                             " `crmpool user set NAME --email ...`")
        try:
            test_message(channels[channel], s.actor.name, address, s.now)
        except DeliveryFailed as exc:
            s.out.error(f"{channel}: {exc}")
            raise typer.Exit(5) from None
        s.out.say(f"{channel}: test message accepted")
