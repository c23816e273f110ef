"""Report speed and memory: `crmpool report owners` and `report pool --by week` against
hand-written SQL for the same figures, in the same run.

Builds N customers (default 1,000,000) owned by 50 reps or waiting in the pool, with about
5N events over the past year (an import each, claims, releases, reclaims, assignments),
N contacts and N/5 won deals, then times
  baseline: one Python process running hand-written grouped queries that give the same
            figures (for the pool: the moves per week and cause, and each week's wait);
  crmpool:  `crmpool report owners --since -28d` and `report pool --by week --since -365d`.
Prints each against its baseline (target <= 1.5x each) and crmpool's peak memory, which
should stay flat as N grows (try --n 200000 and the default).

    .venv/bin/python bench/report.py [--n 1000000]
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, make_team, rows_to_generate, run_measured  # noqa: E402

NOW = "2026-11-23T10:00:00Z"
REPS = 50
OWNERS_BASELINE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
since, until, now = "2026-10-26T10:00:00Z", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z"
out = {}
for row in conn.execute(
        "SELECT owner, count(*), sum(status = 'won'), sum(coalesce(frozen_until > ?, 0)),"
        " sum(status <> 'won'), sum(EXISTS (SELECT 1 FROM warnings w WHERE w.customer_id ="
        " c.id AND w.closed_at IS NULL AND w.owner = c.owner)) FROM customers c"
        " WHERE owner IS NOT NULL AND status <> 'invalid' GROUP BY owner", (now,)):
    out[row[0]] = list(row[1:])
for action, who in (("claim", "to_owner"), ("assign", "to_owner"), ("release", "from_owner"),
                    ("reclaim", "from_owner")):
    for row in conn.execute(f"SELECT {who}, count(*) FROM events WHERE action = ? AND at >= ?"
                            f" AND at < ? AND {who} IS NOT NULL GROUP BY {who}",
                            (action, since, until)):
        out.setdefault(row[0], []).append(row[1])
for row in conn.execute("SELECT user, via, count(*) FROM contacts WHERE at >= ? AND at < ?"
                        " GROUP BY user, via", (since, until)):
    out.setdefault(row[0], []).append(row[2])
for row in conn.execute("SELECT user, count(*), sum(amount_cents) FROM deals WHERE stage ="
                        " 'won' AND at >= ? AND at < ? GROUP BY user", (since, until)):
    out.setdefault(row[0], []).extend(row[1:])
print(len(out))
"""
POOL_BASELINE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
since, until = "2025-11-23T10:00:00Z", "2026-11-23T10:00:00Z"
week = "date(at, 'localtime', '-6 days', 'weekday 1')"
moves = conn.execute(
    f"SELECT {week} AS b, action, rule, count(*) FROM events WHERE at >= ? AND at < ?"
    " AND (action IN ('reclaim', 'release', 'claim') OR (action = 'import' AND to_owner IS"
    " NULL) OR (action = 'assign' AND from_pool IS NOT NULL)) GROUP BY b, action, rule",
    (since, until)).fetchall()
waits = conn.execute(
    "SELECT date(e.at, 'localtime', '-6 days', 'weekday 1') AS b, avg(julianday(e.at) -"
    " julianday((SELECT max(i.at) FROM events i WHERE i.customer_id = e.customer_id AND"
    " i.at <= e.at AND i.id < e.id AND i.action IN ('reclaim', 'release', 'create', 'import',"
    " 'undo', 'restore')))) FROM events e WHERE e.at >= ? AND e.at < ? AND (e.action ="
    " 'claim' OR (e.action = 'assign' AND e.from_pool IS NOT NULL)) GROUP BY b",
    (since, until)).fetchall()
size = conn.execute("SELECT count(*) FROM customers WHERE owner IS NULL"
                    " AND status <> 'invalid'").fetchone()[0]
