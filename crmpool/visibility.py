"""Who sees a customer's contact details (权限): phone, e-mail and company id in full only for
whoever may work the customer; masked (`138****0001`, `l***@example.com`) for everyone else.

In full: a rep their own customers, a manager their team's, a pool's admin the customers whose
home pool it is, an admin all. `export` holds only those customers. Search still matches on
the full keys (a rep can check a number before calling); only what is shown is masked.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from crmpool.pool_access import admin_pools
from crmpool.users import User

MASKED_FIELDS = ("phone", "email", "company_id")


def mask_phone(value: str) -> str:
    """The first three and last four characters: `138****0001`."""
    if len(value) > 7:
        return f"{value[:3]}****{value[-4:]}"
    return value[:1] + "*" * max(len(value) - 1, 1)


def mask_email(value: str) -> str:
    """The first letter of the mailbox and the domain: `l***@example.com`."""
    local, at, domain = value.partition("@")
    if not at:
        return mask_other(value)
    return f"{local[:1]}***@{domain}"


def mask_other(value: str) -> str:
    """A company id or any other detail: its first two and last two characters."""
    if len(value) > 6:
        return f"{value[:2]}****{value[-2:]}"
    return "****"


_MASKS = {"phone": mask_phone, "email": mask_email, "company_id": mask_other}


@dataclass(frozen=True)
class Viewer:
    """One user's right to see contact details in full."""

    name: str
    everything: bool
    team: frozenset[str]  # a manager's team, themselves included
    pools: frozenset[str]  # pools they are an admin of

    def sees(self, owner: str | None, pool: str | None) -> bool:
        return (self.everything or (owner is not None and (owner == self.name
                                                           or owner in self.team))
                or pool in self.pools)

    def shown(self, row: dict) -> dict:
        """The row as this user may see it (masked in place where they may not)."""
        if self.everything or self.sees(row.get("owner"), row.get("pool")):
            return row
        for field, mask in _MASKS.items():
            value = row.get(field)
            if isinstance(value, str) and value:
                row[field] = mask(value)
        return row

    def shown_cluster(self, cluster: dict) -> dict:
        """A duplicate cluster (crmpool/dupes.py): its shared phone, e-mail or company id
        is masked unless the user sees every customer in it in full."""
        mask = _MASKS.get(cluster["same"])
        if mask and not all(self.sees(owner, None) for owner in cluster["owners"]):
            cluster["key"] = mask(str(cluster["key"]))
        return cluster

    def scope_sql(self, alias: str = "c") -> tuple[str, dict[str, str]]:
        """The customers this user sees in full, as a condition on `alias` with named
        parameters (for export)."""
        if self.everything:
            return "TRUE", {}
        params = {f"seen_owner{i}": name
                  for i, name in enumerate(sorted({self.name, *self.team}))}
        clause = f"{alias}.owner IN ({', '.join(':' + k for k in params)})"
        pools = {f"seen_pool{i}": pool for i, pool in enumerate(sorted(self.pools))}
        if pools:
            clause = f"({clause} OR {alias}.pool IN ({', '.join(':' + k for k in pools)}))"
        return clause, params | pools


def viewer(conn: sqlite3.Connection, user: User) -> Viewer:
    """What `user` may see in full."""
    if user.role == "admin":
        return Viewer(user.name, True, frozenset(), frozenset())
    team: frozenset[str] = frozenset()
    if user.role == "manager" and user.team is not None:
        team = frozenset(r[0] for r in conn.execute("SELECT name FROM users WHERE team = ?",
                                                    (user.team,)))
    return Viewer(user.name, False, team, frozenset(admin_pools(conn, user)))
