"""`report owners` (工作量 / 业绩): per owner, with a roll-up per team and for all — what they
hold now (owned, won, frozen, warned, cap in use) and what they did in the period (claimed,
assigned to them, released, reclaimed from them, contacts by way, deals won and their amount).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from crmpool.choices import VIAS
from crmpool.deals import from_cents
from crmpool.limits import Limits
from crmpool.reports.base import Figures, Period
from crmpool.reports.scope import Scope
from crmpool.when import stored

HELD = ("owned", "won", "frozen", "warned")
DONE = ("claimed", "assigned", "released", "reclaimed")
CONTACTS = tuple(f"contacts_{via}" for via in VIAS)
COLUMNS = ("owner", "team", *HELD, *DONE, "contacts", *CONTACTS, "deals_won", "won_amount",
           "counted", "cap")
# What a table shows first, on 80 columns; machine formats carry every column.
SHOWN = ("owner", "owned", "claimed", "contacts", "deals_won", "won_amount", "counted",
         "cap", "warned", "reclaimed", "released", "assigned", "won", "frozen", "team")


def owners_report(conn: sqlite3.Connection, period: Period, scope: Scope, limits: Limits,
                  now: datetime) -> Figures:
    people = scope.people(conn)
    where, params = scope.sql("c.owner")
    counted_won = "" if limits.cap_counts_won else " AND c.status <> 'won'"
    rows = {p["name"]: {"owner": p["name"], "team": p["team"]} for p in people}

    def add(sql: str, args: list) -> None:
        for row in conn.execute(sql, args):
            if row[0] in rows:
                rows[row[0]].update({k: row[k] for k in row.keys()[1:]})

    add("SELECT c.owner, count(*) AS owned, sum(c.status = 'won') AS won,"
        " sum(coalesce(c.frozen_until > ?, FALSE)) AS frozen,"
        f" sum(CASE WHEN TRUE{counted_won} THEN 1 ELSE 0 END) AS counted,"
        " sum(EXISTS (SELECT 1 FROM warnings w WHERE w.customer_id = c.id"
        "  AND w.closed_at IS NULL AND w.owner = c.owner)) AS warned"
        f" FROM customers c WHERE c.owner IS NOT NULL AND c.status <> 'invalid' AND {where}"
        " GROUP BY c.owner", [stored(now), *params])
    span = [period.since_text, period.until_text]
    for action, column, who in (("claim", "claimed", "to_owner"),
                                ("assign", "assigned", "to_owner"),
                                ("release", "released", "from_owner"),
                                ("reclaim", "reclaimed", "from_owner")):
        condition, extra = scope.sql(f"e.{who}")
        add(f"SELECT e.{who}, count(*) AS {column} FROM events e WHERE e.action = ?"
            f" AND e.at >= ? AND e.at < ? AND e.{who} IS NOT NULL AND {condition}"
            f" GROUP BY e.{who}", [action, *span, *extra])
    condition, extra = scope.sql("k.user")
    for row in conn.execute(
            "SELECT k.user, k.via, count(*) FROM contacts k WHERE k.at >= ? AND k.at < ?"
            f" AND {condition} GROUP BY k.user, k.via", [*span, *extra]):
        if row[0] in rows:
            rows[row[0]][f"contacts_{row[1]}"] = row[2]
    condition, extra = scope.sql("d.user")
    add("SELECT d.user, count(*) AS deals_won, sum(d.amount_cents) AS won_cents FROM deals d"
        f" WHERE d.stage = 'won' AND d.at >= ? AND d.at < ? AND {condition} GROUP BY d.user",
        [*span, *extra])
    result = []
    for person in people:
        row = rows[person["name"]]
        if (not person["active"] or person["role"] == "admin") and not any(
                row.get(c) for c in (*HELD, *DONE, *CONTACTS, "deals_won")):
            continue  # a user who left, or an admin, with nothing to show
        for column in (*HELD, *DONE, *CONTACTS, "deals_won", "counted"):
            row[column] = row.get(column) or 0
        row["contacts"] = sum(row[c] for c in CONTACTS)
        row["won_cents"] = row.get("won_cents") or 0
        row["cap"] = person["cap"] if person["cap"] is not None else limits.cap
        result.append(row)
    bars = sorted(((r["owner"], r["won_cents"] / 100) for r in result), key=lambda b: -b[1])
    # Amounts are summed in cents and written once, as every amount is (deals.from_cents).
    rolled = [{c: from_cents(r["won_cents"]) if c == "won_amount" else r.get(c)
               for c in COLUMNS} for r in _roll_up(result)]
    figures = Figures("owners", "Per owner", COLUMNS, rolled, period, bars=bars,
                      bars_of="won amount", shown=SHOWN)
    figures.notes.append("owned, won, frozen, warned and counted are as of now; the rest"
                         " happened in the period (assigned: given to them; contacts and"
                         " deals: those they logged)")
    return figures


def _roll_up(rows: list[dict]) -> list[dict]:
    """Each team's rows followed by its total, then the total of all."""
    summed = [*HELD, *DONE, "contacts", *CONTACTS, "deals_won", "counted", "cap", "won_cents"]
    out: list[dict] = []
    teams: dict[str | None, list[dict]] = {}
    for row in rows:
        teams.setdefault(row["team"], []).append(row)
    for team, members in teams.items():
        out.extend(members)
        if team is not None and len(teams) > 1:
            out.append(_total(f"team {team}", team, members, summed))
    if len(rows) > 1:
        out.append(_total("all", None, rows, summed))
    return out


def _total(label: str, team: str | None, rows: list[dict], summed: list[str]) -> dict:
    return {"owner": label, "team": team, **{c: sum(r[c] for r in rows) for c in summed}}
