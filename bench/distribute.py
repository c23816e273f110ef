"""Distribution speed: `crmpool distribute` against a hand-written round-robin UPDATE.

Builds N customers waiting in the public pool (default 100,000) and a team of 50 reps,
copies the database, and in the same run times
  baseline: one UPDATE customers ... FROM (SELECT id, row_number() OVER (ORDER BY id)) that
            deals the customers out to rep00..rep49 in turn, by hand, foreign keys on;
  crmpool:  `crmpool distribute --strategy round-robin` (eligibility: caps, daily limits,
            cooldowns; the plan; one assign event each; the distributions row; the turn).
Prints both and the ratio (target <= 2x), and checks both dealt the same number to each rep.

    .venv/bin/python bench/distribute.py [--n 100000]
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, make_team, rows_to_generate, run_measured  # noqa: E402

REPS = 50
NOW = "2026-11-23T10:00:00Z"
# Room for everyone: the benchmark measures the handing out, not the refusals.
RULES = "[limits]\ncap = 1000000\nclaims_per_day = 0\ncooldown_days = 30\n"
BASELINE = f"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA foreign_keys = ON")  # as SPEC requires of every connection to the file
conn.execute("BEGIN IMMEDIATE")
conn.execute(
    "UPDATE customers SET owner = 'rep' || printf('%02d', r.turn % {REPS}), assigned_at = ?"
    " FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS turn FROM customers"
    "  WHERE owner IS NULL AND pool = 'public') AS r WHERE customers.id = r.id", ("{NOW}",))
conn.execute("COMMIT")
"""


def build(db: Path, n: int) -> None:
    make_team(db, RULES, reps=REPS)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO customers (id, name, pool, created_at) VALUES (?, ?, ?, ?)",
                     ((i, f"customer {i}", "public", NOW) for i in range(1, n + 1)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def dealt(db: Path) -> list[tuple[str, int]]:
    return sqlite3.connect(db).execute(
        "SELECT owner, count(*) FROM customers GROUP BY owner ORDER BY owner").fetchall()


def main() -> None:
    n = rows_to_generate(__doc__, default=100_000)
    crmpool = crmpool_command()
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "team.db"
        build(original, n)
        copy = Path(tmp) / "copy.db"
        shutil.copy(original, copy)
        base_time, _ = run_measured([sys.executable, "-c", BASELINE, str(copy)])
        crm_time, crm_mem = run_measured(
            [crmpool, "--db", str(original), "--as", "admin", "distribute", "--pool", "public",
             "--strategy", "round-robin", "-q"], {"CRMPOOL_NOW": NOW})
        assert dealt(original) == dealt(copy), (dealt(original)[:3], dealt(copy)[:3])
        events = sqlite3.connect(original).execute(
            "SELECT count(*) FROM events WHERE action = 'assign'").fetchone()[0]
        assert events == n, events
    print(f"{n:,} pool customers over {REPS} reps")
    print(f"baseline round-robin UPDATE  {base_time:7.2f} s")
    print(f"crmpool distribute           {crm_time:7.2f} s  peak {crm_mem:6.0f} MB")
    print(f"ratio {crm_time / base_time:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
