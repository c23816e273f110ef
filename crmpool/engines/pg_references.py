"""The references a sweep writes in bulk, checked by PostgreSQL once a statement instead of
once a row.

A sweep writes one reference per reclaim event (to its run) and several per warning (its
customer, its runs). PostgreSQL 15 checks a declared foreign key row by row: a query and a
row lock for each. At 1M customers, that was 0.74 s of the 1.08 s a sweep spent writing 69k
warnings, and 0.43 s of its events (the same runs row, locked 100k times). Here those
references are checked by statement triggers over the statement's transition tables:

- after an INSERT, or an UPDATE that changes a reference, one anti-join finds a reference
  with no row, which is refused;
- deleting a referenced row, changing its id, or truncating its table is refused.

A foreign key also locks each referenced row (FOR KEY SHARE), so that a concurrent DELETE
waits and then sees the reference. These checks get the same ordering from the database's
write lock (engines.WRITE_LOCK), which every crmpool write transaction holds already: each
check takes it before it looks, so a writer that adds references and one that deletes what
they refer to, whoever they are (crmpool, or psql), run their checks one after the other,
the second one seeing what the first committed (READ COMMITTED: each statement of a trigger
takes a fresh snapshot). Locking 69k customers one row at a time was 0.3-0.45 s of a 1M
sweep; the lock costs nothing, as crmpool already holds it. A writer that uses REPEATABLE
READ or SERIALIZABLE keeps the snapshot it started with, which the lock cannot refresh:
write to a crmpool database outside crmpool in READ COMMITTED, PostgreSQL's default.

The errors are the foreign key's: SQLSTATE 23503 and the constraint's name. So store.explain
says the same thing, with the same exit code, on both engines. SQLite keeps its declared
foreign keys, which it checks cheaply.
"""

from __future__ import annotations

from crmpool.engines import WRITE_LOCK

# Taken by every check before it looks (see above); re-entrant, so free to crmpool's writers.
_ORDERED = f"PERFORM pg_advisory_xact_lock({WRITE_LOCK});"

# child table, column, parent table (whose key is `id`)
REFERENCES = (
    ("events", "run_id", "runs"),
    ("warnings", "customer_id", "customers"),
    ("warnings", "run_id", "runs"),
    ("warnings", "closed_run_id", "runs"),
    ("warnings", "risen_run_id", "runs"),
)


def _name(child: str, column: str) -> str:
    """The name PostgreSQL gave the declared foreign key; errors keep using it."""
    return f"{child}_{column}_fkey"


def _child_checks(child: str, update: bool) -> str:
    """The body that checks one statement's new references from `child`."""
    checks = []
    for table, column, parent in REFERENCES:
        if table != child:
            continue
        # The keys the statement wrote: every one for an INSERT; for an UPDATE only the
        # changed ones (a foreign key does not look again at a reference left as it was).
        named = (f"SELECT n.{column} FROM new_rows n JOIN old_rows o ON o.id = n.id"
                 f" WHERE n.{column} IS DISTINCT FROM o.{column}" if update
                 else f"SELECT n.{column} FROM new_rows n")
        checks.append(f"""
        IF EXISTS (SELECT 1 FROM ({named}) k WHERE k.{column} IS NOT NULL) THEN
            {_ORDERED}
            SELECT k.{column}::text INTO missing FROM ({named}) k
             WHERE k.{column} IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = k.{column}) LIMIT 1;
            IF missing IS NOT NULL THEN
                RAISE EXCEPTION 'insert or update on table "{child}" violates foreign key'
                    ' constraint "{_name(child, column)}"'
                    USING ERRCODE = 'foreign_key_violation', TABLE = '{child}',
                    CONSTRAINT = '{_name(child, column)}',
                    DETAIL = format('Key ({column})=(%s) is not present in table'
                                    ' "{parent}".', missing);
            END IF;
        END IF;""")
    return "".join(checks)


