#!/usr/bin/env python3
"""Set up a private virtualenv (.venv) with crmpool and its test tools, then run a task.

Needs only python3. `python3 scripts/dev.py demo` builds the demo database and shows a sweep;
`python3 scripts/dev.py pytest [ARGS]` runs the test suite with pytest (the same command CI
runs; `test` is an alias) on both engines side by side, SQLite and a real PostgreSQL server
the tests start for themselves, installing Debian's Chromium and CJK fonts (the HTML report
is tested in a real browser) and PostgreSQL first when they are missing. Any other arguments
are passed to the `crmpool` command inside the virtualenv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".crmpool-installed"


def _wanted_stamp() -> str:
    # Reinstall only when the dependency list changes, so repeated runs start at once.
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        print("setting up .venv (first run only) ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _wanted_stamp():
        return
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         # compat: a plain path entry, not an import hook that every start would pay for
         "-e", f"{ROOT}[dev]", "--config-settings", "editable_mode=compat"],
        check=True,
    )
    STAMP.write_text(_wanted_stamp())


# The HTML report's test opens the page in a real headless Chromium, with CJK fonts so the
# Chinese renders: Debian's packages, installed here when missing (as root, with apt).
BROWSER_PACKAGES = ("chromium", "fonts-noto-cjk")


def ensure_browser() -> None:
    import shutil

    fonts = Path("/usr/share/fonts/opentype/noto")
    if shutil.which("chromium") and fonts.exists():
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        print("the HTML report's test needs Chromium and CJK fonts: install"
              f" {' '.join(BROWSER_PACKAGES)} (Debian) and run again", file=sys.stderr)
        return
    print(f"installing {', '.join(BROWSER_PACKAGES)} (first run only) ...", file=sys.stderr)
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *BROWSER_PACKAGES]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(apt, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(apt, env=env, stdout=subprocess.DEVNULL, check=True)


# The PostgreSQL half leaves out the slow tests (they check packaging, not the engine) and,
# by the sqlite_only marker (tests/conftest.py), what only a SQLite file has.
PG_HALF = ["-m", "not slow"]


def ensure_postgresql() -> None:
    """The tests start a real PostgreSQL server of their own (tests/pg_server.py): Debian's
    package, installed here when missing (as root, with apt)."""
    import glob
    import shutil

    if shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        print("the PostgreSQL half of the tests needs a PostgreSQL server: install"
              " postgresql (Debian) and run again", file=sys.stderr)
        return
    print("installing postgresql (first run only) ...", file=sys.stderr)
    apt = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(apt, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(apt, env=env, stdout=subprocess.DEVNULL, check=True)


def run_both_halves(python: str, rest: list[str]) -> int:
    """Both engines: the whole suite on SQLite, and on a real PostgreSQL server that the
    tests start for themselves (CRMPOOL_TEST_ENGINE; tests/conftest.py).

    The halves run at the same time, one per core (each mostly waits on its own engine):
    12.6 minutes one after the other on a clean clone, about 8 side by side. The SQLite
    half's report is shown as it runs, the PostgreSQL half's when it ends, so the two never
    interleave."""
    import tempfile

    with tempfile.TemporaryFile("w+") as report:
        postgresql = subprocess.Popen(
            [python, "-m", "pytest", *PG_HALF, *rest], cwd=ROOT, stdout=report,
            stderr=subprocess.STDOUT, env={**os.environ, "CRMPOOL_TEST_ENGINE": "postgresql"})
        try:
            sqlite = subprocess.call([python, "-m", "pytest", *rest], cwd=ROOT)
            postgresql.wait()
        finally:
            if postgresql.poll() is None:  # interrupted: the half in the background goes too
                postgresql.terminate()
                postgresql.wait()
        report.seek(0)
        print("\n=== the same suite on PostgreSQL ===", flush=True)
        sys.stdout.write(report.read())
        sys.stdout.flush()
    return sqlite or postgresql.returncode


def main(argv: list[str]) -> int:
    ensure_venv()
    task, rest = (argv[0], argv[1:]) if argv else ("demo", [])
    if task in ("pytest", "test"):
        ensure_browser()
        ensure_postgresql()
        return run_both_halves(str(BIN / "python"), rest)
    elif task == "lint":
        cmd = [str(BIN / "ruff"), "check", str(ROOT), *rest]
    else:
        cmd = [str(BIN / "crmpool"), task, *rest]
    return subprocess.call(cmd, cwd=ROOT if task in ("pytest", "test", "lint") else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
