"""Whose figures a report shows: everyone, one team, or one owner."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from crmpool.users import get_user, require_team


@dataclass(frozen=True)
class Scope:
    team: str | None = None
    owner: str | None = None

    def people(self, conn: sqlite3.Connection) -> list[dict]:
        """The users the report covers (name, team, cap), by team then name."""
        if self.owner:
            get_user(conn, self.owner)
            where, params = "name = ?", [self.owner]
        elif self.team:
            require_team(conn, self.team)
            where, params = "team = ?", [self.team]
        else:
            where, params = "TRUE", []
        return [dict(r) for r in conn.execute(
            f"SELECT name, team, role, cap, active FROM users WHERE {where}"
            " ORDER BY coalesce(team, ''), name", params)]

    def sql(self, column: str) -> tuple[str, list]:
        """A condition that `column` (a user name) is inside the scope."""
        if self.owner:
            return f"{column} = ?", [self.owner]
        if self.team:
            return f"{column} IN (SELECT name FROM users WHERE team = ?)", [self.team]
        return "TRUE", []