print(len(moves), len(waits), size)
"""


def stamp(rng: random.Random, most_days: int) -> str:
    days = rng.randrange(0, most_days)
    seconds = rng.randrange(0, 86400)
    from datetime import datetime, timedelta

    moment = datetime(2026, 11, 23, 10) - timedelta(days=days, seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(db: Path, n: int) -> None:
    make_team(db, "[limits]\ncap = 1000000\n", reps=REPS)
    rng = random.Random(5)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")

    def batches(rows, sql):
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000:
                conn.executemany(sql, batch)
                batch = []
        if batch:
            conn.executemany(sql, batch)

    owners = [f"rep{i % REPS:02d}" if i % 5 else None for i in range(n + 1)]
    batches(((i, f"customer {i}", owners[i], "2025-11-01T00:00:00Z" if owners[i] else None,
              stamp(rng, 60), "2025-11-01T00:00:00Z") for i in range(1, n + 1)),
            "INSERT INTO customers (id, name, owner, assigned_at, last_contact_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)")
    batches(((i, "2025-11-01T00:00:00Z", "import", "admin", owners[i], "public")
             for i in range(1, n + 1)),
            "INSERT INTO events (customer_id, at, action, actor, to_owner, to_pool)"
            " VALUES (?, ?, ?, ?, ?, ?)")
    rep = [f"rep{i:02d}" for i in range(REPS)]
    moves = (("claim", 1.5), ("release", 1.0), ("reclaim", 0.5), ("assign", 1.0))
    for action, share in moves:
        def rows(action=action, share=share):
            for _ in range(int(n * share)):
                who = rng.choice(rep)
                cid = rng.randrange(1, n + 1)
                at = stamp(rng, 365)
                if action == "claim":
                    yield (cid, at, action, who, None, who, "public", None, None)
                elif action == "assign":
                    yield (cid, at, action, "admin", None, who, "public", None, None)
                else:
                    yield (cid, at, action, who, who, None, "public", "public",
                           "idle" if action == "reclaim" else None)
        batches(rows(), "INSERT INTO events (customer_id, at, action, actor, from_owner,"
                        " to_owner, from_pool, to_pool, rule) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    batches(((rng.randrange(1, n + 1), stamp(rng, 365), rng.choice(("call", "visit")),
              rng.choice(rep), NOW) for _ in range(n)),
            "INSERT INTO contacts (customer_id, at, via, user, created_at)"
            " VALUES (?, ?, ?, ?, ?)")
    batches(((rng.randrange(1, n + 1), rng.randrange(100, 100000), "won", stamp(rng, 365),
              rng.choice(rep), NOW) for _ in range(n // 5)),
            "INSERT INTO deals (customer_id, amount_cents, stage, at, user, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> None:
    if sys.argv[1:2] == ["--build-into"]:
        build(Path(sys.argv[2]), int(sys.argv[3]))
        return
    n = rows_to_generate(__doc__)
    crmpool = crmpool_command()
    env = {"CRMPOOL_NOW": NOW, "TZ": "Asia/Shanghai"}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "team.db"
        # Built in a process of its own: a child started from a parent that had grown while
        # building would count the parent's pages in its own peak memory.
        subprocess.run([sys.executable, __file__, "--build-into", str(db), str(n)], check=True)
        events = sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]
        print(f"{n:,} customers, {events:,} events")
        for label, baseline, args in (
                ("report owners", OWNERS_BASELINE, ["report", "owners", "--since", "-28d"]),
                ("report pool --by week", POOL_BASELINE,
                 ["report", "pool", "--by", "week", "--since", "-365d"])):
            base_time, _ = run_measured([sys.executable, "-c", baseline, str(db)], env)
            crm_time, crm_mem = run_measured(
                [crmpool, "--db", str(db), "--as", "admin", *args, "-f", "json"], env)
            print(f"{label:22} baseline {base_time:6.2f} s, crmpool {crm_time:6.2f} s"
                  f" (peak {crm_mem:4.0f} MB)  ratio {crm_time / base_time:.2f}x"
                  " (target <= 1.5x)")


if __name__ == "__main__":
    main()
