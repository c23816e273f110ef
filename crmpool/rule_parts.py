"""Pieces every kind of rule in the rules file shares: scopes, days, and the SQL they become.

Pure: no database. Scope values reach SQL only as bound parameters; the columns come from
the fixed SCOPES list.
"""

from __future__ import annotations

from crmpool.values import MAX_DAYS

# Scope key in the file -> customer column it filters (fixed list: never user text in SQL).
# Levels, regions and industries match in any case, as `list --level` does.
SCOPES = {
    "levels": "c.level COLLATE NOCASE",
    "regions": "c.region COLLATE NOCASE",
    "industries": "c.industry COLLATE NOCASE",
    "pools": "c.pool",
    "teams": "(SELECT team FROM users u WHERE u.name = c.owner)",
}
TIME_SQL = "'%Y-%m-%dT%H:%M:%SZ'"
# Owned and not invalid: whom a rule may warn about (frozen ones too, before the freeze ends).
OWNED_LIVE_SQL = "c.owner IS NOT NULL AND c.status <> 'invalid'"


def named_table(data: object, kind: str, index: int, problems: list[str],
                known: set[str] | None = None, noun: str = "rule") -> tuple[str, str] | None:
    """The start of every `[[kind]]` table: a table, with a name, and (given `known`) no
    other keys; (where, name) for the messages that follow, or None when it is no table."""
    where = f"{kind}[{index}]"
    if not isinstance(data, dict):
        problems.append(f"{where}: must be a table ([[{kind}]])")
        return None
    name = data.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{kind}[{index}] ({name})"
    else:
        problems.append(f"{where}.name: every {noun} needs a name")
        name = ""
    for key in data if known is not None else ():
        if key not in known:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    return where, name.strip()


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_days(data: dict, key: str, where: str, problems: list[str]) -> int | None:
    value = data.get(key)
    if not is_int(value) or not 1 <= value <= MAX_DAYS:
        problems.append(f"{where}.{key}: must be a whole number of days from 1 to"
                        f" {MAX_DAYS:,} (a hundred years), not {value!r}")
        return None
    return value


def parse_scopes(data: dict, where: str, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """The scope keys of one rule table, each a non-empty list of names."""
    scopes: dict[str, tuple[str, ...]] = {}
    for key in SCOPES:
        if key not in data:
            continue
        values = data[key]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
        ):
            problems.append(f"{where}.{key}: must be a non-empty list of names")
        else:
            scopes[key] = tuple(values)
    return scopes


def scope_sql(scopes: dict[str, tuple[str, ...]]) -> tuple[str, list[object]]:
    """Scopes (levels, regions, industries, pools, teams) as a predicate on `c`."""
    parts: list[str] = []
    params: list[object] = []
    for key, values in scopes.items():
        parts.append(f"{SCOPES[key]} IN ({', '.join('?' * len(values))})")
        params.extend(values)
    return (" AND ".join(parts) or "TRUE"), params
