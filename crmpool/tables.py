"""How a table fits the terminal: the one place every command's table goes through.

Each column has a kind, from its name: ids, numbers, times, phones and names of users, pools
and rules are never split or shortened; free text (a customer's name, a note, a reason) is
shortened with `…`. Columns come in priority order (the command's own order): when the
screen is too narrow for all of them, the last ones are left out, and the caller says which.
Times are compact local times: `12-01 10:00` this year, `2025-12-01` before it. Widths are
terminal cells, so Chinese counts two a character.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from rich.cells import cell_len

# Free text: shortened with … to fit; everything else is shown whole.
TEXT_COLUMNS = {"name", "note", "reason", "message", "trigger", "names", "display",
                "invalid_reason", "freeze_reason", "industry", "region", "email", "extra",
                "per_rule", "state", "key", "title", "existing_name", "last_note", "detail",
                "customer"}
# Shorter headings for long column names (machine formats keep the names).
LABELS = {"last_contact_at": "last contact", "next_contact_at": "next", "assigned_at":
          "assigned", "created_at": "created", "frozen_until": "frozen until",
          "idle_days": "idle", "customer_id": "cust", "rules_fingerprint": "rules",
          "from_owner": "from", "to_owner": "to", "from_pool": "from pool",
          "to_pool": "to pool", "started_at": "started", "company_id": "company id",
          "clock_from": "clock from", "warn_from": "warn from", "fires_at": "fires",
          "due_at": "due", "waiting_since": "waiting since", "previous_owner": "previous"}
GAP = 3  # cells between two columns (padding and the divider of box.SIMPLE_HEAD)
MIN_TEXT = 8  # a shortened text column keeps at least this many cells
MIN_NAME = 16  # a customer's name keeps more: it is what a rep reads the row by
CORE = 4  # the leading columns that text columns shrink for
MAX_TEXT = 40  # and takes no more than this while other columns want room


def is_time_column(column: str) -> bool:
    return column in ("at", "as_of", "when") or column.endswith(("_at", "_until", "_from",
                                                                  "_since"))


def label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def compact_time(stored_text: str, now: datetime | None) -> str:
    """A stored UTC time as a short local time for a table."""
    from crmpool.when import from_stored

    try:
        local = from_stored(stored_text).astimezone()
    except ValueError:
        return stored_text
    this_year = (now or datetime.now()).astimezone().year
    return local.strftime("%m-%d %H:%M") if local.year == this_year else local.strftime("%Y-%m-%d")


def cell_text(column: str, value: Any, now: datetime | None) -> str:
    """One value as a table shows it (control characters escaped, times compact)."""
    import json

    from crmpool.screen import printable

    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_time_column(column) and isinstance(value, str) and value.endswith("Z"):
        return compact_time(value, now)
    if isinstance(value, list) and all(isinstance(v, str | int) or v is None for v in value):
        return ", ".join("" if v is None else str(v) for v in value)
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    return printable(str(value), newlines=False)


class Fitted(NamedTuple):
    """The columns a table shows, each one's width, and those left out."""

    columns: list[str]
    widths: list[int]
    left_out: list[str]


def fit(columns: Sequence[str], cells: list[list[str]], width: int | None) -> Fitted:
    """Choose columns and widths for `cells` (rows of display text, one per column) so that
    the table is at most `width` cells wide; None: every column at its natural width.

    Columns are taken in priority order (those with nothing to show in these rows last),
    each at its comfortable width (text up to MAX_TEXT); when one of the first CORE does not
    fit, the text columns already taken give up room down to their least; the first that does
    not fit ends the table, so a column is only ever left out together with every lower one.
    Room left over widens the text columns, the more important first.
    """
    need = []
    for i, column in enumerate(columns):
        widest = max((cell_len(row[i]) for row in cells), default=0)
        need.append(max(widest, cell_len(label(column))))
    if width is None:
        return Fitted(list(columns), need, [])
    text = [c in TEXT_COLUMNS for c in columns]
    least = [min(n, MIN_NAME if c == "name" else MIN_TEXT) if t else n
             for c, n, t in zip(columns, need, text, strict=True)]
    comfortable = [min(n, max(MAX_TEXT, lo)) if t else n
                   for n, lo, t in zip(need, least, text, strict=True)]
    empty = [i > 0 and not any(row[i] for row in cells) for i in range(len(columns))]
    order = [i for i in range(len(columns)) if not empty[i]] + [
        i for i in range(len(columns)) if empty[i]]
    widths: dict[int, int] = {}
    room = width
    for rank, i in enumerate(order):
        gap = GAP if widths else 0
        want = least[i] if text[i] else comfortable[i]
        # Room the text columns already taken could give up, down to their least: only for
        # the first CORE columns (a rep's id, name, owner, level), never to squeeze a name
        # for a column that matters less than its whole.
        spare = sum(widths[k] - least[k] for k in widths if text[k]) if rank < CORE else 0
        if comfortable[i] + gap <= room:
            widths[i] = comfortable[i]
        elif want + gap <= room + spare:
            for k in sorted((k for k in widths if text[k]), reverse=True):
                give = min(widths[k] - least[k], want + gap - room)
                if give > 0:
                    widths[k] -= give
                    room += give
            widths[i] = max(want, room - gap) if text[i] else want
        elif not widths:
            widths[i] = min(comfortable[i], room)  # the first column, whatever it takes
        else:
            break
        room -= widths[i] + gap
    for i in order:
        if i in widths and text[i] and room > 0:
            grow = min(room, need[i] - widths[i])
            widths[i] += max(grow, 0)
            room -= max(grow, 0)
    kept = [i for i in range(len(columns)) if i in widths]
    return Fitted([columns[i] for i in kept], [widths[i] for i in kept],
                  [columns[i] for i in range(len(columns)) if i not in widths])
