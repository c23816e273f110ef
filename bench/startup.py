"""Start-up time: `crmpool --version` and a one-ID `crmpool claim`, against `import typer`.

Shell loops call crmpool thousands of times, so each start counts. Prints the median wall
time of each over --runs runs, measured in the same run, and the ratio to the baseline.
Target: <= 1.3x.

    .venv/bin/python bench/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    crmpool = shutil.which("crmpool", path=str(Path(sys.executable).parent)) or "crmpool"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = {**os.environ, "CRMPOOL_DB": str(db), "CRMPOOL_USER": "admin"}
        env.pop("CRMPOOL_NOW", None)
        # pip precompiles typer; crmpool (editable) compiles on first use. Let it keep its
        # bytecode as any installed copy would, so both sides start from .pyc files.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([crmpool, "init", "--admin", "admin", "-q"], env=env, check=True)
        rules = Path(tmp) / "rules.toml"
        rules.write_text("[limits]\ncap = 100000\nclaims_per_day = 0\n")
        subprocess.run([crmpool, "rules", "set", str(rules), "-q"], env=env, check=True)
        import sqlite3

        conn = sqlite3.connect(db)
        conn.executemany(
            "INSERT INTO customers (name, created_at) VALUES (?, '2026-01-01T00:00:00Z')",
            [(f"customer {i}",) for i in range(args.runs * 2 + 10)])
        conn.commit()
        conn.close()
        # Warm the OS caches once for every command before timing.
        subprocess.run([sys.executable, "-c", "import typer"], check=True)
        subprocess.run([crmpool, "--version"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([crmpool, "claim", str(args.runs * 2 + 5), "-q"], env=env, check=True)
        # Interleaved, so that the shared machine's noise falls on all three alike.
        times: dict[str, list[float]] = {"baseline": [], "version": [], "claim": []}
        for i in range(args.runs):
            times["baseline"].append(run_timed([sys.executable, "-c", "import typer"], env))
            times["version"].append(run_timed([crmpool, "--version"], env))
            times["claim"].append(run_timed([crmpool, "claim", str(i + 1), "-q"], env))
        baseline, version, claim = (statistics.median(times[k])
                                    for k in ("baseline", "version", "claim"))
    print(f"baseline  python -c 'import typer'  {baseline * 1000:7.1f} ms")
    print(f"crmpool --version                   {version * 1000:7.1f} ms"
          f"  ratio {version / baseline:.2f}x")
    print(f"crmpool claim ID (one ID)           {claim * 1000:7.1f} ms"
          f"  ratio {claim / baseline:.2f}x")
    print("target: ratio <= 1.3x")


if __name__ == "__main__":
    main()
