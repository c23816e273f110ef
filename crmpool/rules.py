"""The rules file (TOML): limits, reclaim rules, warning rules (crmpool/warning_rules.py) and
notification channels (crmpool/channels.py), parsed into typed objects and validated.

Pure: no database. Each reclaim rule also knows how to say itself as SQL predicates with bound
parameters, so the sweep stays set-based and a scope value never reaches SQL as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from crmpool.channels import Channel, parse_channel
from crmpool.distribute_rules import (
    DistributeRule,
    Territory,
    parse_distribute_rule,
    parse_territory,
)
from crmpool.errors import InputError
from crmpool.limits import Limits
from crmpool.rule_parts import (
    OWNED_LIVE_SQL,
    SCOPES,
    TIME_SQL,
    is_int,
    named_table,
    parse_scopes,
    positive_days,
    scope_sql,
)
from crmpool.values import MAX_COUNT, MAX_DAYS, cents_of, plural
from crmpool.warning_rules import WarnRule, parse_level, parse_notify, parse_warn_rule
from crmpool.when import stored

# Rules used until an admin runs `rules set`: the limits of SPEC's example, no reclaim rules.
DEFAULT_RULES_TEXT = """\
[limits]
cap = 150
cap_counts_won = false
claims_per_day = 20
cooldown_days = 30
freeze_max_days = 90
freezes_per_user = 10
"""

LIMIT_KEYS = {
    "cap": 150,
    "cap_counts_won": False,
    "claims_per_day": 20,
    "cooldown_days": 30,
    "freeze_max_days": 90,
    "freezes_per_user": 10,
}
# What each limit may be: crmpool can store and compute with these (README, "Limits").
LIMIT_RANGES = {
    "cap": (0, MAX_COUNT),
    "claims_per_day": (0, MAX_COUNT),
    "cooldown_days": (0, MAX_DAYS),
    "freeze_max_days": (1, MAX_DAYS),
    "freezes_per_user": (0, MAX_COUNT),
}
TOP_KEYS = ("limits", "reclaim", "warn", "channel", "distribute", "territory")
TRIGGERS = ("idle_days", "no_deal_days", "min_amount")
RULE_KEYS = {"name", *TRIGGERS, "within_days", "warn_days", "warn_level", "notify", "keep_won",
             "to_pool", *SCOPES}
# ... and not frozen past the as-of time (one ? for it): what any rule may reclaim.
RECLAIMABLE_SQL = f"{OWNED_LIVE_SQL} AND (c.frozen_until IS NULL OR c.frozen_until <= ?)"


@dataclass(frozen=True)
class ReclaimRule:
    """One `[[reclaim]]` rule: a single trigger, an optional scope, where reclaimed ones go."""

    name: str
    trigger: str  # "idle" | "no_deal" | "small_contract"
    days: int  # the span after which it fires (idle_days, no_deal_days or within_days)
    min_amount_cents: int | None = None
    warn_days: int | None = None
    keep_won: bool = False
    to_pool: str | None = None
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warn_level: str = "mid"  # rises to high on the warning's last day
    notify: tuple[str, ...] | None = None  # channels; None: every channel

    def describe(self) -> str:
        """The trigger in words, for events and `why`."""
        if self.trigger == "idle":
            return f"no contact for {plural(self.days, 'day')}"
        if self.trigger == "no_deal":
            return f"not won within {plural(self.days, 'day')} of being assigned"
        amount = f"{self.min_amount_cents // 100}"
        return f"won less than {amount} within {plural(self.days, 'day')} of being assigned"

    @property
    def clock(self) -> str:
        """The column the rule's clock starts from."""
        return "idle_since" if self.trigger == "idle" else "assigned_at"

    def due_sql(self) -> str:
        """SQL for the moment this rule fires for customer `c` (stored time format)."""
        return f"strftime({TIME_SQL}, c.{self.clock}, '+{self.days} days')"

    def due_day_sql(self) -> str:
        """SQL for the local calendar day of `due_sql`: one date() from the clock, not one
        more parse of the formatted due time (measured: a fifth of the warnings insert)."""
        return f"date(c.{self.clock}, '+{self.days} days', 'localtime')"

    def scope_sql(self) -> tuple[str, list[object]]:
        """The rule's scope (levels, regions, industries, pools, teams) as a predicate on `c`."""
        return scope_sql(self.scopes)

    def trigger_sql(self) -> tuple[str, list[object]]:
        """What besides time the trigger needs: not won since assigned, or won too little."""
        if self.trigger == "no_deal":
            return "(c.won_at IS NULL OR c.won_at < c.assigned_at)", []
        if self.trigger == "small_contract":
            return (
                "coalesce((SELECT sum(d.amount_cents) FROM deals d WHERE d.customer_id = c.id"
                " AND d.stage = 'won' AND d.at >= c.assigned_at"
                f" AND d.at <= {self.due_sql()}), 0) < ?",
                [self.min_amount_cents],
            )
        return "TRUE", []

    def condition_sql(self) -> tuple[str, list[object]]:
        """Scope, keep_won and trigger conditions together, without the time condition."""
        scope, params = self.scope_sql()
        trigger, trigger_params = self.trigger_sql()
        won = " AND c.status <> 'won'" if self.keep_won else ""
        return f"{scope}{won} AND {trigger}", [*params, *trigger_params]

    def fires_sql(self, as_of: datetime) -> tuple[str, list[object]]:
        """Predicate over owned, reclaimable `c` for "this rule fires at or before as_of"."""
        condition, params = self.condition_sql()
        cutoff = stored(as_of - timedelta(days=self.days))
        return f"c.{self.clock} <= ? AND {condition}", [cutoff, *params]

    def held_due_sql(self) -> str:
        """When the rule fires for a frozen customer: not before the freeze ends."""
        return f"max({self.due_sql()}, c.frozen_until)"

    def warns_sql(self, as_of: datetime) -> list[WarnPart]:
        """"Fires within warn_days after as_of, but not yet", for owned live customers `c`:
        one part for customers not frozen past as_of (found through the clock's index) and
        one for frozen ones, whose rule fires when the freeze ends if it would have fired
        during it (found through the freeze index). Empty without warn_days."""
        if not self.warn_days:
            return []
        condition, params = self.condition_sql()
        as_of_text = stored(as_of)
        cutoff = stored(as_of - timedelta(days=self.days))
        warn_from = stored(as_of - timedelta(days=self.days - self.warn_days))
        warn_until = stored(as_of + timedelta(days=self.warn_days))
        free = WarnPart(
            f"(c.frozen_until IS NULL OR c.frozen_until <= ?) AND c.{self.clock} > ?"
            f" AND c.{self.clock} <= ? AND {condition}",
            [as_of_text, cutoff, warn_from, *params], self.due_sql(), self.due_day_sql())
        held = WarnPart(
            f"c.frozen_until > ? AND c.frozen_until <= ? AND c.{self.clock} <= ?"
            f" AND {condition}",
            [as_of_text, warn_until, warn_from, *params], self.held_due_sql(),
            f"date({self.held_due_sql()}, 'localtime')")
        return [free, held]


