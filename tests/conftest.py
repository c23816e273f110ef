"""Shared fixtures: a temporary database per test, a fixed clock, a CLI runner, a real SMTP
server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpool import store
from crmpool.cli import load_commands
from crmpool.pools import DEFAULT_POOL, add_pool
from crmpool.users import add_user, get_user

app = load_commands()  # every command, for CliRunner
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOW_TEXT = "2026-11-23T10:00:00Z"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _stable_environment(monkeypatch):
    # Local time is Beijing unless a test says otherwise: the users this is built for.
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    import time

    time.tzset()
    for name in ("CRMPOOL_DB", "CRMPOOL_USER", "CRMPOOL_NOW", "CRMPOOL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    yield
    time.tzset()


def make_team(conn) -> None:
    """admin boss; manager wang (east); reps li, zhang (east), chen (west)."""
    with store.transaction(conn):
        add_pool(conn, None, DEFAULT_POOL, NOW)
        boss = add_user(conn, None, "boss", NOW, role="admin")
        add_user(conn, boss, "wang", NOW, role="manager", team="east")
        add_user(conn, boss, "li", NOW, team="east")
        add_user(conn, boss, "zhang", NOW, team="east")
        add_user(conn, boss, "chen", NOW, team="west")


# The engine the suite runs against: SQLite (a file per test), or PostgreSQL
# (CRMPOOL_TEST_ENGINE=postgresql: a real server this run starts, a database per test).
ENGINE = os.environ.get("CRMPOOL_TEST_ENGINE", "sqlite")


def pytest_collection_modifyitems(config, items):
    # Tests of what only a SQLite file has (its file mode, WAL, the sqlite3 shell) are not
    # run against PostgreSQL; tests/test_postgresql.py has that engine's own.
    if ENGINE == "postgresql":
        kept = [item for item in items if not item.get_closest_marker("sqlite_only")]
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for this test run (tests/pg_server.py)."""
    from pg_server import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture
def db_path(tmp_path, request) -> Path | str:
    """Where the test's database lives: a file, or a new PostgreSQL database's URL."""
    if ENGINE == "postgresql":
        return request.getfixturevalue("pg_server").new_database()
    return tmp_path / "team.db"


@pytest.fixture
def conn(db_path):
    """A team database opened for domain-level tests."""
    connection = store.create_db(db_path, NOW)
    make_team(connection)
    yield connection
    connection.close()


@pytest.fixture
def users(conn):
    return {name: get_user(conn, name) for name in ("boss", "wang", "li", "zhang", "chen")}


class Cli:
    """Runs crmpool in-process against one database, at a fixed time."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.runner = CliRunner()
        self.now = NOW_TEXT

    def __call__(self, *args: str, as_user: str = "boss", input: str | None = None,
                 env: dict | None = None):
        environment = {"CRMPOOL_DB": str(self.db), "CRMPOOL_USER": as_user,
                       "CRMPOOL_NOW": self.now, **(env or {})}
        if os.environ.get("CRMPOOL_TEST_DEBUG"):  # tracebacks and SQL in failures' stderr
            environment["CRMPOOL_DEBUG"] = "1"
        return self.runner.invoke(app, list(args), input=input, env=environment)

    def rows(self, *args: str, as_user: str = "boss", input: str | None = None) -> list[dict]:
        result = self(*args, "-f", "jsonl", as_user=as_user, input=input)
        assert result.exit_code == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(conn, db_path) -> Cli:
    """A CLI against the team database (conn's team exists)."""
    return Cli(db_path)


def add_customers(conn, rows: list[dict]) -> list[int]:
    """Insert customers directly (the fixture's way; import has its own tests)."""
    from crmpool.customers import keys_of

    ids = []
    with store.transaction(conn):
        for row in rows:
            data = {"pool": "public", "status": "active", "created_at": NOW_TEXT} | row
            if data.get("owner") and "assigned_at" not in data:
                data["assigned_at"] = NOW_TEXT
            data |= keys_of(data.get("name"), data.get("phone"), data.get("email"),
                            data.get("company_id"))
            columns = ", ".join(data)
            marks = ", ".join("?" * len(data))
            cursor = conn.execute(f"INSERT INTO customers ({columns}) VALUES ({marks})",
                                  list(data.values()))
            ids.append(cursor.lastrowid)
    return ids


def run_crmpool(*args: str, db: Path, user: str = "boss", now: str | None = None,
                input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """crmpool in a process of its own, as cron and shell loops run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMPOOL_")}
    env |= {"CRMPOOL_DB": str(db), "CRMPOOL_USER": user}
    if now:
        env["CRMPOOL_NOW"] = now
    return subprocess.run([sys.executable, "-m", "crmpool", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=timeout)


def dump(db: Path | str) -> list[str]:
    """Every row of every table, for "nothing changed" assertions."""
    import sqlite3

    if isinstance(db, str) and db.startswith("postgresql://"):
        return _dump_postgresql(db)

    connection = sqlite3.connect(db)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def clone_database(db: Path | str, tmp_path: Path) -> Path | str:
    """A second database holding what `db` holds (nobody may have `db` open)."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        name = db.split("?")[0].rsplit("/", 1)[1]
        clone = f"{name}_clone"
        admin_url = db.replace(f"/{name}?", "/postgres?")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{name}"')
        return db.replace(f"/{name}?", f"/{clone}?")
    import shutil

    target = tmp_path / f"clone-{Path(db).name}"
    shutil.copy(db, target)
    return target


def _dump_postgresql(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")]
        out = [f"tables {tables}"]
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            out.extend(f"{table} {row!r}" for row in rows)
        # Not the sequences: PostgreSQL hands out ids outside transactions, so a rolled-back
        # insert still used one (an id skipped, no row written).
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server; `answers` holds the replies to give (default 250), in order."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self) -> None:
            self.received: list = []
            self.answers: list[str] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            if self.answers:
                answer = self.answers.pop(0)
                if not answer.startswith("250"):
                    return answer
            self.received.append((envelope.rcpt_tos,
                                  message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()
