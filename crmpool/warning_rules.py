"""`[[warn]]` rules (预警规则): a condition, a level (低 / 中 / 高), scopes and the channels to
tell, each said as SQL over owned, live customers `c` so the sweep stays set-based.

Every condition has a start moment computed from the customer's own columns (the day it began
to hold), which names the warning's episode: it stays one warning while that moment stays the
same, and closes when the condition stops holding or its moment moves (a contact, a deal, a
new follow-up). A drop in purchases has no such moment; its episode lasts while the drop
does. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crmpool.rule_parts import (
    SCOPES,
    TIME_SQL,
    is_int,
    named_table,
    parse_scopes,
    positive_days,
    scope_sql,
)
from crmpool.values import plural
from crmpool.when import stored

LEVELS = ("low", "mid", "high")
CONDITIONS = ("idle_days", "no_won_days", "drop_pct", "overdue_days", "freeze_ends_days")
WARN_KEYS = {"name", *CONDITIONS, "window_days", "windows", "level", "notify", *SCOPES}
DROP_WINDOWS = 3  # a drop is measured against the average of this many earlier windows
# A warning rule's episode is named by its start moment (due_at), not by a local day as a
# reclaim warning's is, so its due_day is this mark: a date(..., 'localtime') for each new
# warning was a sixth of opening it (0.23 s of 1.4 s for 500k warnings at once). At most one
# of a rule's warnings is open per customer either way.
NO_DAY = "-"
# What a warning `w` says, as shown: a reclaim warning's words end in its due time, worked
# out here rather than for every warning the sweep writes (a localtime() each).
DETAIL_SQL = ("CASE WHEN w.detail LIKE '%back to the pool at ' THEN w.detail"
              " || strftime('%Y-%m-%d %H:%M', w.due_at, 'localtime') ELSE w.detail END")


@dataclass(frozen=True)
class WarnPart:
    """One statement's worth of a warning rule: which customers, their start moment (the
    episode; a drop, which has none, shares NO_DAY), and what the warning says
    about each, as SQL over `c`."""

    predicate: str
    params: list
    due: str
    due_day: str
    detail: str
    detail_params: list = field(default_factory=list)
    due_params: list = field(default_factory=list)


@dataclass(frozen=True)
class WarnRule:
    """One `[[warn]]` rule."""

    name: str
    condition: str  # one of CONDITIONS
    days: int  # N of the condition; for drop_pct, the window's length
    level: str = "mid"
    notify: tuple[str, ...] | None = None  # None: every channel
    drop_pct: int | None = None
    windows: int = DROP_WINDOWS
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        n = plural(self.days, "day")
        return {
            "idle_days": f"no contact for {n}",
            "no_won_days": f"bought before, no won deal for {n}",
            "drop_pct": f"won amount in the last {n} at least {self.drop_pct}% below the"
                        f" average of the {self.windows} windows before",
            "overdue_days": f"a planned follow-up {n} overdue",
            "freeze_ends_days": f"freeze ends within {n}",
        }[self.condition]

    def flips(self, since: datetime, until: datetime) -> tuple[str, list] | None:
        """Owned customers whose condition can begin or end between two moments with
        nothing about them written: those whose start (or, for a freeze, end) moment falls
        in between (for a drop in purchases, whose won deals crossed a window's edge). None
        when it reads beyond the customer (a teams scope: a user may change teams); evaluate
        it whole."""
        if "teams" in self.scopes:
            return None
        span = timedelta(days=self.days)
        if self.condition == "drop_pct":
            # A drop changes with time only where a won deal crosses a window's edge: from
            # the last window into the earlier ones, or out of the span altogether (new
            # deals are candidates anyway: every deal since the last run is).
            start = span * (self.windows + 1)
            return ("c.id IN (SELECT d.customer_id FROM deals d WHERE d.stage = 'won'"
                    " AND ((d.at > ? AND d.at <= ?) OR (d.at > ? AND d.at <= ?)))",
                    [stored(since - span), stored(until - span), stored(since - start),
                     stored(until - start)])
        if self.condition == "freeze_ends_days":
            return ("(c.frozen_until > ? AND c.frozen_until <= ?)"
                    " OR (c.frozen_until > ? AND c.frozen_until <= ?)",
                    [stored(since + span), stored(until + span), stored(since), stored(until)])
        column = {"idle_days": "c.idle_since", "no_won_days": "c.won_at",
                  "overdue_days": "c.next_contact_at"}[self.condition]
        return f"{column} > ? AND {column} <= ?", [stored(since - span), stored(until - span)]

    @property
    def flips_only_start(self) -> bool:
        """Whether every customer `flips` finds is one whose condition may begin (its start
        moment passed), never one whose condition may end: true but for a drop (deals leave
        the windows) and a freeze ending (the freeze ends too)."""
        return self.condition in ("idle_days", "no_won_days", "overdue_days")

    def part(self, as_of: datetime, among: str = "") -> WarnPart:
        """The customers this rule warns about as of `as_of`; `among`, a condition on a
        customer id `{id}` that narrows the deals a drop sums (the candidates)."""
        scope, params = scope_sql(self.scopes)
        now = stored(as_of)
        before = stored(as_of - timedelta(days=self.days))
        describe = f"'{self.describe()}'"  # fixed words of ours, never user text
        if self.condition in ("idle_days", "no_won_days", "overdue_days"):
            column = {"idle_days": "c.idle_since", "no_won_days": "c.won_at",
                      "overdue_days": "c.next_contact_at"}[self.condition]
            extra = ""
            if self.condition == "overdue_days":
                # Planned, and nobody got in touch since the planned time.
                extra = " AND (c.last_contact_at IS NULL OR c.last_contact_at < c.next_contact_at)"
            return WarnPart(
                f"{column} <= ?{extra} AND {scope}", [before, *params],
                f"strftime({TIME_SQL}, {column}, '+{self.days} days')", f"'{NO_DAY}'",
                describe)
        if self.condition == "freeze_ends_days":
            until = stored(as_of + timedelta(days=self.days))
            return WarnPart(
                f"c.frozen_until > ? AND c.frozen_until <= ? AND {scope}",
                [now, until, *params], "c.frozen_until", f"'{NO_DAY}'",
                "'freeze ends ' || strftime('%Y-%m-%d %H:%M', c.frozen_until, 'localtime')")
        return self._drop_part(as_of, scope, params, among.format(id="d.customer_id"))

    def _drop_part(self, as_of: datetime, scope: str, params: list, among: str) -> WarnPart:
        window = timedelta(days=self.days)
        recent_from = stored(as_of - window)
        earliest = stored(as_of - window * (self.windows + 1))
        now = stored(as_of)
        # One pass over the won deals of the whole span, grouped by customer: the last
        # window's amount and the average of the earlier ones.
        sums = (
            "SELECT d.customer_id,"
            " coalesce(sum(CASE WHEN d.at > ? THEN d.amount_cents END), 0) AS recent,"
            f" coalesce(sum(CASE WHEN d.at <= ? THEN d.amount_cents END), 0) / {self.windows}.0"
            f" AS baseline FROM deals d WHERE d.stage = 'won' AND d.at > ? AND d.at <= ?{among}"
            " GROUP BY d.customer_id")
        sums_params = [recent_from, recent_from, earliest, now]
        keep = (100 - self.drop_pct) / 100  # type: ignore[operator]
        predicate = (f"c.id IN (SELECT customer_id FROM ({sums}) WHERE baseline > 0"
                     f" AND recent <= baseline * ?) AND {scope}")
        detail = (
            f"(SELECT printf('won %.2f in the last {self.days} days against an average of"
            " %.2f (-%d%%)', s.recent / 100.0, s.baseline / 100.0,"
            " CAST(round(100 - 100.0 * s.recent / s.baseline) AS INTEGER))"
            f" FROM ({sums}) s WHERE s.customer_id = c.id)")
        return WarnPart(predicate, [*sums_params, keep, *params], "?", f"'{NO_DAY}'", detail,
                        sums_params, [now])


def parse_warn_rule(data: object, index: int, channels: set[str] | None,
                    problems: list[str]) -> WarnRule | None:
    """One `[[warn]]` table, or None with its problems added (each naming the key)."""
    before = len(problems)
    table = named_table(data, "warn", index, problems, WARN_KEYS)
    if table is None:
        return None
    where, name = table
    assert isinstance(data, dict)
    found = [c for c in CONDITIONS if c in data]
    if len(found) != 1:
        problems.append(f"{where}: needs exactly one condition of {', '.join(CONDITIONS)}"
                        f" (found: {', '.join(found) or 'none'})")
        return None
    condition = found[0]
    drop = None
    windows = DROP_WINDOWS
    if condition == "drop_pct":
        drop = data["drop_pct"]
        if not is_int(drop) or not 1 <= drop <= 100:
            problems.append(f"{where}.drop_pct: must be a whole percentage from 1 to 100,"
                            f" not {drop!r}")
        if "window_days" not in data:
            problems.append(f"{where}.window_days: drop_pct needs window_days")
            return None
        days = positive_days(data, "window_days", where, problems)
        if "windows" in data:
            windows = data["windows"]
            if not is_int(windows) or not 1 <= windows <= 24:
                problems.append(f"{where}.windows: must be a whole number from 1 to 24,"
                                f" not {windows!r}")
    else:
        for key in ("window_days", "windows"):
            if key in data:
                problems.append(f"{where}.{key}: goes only with drop_pct")
        days = positive_days(data, condition, where, problems)
    level = parse_level(data, "level", where, problems)
    notify = parse_notify(data, where, channels, problems)
    scopes = parse_scopes(data, where, problems)
    if len(problems) > before or days is None:
        return None
    return WarnRule(name, condition, days, level, notify, drop, windows, scopes)


def parse_level(data: dict, key: str, where: str, problems: list[str]) -> str:
    level = data.get(key, "mid")
    if level not in LEVELS:
        problems.append(f"{where}.{key}: must be one of {', '.join(LEVELS)}, not {level!r}")
        return "mid"
    return level


def parse_notify(data: dict, where: str, channels: set[str] | None,
                 problems: list[str]) -> tuple[str, ...] | None:
    """`notify = ["mail", ...]`: channel names the file defines (None: every channel)."""
    if "notify" not in data:
        return None
    names = data["notify"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        problems.append(f"{where}.notify: must be a list of channel names")
        return None
    for name in names:
        if channels is not None and name not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            problems.append(f"{where}.notify: no channel named {name!r} (channels: {known})")
    return tuple(names)
