"""The sweep (定时回收): lift expired freezes, reclaim by each rule, hand out by each
`[[distribute]]` rule, record warnings, log the run.

One run is one BEGIN IMMEDIATE transaction of set-based statements; nothing loops over
customers in Python, so a killed run leaves the database exactly as it was and a second run
for the same as-of time finds nothing left to do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from crmpool.distribute.run import Request, distribute
from crmpool.errors import Refused
from crmpool.notify import outbox
from crmpool.rules import RECLAIMABLE_SQL as RECLAIMABLE
from crmpool.rules import ReclaimRule
from crmpool.ruleset import active_rules
from crmpool.store import Rollback, changes_in_events, transaction
from crmpool.sweep.warnings import record_warnings
from crmpool.users import User, require_role
from crmpool.when import local_display, stored

SWEEP_ACTOR = "sweep"


@dataclass
class RuleCount:
    """One rule's work in one run."""

    rule: str
    reclaimed: int = 0
    warned: int = 0
    to_pool: str | None = None


@dataclass
class SweepReport:
    """What one run did (or, with dry_run, would do)."""

    as_of: str
    fingerprint: str
    dry_run: bool
    run_id: int | None = None
    unfrozen: int = 0
    warnings_closed: int = 0
    rules: list[RuleCount] = field(default_factory=list)
    repeat_of: int | None = None  # an earlier run with the same as-of time and rules
    notifications: int = 0  # messages the run put in the outbox
    distributed: dict[str, int] = field(default_factory=dict)  # per [[distribute]] rule

    @property
    def reclaimed(self) -> int:
        return sum(r.reclaimed for r in self.rules)

    @property
    def warned(self) -> int:
        return sum(r.warned for r in self.rules)

    def summary(self) -> dict:
        return {
            "run_id": self.run_id, "as_of": self.as_of, "rules_fingerprint": self.fingerprint,
            "dry_run": self.dry_run, "unfrozen": self.unfrozen, "reclaimed": self.reclaimed,
            "warned": self.warned, "warnings_closed": self.warnings_closed,
            "repeat_of": self.repeat_of, "notifications": self.notifications,
            "distributed": self.distributed,
            "per_rule": [vars(r) for r in self.rules],
        }


def _lift_expired_freezes(conn: sqlite3.Connection, as_of: str, run_id: int) -> int:
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason,"
        " run_id, from_frozen_until, from_freeze_reason) SELECT id, ?, 'unfreeze', ?, owner,"
        " owner, 'freeze ended ' || frozen_until, ?, frozen_until, freeze_reason"
        " FROM customers WHERE frozen_until IS NOT NULL AND frozen_until <= ?",
        (as_of, SWEEP_ACTOR, run_id, as_of),
    )
    return conn.execute(
        "UPDATE customers SET frozen_until = NULL, freeze_reason = NULL"
        " WHERE frozen_until IS NOT NULL AND frozen_until <= ?",
        (as_of,),
    ).rowcount


def _reclaim(conn: sqlite3.Connection, rule: ReclaimRule, as_of_time: datetime, as_of: str,
             run_id: int) -> int:
    fires, params = rule.fires_sql(as_of_time)
    where = f"{RECLAIMABLE} AND {fires}"
    args = [as_of, *params]
    # Events first, while the owner is still there to be recorded; then the same set moves.
    inserted = conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, from_pool, to_pool,"
        " rule, reason, run_id, from_assigned_at)"
        f" SELECT c.id, ?, 'reclaim', ?, c.owner, c.pool, coalesce(?, c.pool), ?, ?, ?,"
        f" c.assigned_at FROM customers c WHERE {where}",
        (as_of, SWEEP_ACTOR, rule.to_pool, rule.name, rule.describe(), run_id, *args),
    ).rowcount
    # Only a rule with to_pool rewrites the pool column: fewer bytes per reclaimed row.
    new_pool, pool_args = (", pool = ?", [rule.to_pool]) if rule.to_pool else ("", [])
    moved = conn.execute(
        f"UPDATE customers AS c SET owner = NULL, assigned_at = NULL{new_pool} WHERE {where}",
        (*pool_args, *args),
    ).rowcount
    if moved != inserted:  # the same predicate in one transaction: cannot differ
        raise RuntimeError(f"rule {rule.name}: {inserted} events for {moved} reclaims")
    return moved


def _details(conn: sqlite3.Connection, run_id: int) -> tuple[Iterator[dict], Iterator[dict]]:
    """Every customer the run reclaimed and warned, streamed from the database."""
    reclaimed = (dict(r) for r in conn.execute(
        "SELECT e.customer_id AS id, c.name, e.from_owner, e.to_pool, e.rule"
        " FROM events e JOIN customers c ON c.id = e.customer_id"
        " WHERE e.run_id = ? AND e.action = 'reclaim' ORDER BY e.id", (run_id,)))
    warned = (dict(r) for r in conn.execute(
        "SELECT w.customer_id AS id, c.name, w.owner, w.rule, w.due_at FROM warnings w"
        " JOIN customers c ON c.id = w.customer_id WHERE w.run_id = ? ORDER BY w.id",
        (run_id,)))
    return reclaimed, warned


