"""`crmpool demo`: build a demo database from examples/ and walk through a day in the pool.

Everything runs through the same domain functions as the commands; `say` and `show` are how
the caller presents each step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from crmpool import store
from crmpool.contacts import log_contact
from crmpool.errors import Refused, UsageError
from crmpool.freezes import freeze
from crmpool.imports.importer import ImportOptions, import_file
from crmpool.imports.sources import open_source
from crmpool.listing import TABLE_COLUMNS, CustomerFilter, list_customers
from crmpool.ownership import claim, release
from crmpool.pools import DEFAULT_POOL, add_pool
from crmpool.ruleset import set_rules
from crmpool.sweep import sweep
from crmpool.sweep.why import WHY_TABLE_COLUMNS, explain
from crmpool.users import add_user, get_user


def examples_dir() -> Path:
    """The bundled examples: package data when installed (pyproject.toml maps examples/ to
    crmpool/examples), examples/ beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "examples"
    return installed if (installed / "customers.csv").exists() else here.parent / "examples"


EXAMPLES = examples_dir()
Say = Callable[[str], None]
Show = Callable[[list[dict], Sequence[str]], None]


def _outcomes(say: Say, outcomes) -> None:
    for outcome in outcomes:
        mark = "ok " if outcome.ok else "REFUSED "
        say(f"    {mark}{outcome.id}: {outcome.message}")


def build_demo(path: Path, now: datetime, say: Say, show: Show) -> None:
    """Create the demo database at `path` (replacing an earlier demo) and tell its story."""
    if not (EXAMPLES / "customers.csv").exists():
        raise UsageError(f"the bundled examples are missing ({EXAMPLES}); run the demo from"
                         " a crmpool checkout")
    if path.exists():
        conn = store.open_db(path)
        is_demo = conn.execute(
            "SELECT 1 FROM crmpool_meta WHERE key = 'demo'").fetchone() is not None
        conn.close()
        if not is_demo:
            raise Refused(f"{path} holds a real crmpool database; the demo will not touch it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    say(f"1. A new team database, {path}, with an admin, a manager and three reps.")
    conn = store.create_db(path, now)
    try:
        with store.transaction(conn):
            conn.execute("INSERT INTO crmpool_meta (key, value) VALUES ('demo', '1')")
            add_pool(conn, None, DEFAULT_POOL, now)
            admin = add_user(conn, None, "admin", now, role="admin", display="管理员")
            add_user(conn, admin, "wang", now, role="manager", team="east", display="王经理")
            add_user(conn, admin, "li", now, team="east", display="李雷", cap=6)
            add_user(conn, admin, "zhang", now, team="east", display="张伟")
            add_user(conn, admin, "chen", now, team="west", display="陈静")
            add_pool(conn, admin, "key-accounts", now)
            rules_text = (EXAMPLES / "rules.toml").read_text(encoding="utf-8")
            rules, _ = set_rules(conn, admin, rules_text, "examples/rules.toml", now)
        say(f"   Rules {rules.fingerprint} from examples/rules.toml: "
            + "; ".join(f"{r.name}: {r.describe()}" for r in rules.reclaim))

        say("2. Import examples/customers.csv (Chinese headers, a 撞单 duplicate in it).")
        summary = import_file(conn, admin, open_source(str(EXAMPLES / "customers.csv")),
                              ImportOptions(), now)
        say(f"   read {summary.read}, inserted {summary.inserted}, duplicates skipped"
            f" {summary.duplicates_skipped}, sent to pool over cap"
            f" {summary.sent_to_pool_over_cap}")
        for dup in summary.duplicates:
            first = (f"customer {dup['existing_id']}" if dup["existing_id"]
                     else f"line {dup['existing_line']}")
            say(f"   line {dup['line']} repeats {first}, {dup['existing_name']} (owned by"
                f" {dup['existing_owner']}, same {' and '.join(dup['same'])})")
        show(list(list_customers(conn, CustomerFilter(), now)), TABLE_COLUMNS)

        li = get_user(conn, "li")
        say("3. li (李雷, cap 6) claims three customers from the public pool.")
        _outcomes(say, claim(conn, li, [9, 10, 11], now))
        say("   li tries to claim customer 4, which zhang owns, and customer 12 (over cap):")
        _outcomes(say, claim(conn, li, [4, 12], now))

        say("4. li releases customer 11 (wrong region) and changes his mind at once:")
        _outcomes(say, release(conn, li, [11], "wrong region", now))
        _outcomes(say, claim(conn, li, [11], now))

        say("5. li logs calls with customers 1 and 2; wang (manager) freezes customer 3,"
            " a signing in progress.")
        _outcomes(say, log_contact(conn, li, [1, 2], now, via="call", note="需求确认",
                                   at=now - timedelta(hours=2)))
        _outcomes(say, freeze(conn, get_user(conn, "wang"), [3], now + timedelta(days=60),
                              "合同审批中", now))

        later = now + timedelta(days=31)
        say("6. The nightly sweep, a month ahead (`crmpool sweep --now +31d`):")
        reclaimed: list[dict] = []
        report = sweep(conn, admin, later, now,
                       details=lambda _report, rows, _warned: reclaimed.extend(rows))
        show([{"rule": r.rule, "reclaimed": r.reclaimed, "warned": r.warned}
              for r in report.rules], ["rule", "reclaimed", "warned"])
        show(reclaimed, ["id", "name", "from_owner", "to_pool", "rule"])
        say("   A second run for the same time changes nothing:")
        again = sweep(conn, admin, later, now)
        say(f"   reclaimed {again.reclaimed}; repeat of run {again.repeat_of}")

        say("7. Why is customer 1 still li's, and when will it go?")
        state, rows = explain(conn, 1, later)
        say(f"   {state}")
        show(rows, WHY_TABLE_COLUMNS)
    finally:
        conn.close()
    say(f"Done. Explore it: crmpool --db {path} --as li list --mine")
