"""Helpers shared by the benchmarks: timing a child process and its peak memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def crmpool_command() -> str:
    """The crmpool script beside this Python (the project's virtualenv)."""
    return shutil.which("crmpool", path=str(Path(sys.executable).parent)) or "crmpool"


def run_measured(args: list[str], env: dict | None = None, stdin=None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak resident memory in MB) of that child."""
    environment = {**os.environ, **(env or {})}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=environment, stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} exited {proc.returncode}: {err}")
    return elapsed, usage.ru_maxrss / 1024
