"""What every report returns, and the period it covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crmpool.when import start_of_local_day, stored

BY = ("day", "week", "month")
# A bucket's local start as SQL over a stored time `{t}`: the day, the Monday, the month.
BUCKET_SQL = {
    "day": "date({t}, 'localtime')",
    "week": "date({t}, 'localtime', '-6 days', 'weekday 1')",
    "month": "strftime('%Y-%m', {t}, 'localtime')",
}


@dataclass(frozen=True)
class Period:
    """From `since` (inclusive) to `until` (exclusive), cut into buckets `by`."""

    since: datetime
    until: datetime
    by: str = "week"

    @property
    def since_text(self) -> str:
        return stored(self.since)

    @property
    def until_text(self) -> str:
        return stored(self.until)

    def bucket(self, column: str) -> str:
        return BUCKET_SQL[self.by].format(t=column)

    def describe(self) -> str:
        return (f"{self.since.astimezone():%Y-%m-%d %H:%M} to"
                f" {self.until.astimezone():%Y-%m-%d %H:%M}")


def this_week(now: datetime) -> datetime:
    """Monday 00:00 local time of the week holding `now`: a report's default start."""
    day = start_of_local_day(now)
    return day - timedelta(days=day.weekday())


@dataclass
class Figures:
    """One report: its rows in `columns` order, what a chart of it shows, and notes for
    people (how a figure was counted)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[dict]
    period: Period | None = None
    bars: list[tuple[str, float]] = field(default_factory=list)  # a bar chart: label, value
    bars_of: str = ""  # what the bars measure
    shown: tuple[str, ...] = ()  # what a table or the page shows first (80 columns)
    series: dict[str, list[float]] = field(default_factory=dict)  # label -> values per bucket
    notes: list[str] = field(default_factory=list)
