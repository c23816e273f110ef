"""The rules kept in the database: every version with its fingerprint, the newest active."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.pools import pool_names
from crmpool.rules import DEFAULT_RULES, Rules, parse_rules
from crmpool.users import User, require_role
from crmpool.when import stored


def active_rules(conn: sqlite3.Connection) -> Rules:
    """The rules in force: the newest stored version, or the built-in defaults."""
    row = conn.execute("SELECT body FROM rules ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return DEFAULT_RULES
    return parse_rules(row["body"], "stored rules")


def set_rules(conn: sqlite3.Connection, actor: User, text: str, source: str,
              now: datetime) -> tuple[Rules, bool]:
    """Store a new version of the rules (admin only); False when it equals the active one."""
    require_role(actor, "admin", to="change the rules")
    rules = parse_rules(text, source, pool_names(conn))
    if active_rules(conn).fingerprint == rules.fingerprint:
        return rules, False
    conn.execute(
        "INSERT INTO rules (fingerprint, body, set_at, set_by) VALUES (?, ?, ?, ?)",
        (rules.fingerprint, text, stored(now), actor.name),
    )
    return rules, True


def rule_versions(conn: sqlite3.Connection) -> list[dict]:
    """Every stored version of the rules, newest first."""
    rows = conn.execute(
        "SELECT id AS version, fingerprint, set_at, set_by FROM rules ORDER BY id DESC"
    )
    return [dict(row) for row in rows]
