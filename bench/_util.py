"""Helpers shared by the benchmarks: timing a child process and its peak memory."""

from __future__ import annotations

import argparse
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


def make_team(db: Path | str, rules_text: str, reps: int = 20) -> list[str]:
    """A team database (a file, or an empty PostgreSQL database's URL): admin `admin`, reps
    rep00.., and the given rules in force."""
    crmpool = crmpool_command()
    env = {**os.environ, "CRMPOOL_DB": str(db), "CRMPOOL_USER": "admin"}
    subprocess.run([crmpool, "init", "--admin", "admin", "-q"], check=True, env=env)
    names = [f"rep{i:02d}" for i in range(reps)]
    for name in names:
        subprocess.run([crmpool, "user", "add", name, "-q"], check=True, env=env)
    subprocess.run([crmpool, "rules", "set", "-", "-q"], check=True, env=env,
                   input=rules_text.encode())
    return names


def rows_to_generate(doc: str, extra: dict | None = None, default: int = 1_000_000,
                     server: bool = False) -> int:
    """The --n option every data benchmark takes (default 1,000,000); `extra` adds integer
    options ({name: default}), whose values land in EXTRA; `server` adds --db URL (a
    PostgreSQL server to measure on, in EXTRA["db"])."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--n", type=int, default=default, help="how many customers")
    if server:
        parser.add_argument("--db", metavar="URL", default=None,
                            help="measure on this PostgreSQL server (postgresql://...): the"
                                 " benchmark creates its databases there and drops them")
    for name, default in (extra or {}).items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    EXTRA.update({name: getattr(args, name.replace("-", "_")) for name in extra or {}})
    EXTRA["db"] = getattr(args, "db", None)
    return args.n


class Databases:
    """New empty databases on a PostgreSQL server, each dropped at the end."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.admin = psycopg.connect(url, autocommit=True)
        self.made: list[str] = []

    def new(self, template: str | None = None) -> str:
        """A new database's URL: empty, or a copy of the database at `template` (a URL this
        object made, with nobody connected to it)."""
        from urllib.parse import urlsplit, urlunsplit

        name = f"crmpool_bench_{os.getpid()}_{len(self.made)}"
        like = f' TEMPLATE "{urlsplit(template).path.lstrip("/")}"' if template else ""
        self.admin.execute(f'CREATE DATABASE "{name}"{like}')
        self.made.append(name)
        return urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))

    def vacuum(self, url: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

    def drop(self, *urls: str) -> None:
        """Drop databases this object made, before the end (their disk space back)."""
        from urllib.parse import urlsplit

        for url in urls:
            name = urlsplit(url).path.lstrip("/")
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.made:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


EXTRA: dict[str, int] = {}
