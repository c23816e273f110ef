"""The outbox: what a sweep run has to tell, written in the run's own transaction.

A killed sweep leaves no message (the transaction goes back with everything); a finished one
loses none (they are committed with the run). `crmpool notify` (crmpool/notify/deliver.py)
sends them afterwards, never holding a transaction open on the network.

What a run tells: the warnings it opened and raised (not the acked ones), the customers it
reclaimed, and, in the first run of a local day, the follow-ups due that day. Each item goes
through the channels its rule names (every channel when it names none) to the people its
level reaches on that channel. An e-mail channel sends each recipient one digest; a robot
webhook or a command gets one message per run, grouped by person.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta

from crmpool.channels import Channel
from crmpool.notify import digest
from crmpool.rules import Rules
from crmpool.warning_rules import DETAIL_SQL
from crmpool.when import start_of_local_day, stored


def _items(conn: sqlite3.Connection, run_id: int, as_of_time: datetime) -> list[dict]:
    """Everything the run has to tell, one row per customer and kind."""
    items = [dict(r) | {"kind": "warning"} for r in conn.execute(
        "SELECT w.id AS warning_id, w.customer_id, c.name, w.owner, w.rule, w.level,"
        f" {DETAIL_SQL} AS detail, w.due_at,"
        " CASE WHEN w.risen_run_id = ? THEN 'risen' ELSE 'new' END AS news"
        " FROM warnings w JOIN customers c ON c.id = w.customer_id"
        " WHERE (w.run_id = ? OR w.risen_run_id = ?) AND w.acked_at IS NULL"
        " AND w.closed_at IS NULL ORDER BY w.owner, w.id", (run_id, run_id, run_id))]
    items += [dict(r) | {"kind": "reclaimed", "level": "high"} for r in conn.execute(
        "SELECT e.customer_id, c.name, e.from_owner AS owner, e.rule, e.to_pool"
        " FROM events e JOIN customers c ON c.id = e.customer_id"
        " WHERE e.run_id = ? AND e.action = 'reclaim' ORDER BY e.from_owner, e.id", (run_id,))]
    day = start_of_local_day(as_of_time)
    earlier_today = conn.execute(
        "SELECT 1 FROM runs WHERE id <> ? AND dry_run = 0 AND undone_at IS NULL"
        " AND as_of >= ? AND as_of < ? LIMIT 1",
        (run_id, stored(day), stored(day + timedelta(days=1)))).fetchone()
    if not earlier_today:
        items += [dict(r) | {"kind": "follow-up", "level": "low", "rule": None}
                  for r in conn.execute(
                      "SELECT c.id AS customer_id, c.name, c.owner, c.next_contact_at AS due_at"
                      " FROM customers c WHERE c.owner IS NOT NULL AND c.status <> 'invalid'"
                      " AND c.next_contact_at >= ? AND c.next_contact_at < ?"
                      " ORDER BY c.owner, c.next_contact_at",
                      (stored(day), stored(day + timedelta(days=1))))]
    return items


def _people(conn: sqlite3.Connection) -> dict[str, dict]:
    return {r["name"]: dict(r) for r in conn.execute(
        "SELECT name, display, role, team, email, active FROM users")}


def _whom(channel: Channel, item: dict, people: dict[str, dict]) -> list[str]:
    """The users an item reaches on a channel: its owner, the owner's managers, admins,
    named users; active ones only."""
    owner = people.get(item["owner"] or "")
    names: list[str] = []
    for who in channel.recipients(item["level"]):
        if who == "owner":
            names += [owner["name"]] if owner else []
        else:
            names += named(who, people, owner["team"] if owner else None) or []
    return [n for n in dict.fromkeys(names) if people[n]["active"]]


def named(who: str, people: dict[str, dict], team: str | None, *,
          every_team: bool = False) -> list[str] | None:
    """The users a `to` word other than `owner` names: `manager` (the team's; with
    `every_team`, every manager), `admins`, `user:NAME`; None for a word it does not know."""
    if who == "manager":
        return [p["name"] for p in people.values() if p["role"] == "manager"
                and (p["team"] == team if team is not None else every_team)]
    if who == "admins":
        return [p["name"] for p in people.values() if p["role"] == "admin"]
    if who.startswith("user:"):
        return [who[5:]] if who[5:] in people else []
    return None


def _channels_of(rules: Rules) -> dict[str | None, tuple[str, ...] | None]:
    """Each rule's channels (None: every channel); follow-ups (rule None) go everywhere."""
    named: dict[str | None, tuple[str, ...] | None] = {None: None}
    for rule in (*rules.reclaim, *rules.warn):
        named[rule.name] = rule.notify
    return named


def fill(conn: sqlite3.Connection, rules: Rules, run_id: int, as_of_time: datetime) -> int:
    """Write the run's messages into the outbox (inside the run's transaction); how many."""
    if not rules.channels:
        return 0
    items = _items(conn, run_id, as_of_time)
    if not items:
        return 0
    people = _people(conn)
    notify = _channels_of(rules)
    as_of = stored(as_of_time)
    written = 0
    for channel in rules.channels:
        by_person: dict[str, list[dict]] = defaultdict(list)
        whom: dict[tuple, list[str]] = {}  # (level, owner) -> recipients: once each
        for item in items:
            chosen = notify.get(item["rule"])
            if chosen is not None and channel.name not in chosen:
                continue
            key = (item["level"], item["owner"])
            if key not in whom:
                whom[key] = _whom(channel, item, people)
            for name in whom[key]:
                by_person[name].append(item)
        if not by_person:
            continue
        if channel.type == "smtp":
            letters = [(name, people[name]["email"], {name: found})
                       for name, found in by_person.items() if people[name]["email"]]
        else:
            letters = [("", None, dict(by_person))]
        for recipient, address, grouped in letters:
            message = digest.compose(grouped, people, as_of_time)
            conn.execute(
                "INSERT INTO notifications (run_id, channel, recipient, address, subject, body,"
                " html, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, channel.name, recipient, address, message.subject, message.text,
                 message.html, json.dumps(message.payload, ensure_ascii=False), as_of))
            written += 1
    return written
