"""`crmpool why ID`: which rule will reclaim a customer, from which timestamp, on which day."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from crmpool.deals import from_cents
from crmpool.policy import is_frozen, load_customer
from crmpool.rules import ReclaimRule
from crmpool.ruleset import active_rules
from crmpool.values import plural
from crmpool.when import from_stored, local_display, stored

WHY_COLUMNS = ("rule", "trigger", "applies", "clock_from", "fires_at", "warn_from", "first",
               "note")
WHY_TABLE_COLUMNS = ("rule", "fires_at", "first", "clock_from", "note")


def _evaluate(conn: sqlite3.Connection, rule: ReclaimRule, customer_id: int) -> sqlite3.Row:
    # The same SQL the sweep runs, asked of one customer, so `why` cannot disagree with it.
    scope, scope_params = rule.scope_sql()
    trigger, trigger_params = rule.trigger_sql()
    return conn.execute(
        f"SELECT ({scope}) AS in_scope, ({trigger}) AS trigger_open, c.{rule.clock} AS clock,"
        f" {rule.due_sql()} AS due FROM customers c WHERE c.id = ?",
        (*scope_params, *trigger_params, customer_id),
    ).fetchone()


def explain(conn: sqlite3.Connection, customer_id: int, now: datetime) -> tuple[str, list[dict]]:
    """A one-line state of the customer, and one row per rule in file order."""
    customer = load_customer(conn, customer_id)
    rules = active_rules(conn)
    if customer["status"] == "invalid":
        state = "marked invalid: never reclaimed"
    elif customer["owner"] is None:
        state = f"already in the {customer['pool']!r} pool: no rule applies until it is claimed"
    elif is_frozen(customer, now):
        state = (f"owned by {customer['owner']}, frozen until"
                 f" {local_display(customer['frozen_until'])}: no rule fires before then")
    else:
        state = f"owned by {customer['owner']} since {local_display(customer['assigned_at'])}"
    if not rules.reclaim:
        return state + "; there are no reclaim rules", []
    rows: list[dict] = []
    for rule in rules.reclaim:
        row = {"rule": rule.name, "trigger": rule.describe(), "applies": False,
               "clock_from": None, "fires_at": None, "warn_from": None, "first": False,
               "note": ""}
        rows.append(row)
        if customer["status"] == "invalid" or customer["owner"] is None:
            row["note"] = "not owned" if customer["owner"] is None else "invalid"
            continue
        result = _evaluate(conn, rule, customer_id)
        if not result["in_scope"]:
            scopes = "; ".join(f"{k}: {', '.join(v)}" for k, v in rule.scopes.items())
            row["note"] = f"out of scope ({scopes})"
            continue
        if rule.keep_won and customer["status"] == "won":
            row["note"] = "won: kept by keep_won"
            continue
        if not result["trigger_open"]:
            row["note"] = ("won since assigned" if rule.trigger == "no_deal"
                           else f"won at least {from_cents(rule.min_amount_cents)}")
            continue
        fires = from_stored(result["due"])
        if is_frozen(customer, now) and customer["frozen_until"] > result["due"]:
            fires = from_stored(customer["frozen_until"])
            row["note"] = "held by the freeze; "
        row.update(applies=True, clock_from=result["clock"], fires_at=stored(fires))
        if rule.warn_days:
            row["warn_from"] = stored(fires - timedelta(days=rule.warn_days))
        row["note"] += ("due: the next sweep reclaims it" if fires <= now
                        else f"in {plural((fires - now).days, 'day')}")
    applying = [r for r in rows if r["applies"]]
    if applying:
        # Earliest wins; on a tie the earlier rule in the file, as the sweep does.
        first = min(applying, key=lambda r: r["fires_at"])
        first["first"] = True
        state += f"; first to fire: {first['rule']} on {local_display(first['fires_at'])}"
    return state, rows
