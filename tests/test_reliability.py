"""Many processes at once, and a sweep killed with SIGKILL: what cron and shell loops do."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NOW, NOW_TEXT, add_customers, run_crmpool

from crmpool import store
from crmpool.ruleset import set_rules

DOCUMENTED = {0, 1, 2, 3, 4, 5}


def use_rules(conn, text: str) -> None:
    from crmpool.users import get_user

    with store.transaction(conn):
        set_rules(conn, get_user(conn, "boss"), text, "t.toml", NOW)


def bulk_customers(conn, count: int, owned_every: int, old_every: int) -> None:
    """`count` customers; every `owned_every`-th owned by li, every `old_every`-th idle 60 d."""
    rows = []
    for i in range(1, count + 1):
        owned = i % owned_every == 0
        assigned = ("2026-09-01T00:00:00Z" if i % old_every == 0 else NOW_TEXT) if owned else None
        rows.append((i, f"customer {i}", f"1{i:010d}", "li" if owned else None, assigned,
                     NOW_TEXT, f"customer{i}", f"1{i:010d}"))
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO customers (id, name, phone, owner, assigned_at, created_at, name_key,"
            " phone_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def content_hash(db: Path) -> str:
    digest = hashlib.sha256()
    conn = sqlite3.connect(db)
    for table in ("customers", "events", "runs", "warnings", "contacts", "deals"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
            digest.update(repr(row).encode())
    conn.close()
    return digest.hexdigest()


def test_concurrent_claims_of_the_same_customers(conn, db_path, cli):
    use_rules(conn, "[limits]\ncap = 12\nclaims_per_day = 0\n")
    ids = add_customers(conn, [{"name": f"c{i}"} for i in range(30)])
    args = [str(i) for i in ids]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMPOOL_")}
    env |= {"CRMPOOL_DB": str(db_path), "CRMPOOL_NOW": NOW_TEXT}
    procs = [
        subprocess.Popen([sys.executable, "-m", "crmpool", "--as", user, "claim", *args,
                          "-f", "jsonl"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for user in ("li", "zhang", "chen", "wang", "boss")
    ]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    for proc, _out, err in results:
        assert proc.returncode in (0, 4), err
        assert "Traceback" not in err and "locked" not in err
    claims = conn.execute(
        "SELECT customer_id, count(*), min(actor) FROM events WHERE action = 'claim'"
        " GROUP BY customer_id").fetchall()
    assert len(claims) == 30 and all(n == 1 for _, n, _ in claims)
    owners = dict(conn.execute("SELECT id, owner FROM customers").fetchall())
    assert all(owners[cid] == actor for cid, _, actor in claims)
    per_owner = conn.execute("SELECT owner, count(*) FROM customers GROUP BY owner").fetchall()
    assert all(n <= 12 for _, n in per_owner)
    reported_ok = [json.loads(line)["id"] for _, out, _ in results for line in out.splitlines()
                   if json.loads(line)["ok"]]
    assert sorted(reported_ok) == sorted(ids)


def test_sweep_racing_with_claims(conn, db_path):
    use_rules(conn, '[limits]\ncap = 100000\nclaims_per_day = 0\n'
                    '[[reclaim]]\nname = "idle"\nidle_days = 30\n')
    bulk_customers(conn, 20000, owned_every=2, old_every=4)  # 5,000 reclaimable
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMPOOL_")}
    env |= {"CRMPOOL_DB": str(db_path), "CRMPOOL_NOW": NOW_TEXT}
    pool_ids = [str(i) for i in range(1, 20001, 2)][:4000]
    sweeper = subprocess.Popen([sys.executable, "-m", "crmpool", "--as", "boss", "sweep",
                                "-f", "json"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    claimers = [
        subprocess.Popen([sys.executable, "-m", "crmpool", "--as", user, "claim",
                          *pool_ids[k::4], "-f", "jsonl"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for k, user in enumerate(("zhang", "chen", "wang", "boss"))
    ]
    sweep_out, sweep_err = sweeper.communicate(timeout=300)
    assert sweeper.returncode in (0, 5), sweep_err
    claimed: dict[int, str] = {}
    for user, proc in zip(("zhang", "chen", "wang", "boss"), claimers, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in DOCUMENTED and "Traceback" not in err, err
        for line in out.splitlines():
            row = json.loads(line)
            if row["ok"]:
                claimed[row["id"]] = user
    owners = dict(conn.execute("SELECT id, owner FROM customers").fetchall())
    for cid, user in claimed.items():
        assert owners[cid] == user  # no successful claim lost
    # Each customer's owner is what its last ownership event says.
    last = conn.execute(
        "SELECT e.customer_id, e.action, e.to_owner FROM events e WHERE e.id IN"
        " (SELECT max(id) FROM events WHERE customer_id IS NOT NULL GROUP BY customer_id)"
    ).fetchall()
    for cid, action, to_owner in last:
        expected = to_owner if action in ("claim", "assign") else None
        assert owners[cid] == expected, (cid, action)
    if sweeper.returncode == 0:
        assert json.loads(sweep_out)["reclaimed"] == 5000
        assert conn.execute("SELECT count(*) FROM customers WHERE owner = 'li'").fetchone()[0] \
            == 5000


@pytest.mark.sqlite_only
def test_a_killed_sweep_leaves_the_database_as_it_was(conn, db_path, tmp_path):
    use_rules(conn, '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n')
    bulk_customers(conn, 200_000, owned_every=1, old_every=2)  # 100,000 to reclaim
    conn.close()
    pristine = tmp_path / "pristine.db"
    shutil.copy(db_path, pristine)
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    before = content_hash(db_path)
    wal = Path(f"{db_path}-wal")
    killed_mid_run = False
    for delay in (0.8, 0.5, 0.3, 0.15, 0.05, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "crmpool", "--db", str(db_path),
                                 "--as", "boss", "sweep", "-q"],
                                env={**os.environ, "CRMPOOL_NOW": NOW_TEXT})
        deadline = time.monotonic() + 30
        # Wait until the run is writing (its WAL grows), then a little more, then kill.
        while time.monotonic() < deadline and proc.poll() is None:
            if wal.exists() and wal.stat().st_size > 1 << 20:
                break
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check = sqlite3.connect(db_path)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = check.execute("SELECT count(*) FROM runs").fetchone()[0]
        check.close()
        if proc.returncode == -signal.SIGKILL and runs == 0:
            assert content_hash(db_path) == before
            killed_mid_run = True
            break
        shutil.copy(pristine, db_path)  # it finished first: start again, kill sooner
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    assert killed_mid_run, "never caught the sweep in the middle"
    rerun = run_crmpool("sweep", "-f", "json", db=db_path, now=NOW_TEXT, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["reclaimed"] == 100_000
