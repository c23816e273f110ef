"""Duplicates (查重 / 撞单): customers sharing a normalised phone, e-mail, company id or name.

Found with the key indexes and GROUP BY, never by a query per row.
"""

from __future__ import annotations

import json
import sqlite3

# (key column, what to call it); columns come from this fixed list only.
KEYS = (("phone_key", "phone"), ("email_key", "email"), ("company_id_key", "company_id"),
        ("name_key", "name"))
KEY_COLUMNS = {column for column, _ in KEYS}
CLUSTER_COLUMNS = ("same", "key", "count", "ids", "names", "owners")


def duplicate_clusters(conn: sqlite3.Connection) -> list[dict]:
    """Groups of live customers that share a key, largest first."""
    clusters: list[dict] = []
    for column, label in KEYS:
        rows = conn.execute(
            f"""SELECT {column} AS key, count(*) AS count,
                       json_group_array(id) AS ids,
                       json_group_array(name) AS names,
                       json_group_array(owner) AS owners
                FROM (SELECT * FROM customers WHERE {column} IS NOT NULL
                      AND status <> 'invalid' ORDER BY id)
                GROUP BY {column} HAVING count(*) > 1"""
        )
        # Arrays, not text: `crmpool dupes -f jsonl | crmpool invalid -` reads `ids`; an
        # owner of null is a customer waiting in a pool.
        clusters.extend({"same": label, **dict(row), "ids": json.loads(row["ids"]),
                         "names": json.loads(row["names"]),
                         "owners": json.loads(row["owners"])} for row in rows)
    clusters.sort(key=lambda c: (-c["count"], c["same"], c["key"]))
    return clusters


def find_new_duplicates(conn: sqlite3.Connection, first_new_id: int) -> dict[int, dict]:
    """For each customer with id >= first_new_id that shares a key with an older one:
    the oldest such customer and the keys shared. Older means a lower id, so a row that
    repeats an earlier row of the same import counts too. Invalid customers are dead
    records and count as nobody's duplicate, as in `add` (find_duplicates)."""
    found: dict[int, dict] = {}
    for column, label in KEYS:
        rows = conn.execute(
            f"""SELECT c.id AS new_id, g.first_id
                FROM (SELECT {column} AS k, min(id) AS first_id FROM customers
                      WHERE {column} IS NOT NULL AND status <> 'invalid' GROUP BY {column}
                      HAVING count(*) > 1 AND max(id) >= ?) g
                JOIN customers c ON c.{column} = g.k AND c.id > g.first_id AND c.id >= ?
                 AND c.status <> 'invalid'""",
            (first_new_id, first_new_id),
        )
        for new_id, first_id in rows:
            entry = found.setdefault(new_id, {"first_id": first_id, "same": []})
            entry["first_id"] = min(entry["first_id"], first_id)
            entry["same"].append(label)
    return found