class WarnPart(NamedTuple):
    """One statement's worth of a rule's warning window: which customers, and their due
    time and local due day as SQL over `c`."""

    predicate: str
    params: list
    due: str
    due_day: str


@dataclass(frozen=True)
class Rules:
    """A whole rules file: its limits, its reclaim and warning rules in file order, its
    notification channels, and its fingerprint."""

    limits: Limits
    reclaim: tuple[ReclaimRule, ...]
    text: str
    fingerprint: str
    warn: tuple[WarnRule, ...] = ()
    channels: tuple[Channel, ...] = ()
    distribute: tuple[DistributeRule, ...] = ()
    territories: tuple[Territory, ...] = ()

    def as_dict(self) -> dict:
        """The rules as plain data, for JSON output."""
        from dataclasses import asdict

        return {"fingerprint": self.fingerprint, "limits": self.limits._asdict(),
                "reclaim": [asdict(rule) for rule in self.reclaim],
                "warn": [asdict(rule) for rule in self.warn],
                "distribute": [asdict(rule) for rule in self.distribute],
                "territories": [asdict(t) for t in self.territories],
                "channels": [{"name": c.name, "type": c.type, **c.settings, "to": c.to}
                             for c in self.channels]}

    def pools_named(self) -> set[str]:
        """Every pool the rules mention, to check they exist."""
        named = {r.to_pool for r in self.reclaim if r.to_pool}
        for rule in self.reclaim:
            named.update(rule.scopes.get("pools", ()))
        named.update(rule.pool for rule in self.distribute)
        return named


