"""`crmpool notify`: send what waits in the outbox, one message at a time, outside any long
transaction.

Each message is first leased (its next attempt moved LEASE ahead, in a short transaction), so
two `notify` runs at once never both send it; then sent; then marked sent in another short
transaction. A failure records its error and tries again later with a growing pause (BACKOFF)
up to MAX_ATTEMPTS, then the message stays failed for `notify list --failed`. What can repeat:
if the process dies after a server accepted a message and before the mark, that message goes
again once its lease ends (one duplicate per such crash); nothing else is ever sent twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmpool.channels import Channel
from crmpool.notify.senders import DeliveryFailed, send
from crmpool.rules import Rules
from crmpool.store import transaction
from crmpool.when import stored

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=10)
NOTIFICATION_COLUMNS = ("id", "run_id", "channel", "recipient", "address", "subject",
                        "status", "attempts", "last_error", "next_attempt_at", "created_at",
                        "sent_at")


def backoff(attempts: int) -> timedelta:
    """The pause after the n-th failure: 5 minutes, then four times longer each time."""
    return timedelta(minutes=5 * 4 ** (attempts - 1))


@dataclass
class Sent:
    id: int
    channel: str
    recipient: str
    ok: bool
    error: str | None = None


def _due(conn: sqlite3.Connection, now: datetime, channel: str | None) -> list[dict]:
    sql = ("SELECT n.*, u.display FROM notifications n LEFT JOIN users u ON u.name = n.recipient"
           " WHERE n.status = 'pending' AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= ?)")
    params: list[object] = [stored(now)]
    if channel:
        sql += " AND n.channel = ?"
        params.append(channel)
    return [dict(r) for r in conn.execute(sql + " ORDER BY n.id", params)]


def pending(conn: sqlite3.Connection, now: datetime) -> list[dict]:
    """What `notify` would send now (for --dry-run)."""
    return [{k: row[k] for k in NOTIFICATION_COLUMNS} for row in _due(conn, now, None)]


def deliver(conn: sqlite3.Connection, rules: Rules, now: datetime) -> list[Sent]:
    """Send every message that is due; one result each."""
    channels = {c.name: c for c in rules.channels}
    results = []
    for message in _due(conn, now, None):
        with transaction(conn):
            leased = conn.execute(
                "UPDATE notifications SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                (stored(now + LEASE), message["id"], stored(now))).rowcount
        if not leased:
            continue  # another notify took it
        results.append(_attempt(conn, channels.get(message["channel"]), message, now))
    return results


def _attempt(conn: sqlite3.Connection, channel: Channel | None, message: dict,
             now: datetime) -> Sent:
    try:
        if channel is None:
            raise DeliveryFailed(f"channel {message['channel']!r} is no longer in the rules")
        send(channel, message)
    except DeliveryFailed as exc:
        attempts = message["attempts"] + 1
        final = attempts >= MAX_ATTEMPTS or channel is None
        with transaction(conn):
            conn.execute(
                "UPDATE notifications SET attempts = ?, last_error = ?, status = ?,"
                " next_attempt_at = ? WHERE id = ?",
                (attempts, str(exc), "failed" if final else "pending",
                 None if final else stored(now + backoff(attempts)), message["id"]))
        return Sent(message["id"], message["channel"], message["recipient"], False, str(exc))
    with transaction(conn):
        conn.execute("UPDATE notifications SET status = 'sent', sent_at = ?, attempts = ?,"
                     " next_attempt_at = NULL WHERE id = ?",
                     (stored(now), message["attempts"] + 1, message["id"]))
    return Sent(message["id"], message["channel"], message["recipient"], True)


def list_notifications(conn: sqlite3.Connection, failed_only: bool = False,
                       limit: int | None = None) -> list[dict]:
    """The outbox, newest first (only the failed ones with `failed_only`)."""
    sql = f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM notifications"
    if failed_only:
        sql += " WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)"
    sql += " ORDER BY id DESC"
    params: tuple = ()
    if limit:
        sql += " LIMIT ?"
        params = (limit,)
    return [dict(r) for r in conn.execute(sql, params)]


def test_message(channel: Channel, actor_name: str, address: str | None,
                 now: datetime) -> dict:
    """A one-off message through `channel` (not through the outbox)."""
    import json

    from crmpool.notify.digest import compose

    item = {"kind": "follow-up", "level": "low", "rule": None, "customer_id": 0,
            "name": "crmpool 测试 test", "owner": actor_name, "due_at": stored(now)}
    message = compose({actor_name: [item]}, {}, now)
    row = {"subject": f"crmpool test message 测试 ({channel.name})", "body": message.text,
           "html": message.html, "payload": json.dumps(message.payload, ensure_ascii=False),
           "recipient": actor_name, "address": address, "display": None}
    send(channel, row)
    return row
