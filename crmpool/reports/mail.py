"""`report mail`: the page sent now through an smtp channel of the rules file, to the team's
manager, the admins or named users (their `user set --email`), for a weekly cron line. Sent
directly, not through the outbox: a failure is the command's (exit 5), and cron's mail shows
it; running it again sends the page again."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from crmpool.errors import UsageError
from crmpool.reports.base import Period
from crmpool.rules import Rules


def recipients(conn: sqlite3.Connection, to: Sequence[str], team: str | None
               ) -> list[dict]:
    """The active users `to` names: manager (of `team`, or every manager), admins,
    user:NAME."""
    from crmpool.notify.outbox import named

    people = {r["name"]: dict(r) for r in conn.execute(
        "SELECT name, display, role, team, email FROM users WHERE active = 1")}
    names: list[str] = []
    for who in to:
        found = named(who, people, team, every_team=True)
        if not found and (found is None or who.startswith("user:")):
            raise UsageError(f"--to {who!r}: manager, admins or user:NAME of an active user")
        names += found
    return [people[n] for n in dict.fromkeys(names)]


def send_report(conn: sqlite3.Connection, rules: Rules, page: str, period: Period,
                to: Sequence[str], channel_name: str | None, team: str | None) -> list[str]:
    """Send the page to each recipient with an e-mail; what happened, one line each."""
    from crmpool.notify.senders import DeliveryFailed, send

    people = recipients(conn, to, team)  # a mistyped --to is said first
    smtp = [c for c in rules.channels if c.type == "smtp"]
    if channel_name is not None:
        smtp = [c for c in smtp if c.name == channel_name]
    if not smtp:
        raise UsageError("no smtp channel" + (f" named {channel_name!r}" if channel_name else "")
                         + " in the rules file ([[channel]] type = \"smtp\")")
    channel = smtp[0]
    if not any(p["email"] for p in people):
        raise UsageError("nobody to send to: give them an e-mail with `crmpool user set NAME"
                         " --email ADDRESS`")
    subject = f"crmpool 报表 report {period.describe()}"
    text = (f"crmpool report for {period.describe()}: open the HTML part of this message"
            " (every report, with charts).")
    done = []
    for person in people:
        if not person["email"]:
            done.append(f"{person['name']}: no e-mail, skipped")
            continue
        try:
            send(channel, {"subject": subject, "body": text, "html": page, "payload": "{}",
                           "recipient": person["name"], "address": person["email"],
                           "display": person["display"]})
        except DeliveryFailed as exc:
            from crmpool.errors import DatabaseUnavailable

            # Exit 5, as `notify` reports a delivery that failed; nothing was written.
            raise DatabaseUnavailable(f"{channel.name}: {exc} (sent before it:"
                                      f" {len(done)})") from None
        done.append(f"{person['name']} <{person['email']}>: sent through {channel.name}")
    return done
