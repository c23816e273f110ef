"""Numbered schema migrations: applied in order on every open, each in one transaction with its
record (STYLE: llm's migrations, minus their non-transactional record).

Append new migrations to the end; never edit one that has shipped. The same list runs on
both engines: a statement is written once, in SQLite's SQL (engines/pg_sql.py says it in
PostgreSQL's), and a step that cannot be said the same way on both is a `PerEngine`, whose
SQLite form is the step as it shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from crmpool import search_index
from crmpool.engines import engine_of, pg_references


class PerEngine:
    """A step said differently on each engine: SQLite's (a statement or a callable), and
    PostgreSQL's, native statements (functions, triggers) or a callable."""

    def __init__(self, sqlite: str | Callable[[sqlite3.Connection], None],
                 postgresql: list[str] | Callable[[sqlite3.Connection], None]) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql


Step = str | Callable[[sqlite3.Connection], None] | PerEngine


# The setting under which PostgreSQL's customers_changed trigger stands aside
# (store.changes_in_events).
CHANGES_IN_EVENTS = "crmpool.changes_in_events"


def _unchanged(conn: sqlite3.Connection) -> None:
    """The SQLite side of a step only PostgreSQL needs."""


def run_step(conn: sqlite3.Connection, step: Step) -> None:
    if isinstance(step, PerEngine):
        if engine_of(conn) != "postgresql":
            step = step.sqlite
        elif callable(step.postgresql):
            step = step.postgresql
        else:
            for statement in step.postgresql:
                conn.execute_native(statement)  # type: ignore[attr-defined]
            return
    if callable(step):
        step(conn)
    else:
        conn.execute(step)


