"""Search speed: the median of `crmpool list --search TEXT` on N customers against
`crmpool --version` in the same run (target <= 2x: a search costs no more than starting the
program). Prints the ratio for a name fragment, a short (two-character) name fragment and a
phone fragment.

    .venv/bin/python bench/search.py [--n 1000000]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, rows_to_generate, run_measured  # noqa: E402
from sweep import build  # noqa: E402


def median_time(args: list[str], times: int = 7) -> float:
    return statistics.median(run_measured(args)[0] for _ in range(times))


def main() -> None:
    n = rows_to_generate(__doc__)
    crmpool = crmpool_command()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "team.db"
        build(db, n)
        base = median_time([crmpool, "--version"])
        print(f"{n:,} customers; crmpool --version {base * 1000:.0f} ms")
        for label, text in (("name fragment", f"customer {n // 2}"), ("short", "r 7"),
                            ("phone fragment", "1380013")):
            took = median_time([crmpool, "--db", str(db), "--as", "admin", "list",
                                "--search", text, "-f", "jsonl", "--limit", "20"])
            print(f"list --search {text!r:22} ({label}) {took * 1000:6.0f} ms"
                  f"  ratio {took / base:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