def fingerprint(text: str) -> str:
    """A short, stable name for one version of the rules."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _parse_limits(data: object, problems: list[str]) -> Limits:
    if data is None:
        return Limits()
    if not isinstance(data, dict):
        problems.append("limits: must be a table ([limits])")
        return Limits()
    values: dict[str, object] = {}
    for key, value in data.items():
        if key not in LIMIT_KEYS:
            problems.append(f"limits.{key}: unknown key (known: {', '.join(LIMIT_KEYS)})")
        elif key == "cap_counts_won":
            if not isinstance(value, bool):
                problems.append(f"limits.{key}: must be true or false, not {value!r}")
            else:
                values[key] = value
        else:
            low, high = LIMIT_RANGES[key]
            if not is_int(value) or not low <= value <= high:
                problems.append(f"limits.{key}: must be a whole number from {low} to"
                                f" {high:,}, not {value!r}")
            else:
                values[key] = value
    return Limits(**values)  # type: ignore[arg-type]


def _parse_amount(value: object, where: str, problems: list[str]) -> int | None:
    from decimal import Decimal, InvalidOperation

    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{value!r} is not an amount")
        cents = cents_of(Decimal(str(value)), value)
        if cents <= 0:
            raise ValueError(f"{value!r} is not above 0")
    except (ValueError, InvalidOperation) as exc:
        problems.append(f"{where}.min_amount: must be an amount from 0.01 to"
                        f" 999,999,999,999.99 with at most two decimals ({exc})")
        return None
    return cents


def _parse_rule(data: object, index: int, channels: set[str], problems: list[str]
                ) -> ReclaimRule | None:
    before = len(problems)
    table = named_table(data, "reclaim", index, problems, RULE_KEYS)
    if table is None:
        return None
    where, name = table
    assert isinstance(data, dict)
    triggers = [t for t in TRIGGERS if t in data]
    if len(triggers) != 1:
        found = ", ".join(triggers) or "none"
        problems.append(
            f"{where}: needs exactly one trigger of idle_days, no_deal_days or"
            f" min_amount + within_days (found: {found})"
        )
        return None
    trigger = triggers[0]
    amount = None
    if trigger == "min_amount":
        amount = _parse_amount(data["min_amount"], where, problems)
        if "within_days" not in data:
            problems.append(f"{where}.within_days: min_amount needs within_days")
            return None
        days = positive_days(data, "within_days", where, problems)
        kind = "small_contract"
    else:
        if "within_days" in data:
            problems.append(f"{where}.within_days: goes only with min_amount")
        days = positive_days(data, trigger, where, problems)
        kind = "idle" if trigger == "idle_days" else "no_deal"
    warn = data.get("warn_days")
    if warn is not None:
        if not is_int(warn) or not 1 <= warn <= MAX_DAYS:
            problems.append(f"{where}.warn_days: must be a whole number of days from 1 to"
                            f" {MAX_DAYS:,}, not {warn!r}")
        elif days is not None and warn >= days:
            problems.append(
                f"{where}.warn_days: {warn} must be smaller than the rule's {days} days"
            )
    keep_won = data.get("keep_won", False)
    if not isinstance(keep_won, bool):
        problems.append(f"{where}.keep_won: must be true or false")
    elif keep_won and kind == "small_contract":
        problems.append(f"{where}.keep_won: a min_amount rule is about won customers; drop it")
    to_pool = data.get("to_pool")
    if to_pool is not None and (not isinstance(to_pool, str) or not to_pool.strip()):
        problems.append(f"{where}.to_pool: must be a pool name")
    scopes = parse_scopes(data, where, problems)
    warn_level = parse_level(data, "warn_level", where, problems)
    if "warn_level" in data and warn is None:
        problems.append(f"{where}.warn_level: goes with warn_days")
    notify = parse_notify(data, where, channels, problems)
    if len(problems) > before or days is None:
        return None
    return ReclaimRule(
        name=name,
        trigger=kind,
        days=days,
        min_amount_cents=amount,
        warn_days=warn,
        keep_won=keep_won,
        to_pool=to_pool,
        scopes=scopes,
        warn_level=warn_level,
        notify=notify,
    )


def _tables(data: dict, key: str, problems: list[str]) -> list:
    tables = data.get(key, [])
    if not isinstance(tables, list):
        problems.append(f"{key}: must be an array of tables ([[{key}]])")
        return []
    return tables


def check_rules(text: str, known_pools: set[str] | None = None) -> tuple[Rules | None, list[str]]:
    """Parse and validate a rules file: the rules, or None and every problem found."""
    import tomllib  # only here: claims read their limits as JSON and never need it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"not valid TOML: {exc}"]
    except RecursionError:
        return None, ["not valid TOML: nested too deeply"]
    problems: list[str] = []
    if not data:
        # Most often an empty stdin or the wrong file: storing it would drop every rule.
        return None, ["the rules file is empty; write [limits] (and [[reclaim]] rules) in it"
                      " — an empty [limits] table keeps the defaults and reclaims nothing"]
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{key}: unknown key (known: {', '.join(TOP_KEYS)})")
    limits = _parse_limits(data.get("limits"), problems)
    channels = [parse_channel(item, i, problems)
                for i, item in enumerate(_tables(data, "channel", problems), start=1)]
    channel_names = {c.name for c in channels if c}
    reclaim = [_parse_rule(item, i, channel_names, problems)
               for i, item in enumerate(_tables(data, "reclaim", problems), start=1)]
    warn = [parse_warn_rule(item, i, channel_names, problems)
            for i, item in enumerate(_tables(data, "warn", problems), start=1)]
    distribute = [parse_distribute_rule(item, i, problems)
                  for i, item in enumerate(_tables(data, "distribute", problems), start=1)]
    territories = [parse_territory(item, i, problems)
                   for i, item in enumerate(_tables(data, "territory", problems), start=1)]
    seen: set[str] = set()
    # Reclaim and warning rules share one namespace: a warning records its rule's name.
    for kind, rule in [*(("reclaim", r) for r in reclaim), *(("warn", r) for r in warn),
                       *(("channel", c) for c in channels)]:
        if rule is None:
            continue
        key = (kind == "channel", rule.name)
        if key in seen:
            problems.append(f"{kind} ({rule.name}).name: a second "
                            f"{'channel' if kind == 'channel' else 'rule'} has this name")
        seen.add(key)
    if not any(territories):
        for hand_out in distribute:
            if hand_out and hand_out.strategy == "territory":
                problems.append(f"distribute ({hand_out.name}).strategy: territory needs"
                                " [[territory]] entries")
    rules = Rules(limits, tuple(r for r in reclaim if r), text, fingerprint(text),
                  tuple(r for r in warn if r), tuple(c for c in channels if c),
                  tuple(r for r in distribute if r), tuple(t for t in territories if t))
    if known_pools is not None:
        for rule in rules.reclaim:
            if rule.to_pool and rule.to_pool not in known_pools:
                problems.append(
                    f"reclaim ({rule.name}).to_pool: no pool named {rule.to_pool!r}"
                    " (create it with `crmpool pool add`)"
                )
            for pool in rule.scopes.get("pools", ()):
                if pool not in known_pools:
                    problems.append(f"reclaim ({rule.name}).pools: no pool named {pool!r}")
        for hand_out in rules.distribute:
            if hand_out.pool not in known_pools:
                problems.append(f"distribute ({hand_out.name}).pool: no pool named"
                                f" {hand_out.pool!r}")
    return (None if problems else rules), problems


def parse_rules(text: str, source: str, known_pools: set[str] | None = None) -> Rules:
    """Parse a rules file or raise InputError naming the file and every bad key."""
    rules, problems = check_rules(text, known_pools)
    if rules is None:
        raise InputError(f"{source}: " + "\n  ".join(["invalid rules file:", *problems]))
    return rules


@cache
def default_rules() -> Rules:
    """The rules in force before any `rules set`."""
    return parse_rules(DEFAULT_RULES_TEXT, "built-in defaults")
