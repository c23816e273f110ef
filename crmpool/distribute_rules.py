"""`[[distribute]]` rules (自动分配规则) the sweep applies after reclaiming, and `[[territory]]`
entries the territory strategy reads. Pure: no database.

    [[distribute]]
    name = "east-nightly"
    pool = "east"
    strategy = "round-robin"     # least-loaded | territory | performance
    to = ["team:east"]           # optional: instead of the pool's members
    limit = 200                  # optional: at most this many a run
    days = 90                    # performance: won amount over the last N days
    floor_pct = 20               # performance: the share everyone gets regardless

    [[territory]]
    name = "shanghai"
    regions = ["上海", "华东"]    # and/or industries, levels; or column + values
    column = "size"              # a field, or a column an import kept in `extra`
    values = ["large"]
    to = ["li", "team:east"]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmpool.rule_parts import is_int, named_table, positive_days
from crmpool.values import MAX_COUNT

STRATEGIES = ("round-robin", "least-loaded", "territory", "performance")
DEFAULT_PERFORMANCE_DAYS = 90
DEFAULT_FLOOR_PCT = 20
DISTRIBUTE_KEYS = {"name", "pool", "strategy", "to", "limit", "days", "floor_pct"}
TERRITORY_MATCHES = ("regions", "industries", "levels")
TERRITORY_KEYS = {"name", *TERRITORY_MATCHES, "column", "values", "to"}
# A territory's column may be a customer field or any imported column (in `extra`).
TERRITORY_FIELDS = {"regions": "region", "industries": "industry", "levels": "level"}


@dataclass(frozen=True)
class DistributeRule:
    """One `[[distribute]]` rule."""

    name: str
    pool: str
    strategy: str
    to: tuple[str, ...] = ()  # users and team:NAME; empty: the pool's members
    limit: int | None = None
    days: int = DEFAULT_PERFORMANCE_DAYS
    floor_pct: int = DEFAULT_FLOOR_PCT


@dataclass(frozen=True)
class Territory:
    """One `[[territory]]` entry: every condition given must hold (values in any case)."""

    name: str
    to: tuple[str, ...]
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> values

    def matches(self, values: dict[str, object]) -> bool:
        for name, wanted in self.match.items():
            value = values.get(name)
            if value is None or str(value).casefold() not in {w.casefold() for w in wanted}:
                return False
        return True


def _names(data: dict, key: str, where: str, problems: list[str]) -> tuple[str, ...] | None:
    values = data.get(key)
    if not isinstance(values, list) or not values or not all(
            isinstance(v, str) and v for v in values):
        problems.append(f"{where}.{key}: must be a non-empty list of names")
        return None
    return tuple(values)


def parse_distribute_rule(data: object, index: int, problems: list[str]
                          ) -> DistributeRule | None:
    """One `[[distribute]]` table, or None with its problems added (each naming the key)."""
    before = len(problems)
    table = named_table(data, "distribute", index, problems, DISTRIBUTE_KEYS)
    if table is None:
        return None
    where, name = table
    assert isinstance(data, dict)
    pool = data.get("pool")
    if not isinstance(pool, str) or not pool:
        problems.append(f"{where}.pool: the pool whose customers it hands out")
    strategy = data.get("strategy")
    if strategy not in STRATEGIES:
        problems.append(f"{where}.strategy: must be one of {', '.join(STRATEGIES)},"
                        f" not {strategy!r}")
    to = _names(data, "to", where, problems) if "to" in data else ()
    limit = data.get("limit")
    if limit is not None and (not is_int(limit) or not 1 <= limit <= MAX_COUNT):
        problems.append(f"{where}.limit: must be a whole number from 1 to {MAX_COUNT:,},"
                        f" not {limit!r}")
    for key in ("days", "floor_pct"):
        if key in data and strategy != "performance":
            problems.append(f"{where}.{key}: goes only with strategy = \"performance\"")
    days = (positive_days(data, "days", where, problems) if "days" in data
            else DEFAULT_PERFORMANCE_DAYS)
    floor = data.get("floor_pct", DEFAULT_FLOOR_PCT)
    if not is_int(floor) or not 0 <= floor <= 100:
        problems.append(f"{where}.floor_pct: must be a whole percentage from 0 to 100,"
                        f" not {floor!r}")
    if len(problems) > before:
        return None
    return DistributeRule(name, pool, strategy, to or (), limit, days or 0, floor)


def parse_territory(data: object, index: int, problems: list[str]) -> Territory | None:
    """One `[[territory]]` table, or None with its problems added."""
    before = len(problems)
    table = named_table(data, "territory", index, problems, TERRITORY_KEYS, noun="territory")
    if table is None:
        return None
    where, name = table
    assert isinstance(data, dict)
    match: dict[str, tuple[str, ...]] = {}
    for key, column in TERRITORY_FIELDS.items():
        if key in data:
            values = _names(data, key, where, problems)
            if values:
                match[column] = values
    if ("column" in data) != ("values" in data):
        problems.append(f"{where}.column: column and values go together")
    elif "column" in data:
        column = data["column"]
        if not isinstance(column, str) or not column:
            problems.append(f"{where}.column: must be the name of a field or imported column")
        else:
            values = _names(data, "values", where, problems)
            if values:
                match[column] = values
    if not match and len(problems) == before:
        problems.append(f"{where}: needs regions, industries, levels, or column and values")
    to = _names(data, "to", where, problems)
    if len(problems) > before or not to:
        return None
    return Territory(name, to, match)
