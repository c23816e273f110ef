"""Import speed and memory: `crmpool import` against a bare executemany load of the same rows.

Generates N synthetic customers (owners, levels, regions, last-contact times, about 5%
duplicates written in other phone formats), then, in the same run, times
  baseline: csv.reader + one executemany into a plain table, in one transaction;
  crmpool:  `crmpool import FILE` into a fresh team database (all checks, keys, events).
Prints both, the ratio (target <= 1.5x, never above 2x) and crmpool's peak memory
(target <= 250 MB).

With `--db postgresql://USER@HOST/DB` both run on that server instead (in databases the
benchmark creates there and drops): the baseline is `COPY ... FROM STDIN (FORMAT csv)` into
a plain table, the engine's fast path, and the target is <= 2x.

    .venv/bin/python bench/import.py [--n 1000000] [--db URL]
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import (  # noqa: E402
    EXTRA,
    Databases,
    crmpool_command,
    make_team,
    rows_to_generate,
    run_measured,
)

COLUMNS = ["name", "phone", "email", "level", "region", "industry", "owner",
           "last_contact_at", "assigned_at"]
REGIONS = ["北京", "上海", "广东", "浙江", "江苏", "四川", "湖北", "山东"]
INDUSTRIES = ["软件", "物流", "金融", "制造", "零售", "医疗"]
OWNERS = [f"rep{i:02d}" for i in range(20)]  # the reps make_team adds

BASELINE = """
import csv, sqlite3, sys
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE plain (name, phone, email, level, region, industry, owner,"
             " last_contact_at, assigned_at)")
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = csv.reader(f)
    next(rows)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
"""


BASELINE_PG = """
import psycopg, sys
with psycopg.connect(sys.argv[2]) as conn:
    conn.execute("CREATE TABLE plain (name text, phone text, email text, level text,"
                 " region text, industry text, owner text, last_contact_at text,"
                 " assigned_at text)")
    with open(sys.argv[1], "rb") as f, conn.cursor().copy(
            "COPY plain FROM STDIN (FORMAT csv, HEADER)") as copy:
        while block := f.read(1 << 20):
            copy.write(block)
"""


def phone_forms(mobile: str, rng: random.Random) -> str:
    return rng.choice([f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"(0086){mobile}",
                       f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"+86{mobile}"])


def generate(path: Path, n: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    dups = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(n):
            if i > 100 and rng.random() < 0.05:
                j = rng.randrange(i)
                mobile = f"13{j:09d}"
                phone, name, dups = phone_forms(mobile, rng), f"重复客户{i}", dups + 1
            else:
                phone, name = f"13{i:09d}", f"客户{i}科技有限公司"
            day = rng.randrange(1, 28)
            owned = rng.random() < 0.7
            writer.writerow([
                name, phone, f"c{i}@example.cn" if rng.random() < 0.5 else "",
                rng.choice("ABC"), rng.choice(REGIONS), rng.choice(INDUSTRIES),
                rng.choice(OWNERS) if owned else "",
                f"2026-{rng.randrange(1, 11):02d}-{day:02d} {rng.randrange(24):02d}:30",
                f"2026-01-{day:02d}" if owned else "",
            ])
    return dups


def main() -> None:
    n = rows_to_generate(__doc__, server=True)
    crmpool = crmpool_command()
    if EXTRA["db"]:
        return on_server(n, crmpool, EXTRA["db"])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "customers.csv"
        dups = generate(data, n)
        size = data.stat().st_size / 1e6
        print(f"{n:,} rows ({size:.0f} MB), {dups:,} duplicates in other phone formats")
        # Warm the page cache for both readers.
        data.read_bytes()
        base_time, base_mem = run_measured(
            [sys.executable, "-c", BASELINE, str(data), str(Path(tmp) / "plain.db")])
        db = Path(tmp) / "team.db"
        env = {"CRMPOOL_DB": str(db), "CRMPOOL_USER": "admin"}
        make_team(db, "[limits]\ncap = 1000000\n")
        crm_time, crm_mem = run_measured([crmpool, "import", str(data), "-q"], env)
    print(f"baseline executemany  {base_time:7.2f} s  peak {base_mem:6.0f} MB")
    print(f"crmpool import        {crm_time:7.2f} s  peak {crm_mem:6.0f} MB")
    print(f"ratio {crm_time / base_time:.2f}x (target <= 1.5x, never above 2x);"
          f" crmpool peak memory {crm_mem:.0f} MB (target <= 250 MB)")


def on_server(n: int, crmpool: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, Databases(url) as databases:
        data = Path(tmp) / "customers.csv"
        dups = generate(data, n)
        print(f"{n:,} rows, {dups:,} duplicates, on PostgreSQL")
        data.read_bytes()
        base_time, _ = run_measured([sys.executable, "-c", BASELINE_PG, str(data),
                                     databases.new()])
        db = databases.new()
        make_team(db, "[limits]\ncap = 1000000\n")
        crm_time, crm_mem = run_measured([crmpool, "import", str(data), "-q"],
                                         {"CRMPOOL_DB": db, "CRMPOOL_USER": "admin"})
    print(f"baseline COPY          {base_time:7.2f} s")
    print(f"crmpool import         {crm_time:7.2f} s  peak {crm_mem:6.0f} MB")
    print(f"ratio {crm_time / base_time:.2f}x (target <= 2x on PostgreSQL)")


if __name__ == "__main__":
    main()
