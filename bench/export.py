"""Export speed and memory: `crmpool export -f jsonl` against `sqlite3 -json` on the same file.

Builds N customers (as bench/sweep.py does) and in the same run times
  baseline: the sqlite3 shell printing the same columns as JSON (`sqlite3 -json`);
  crmpool:  `crmpool export -f jsonl` (and `-f csv`), streamed to /dev/null.
Prints both, the ratios (target <= 2x) and crmpool's peak memory, which should stay flat as
N grows (try --n 200000 and the default).

    .venv/bin/python bench/export.py [--n 1000000]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, rows_to_generate, run_measured  # noqa: E402
from sweep import build  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from crmpool.customers import EXPORT_COLUMNS  # noqa: E402


def main() -> None:
    n = rows_to_generate(__doc__)
    sqlite3_shell = shutil.which("sqlite3")
    if sqlite3_shell is None:
        raise SystemExit("the sqlite3 shell is the baseline: apt-get install sqlite3")
    crmpool = crmpool_command()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "team.db"
        build(db, n)
        sql = f"SELECT {', '.join(EXPORT_COLUMNS)} FROM customers ORDER BY id"
        base_time, base_mem = run_measured([sqlite3_shell, "-json", str(db), sql])
        jsonl_time, jsonl_mem = run_measured(
            [crmpool, "--db", str(db), "--as", "admin", "export", "-f", "jsonl"])
        csv_time, csv_mem = run_measured(
            [crmpool, "--db", str(db), "--as", "admin", "export", "-f", "csv"])
    print(f"{n:,} customers")
    print(f"baseline sqlite3 -json    {base_time:7.2f} s  peak {base_mem:6.0f} MB")
    print(f"crmpool export -f jsonl   {jsonl_time:7.2f} s  peak {jsonl_mem:6.0f} MB"
          f"  ratio {jsonl_time / base_time:.2f}x (target <= 2x)")
    print(f"crmpool export -f csv     {csv_time:7.2f} s  peak {csv_mem:6.0f} MB"
          f"  ratio {csv_time / base_time:.2f}x")


if __name__ == "__main__":
    main()
