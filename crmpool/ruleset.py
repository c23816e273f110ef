"""The rules kept in the database: every version with its fingerprint, the newest active."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from crmpool.limits import Limits
from crmpool.users import User, require_role
from crmpool.when import stored

if TYPE_CHECKING:
    from crmpool.rules import Rules


def active_rules(conn: sqlite3.Connection) -> Rules:
    """The rules in force: the newest stored version, or the built-in defaults."""
    from crmpool.rules import default_rules, parse_rules

    row = conn.execute("SELECT body FROM rules ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return default_rules()
    return parse_rules(row["body"], "stored rules")


def active_limits(conn: sqlite3.Connection) -> Limits:
    """The `[limits]` in force, read from their JSON copy: every claim needs them, and
    parsing TOML on each one would slow every start."""
    row = conn.execute("SELECT limits FROM rules ORDER BY id DESC LIMIT 1").fetchone()
    return Limits(**json.loads(row["limits"])) if row else Limits()


def set_rules(conn: sqlite3.Connection, actor: User, text: str, source: str,
              now: datetime) -> tuple[Rules, bool]:
    """Store a new version of the rules (admin only); False when it equals the active one."""
    from crmpool.pools import pool_names
    from crmpool.rules import parse_rules

    require_role(actor, "admin", to="change the rules")
    rules = parse_rules(text, source, pool_names(conn))
    if active_rules(conn).fingerprint == rules.fingerprint:
        return rules, False
    conn.execute(
        "INSERT INTO rules (fingerprint, body, limits, set_at, set_by) VALUES (?, ?, ?, ?, ?)",
        (rules.fingerprint, text, json.dumps(rules.limits._asdict()), stored(now), actor.name),
    )
    return rules, True


def rule_versions(conn: sqlite3.Connection) -> list[dict]:
    """Every stored version of the rules, newest first."""
    rows = conn.execute(
        "SELECT id AS version, fingerprint, set_at, set_by FROM rules ORDER BY id DESC"
    )
    return [dict(row) for row in rows]