Details = Callable[["SweepReport", Iterator[dict], Iterator[dict]], None]


def sweep(conn: sqlite3.Connection, actor: User, as_of_time: datetime, now: datetime, *,
          dry_run: bool = False, details: Details | None = None) -> SweepReport:
    """Apply the rules once, as of `as_of_time`; with `dry_run`, report and write nothing.

    A real run is an admin's (a what-if --now could otherwise reclaim early); anyone may
    look with a dry run. `details`, if given, is handed every reclaimed and warned customer
    as streams (inside the transaction for a dry run, after the commit for a real one).
    A real run may not go back in time: an as-of time before the latest applied run's would
    close that run's warnings for good and break every cooldown counted from it.
    """
    if not dry_run:
        require_role(actor, "admin", to="run the sweep (anyone may use --dry-run)")
    as_of = stored(as_of_time)
    with transaction(conn):
        rules = active_rules(conn)
        report = SweepReport(as_of, rules.fingerprint, dry_run)
        if not dry_run:
            later = conn.execute(
                "SELECT id, as_of FROM runs WHERE dry_run = 0 AND undone_at IS NULL"
                " AND as_of > ? ORDER BY as_of DESC, id DESC LIMIT 1", (as_of,)).fetchone()
            if later:
                raise Refused(
                    f"run {later['id']} already swept as of {local_display(later['as_of'])};"
                    f" a sweep as of {local_display(as_of)} would turn time back (use"
                    f" --dry-run for a what-if, or `sweep --undo {later['id']}` first)")
        run_id = conn.execute(
            "INSERT INTO runs (as_of, started_at, rules_fingerprint, actor, dry_run)"
            " VALUES (?, ?, ?, ?, ?)",
            (as_of, stored(now), rules.fingerprint, actor.name, int(dry_run)),
        ).lastrowid
        report.run_id = run_id
        # Every customer these change has an event of the run, where the warning rules
        # find them.
        with changes_in_events(conn):
            report.unfrozen = _lift_expired_freezes(conn, as_of, run_id)
            for rule in rules.reclaim:
                report.rules.append(RuleCount(rule.name, _reclaim(
                    conn, rule, as_of_time, as_of, run_id), 0, rule.to_pool))
        # Last night's reclaimed customers are handed out by morning; warnings then see
        # their new owners.
        for hand_out in rules.distribute:
            report.distributed[hand_out.name] = distribute(
                conn, actor, Request(hand_out.pool, hand_out.strategy, hand_out.to,
                                     hand_out.limit, hand_out.days, hand_out.floor_pct,
                                     hand_out.name),
                rules.limits, rules.territories, as_of_time, run_id=run_id,
                by=SWEEP_ACTOR).assigned
        warned, report.warnings_closed = record_warnings(conn, rules, as_of_time, as_of, run_id)
        report.rules += [RuleCount(rule.name) for rule in rules.warn]
        for count in report.rules:
            count.warned = warned.get(count.rule, 0)
        changed = (report.unfrozen or report.reclaimed or report.warned
                   or report.warnings_closed or any(report.distributed.values()))
        if not changed:
            earlier = conn.execute(
                "SELECT id FROM runs WHERE as_of = ? AND rules_fingerprint = ? AND id <> ?"
                " ORDER BY id LIMIT 1",
                (as_of, rules.fingerprint, run_id),
            ).fetchone()
            if earlier:
                # A repeat (cron ran twice): leave no trace, not even a runs row.
                report.repeat_of, report.run_id = earlier[0], None
                raise Rollback
        if dry_run:
            if details:
                details(report, *_details(conn, run_id))
            report.run_id = None
            raise Rollback
        # What the run has to tell, committed with it; sent after (crmpool notify).
        report.notifications = outbox.fill(conn, rules, run_id, as_of_time)
        conn.execute(
            "UPDATE runs SET unfrozen = ?, reclaimed = ?, warned = ?, per_rule = ?"
            " WHERE id = ?",
            (report.unfrozen, report.reclaimed, report.warned,
             json.dumps({r.rule: [r.reclaimed, r.warned] for r in report.rules}), run_id),
        )
    if details and not dry_run:
        if report.run_id:
            details(report, *_details(conn, report.run_id))
        else:
            details(report, iter(()), iter(()))
    return report


RUN_COLUMNS = ("id", "as_of", "started_at", "actor", "rules_fingerprint", "unfrozen",
               "reclaimed", "warned", "per_rule", "undone_at", "undone_by")


def list_runs(conn: sqlite3.Connection, limit: int | None = None) -> list[dict]:
    """Past runs, newest first; `per_rule` is {rule: {"reclaimed": n, "warned": n}}."""
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY id DESC"
    rows = conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
    return [dict(r) | {"per_rule": {rule: {"reclaimed": counts[0], "warned": counts[1]}
                                    for rule, counts in json.loads(r["per_rule"]).items()}}
            for r in rows]


def count_runs(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
