"""WHEN values (SPEC) and every other time crmpool reads: one parser for the command line,
CRMPOOL_NOW and import cells alike.

Accepted: ISO dates and datetimes (`2026-12-01`, `2026-12-01T09:30`, with `Z` or an offset),
the same with `/`, `.` or 年月日 between the parts (`2026/12/01 09:30`, what Excel and WPS
write), day-month-year or month-day-year with `/` (`2/26/2018 19:58`; an ambiguous one needs
a date order), and on the command line `today`, `now` and signed durations (`+30d`). Every
time lies between 1900-01-01 and 2999-12-31: what SQLite's date functions and the fixed-width
storage form can hold.

Times are stored as fixed-width UTC text `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order;
they are shown in the machine's local time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

STORED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
FIRST_YEAR, LAST_YEAR = 1900, 2999
_DURATION = re.compile(r"^([+-])([0-9]{1,7})(mo|d|w|y|h)$")
# The longest span each duration unit may say: a hundred years.
_MOST = {"h": 876_000, "d": 36_500, "w": 5_218, "mo": 1_200, "y": 100}
DATE_ORDERS = ("ymd", "dmy", "mdy")
_YMD = re.compile(
    r"^([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?"
    r"(?:[ T]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?:\.[0-9]+)?)?\s*(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_XXY = re.compile(
    r"^([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{4})"
    r"(?:[ T]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?:\.[0-9]+)?)?$"
)
_ACCEPTED = ("use an ISO date (2026-12-01) or datetime (2026-12-01 09:30), 2026/12/01, today,"
             " now, or a duration such as +30d")


class BadWhen(ValueError):
    """A time that cannot be read; the message says what is accepted."""


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


def _in_range(moment: datetime, text: str) -> datetime:
    utc = moment.astimezone(UTC)
    if not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise BadWhen(f"{text!r} is outside the times crmpool keeps"
                      f" ({FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31)")
    return utc.replace(microsecond=0)


def parse_duration(text: str, now: datetime, *, positive: bool = False) -> datetime:
    """`now` moved by a signed duration such as `+30d`, `-2w`, `+3mo`, `+12h`."""
    match = _DURATION.match(text)
    if not match:
        raise BadWhen(f"{text!r} is not a duration such as +30d, -2w, +3mo, +1y or +12h")
    sign, amount, unit = match.groups()
    if int(amount) > _MOST[unit]:
        raise BadWhen(f"{text!r} is longer than a hundred years (at most {_MOST[unit]}{unit})")
    n = int(amount) * (-1 if sign == "-" else 1)
    if positive and n <= 0:
        raise BadWhen(f"{text!r} must be a positive span")
    if unit in ("h", "d", "w"):
        span = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        return _in_range(now + span, text)
    # Calendar months and years need calendar arithmetic (31 Jan + 1mo = 28/29 Feb).
    from dateutil.relativedelta import relativedelta

    delta = relativedelta(months=n) if unit == "mo" else relativedelta(years=n)
    return _in_range(now.astimezone() + delta, text)


def _moment(year: int, month: int, day: int, hour: str | None, minute: str | None,
            second: str | None, zone: str | None, text: str) -> datetime:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadWhen(f"{text!r} is outside the times crmpool keeps"
                      f" ({FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31)")
    try:
        moment = datetime(year, month, day, int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise BadWhen(f"{text!r} is not a valid date") from None
    if zone:
        offset = "+00:00" if zone == "Z" else zone
        moment = datetime.fromisoformat(moment.isoformat() + offset)
    else:
        moment = moment.astimezone()  # naive means local time
    return _in_range(moment, text)


def parse_moment(text: str, date_order: str | None = None) -> datetime:
    """An absolute time (no `now`, no durations) as an aware UTC datetime.

    `date_order` (ymd, dmy or mdy) settles `3/4/2018`; without it such a date is refused,
    while `2/26/2018` (26 cannot be a month) is read.
    """
    value = text.strip()
    match = _YMD.match(value)
    if match:
        year, month, day, hour, minute, second, zone = match.groups()
        return _moment(int(year), int(month), int(day), hour, minute, second, zone, text)
    match = _XXY.match(value)
    if match:
        first, second_part, year, hour, minute, second = match.groups()
        a, b = int(first), int(second_part)
        if date_order == "dmy" or (date_order != "mdy" and a > 12 >= b):
            day, month = a, b
        elif date_order == "mdy" or (b > 12 >= a):
            month, day = a, b
        elif a == b:
            month = day = a
        else:
            raise BadWhen(f"{text!r}: is that day/month or month/day? Pass --date-order dmy"
                          " or mdy")
        return _moment(int(year), month, day, hour, minute, second, None, text)
    raise BadWhen(f"{text!r} is not a time; {_ACCEPTED}")


@lru_cache(maxsize=1 << 16)
def to_stored_time(text: str, date_order: str | None = None) -> str:
    """An import cell's time as stored UTC text; naive times are local time.

    Cached: exports and spreadsheets repeat the same times over and over.
    """
    if len(text) == 20 and text[-1] == "Z" and text[10] == "T" and text[:2] in ("19", "20"):
        try:
            datetime.strptime(text, STORED_FORMAT)  # already in storage form: only validate
            return text
        except ValueError:
            pass
    return stored(parse_moment(text, date_order))


def parse_when(text: str | None, now: datetime) -> datetime:
    """An aware UTC datetime from a WHEN value; dates and naive times are local time."""
    value = (text or "").strip()
    if not value:
        raise BadWhen(f"an empty time; {_ACCEPTED}")
    lowered = value.lower()
    if lowered == "now":
        return now.astimezone(UTC).replace(microsecond=0)
    if lowered == "today":
        return start_of_local_day(now).astimezone(UTC)
    if value[0] in "+-":
        return parse_duration(value, now)
    if len(value) == 10 and value[4] == "-":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise BadWhen(f"{value!r} is not a valid date") from None
        return _moment(day.year, day.month, day.day, None, None, None, None, value)
    return parse_moment(value)