def append_only_pg(table: str) -> list[str]:
    """PostgreSQL's form of the append-only triggers: a function that refuses, on both."""
    return [f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                RAISE EXCEPTION '{table} are append-only'
                USING ERRCODE = 'integrity_constraint_violation'; END $$""",
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"]


def rewrite_table(table: str, old: str, new: str,
                  postgresql: list[str] | None = None) -> PerEngine:
    """A step that rebuilds `table` with one piece of its definition replaced (a CHECK's
    wording, a constraint dropped for a new column).

    SQLite cannot alter a constraint in place; this is its documented rebuild (create the new
    table, copy, drop, rename, recreate the indexes), run by `migrate` with foreign keys off
    and checked with foreign_key_check before the migration commits. Ids are kept, so every
    reference into the table stays valid. PostgreSQL alters in place: `postgresql` says how
    (nothing, when only SQLite needed the new wording).
    """

    def step(conn: sqlite3.Connection) -> None:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (table,)).fetchone()[0]
        if old not in sql:
            raise RuntimeError(f"migration: {table} has no {old!r} to rewrite")
        dependents = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
            " AND tbl_name = ? AND sql IS NOT NULL", (table,))]
        # hidden = 0 leaves out generated columns, which the new table computes itself.
        columns = ", ".join(row[1] for row in conn.execute(f"PRAGMA table_xinfo({table})")
                            if row[6] == 0)
        rebuilt = f"{table}_rebuilt"
        conn.execute(sql.replace(table, rebuilt, 1).replace(old, new))
        conn.execute(f"INSERT INTO {rebuilt} ({columns}) SELECT {columns} FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
        for statement in dependents:
            conn.execute(statement)

    return PerEngine(step, postgresql or [])


def recompute_qualified_name_keys(conn: sqlite3.Connection) -> None:
    """name_key again for every name with a bracket (the only names whose key changed)."""
    from crmpool.normalize import name_key

    if engine_of(conn) == "postgresql":
        rows = conn.execute("SELECT id, name FROM customers WHERE name GLOB '*[(（]*'")
        conn.executemany("UPDATE customers SET name_key = ? WHERE id = ?",
                         [(name_key(name), id_) for id_, name in rows.fetchall()])
        return
    conn.create_function("crmpool_name_key", 1, name_key, deterministic=True)
    conn.execute("UPDATE customers SET name_key = crmpool_name_key(name)"
                 " WHERE name GLOB '*[(（]*'")


MIGRATIONS: list[tuple[str, list[Step]]] = [
    (
        "core schema",
        [
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL CHECK (role IN ('rep', 'manager', 'admin')),
                team TEXT,
                cap INTEGER CHECK (cap IS NULL OR cap >= 0),
                display TEXT,
                active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
                created_at TEXT NOT NULL
            )""",
            "CREATE TABLE pools (name TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
            # `pool` is the home pool, kept while owned: a release or reclaim sends it there.
            # `idle_since` is where the idle clock starts: the later of assignment and contact.
            """CREATE TABLE customers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                phone TEXT,
                email TEXT,
                company_id TEXT,
                level TEXT,
                region TEXT,
                industry TEXT,
                owner TEXT REFERENCES users (name),
                pool TEXT NOT NULL DEFAULT 'public' REFERENCES pools (name),
                status TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'won', 'invalid')),
                created_at TEXT NOT NULL,
                assigned_at TEXT,
                last_contact_at TEXT,
                next_contact_at TEXT,
                won_at TEXT,
                frozen_until TEXT,
                freeze_reason TEXT,
                invalid_reason TEXT,
                extra TEXT,
                name_key TEXT,
                phone_key TEXT,
                email_key TEXT,
                company_id_key TEXT,
                idle_since TEXT GENERATED ALWAYS AS
                    (max(assigned_at, coalesce(last_contact_at, assigned_at))) VIRTUAL,
                CHECK (owner IS NULL OR assigned_at IS NOT NULL)
            )""",
            "CREATE INDEX customers_owner ON customers (owner, status)",
            "CREATE INDEX customers_idle ON customers (idle_since) WHERE owner IS NOT NULL",
            "CREATE INDEX customers_frozen ON customers (frozen_until)"
            " WHERE frozen_until IS NOT NULL",
            "CREATE INDEX customers_phone_key ON customers (phone_key) WHERE phone_key IS NOT NULL",
            "CREATE INDEX customers_email_key ON customers (email_key) WHERE email_key IS NOT NULL",
            "CREATE INDEX customers_name_key ON customers (name_key)",
            "CREATE INDEX customers_company_id_key ON customers (company_id_key)"
            " WHERE company_id_key IS NOT NULL",
            """CREATE TABLE contacts (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers (id),
                at TEXT NOT NULL,
                via TEXT NOT NULL
                    CHECK (via IN ('call', 'visit', 'email', 'message', 'meeting', 'other')),
                note TEXT,
                user TEXT,
                next_at TEXT,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX contacts_customer ON contacts (customer_id, at)",
            """CREATE TABLE deals (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers (id),
                amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
                stage TEXT NOT NULL CHECK (stage IN ('open', 'won', 'lost')),
                at TEXT NOT NULL,
                user TEXT,
                note TEXT,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX deals_customer ON deals (customer_id, stage, at)",
            """CREATE TABLE rules (
                id INTEGER PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                body TEXT NOT NULL,
                limits TEXT NOT NULL,
                set_at TEXT NOT NULL,
                set_by TEXT NOT NULL
            )""",
            """CREATE TABLE runs (
                id INTEGER PRIMARY KEY,
                as_of TEXT NOT NULL,
                started_at TEXT NOT NULL,
                rules_fingerprint TEXT NOT NULL,
                actor TEXT NOT NULL,
                unfrozen INTEGER NOT NULL DEFAULT 0,
                reclaimed INTEGER NOT NULL DEFAULT 0,
                warned INTEGER NOT NULL DEFAULT 0,
                per_rule TEXT NOT NULL DEFAULT '{}',
                dry_run INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER REFERENCES customers (id),
                at TEXT NOT NULL,
                action TEXT NOT NULL,
                actor TEXT NOT NULL,
                from_owner TEXT,
                to_owner TEXT,
                from_pool TEXT,
                to_pool TEXT,
                rule TEXT,
                reason TEXT,
                run_id INTEGER REFERENCES runs (id)
            )""",
            "CREATE INDEX events_customer ON events (customer_id, at)",
            "CREATE INDEX events_actor ON events (actor, action, at)",
            "CREATE INDEX events_at ON events (at)",
            # The audit trail is append-only: the database itself refuses to rewrite it.
            PerEngine("""CREATE TRIGGER events_no_update BEFORE UPDATE ON events
               BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
                      append_only_pg("events")),
            PerEngine("""CREATE TRIGGER events_no_delete BEFORE DELETE ON events
               BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""", []),
            """CREATE TABLE warnings (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers (id),
                rule TEXT NOT NULL,
                owner TEXT NOT NULL,
                due_at TEXT NOT NULL,
                due_day TEXT NOT NULL,
                run_id INTEGER REFERENCES runs (id),
                created_at TEXT NOT NULL,
                closed_at TEXT,
                UNIQUE (customer_id, rule, due_day)
            )""",
            "CREATE INDEX warnings_open ON warnings (owner) WHERE closed_at IS NULL",
        ],
    ),    # A CHECK of the form `x IN (a, b, c)` builds a little lookup table for every row it
    # checks (SQLite's IN operator with three or more constants): measured at about 2 us per
    # row, a third of a bulk import's insert time. The same test written with OR costs
    # nothing measurable. Only the wording changes; the allowed values are the same.
    (
        "checks without IN lists",
        [
            rewrite_table("customers", "status IN ('active', 'won', 'invalid')",
                          "status = 'active' OR status = 'won' OR status = 'invalid'"),
            rewrite_table("contacts",
                          "via IN ('call', 'visit', 'email', 'message', 'meeting', 'other')",
                          "via = 'call' OR via = 'visit' OR via = 'email' OR via = 'message'"
                          " OR via = 'meeting' OR via = 'other'"),
            rewrite_table("deals", "stage IN ('open', 'won', 'lost')",
                          "stage = 'open' OR stage = 'won' OR stage = 'lost'"),
        ],
    ),
    # Undo of a sweep run needs what each change replaced; a warning is one episode, so a
    # closed one stays closed and its condition holding again opens a new one (only open
    # warnings are unique); imported deals and contacts remember the old CRM's ids.
    (
        "undo, warning episodes, external ids",
        [
            "ALTER TABLE events ADD COLUMN from_assigned_at TEXT",
            "ALTER TABLE events ADD COLUMN from_frozen_until TEXT",
            "ALTER TABLE events ADD COLUMN from_freeze_reason TEXT",
            "ALTER TABLE runs ADD COLUMN undone_at TEXT",
            "ALTER TABLE runs ADD COLUMN undone_by TEXT",
            # A warning is one episode: the table-wide UNIQUE goes (the partial index below
            # takes its place for open warnings), and the run that closed it is kept.
            rewrite_table("warnings", "UNIQUE (customer_id, rule, due_day)",
                          "closed_run_id INTEGER REFERENCES runs (id)", postgresql=[
                              "ALTER TABLE warnings DROP CONSTRAINT"
                              " warnings_customer_id_rule_due_day_key",
                              "ALTER TABLE warnings ADD COLUMN closed_run_id BIGINT"
                              " REFERENCES runs (id)"]),
            "CREATE UNIQUE INDEX warnings_episode ON warnings (customer_id, rule, due_day)"
            " WHERE closed_at IS NULL",
            "CREATE INDEX warnings_run ON warnings (run_id)",
            "CREATE INDEX warnings_closed_run ON warnings (closed_run_id)"
            " WHERE closed_run_id IS NOT NULL",
            "CREATE INDEX events_run ON events (run_id) WHERE run_id IS NOT NULL",
            "ALTER TABLE deals ADD COLUMN external_id TEXT",
            "ALTER TABLE contacts ADD COLUMN external_id TEXT",
            "CREATE INDEX deals_external_id ON deals (external_id) WHERE external_id IS NOT NULL",
            "CREATE INDEX contacts_external_id ON contacts (external_id)"
            " WHERE external_id IS NOT NULL",
        ],
    ),
    # name_key now folds a parenthesised qualifier (北京星辰科技（北京）有限公司): the keys of the
    # names that have one are worked out again; no other key changes.
    ("name keys without qualifiers", [recompute_qualified_name_keys]),
    # A merged customer remembers the record it was folded into (`crmpool merge`).
    ("merged customers", [
        "ALTER TABLE customers ADD COLUMN merged_into INTEGER REFERENCES customers (id)",
    ]),
    # A user's e-mail, for `user import` now and notifications later.
    ("user e-mail", ["ALTER TABLE users ADD COLUMN email TEXT"]),
    # A row deleted from customers (an import's duplicate) is checked against every table
    # that references it, and SQLite checks a reference only through a whole (not partial)
    # index: without these, each delete read all of warnings and all of customers (an import
    # of 30,000 rows with 1,500 duplicates took 6 s instead of 0.3).
    ("indexes for references", [
        "CREATE INDEX warnings_customer ON warnings (customer_id)",
        "CREATE INDEX customers_merged_into ON customers (merged_into)",
    ]),
    # `list --search` from a trigram index kept by triggers, not a scan of every name
    # (crmpool/search_index.py): about 5 s and 35 MB for a million customers, once.
    ("search index", [PerEngine(search_index.install, search_index.install_pg)]),
    # Warnings with levels and what they say; why and when they closed; an owner's ack; a
    # rise in level (undone with its run); and the outbox notifications wait in
    # (crmpool/notify/outbox.py). The partial indexes serve the warning rules on wins and
    # planned follow-ups.
    ("warning levels and the outbox", [
        "ALTER TABLE warnings ADD COLUMN level TEXT NOT NULL DEFAULT 'mid'",
        "ALTER TABLE warnings ADD COLUMN detail TEXT",
        "ALTER TABLE warnings ADD COLUMN close_reason TEXT",
        "ALTER TABLE warnings ADD COLUMN acked_at TEXT",
        "ALTER TABLE warnings ADD COLUMN acked_by TEXT",
        "ALTER TABLE warnings ADD COLUMN risen_at TEXT",
        "ALTER TABLE warnings ADD COLUMN risen_run_id INTEGER REFERENCES runs (id)",
        "ALTER TABLE warnings ADD COLUMN from_level TEXT",
        "CREATE INDEX warnings_risen_run ON warnings (risen_run_id)"
        " WHERE risen_run_id IS NOT NULL",
        # Each rule's open warnings, which every sweep checks (closed ones pile up).
        "CREATE INDEX warnings_open_rule ON warnings (rule, customer_id)"
        " WHERE closed_at IS NULL",
        "CREATE INDEX customers_won_at ON customers (won_at) WHERE won_at IS NOT NULL",
        "CREATE INDEX customers_next_contact ON customers (next_contact_at)"
        " WHERE next_contact_at IS NOT NULL",
        """CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (id),
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            address TEXT,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            html TEXT,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status = 'pending' OR status = 'sent' OR status = 'failed'),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT,
            sent_at TEXT
        )""",
        "CREATE INDEX notifications_pending ON notifications (next_attempt_at)"
        " WHERE status = 'pending'",
        "CREATE INDEX notifications_run ON notifications (run_id)",
    ]),
    # Warning rules are evaluated incrementally (crmpool/sweep/warnings.py): each rule
    # remembers the run it was last evaluated in, and every change to what a warning
    # condition reads is noted, by a trigger, so the shell's edits count too.
    ("changes for warning rules", [
        "CREATE TABLE customer_changes (customer_id INTEGER PRIMARY KEY)",
        PerEngine(
            "CREATE TRIGGER customers_changed AFTER UPDATE OF owner, status, assigned_at,"
            " last_contact_at, next_contact_at, won_at, frozen_until, level, region, industry,"
            " pool ON customers BEGIN"
            " INSERT OR IGNORE INTO customer_changes (customer_id) VALUES (new.id); END",
            ["""CREATE OR REPLACE FUNCTION customers_changed() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO customer_changes (customer_id) VALUES (NEW.id)
                ON CONFLICT DO NOTHING; RETURN NULL; END $$""",
             "CREATE TRIGGER customers_changed AFTER UPDATE OF owner, status, assigned_at,"
             " last_contact_at, next_contact_at, won_at, frozen_until, level, region,"
             " industry, pool ON customers FOR EACH ROW EXECUTE FUNCTION customers_changed()"]),
        """CREATE TABLE warn_rule_state (
            rule TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            as_of TEXT NOT NULL,
            last_customer_id INTEGER NOT NULL
        )""",
    ]),
    # ... and the last deal it saw: a drop in purchases is evaluated incrementally too.
    ("deals seen by warning rules", [
        "ALTER TABLE warn_rule_state ADD COLUMN last_deal_id INTEGER NOT NULL DEFAULT 0",
    ]),
    # Open warnings by owner are found through their customers (customers_owner); the index
    # cost every new warning an entry (measured: 0.2 s of a 1.9 s night at 1M customers).
    ("no index of open warnings by owner", ["DROP INDEX warnings_open"]),
    # One index of open warnings instead of two: the episode key led by the rule serves both
    # the uniqueness of an open episode and each rule's open warnings, which the sweep reads
    # rule by rule; every new warning paid for both.
    ("open warnings by rule", [
        "DROP INDEX warnings_open_rule",
        "DROP INDEX warnings_episode",
        "CREATE UNIQUE INDEX warnings_episode ON warnings (rule, customer_id, due_day)"
        " WHERE closed_at IS NULL",
    ]),
    # Pools with members (a user, or `team:NAME`) and admins, and limits of their own
    # (crmpool/pool_access.py); automatic distribution (crmpool/distribute/): each run, the
    # round-robin turn of each pool, and on every assignment it made, its run. A pool with
    # no members stays open to everyone, so existing databases keep working.
    ("pool members and distribution", [
        "ALTER TABLE pools ADD COLUMN claims_per_day INTEGER",
        "ALTER TABLE pools ADD COLUMN cooldown_days INTEGER",
        """CREATE TABLE pool_members (
            pool TEXT NOT NULL REFERENCES pools (name),
            member TEXT NOT NULL,
            PRIMARY KEY (pool, member)
        )""",
        """CREATE TABLE pool_admins (
            pool TEXT NOT NULL REFERENCES pools (name),
            user TEXT NOT NULL REFERENCES users (name),
            PRIMARY KEY (pool, user)
        )""",
        """CREATE TABLE distributions (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            strategy TEXT NOT NULL,
            pool TEXT,
            rule TEXT,
            run_id INTEGER REFERENCES runs (id),
            assigned INTEGER NOT NULL DEFAULT 0,
            left_in_pool INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE distribution_turns (
            pool TEXT PRIMARY KEY,
            last_user TEXT NOT NULL
        )""",
        "ALTER TABLE events ADD COLUMN distribution_id INTEGER REFERENCES distributions (id)",
        # What a user received from pools today: the daily limit counts every way in.
        "CREATE INDEX events_received ON events (to_owner, at)"
        " WHERE from_pool IS NOT NULL AND to_owner IS NOT NULL",
    ]),
    # On PostgreSQL the references a sweep writes in bulk (events and warnings to their
    # runs, warnings to their customers) are checked once a statement rather than once a
    # row, with the same locks and errors (crmpool/engines/pg_references.py). SQLite's
    # declared foreign keys stay as they are.
    ("references checked a statement at a time", [
        PerEngine(_unchanged, pg_references.install()),
    ]),
    # ... and the sweep's own reclaims and lifted freezes, which its events record, are not
    # noted again one row at a time (store.changes_in_events).
    ("sweep changes read from its events", [
        PerEngine(_unchanged, [
            "DROP TRIGGER customers_changed ON customers",
            "CREATE TRIGGER customers_changed AFTER UPDATE OF owner, status, assigned_at,"
            " last_contact_at, next_contact_at, won_at, frozen_until, level, region,"
            " industry, pool ON customers FOR EACH ROW"
            f" WHEN (current_setting('{CHANGES_IN_EVENTS}', true) IS DISTINCT FROM 'on')"
            " EXECUTE FUNCTION customers_changed()"]),
    ]),
    # ... ordered by the write lock instead of locking every referenced row (a foreign key's
    # FOR KEY SHARE): 0.3-0.45 s of a sweep that opens 69k warnings. The step above installs
    # these functions on a new database already; this one brings older ones up to date.
    ("references checked under the write lock", [
        PerEngine(_unchanged, pg_references.functions()),
    ]),
]
