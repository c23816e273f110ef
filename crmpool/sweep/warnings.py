"""Warnings (预警) the sweep records, one episode each: customers a reclaim rule will take soon
(`warn_days`), and customers a `[[warn]]` rule's condition holds for.

A warning opens when its condition starts to hold, stays open while the same owner faces the
same episode (the same due day), and closes, with the run and the reason, when that stops: a
contact, a won deal, a change of hands, a reclaim, the condition ending, the rule going. A
closed warning stays closed; if its condition holds again, a new one opens (only open
warnings are unique: the warnings_episode index). A reclaim warning rises to `high`
on its last day; the rise is recorded on the warning (from_level, risen_run_id), not as a new
one. Set-based, inside the sweep's transaction.

A `[[warn]]` rule is evaluated incrementally once it has run: only the customers written
since (customer_changes, kept by a trigger, and the run's own events), the new ones, and
those whose condition's start moment passed since are looked at, which turns a night's work
from every open warning into the day's changes. A new or changed rule, a run after an undo,
a drop in purchases (it slides with time) and a teams scope (users change teams) look at
everyone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmpool.errors import NotFound, Refused, UsageError
from crmpool.outcomes import Outcome, for_each_id
from crmpool.rule_parts import OWNED_LIVE_SQL as OWNED_LIVE
from crmpool.rules import Rules
from crmpool.users import User
from crmpool.warning_rules import DETAIL_SQL, LEVELS, WarnRule
from crmpool.when import from_stored, stored

# Why a warning closed, worked out from its customer as the run sees it.
_CLOSE_REASON = (
    "(SELECT CASE WHEN c.status = 'invalid' THEN 'marked invalid'"
    " WHEN c.owner IS NULL AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id"
    "  AND e.run_id = ? AND e.action = 'reclaim') THEN 'reclaimed'"
    " WHEN c.owner IS NULL OR c.owner <> warnings.owner THEN 'changed hands'"
    " WHEN c.last_contact_at >= warnings.created_at THEN 'contact'"
    " WHEN c.won_at >= warnings.created_at THEN 'deal won'"
    " ELSE 'condition ended' END FROM customers c WHERE c.id = warnings.customer_id)")


@dataclass(frozen=True)
class _Part:
    predicate: str
    params: list
    due: str
    due_params: list
    due_day: str
    detail: str
    detail_params: list
    # What names the episode: a reclaim warning's local due day; a warning rule's start
    # moment (compared as stored text, which spares a localtime() per open warning a night).
    episode: tuple[str, str] = ("due_day", "")


@dataclass(frozen=True)
class _Source:
    """A rule that warns: its name, level, and the statements that find its customers;
    for a warning rule, the rule itself (to be evaluated incrementally)."""

    rule: str
    level: str
    parts: list[_Part]
    warn: WarnRule | None = None


def _sources(rules: Rules, as_of_time: datetime) -> list[_Source]:
    sources = []
    for rule in rules.reclaim:
        if not rule.warn_days:
            continue
        # Its words are fixed but for the due time, which is worked out when shown
        # (list_warnings): a localtime() per new warning is a fifth of the insert.
        detail = f"'{rule.describe()}: back to the pool at '"
        sources.append(_Source(rule.name, rule.warn_level, [
            _Part(p.predicate, p.params, p.due, [], p.due_day, detail, [],
                  ("due_day", p.due_day)) for p in rule.warns_sql(as_of_time)]))
    for warn in rules.warn:
        sources.append(_Source(warn.name, warn.level, _warn_parts(warn, as_of_time), warn))
    return sources


def _warn_parts(warn: WarnRule, as_of_time: datetime, among: str = "") -> list[_Part]:
    p = warn.part(as_of_time, among)
    episode = ("due_day", p.due_day) if p.due_params else ("due_at", p.due)
    return [_Part(p.predicate, p.params, p.due, p.due_params, p.due_day, p.detail,
                  p.detail_params, episode)]


_AMONG_CANDIDATES = " AND {id} IN (SELECT id FROM temp.warn_candidates)"


def _candidates(conn: sqlite3.Connection, warn: WarnRule, state: dict | None,
                as_of_time: datetime, written: set[str], run_id: int) -> bool:
    """Fill temp.warn_candidates with the customers a warning rule needs to look at since it
    was last evaluated, or say (False) that it must look at all of them.

    Incremental is exact: a customer outside the set has had nothing written about it
    (customer_changes, kept by a trigger, or an event of this run), is not new, and its
    condition's start moment did not pass, so its warning state is what it was. Whole when
    the rule is new or changed, time went back (an undone run), or the condition slides
    with time.
    """
    if state is None or state["definition"] != repr(warn) or state["as_of"] > stored(
            as_of_time):
        return False
    flips = warn.flips(from_stored(state["as_of"]), as_of_time)
    if flips is None:
        return False
    if not written:  # once a run: `written` remembers it was
        _written_since(conn, state, run_id)
        written.add("done")
    # `written`: 0 for a customer only time brought here (see _untouched_start_only).
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS warn_candidates"
                 " (id INTEGER PRIMARY KEY, written INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.warn_candidates")
    conn.execute("INSERT INTO temp.warn_candidates SELECT id, 1 FROM temp.warn_written")
    conn.execute("INSERT OR IGNORE INTO temp.warn_candidates SELECT c.id, 0 FROM customers c"
                 f" WHERE c.owner IS NOT NULL AND ({flips[0]})", flips[1])
    return True


def _untouched_start_only(source: _Source) -> bool:
    """Whether this rule's candidates with nothing written (written = 0) are customers
    whose start moment merely passed, so none of them has one of its warnings open: at the
    last evaluation, which was exact, their condition did not hold yet. Their close check
    and their open-warning lookup are then skipped (the idle rule's 33k a night, 0.1 s)."""
    return source.warn is not None and source.warn.flips_only_start


def _written_since(conn: sqlite3.Connection, state: dict, run_id: int) -> None:
    """temp.warn_written: customers written, added, or given a deal since the rules were
    last evaluated; the same for every rule (_remember records them together), so the
    caller works it out once a run. This run's own changes (its reclaims, the freezes it
    lifted) are read from its events: PostgreSQL does not note them in customer_changes
    (store.changes_in_events)."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS warn_written (id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.warn_written")
    conn.execute("INSERT INTO temp.warn_written SELECT customer_id FROM customer_changes")
    conn.execute("INSERT OR IGNORE INTO temp.warn_written SELECT customer_id FROM events"
                 " WHERE run_id = ?", (run_id,))
    conn.execute("INSERT OR IGNORE INTO temp.warn_written SELECT id FROM customers"
                 " WHERE id > ?", (state["last_customer_id"],))
    # Deals recorded since (an imported old deal may leave won_at as it was).
    conn.execute("INSERT OR IGNORE INTO temp.warn_written SELECT customer_id FROM deals"
                 " WHERE id > ?", (state["last_deal_id"],))


def _open_rules(conn: sqlite3.Connection) -> list[str]:
    """The rules with open warnings, one index step each (warnings_episode leads by rule),
    not a pass over every open warning."""
    rules: list[str] = []
    while True:
        row = conn.execute("SELECT min(rule) FROM warnings WHERE closed_at IS NULL AND rule > ?",
                           (rules[-1] if rules else "",)).fetchone()
        if row[0] is None:
            return rules
        rules.append(row[0])


def _close(conn: sqlite3.Connection, source: _Source, few: bool, as_of: str,
           run_id: int) -> int:
    """Close the source's open warnings that no longer hold (only the candidates' with
    `few`, reached from them); one lookup per warning looked at."""
    still = " OR ".join(
        f"EXISTS (SELECT 1 FROM customers c WHERE c.id = warnings.customer_id"
        f" AND c.owner = warnings.owner AND {OWNED_LIVE} AND {part.predicate}"
        f" AND {part.episode[1]} = warnings.{part.episode[0]})" for part in source.parts)
    written = " AND k.written = 1" if _untouched_start_only(source) else ""
    among = (" AND id IN (SELECT w.id FROM temp.warn_candidates k CROSS JOIN warnings w"
             f" ON w.customer_id = k.id WHERE w.rule = ? AND w.closed_at IS NULL{written})")
    return conn.execute(
        f"UPDATE warnings SET closed_at = ?, closed_run_id = ?, close_reason = {_CLOSE_REASON}"
        f" WHERE closed_at IS NULL AND rule = ?{among if few else ''} AND NOT ({still})",
        (as_of, run_id, run_id, source.rule, *([source.rule] if few else []),
         *(p for part in source.parts for p in part.params)),
    ).rowcount


def _open(conn: sqlite3.Connection, source: _Source, part: _Part, few: bool, as_of: str,
          run_id: int) -> int:
    """Open warnings for customers the part finds without one of this rule open; with
    `few`, only among the candidates, reached from them.

    Only open warnings are unique (warnings_episode), so an episode already open adds
    nothing; customers with one are passed over before their due time and detail are
    worked out: through one set of them (NOT IN) for a whole evaluation, one lookup each
    for a few candidates.
    """
    if few:
        # CROSS JOIN: SQLite keeps this order (the few candidates first).
        source_sql = "temp.warn_candidates k CROSS JOIN customers c ON c.id = k.id"
        unwritten = "k.written = 0 OR " if _untouched_start_only(source) else ""
        without = (f" AND ({unwritten}NOT EXISTS (SELECT 1 FROM warnings o WHERE o.rule = ?"
                   " AND o.customer_id = c.id AND o.closed_at IS NULL))")
    else:
        source_sql = "customers c"
        without = (" AND c.id NOT IN (SELECT o.customer_id FROM warnings o WHERE o.rule = ?"
                   " AND o.closed_at IS NULL)")
    return conn.execute(
        "INSERT OR IGNORE INTO warnings (customer_id, rule, owner, due_at, due_day, level,"
        f" detail, run_id, created_at) SELECT c.id, ?, c.owner, {part.due}, {part.due_day}, ?,"
        f" {part.detail}, ?, ? FROM {source_sql} WHERE {OWNED_LIVE} AND {part.predicate}"
        f"{without}{'' if few else ' ORDER BY c.id'}",
        (source.rule, *part.due_params, source.level, *part.detail_params, run_id, as_of,
         *part.params, source.rule),
    ).rowcount


def _remember(conn: sqlite3.Connection, rules: Rules, as_of: str, last_id: int,
              last_deal: int) -> None:
    """Each warning rule was evaluated as of `as_of`; the changes are consumed."""
    conn.execute("DELETE FROM warn_rule_state")
    conn.executemany(
        "INSERT INTO warn_rule_state (rule, definition, as_of, last_customer_id, last_deal_id)"
        " VALUES (?, ?, ?, ?, ?)",
        [(w.name, repr(w), as_of, last_id, last_deal) for w in rules.warn])
    conn.execute("DELETE FROM customer_changes")


def record_warnings(conn: sqlite3.Connection, rules: Rules, as_of_time: datetime, as_of: str,
                    run_id: int) -> tuple[dict[str, int], int]:
    """Close warnings that no longer hold, open new ones, raise reclaim warnings on their
    last day; (new per rule, closed)."""
    sources = _sources(rules, as_of_time)
    names = [source.rule for source in sources]
    # Rules that no longer warn (changed or gone) leave nothing open behind them.
    closed = 0
    for gone in set(_open_rules(conn)) - set(names):
        closed += conn.execute(
            "UPDATE warnings SET closed_at = ?, closed_run_id = ?, close_reason = 'rule removed'"
            " WHERE closed_at IS NULL AND rule = ?", (as_of, run_id, gone)).rowcount
    counts: dict[str, int] = {}
    states = {row["rule"]: dict(row) for row in conn.execute("SELECT * FROM warn_rule_state")}
    last_id = conn.execute("SELECT coalesce(max(id), 0) FROM customers").fetchone()[0]
    last_deal = conn.execute("SELECT coalesce(max(id), 0) FROM deals").fetchone()[0]
    written: set[str] = set()
    for source in sources:
        few = bool(source.warn) and _candidates(conn, source.warn, states.get(source.rule),
                                                as_of_time, written, run_id)
        if few and source.warn.condition == "drop_pct":
            # Sum only the candidates' deals: the drop's cost is its deals, not its warnings.
            source = _Source(source.rule, source.level,
                             _warn_parts(source.warn, as_of_time, _AMONG_CANDIDATES),
                             source.warn)
        closed += _close(conn, source, few, as_of, run_id)
        counts[source.rule] = sum(_open(conn, source, part, few, as_of, run_id)
                                  for part in source.parts)
    _raise_last_days(conn, rules, as_of_time, as_of, run_id)
    _remember(conn, rules, as_of, last_id, last_deal)
    return counts, closed


def _raise_last_days(conn: sqlite3.Connection, rules: Rules, as_of_time: datetime, as_of: str,
                     run_id: int) -> int:
    """A reclaim warning whose customer goes back within a day rises to high."""
    names = [rule.name for rule in rules.reclaim if rule.warn_days]
    if not names:
        return 0
    return conn.execute(
        "UPDATE warnings SET from_level = level, level = 'high', risen_at = ?,"
        f" risen_run_id = ? WHERE closed_at IS NULL AND rule IN ({', '.join('?' * len(names))})"
        " AND level <> 'high' AND due_at <= ?",
        (as_of, run_id, *names, stored(as_of_time + timedelta(days=1)))).rowcount


WARNING_COLUMNS = ("id", "customer_id", "name", "owner", "rule", "level", "detail", "due_at",
                   "created_at", "risen_at", "acked_at", "closed_at", "close_reason")


def list_warnings(conn: sqlite3.Connection, *, owner: str | None = None,
                  team: str | None = None, level: str | None = None,
                  closed_too: bool = False) -> list[dict]:
    """Open warnings (with `closed_too`, closed ones as well), highest level and soonest due
    first. An open warning counts only while its owner still holds the customer."""
    clauses = ["c.status <> 'invalid'"]
    params: list[object] = []
    if not closed_too:
        clauses.append("w.closed_at IS NULL AND c.owner = w.owner")
    # An open warning's owner is its customer's: found through the customers' owner index
    # (a rep's hundred customers), not an index of warnings every new warning would pay for.
    whose = "w.owner" if closed_too else "c.owner"
    if owner:
        clauses.append(f"{whose} = ?")
        params.append(owner)
    if team:
        clauses.append(f"{whose} IN (SELECT name FROM users WHERE team = ?)")
        params.append(team)
    if level:
        if level not in LEVELS:
            raise UsageError(f"--level must be one of {', '.join(LEVELS)}")
        clauses.append("w.level = ?")
        params.append(level)
    sql = ("SELECT w.id, w.customer_id, c.name, w.owner, w.rule, w.level,"
           f" {DETAIL_SQL} AS detail, w.due_at,"
           " w.created_at, w.risen_at, w.acked_at, w.closed_at, w.close_reason"
           " FROM warnings w JOIN customers c ON c.id = w.customer_id"
           f" WHERE {' AND '.join(clauses)}"
           " ORDER BY w.closed_at IS NOT NULL, CASE w.level WHEN 'high' THEN 0"
           " WHEN 'mid' THEN 1 ELSE 2 END, w.due_at, w.id")
    return [dict(r) for r in conn.execute(sql, params)]


def open_warnings(conn: sqlite3.Connection, owner: str | None = None) -> list[dict]:
    """Warnings still open for the customer's current owner (the shape `show` and the
    sweep's report use)."""
    return [{"id": w["customer_id"], "name": w["name"], "owner": w["owner"], "rule": w["rule"],
             "level": w["level"], "due_at": w["due_at"], "created_at": w["created_at"]}
            for w in list_warnings(conn, owner=owner)]


