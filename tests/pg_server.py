"""A real PostgreSQL server for the tests, started in a temporary directory and stopped after.

It listens on a Unix socket in its own directory only (no TCP port to collide with), with
trust authentication for its one role, `crmpool`. PostgreSQL refuses to run as root, so as
root the server runs as the `postgres` user (Debian's package creates it). Durability is
turned off (fsync, synchronous_commit): the tests need its behaviour, not its crash safety,
and it starts a database in milliseconds that way.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


class Server:
    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install"
                               " postgresql); `python3 scripts/dev.py pytest` installs it")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="crmpool-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.port = 5432
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.counter = itertools.count(1)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "crmpool",
                   "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        options = (f"-k {self.socket_dir} -c listen_addresses='' -p {self.port}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                   " -c max_connections=200")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                   "-l", str(self.root / "server.log"), "-w", "start"])

    def _run(self, argv: list[str]) -> None:
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr or result.stdout}")

    def url(self, database: str) -> str:
        return f"postgresql://crmpool@/{database}?host={self.socket_dir}&port={self.port}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url("postgres"), autocommit=True)

    def new_database(self) -> str:
        """A new empty database; its URL. Its default collation is ICU's en-US, as a server
        set up for people often has, not the C order crmpool's text columns use: the suite
        shows crmpool never relies on the database's default."""
        name = f"t{os.getpid()}_{next(self.counter)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
                         " ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                       "stop"])
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.root, ignore_errors=True)
