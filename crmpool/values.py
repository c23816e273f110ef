"""One parser per kind of value, shared by the command line, stdin, import files and rules.

Each returns the stored form or raises ValueError with a sentence saying what is accepted;
the caller adds where (option, line and column, key) and turns it into the right exit code.
The ranges are what crmpool can store and compute with (README, "Limits").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # decimal is imported where amounts are read: claims never need it
    from decimal import Decimal

MAX_ID = 2**63 - 1  # SQLite's largest integer
MAX_DAYS = 36_500  # a hundred years: every span in days (rules, --idle-over)
MAX_COUNT = 1_000_000  # caps, daily limits, freezes per user
MAX_ROWS = 1_000_000_000  # --limit
MAX_CENTS = 100_000_000_000_000 - 1  # 999,999,999,999.99: any real deal, exactly
MAX_NAME = 64  # user, pool and team names

_ID = re.compile(r"[0-9]+")
# Plain decimals; a comma only as a thousands separator (1,234,567.50), never 1,2,3.
_AMOUNT = re.compile(r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?|\.[0-9]+")
_CURRENCY = "¥￥$"


def parse_id(text: str) -> int:
    """A customer or deal id: ASCII digits, 1 to 2**63-1."""
    value = str(text).strip()
    if not _ID.fullmatch(value):
        raise ValueError(f"{text!r} is not an id (a whole number 1 or more, in ASCII digits)")
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{text!r} is not an id (1 to {MAX_ID})")
    return number


def parse_count(text: str, low: int, high: int) -> int:
    """A whole number in ASCII digits within [low, high] (an int default passes as it is)."""
    value = str(text).strip()
    if not _ID.fullmatch(value) or not low <= int(value) <= high:
        raise ValueError(f"{text!r} is not a whole number from {low} to {high:,}")
    return int(value)


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def parse_database(text: str) -> str:
    """--db and copy --to: a SQLite file's path or a postgresql:// URL. Any other URL is a
    mistake, not a file to create (mysql://host/db would have made the file mysql:/host/db);
    the message names only its scheme, since the rest may hold a password."""
    from crmpool.engines import URL_SCHEMES

    scheme = _SCHEME.match(text)
    if scheme and not text.startswith(URL_SCHEMES):
        raise ValueError(f"{scheme.group(1)}:// is not a database crmpool opens: give a SQLite"
                         " file's path or a postgresql://USER@HOST/DBNAME URL")
    return text


def parse_row_limit(text: str) -> int:
    """--limit: 1 to a billion rows."""
    return parse_count(text, 1, MAX_ROWS)


def parse_cap(text: str) -> int:
    """--cap: 0 to a million customers."""
    return parse_count(text, 0, MAX_COUNT)


def parse_days(text: str) -> int:
    """A number of days, 0 to a hundred years."""
    return parse_count(text, 0, MAX_DAYS)


def parse_window_days(text: str) -> int:
    """A span looked back over (report and distribution --days): 1 day to a hundred years."""
    return parse_count(text, 1, MAX_DAYS)


def parse_claims(text: str) -> int:
    """--claims-per-day: 0 (unlimited) to a million."""
    return parse_count(text, 0, MAX_COUNT)


def parse_percent(text: str) -> int:
    """A whole percentage, 0 to 100."""
    return parse_count(text, 0, 100)


def cents_of(amount: Decimal, text: object) -> int:
    """An exact decimal as integer cents, within the documented range."""
    from decimal import Decimal
    if not amount.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    if amount < 0:
        raise ValueError(f"{text!r} is negative")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has more than two decimal places")
    cents = int(amount * 100)
    if cents > MAX_CENTS:
        raise ValueError(f"{text!r} is more than the largest amount, 999,999,999,999.99")
    return cents


def parse_amount(text: str) -> int:
    """An amount such as `12000`, `12,000.50` or `¥3000` as integer cents; never a float."""
    from decimal import Decimal, InvalidOperation

    cleaned = str(text).strip().lstrip(_CURRENCY).strip()
    if cleaned.startswith("-") and _AMOUNT.fullmatch(cleaned[1:]):
        raise ValueError(f"{text!r} is negative")
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not an amount (write it like 12000 or 12,000.50)")
    try:
        return cents_of(Decimal(cleaned.replace(",", "")), text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None


# The words accepted for a deal's stage and a contact's way, in English (any case) and 中文.
STAGE_WORDS = {"open": "open", "won": "won", "lost": "lost", "进行中": "open", "跟进中": "open",
               "赢单": "won", "成交": "won", "已成交": "won", "输单": "lost", "丢单": "lost",
               "engaging": "open", "prospecting": "open"}
VIA_WORDS = {"call": "call", "visit": "visit", "email": "email", "message": "message",
             "meeting": "meeting", "other": "other", "电话": "call", "拜访": "visit",
             "上门": "visit", "邮件": "email", "短信": "message", "微信": "message",
             "消息": "message", "会议": "meeting", "其他": "other"}
STATUS_WORDS = {"active": "active", "won": "won", "invalid": "invalid", "正常": "active",
                "未成交": "active", "已成交": "won", "成交": "won", "无效": "invalid"}


def _word(text: str | None, words: dict[str, str], what: str, default: str | None) -> str:
    value = (text or "").strip()
    if not value and default is not None:
        return default
    found = words.get(value.lower())
    if found is None:
        choices = ", ".join(dict.fromkeys(words.values()))
        raise ValueError(f"{text!r} is not a {what} ({choices}, or their 中文 names)")
    return found


def parse_stage(text: str | None, default: str | None = "open") -> str:
    """A deal stage: open, won or lost, in any case, or 赢单 / 输单 …"""
    return _word(text, STAGE_WORDS, "stage", default)


def parse_via(text: str | None, default: str | None = "other") -> str:
    """A way of contact: call, visit, email, message, meeting, other, or 电话 / 微信 …"""
    return _word(text, VIA_WORDS, "way of contact", default)


def parse_status(text: str | None) -> str:
    """A customer status: active, won or invalid (or 正常 / 已成交 / 无效); empty is active."""
    return _word(text, STATUS_WORDS, "status", "active")


def check_name(text: str, what: str) -> str:
    """A user, pool or team name: letters, digits, `.`, `_`, `-` and single spaces between
    words (`Anna Snelling`, 李雷), not starting with `-` (it would read as an option), in
    Unicode's normal form (no full-width look-alikes of ASCII), at most 64 characters."""
    if text != text.strip() or not text:
        raise ValueError(f"{what} {text!r}: no leading or trailing spaces, and not empty")
    if len(text) > MAX_NAME:
        raise ValueError(f"{what} {text[:20]!r}…: at most {MAX_NAME} characters")
    if text[0] == "-":
        raise ValueError(f"{what} {text!r}: must not start with '-'")
    if "  " in text:
        raise ValueError(f"{what} {text!r}: one space between words at most")
    if unicodedata.normalize("NFKC", text) != text:
        raise ValueError(f"{what} {text!r}: write it as"
                         f" {unicodedata.normalize('NFKC', text)!r}")
    for char in text:
        if not (char.isalnum() or char in "._- ") or unicodedata.category(char)[0] == "C":
            raise ValueError(f"{what} {text!r}: letters, digits, spaces, '.', '_' and '-'"
                             " only")
    return text


def same_name(name: str, existing: Iterable[str]) -> str | None:
    """How `name` clashes with one of `existing` user, pool or team names: "already exists",
    "looks the same as 'X'" (it differs only in case, which a person cannot tell apart), or
    None."""
    folded = name.casefold()
    for other in existing:
        if other.casefold() == folded:
            return "already exists" if other == name else f"looks the same as {other!r}"
    return None


def plural(count: int, noun: str) -> str:
    """`1 customer`, `2 customers`: counts in messages read as English."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
