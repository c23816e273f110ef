"""Search speed: the median of `crmpool list --search TEXT` on N customers against
`crmpool --version` in the same run (target <= 2x: a search costs no more than starting the
program).

The customers are bench/import.py's (Chinese company names, phones in several formats,
e-mails), loaded by `crmpool import`, so the search index is the one an import builds. The
cases: a name fragment, two characters, a phone fragment, an e-mail fragment, two words, a
word in nearly every name (科技), and one character (the one case the index cannot answer:
a scan of the keys).

    .venv/bin/python bench/search.py [--n 1000000]
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import crmpool_command, make_team, rows_to_generate, run_measured  # noqa: E402


def _import_bench():
    spec = importlib.util.spec_from_file_location(
        "import_bench", Path(__file__).resolve().parent / "import.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_time(args: list[str], env: dict | None = None, times: int = 7) -> float:
    return statistics.median(run_measured(args, env)[0] for _ in range(times))


def main() -> None:
    n = rows_to_generate(__doc__)
    crmpool = crmpool_command()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "customers.csv"
        _import_bench().generate(data, n)
        db = Path(tmp) / "team.db"
        env = {"CRMPOOL_DB": str(db), "CRMPOOL_USER": "admin"}
        make_team(db, "[limits]\ncap = 1000000\n")
        run_measured([crmpool, "import", str(data), "-q"], env)
        base = median_time([crmpool, "--version"])
        print(f"{n:,} customers; crmpool --version {base * 1000:.0f} ms")
        middle = n // 2
        for label, text in (("name fragment", f"客户{middle}科技"), ("two characters", "星辰"),
                            ("phone fragment", f"{middle:09d}"[-7:]),
                            ("e-mail fragment", f"c{middle}@"),
                            ("two words", f"客户 {middle}"), ("in every name", "科技"),
                            ("one character", "星")):
            took = median_time([crmpool, "list", "--search", text, "-f", "jsonl",
                                "--limit", "20"], env)
            target = "" if label == "one character" else " (target <= 2x)"
            print(f"list --search {text!r:18} ({label:15}) {took * 1000:6.0f} ms"
                  f"  ratio {took / base:.2f}x{target}")


if __name__ == "__main__":
    main()
