"""Sweep speed and memory: `crmpool sweep` against the hand-written pair of statements.

Builds N owned customers (about 10% past a 30-day idle rule), copies the database, and in
the same run times
  baseline: one INSERT INTO events ... SELECT and one UPDATE customers, set-based, by hand,
            on a connection with foreign keys on (SPEC's storage rule, so the events it
            writes are checked like crmpool's);
  crmpool:  `crmpool sweep` (freezes, the rule, warnings, the runs row, one transaction).
Prints both, the ratio (target <= 1.2x, never above 1.5x) and crmpool's peak memory, which
should stay flat as N grows (try --n 200000 and the default). Then the same sweep with
`-f json`, which streams every reclaimed and warned customer to stdout: its time against the
quiet sweep, and its peak memory (target <= 250 MB at any N).

    .venv/bin/python bench/sweep.py [--n 1000000]
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, make_team, rows_to_generate, run_measured  # noqa: E402

NOW = "2026-11-23T10:00:00Z"
RULES = '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n'
BASELINE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA foreign_keys = ON")  # as SPEC requires of every connection to the file
cutoff = "2026-10-24T10:00:00Z"
conn.execute("BEGIN IMMEDIATE")
conn.execute(
    "INSERT INTO events (customer_id, at, action, actor, from_owner, from_pool, to_pool, rule)"
    " SELECT id, ?, 'reclaim', 'sweep', owner, pool, pool, 'idle' FROM customers"
    " WHERE owner IS NOT NULL AND idle_since <= ?", ("2026-11-23T10:00:00Z", cutoff))
conn.execute("UPDATE customers SET owner = NULL, assigned_at = NULL"
             " WHERE owner IS NOT NULL AND idle_since <= ?", (cutoff,))
conn.execute("COMMIT")
"""


def build(db: Path, n: int) -> None:
    make_team(db, RULES)
    rng = random.Random(3)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    batch = []
    for i in range(1, n + 1):
        # About 10% idle past 30 days, a few more inside the 5-day warning window.
        days = rng.choice([40, 45, 60]) if rng.random() < 0.10 else rng.randrange(0, 27)
        stamp = f"2026-{10 if days > 22 else 11}-{(23 - days) % 30 + 1:02d}T09:00:00Z"
        batch.append((i, f"customer {i}", f"rep{i % 20:02d}", stamp, NOW))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO customers (id, name, owner, assigned_at, created_at)"
                             " VALUES (?, ?, ?, ?, ?)", batch)
            batch = []
    if batch:
        conn.executemany("INSERT INTO customers (id, name, owner, assigned_at, created_at)"
                         " VALUES (?, ?, ?, ?, ?)", batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> None:
    n = rows_to_generate(__doc__)
    crmpool = crmpool_command()
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "team.db"
        build(original, n)
        copy = Path(tmp) / "copy.db"
        shutil.copy(original, copy)
        detailed = Path(tmp) / "detailed.db"
        shutil.copy(original, detailed)
        due = sqlite3.connect(original).execute(
            "SELECT count(*) FROM customers WHERE idle_since <= '2026-10-24T10:00:00Z'"
        ).fetchone()[0]
        print(f"{n:,} owned customers, {due:,} past the 30-day idle limit")
        base_time, base_mem = run_measured([sys.executable, "-c", BASELINE, str(copy)])
        crm_time, crm_mem = run_measured(
            [crmpool, "--db", str(original), "--as", "admin", "sweep", "--now", NOW, "-q"])
        reclaimed = sqlite3.connect(original).execute(
            "SELECT count(*) FROM events WHERE action = 'reclaim'").fetchone()[0]
        assert reclaimed == due, (reclaimed, due)
        json_time, json_mem = run_measured(
            [crmpool, "--db", str(detailed), "--as", "admin", "sweep", "--now", NOW, "-f",
             "json"])
    print(f"baseline two statements  {base_time:7.2f} s  peak {base_mem:6.0f} MB")
    print(f"crmpool sweep            {crm_time:7.2f} s  peak {crm_mem:6.0f} MB")
    print(f"ratio {crm_time / base_time:.2f}x (target <= 1.2x, never above 1.5x)")
    print(f"crmpool sweep -f json    {json_time:7.2f} s  peak {json_mem:6.0f} MB"
          f"  ({json_time / crm_time:.2f}x the quiet sweep; memory target <= 250 MB)")


if __name__ == "__main__":
    main()
