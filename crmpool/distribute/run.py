"""One distribution: read each pool's waiting customers and receivers, let the strategy plan,
then carry the plan out set-based in the caller's transaction (one INSERT of `assign` events
and one UPDATE from a temporary table), recording the run and the round-robin turn.

A dry run makes the same plan and writes nothing: the plan depends only on the database and
`now`, so the real run that follows carries out exactly what the dry run printed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crmpool.distribute import receivers as who
from crmpool.distribute import strategies
from crmpool.distribute_rules import STRATEGIES, Territory
from crmpool.errors import Refused, UsageError
from crmpool.limits import Limits
from crmpool.pool_access import administers
from crmpool.pools import require_pool
from crmpool.users import User
from crmpool.when import stored

DISTRIBUTION_COLUMNS = ("id", "name", "pool", "to", "result", "why")


@dataclass
class Request:
    """What to distribute: a pool (None: every pool with customers waiting), a strategy,
    optionally whom to (users, team:NAME) and how many at most."""

    pool: str | None = None
    strategy: str = "round-robin"
    to: tuple[str, ...] = ()
    limit: int | None = None
    days: int = 90
    floor_pct: int = 20
    rule: str | None = None  # the [[distribute]] rule, when the sweep runs one
    first_id: int = 0  # only customers from this id on (an import's new ones)


@dataclass
class Report:
    """What a distribution did (or, dry, would do): per pool, the customers looked at and
    the plan; `rows()` gives one row per customer."""

    strategy: str
    dry_run: bool
    pools: list[tuple[str, Sequence[strategies.Waiting], strategies.Plan]] = field(
        default_factory=list)
    distribution_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # whom each pool gave to

    @property
    def assigned(self) -> int:
        return sum(len(plan.given) for _, _, plan in self.pools)

    @property
    def looked_at(self) -> int:
        return sum(len(waiting) for _, waiting, _ in self.pools)

    def rows(self) -> Iterator[dict]:
        for pool, waiting, plan in self.pools:
            given = dict(plan.given)
            for customer in waiting:
                to = given.get(customer.id)
                yield {"id": customer.id, "name": customer.name, "pool": pool, "to": to,
                       "result": "assigned" if to else "left",
                       "why": None if to else plan.left[customer.id]}

    def summary(self) -> dict:
        per_user: Counter = Counter()
        left: Counter = Counter()
        for _, _, plan in self.pools:
            per_user.update(user for _, user in plan.given)
            left.update(plan.left.values())
        return {"strategy": self.strategy, "dry_run": self.dry_run, "assigned": self.assigned,
                "left": sum(left.values()), "per_user": dict(sorted(per_user.items())),
                "left_by_reason": dict(left.most_common()),
                "distribution_ids": self.distribution_ids}


def distribute(conn: sqlite3.Connection, actor: User, request: Request, limits: Limits,
               territories: tuple[Territory, ...], now: datetime, *, dry_run: bool = False,
               run_id: int | None = None, by: str | None = None) -> Report:
    """Hand out waiting customers; the caller holds the transaction. `by` names the actor in
    the events (the sweep's runs say `sweep`)."""
    if request.strategy not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if request.strategy == "territory" and not territories:
        raise UsageError("the territory strategy needs [[territory]] entries in the rules file"
                         " (crmpool rules set)")
    pools = ([require_pool(conn, request.pool)] if request.pool else [r[0] for r in conn.execute(
        "SELECT DISTINCT pool FROM customers WHERE owner IS NULL AND status <> 'invalid'"
        " AND id >= ? ORDER BY pool", (request.first_id,))])
    if request.pool is None and actor.role == "rep":
        # Every pool means every pool this pool admin may hand out.
        pools = [pool for pool in pools if administers(conn, actor, pool)]
        if not pools:
            raise Refused("you are no pool's admin: only an admin, a pool's admin or a"
                          " manager may distribute")
    report = Report(request.strategy, dry_run)
    remaining = request.limit
    for pool in pools:
        if remaining is not None and remaining <= 0:
            break
        team_only = _allowed(conn, actor, pool)
        plan_rows = _one_pool(conn, pool, request, limits, territories, now, team_only,
                              remaining, report)
        if remaining is not None:
            remaining -= len(plan_rows.given) + len(plan_rows.left)
        if not dry_run and (plan_rows.given or plan_rows.left):
            report.distribution_ids.append(_apply(conn, pool, plan_rows, request, now, run_id,
                                                  by or actor.name))
    return report


def _allowed(conn: sqlite3.Connection, actor: User, pool: str) -> str | None:
    """Who may distribute this pool: an admin or its admins (to its members); a manager (to
    their own team, which is returned to narrow the receivers)."""
    if administers(conn, actor, pool):
        return None
    if actor.role == "manager" and actor.team:
        return actor.team
    raise Refused(f"only an admin, an admin of the {pool!r} pool or a manager may distribute"
                  " its customers")


def _one_pool(conn: sqlite3.Connection, pool: str, request: Request, limits: Limits,
              territories: tuple[Territory, ...], now: datetime, team_only: str | None,
              limit: int | None, report: Report) -> strategies.Plan:
    names, described = who.member_names(conn, pool, request.to, strict=request.rule is None)
    if team_only is not None:
        team = who.expand(conn, f"team:{team_only}")
        outside = sorted(names - team) if request.to else []
        if outside:
            raise Refused(f"{', '.join(outside)}: not in your team ({team_only})")
        names &= team
        described += f", of team {team_only}"
    receivers = who.receivers(conn, pool, names, limits, now,
                              request.days if request.strategy == "performance" else None)
    with_values = request.strategy == "territory"
    rows, cooling = who.waiting_rows(conn, pool, limits, now, limit=limit,
                                     first_id=request.first_id, with_values=with_values)
    waiting, plan = _plan(conn, pool, request, territories, names, receivers, rows, cooling,
                          with_values)
    report.notes.append(f"{pool}: {described}")
    report.pools.append((pool, waiting, plan))
    return plan


def _plan(conn: sqlite3.Connection, pool: str, request: Request,
          territories: tuple[Territory, ...], names: set[str],
          receivers: list[strategies.Receiver], rows: list[tuple],
          cooling: dict[int, set[str]], with_values: bool
          ) -> tuple[Sequence[strategies.Waiting], strategies.Plan]:
    """The strategy's plan for the pool's waiting rows, and those customers."""
    if request.strategy == "round-robin":
        turn = conn.execute("SELECT last_user FROM distribution_turns WHERE pool = ?",
                            (pool,)).fetchone()
        last = turn[0] if turn else None
        # Nobody cooling and room for all: the turn goes round uninterrupted (the same plan,
        # made from the ids alone: a hundred thousand customers at a time).
        fast = None if any(row[0] in cooling for row in rows) else strategies.rotation(
            [row[0] for row in rows], receivers, last)
        if fast is not None:
            return who.Waitings(rows), fast
        waiting = who.as_waiting(rows, cooling, with_values)
        return waiting, strategies.round_robin(waiting, receivers, last)
    waiting = who.as_waiting(rows, cooling, with_values)
    if request.strategy == "least-loaded":
        return waiting, strategies.least_loaded(waiting, receivers)
    if request.strategy == "territory":
        return waiting, strategies.territory(
            waiting, receivers, territories,
            lambda entry: who.expand(conn, entry, strict=False) & names)
    return waiting, strategies.performance(waiting, receivers, request.floor_pct)


def _apply(conn: sqlite3.Connection, pool: str, plan: strategies.Plan, request: Request,
           now: datetime, run_id: int | None, by: str) -> int:
    """Carry the plan out: the run's row, its events, the owners, the turn."""
    at = stored(now)
    distribution_id = conn.execute(
        "INSERT INTO distributions (at, actor, strategy, pool, rule, run_id, assigned,"
        " left_in_pool) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (at, by, request.strategy, pool, request.rule, run_id, len(plan.given),
         len(plan.left))).lastrowid
    if plan.given:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS distribution_plan"
                     " (customer_id INTEGER PRIMARY KEY, user TEXT NOT NULL)")
        conn.execute("DELETE FROM temp.distribution_plan")
        conn.executemany("INSERT INTO temp.distribution_plan VALUES (?, ?)", plan.given)
        conn.execute(
            "INSERT INTO events (customer_id, at, action, actor, to_owner, from_pool, rule,"
            " reason, run_id, distribution_id) SELECT p.customer_id, ?, 'assign', ?, p.user,"
            " ?, ?, ?, ?, ? FROM temp.distribution_plan p ORDER BY p.customer_id",
            (at, by, pool, request.rule, f"distributed ({request.strategy})", run_id,
             distribution_id))
        conn.execute("UPDATE customers SET owner = p.user, assigned_at = ?"
                     " FROM temp.distribution_plan p WHERE p.customer_id = customers.id",
                     (at,))
    if plan.last_turn is not None:
        conn.execute("INSERT INTO distribution_turns (pool, last_user) VALUES (?, ?)"
                     " ON CONFLICT (pool) DO UPDATE SET last_user = excluded.last_user",
                     (pool, plan.last_turn))
    return distribution_id
