"""WHEN values (SPEC): ISO dates and datetimes, `today`, `now`, and signed durations.

Times are stored as fixed-width UTC text `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order;
they are shown in the machine's local time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

STORED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_DURATION = re.compile(r"^([+-])(\d+)(mo|d|w|y|h)$")


class BadWhen(ValueError):
    """A WHEN value that cannot be read; the message says what is accepted."""


def stored(moment: datetime) -> str:
    """The storage form of an aware datetime: UTC, to the second."""
    return moment.astimezone(UTC).strftime(STORED_FORMAT)


def from_stored(text: str) -> datetime:
    """An aware UTC datetime from the storage form."""
    return datetime.strptime(text, STORED_FORMAT).replace(tzinfo=UTC)


def local_display(text: str | None) -> str:
    """A stored time in local time, for people: `2026-11-23 09:30`."""
    if not text:
        return ""
    return from_stored(text).astimezone().strftime("%Y-%m-%d %H:%M")


def start_of_local_day(now: datetime) -> datetime:
    """Midnight of the local calendar day containing `now` (daily limits count local days)."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def parse_duration(text: str, now: datetime, *, positive: bool = False) -> datetime:
    """`now` moved by a signed duration such as `+30d`, `-2w`, `+3mo`, `+12h`."""
    match = _DURATION.match(text)
    if not match:
        raise BadWhen(f"{text!r} is not a duration such as +30d, -2w, +3mo, +1y or +12h")
    sign, amount, unit = match.groups()
    n = int(amount) * (-1 if sign == "-" else 1)
    if positive and n <= 0:
        raise BadWhen(f"{text!r} must be a positive span")
    if unit == "h":
        return now + timedelta(hours=n)
    if unit == "d":
        return now + timedelta(days=n)
    if unit == "w":
        return now + timedelta(weeks=n)
    # Calendar months and years need calendar arithmetic (31 Jan + 1mo = 28/29 Feb).
    from dateutil.relativedelta import relativedelta

    delta = relativedelta(months=n) if unit == "mo" else relativedelta(years=n)
    return (now.astimezone() + delta).astimezone(UTC)


def parse_when(text: str | None, now: datetime) -> datetime:
    """An aware UTC datetime from a WHEN value; dates and naive times are local time."""
    value = (text or "").strip()
    if not value:
        raise BadWhen("an empty time; use an ISO date (2026-12-01), today, now or +30d")
    lowered = value.lower()
    if lowered == "now":
        return now.astimezone(UTC).replace(microsecond=0)
    if lowered == "today":
        return start_of_local_day(now).astimezone(UTC)
    if value[0] in "+-":
        return parse_duration(value, now).replace(microsecond=0)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day)
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise BadWhen(
            f"{value!r} is not a time; use an ISO date (2026-12-01), a datetime "
            "(2026-12-01T09:30), today, now, or a duration such as +30d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive means local time
    return moment.astimezone(UTC).replace(microsecond=0)