def ack(conn: sqlite3.Connection, actor: User, warning_ids: list[int], now: datetime
        ) -> list[Outcome]:
    """The owner has seen these warnings: they are not notified again, and stay open until
    their condition ends. The owner's manager and admins may ack for them."""

    def one(warning_id: int) -> str:
        row = conn.execute("SELECT w.owner, w.closed_at, w.acked_at, u.team FROM warnings w"
                           " LEFT JOIN users u ON u.name = w.owner WHERE w.id = ?",
                           (warning_id,)).fetchone()
        if row is None:
            raise NotFound(f"warning {warning_id}: no such warning (`crmpool warnings` lists"
                           " them)")
        if not (actor.role == "admin" or row["owner"] == actor.name
                or (actor.role == "manager" and row["team"] == actor.team)):
            raise Refused(f"warning {warning_id} is {row['owner']}'s; only they, their manager"
                          " or an admin may ack it")
        if row["closed_at"]:
            return f"warning {warning_id} closed already"
        if row["acked_at"]:
            return f"warning {warning_id} acked already"
        conn.execute("UPDATE warnings SET acked_at = ?, acked_by = ? WHERE id = ?",
                     (stored(now), actor.name, warning_id))
        return f"warning {warning_id} acked"

    return for_each_id(conn, warning_ids, one, "acked")