def _parent_checks(parent: str, rows: str) -> str:
    """The body that refuses to let `rows` (old rows of `parent`) go while referenced."""
    checks = []
    for child, column, table in REFERENCES:
        if table != parent:
            continue
        checks.append(f"""
        SELECT o.id::text INTO still FROM {rows} o
         WHERE EXISTS (SELECT 1 FROM {child} c WHERE c.{column} = o.id) LIMIT 1;
        IF still IS NOT NULL THEN
            RAISE EXCEPTION 'update or delete on table "{parent}" violates foreign key'
                ' constraint "{_name(child, column)}" on table "{child}"'
                USING ERRCODE = 'foreign_key_violation', TABLE = '{child}',
                CONSTRAINT = '{_name(child, column)}',
                DETAIL = format('Key (id)=(%s) is still referenced from table "{child}".',
                                still);
        END IF;""")
    return f"\n        {_ORDERED}" + "".join(checks)  # once, before any of them looks


def _truncate_checks(parent: str) -> str:
    checks = []
    for child, column, table in REFERENCES:
        if table == parent:
            checks.append(f"""
        IF EXISTS (SELECT 1 FROM {child} WHERE {column} IS NOT NULL) THEN
            RAISE EXCEPTION 'cannot truncate "{parent}": table "{child}" refers to it'
                ' ({_name(child, column)})' USING ERRCODE = 'foreign_key_violation';
        END IF;""")
    return f"\n        {_ORDERED}" + "".join(checks)


def _function(name: str, declare: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" DECLARE {declare} BEGIN {body}\n        RETURN NULL; END $$")


def install() -> list[str]:
    """PostgreSQL statements: drop the declared foreign keys of REFERENCES and install the
    statement triggers that check them instead."""
    statements = [f"ALTER TABLE {child} DROP CONSTRAINT {_name(child, column)}"
                  for child, column, _ in REFERENCES]
    statements += functions()
    for child in _children():
        statements += [
            f"CREATE TRIGGER {child}_refs_inserted AFTER INSERT ON {child}"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION {child}_refs_inserted()",
            f"CREATE TRIGGER {child}_refs_updated AFTER UPDATE ON {child}"
            " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION {child}_refs_updated()",
        ]
    for parent in _parents():
        # A renumbered row is checked by a row trigger that only an UPDATE naming `id`
        # fires (crmpool never does): an UPDATE trigger with transition tables would keep
        # a copy of every row the sweep's UPDATE of customers touches.
        statements += [
            f"CREATE TRIGGER {parent}_refs_deleted AFTER DELETE ON {parent}"
            " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION {parent}_refs_deleted()",
            f"CREATE TRIGGER {parent}_refs_renumbered AFTER UPDATE OF id ON {parent}"
            " FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)"
            f" EXECUTE FUNCTION {parent}_refs_renumbered()",
            f"CREATE TRIGGER {parent}_refs_truncated BEFORE TRUNCATE ON {parent}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {parent}_refs_truncated()",
        ]
    return statements


def functions() -> list[str]:
    """The checks' functions as they are now (CREATE OR REPLACE): install's, and what brings
    a database whose functions are older up to date."""
    statements = []
    for child in _children():
        statements += [
            _function(f"{child}_refs_inserted", "missing text;",
                      _child_checks(child, update=False)),
            _function(f"{child}_refs_updated", "missing text;",
                      _child_checks(child, update=True)),
        ]
    for parent in _parents():
        statements += [
            _function(f"{parent}_refs_deleted", "still text;",
                      _parent_checks(parent, "old_rows")),
            _function(f"{parent}_refs_renumbered", "still text;",
                      _parent_checks(parent, "(SELECT OLD.id AS id)")),
            _function(f"{parent}_refs_truncated", "", _truncate_checks(parent)),
        ]
    return statements


def _children() -> list[str]:
    return list(dict.fromkeys(child for child, _, _ in REFERENCES))


def _parents() -> list[str]:
    return list(dict.fromkeys(parent for _, _, parent in REFERENCES))
