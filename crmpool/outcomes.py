"""Commands over many IDs: one transaction, one result per ID, a refusal never undoes the rest."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import NamedTuple

from crmpool.errors import CrmpoolError, exit_code_for
from crmpool.store import transaction


class Outcome(NamedTuple):
    """What happened to one ID."""

    id: int
    ok: bool
    result: str  # what was done ("claimed") or "refused"
    message: str
    exit_code: int = 0

    def as_row(self) -> dict:
        return {"id": self.id, "ok": self.ok, "result": self.result, "message": self.message}


def for_each_id(conn: sqlite3.Connection, ids: Iterable[int], act: Callable[[int], str],
                done: str, before: Callable[[], None] | None = None) -> list[Outcome]:
    """Run `act` on each ID inside one write transaction, each in its own savepoint.

    `act` returns a message or raises CrmpoolError; a failed ID's partial writes are rolled
    back and the others are kept. `before` runs first inside the transaction (whole-command
    checks such as the actor's role); its failure fails the command.
    """
    outcomes: list[Outcome] = []
    with transaction(conn):
        if before is not None:
            before()
        for customer_id in ids:
            conn.execute("SAVEPOINT one_id")
            try:
                message = act(customer_id)
            except CrmpoolError as exc:
                conn.execute("ROLLBACK TO one_id")
                conn.execute("RELEASE one_id")
                outcomes.append(Outcome(customer_id, False, "refused", str(exc),
                                        exit_code_for(exc)))
            else:
                conn.execute("RELEASE one_id")
                outcomes.append(Outcome(customer_id, True, done, message))
    return outcomes
