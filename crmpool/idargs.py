"""Customer IDs from the command line, or from stdin with `-` (bare integers or JSON lines)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO

from crmpool.errors import InputError, UsageError


def _from_line(line: str, number: int) -> int | None:
    text = line.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("id"), int) and value["id"] > 0:
        return value["id"]
    raise InputError(f"stdin line {number}: expected a customer ID or a JSON object with an"
                     f" \"id\", got {text[:60]!r}")


def parse_ids(args: Sequence[str], stdin: IO[str] | None = None) -> list[int]:
    """The IDs named by the arguments; `-` reads one per line from stdin (only then)."""
    if not args:
        raise UsageError("give one or more customer IDs, or - to read them from stdin")
    ids: list[int] = []
    for arg in args:
        if arg == "-":
            stream = stdin or sys.stdin
            for number, line in enumerate(stream, start=1):
                value = _from_line(line, number)
                if value is not None:
                    ids.append(value)
        elif arg.isdigit() and int(arg) > 0:
            ids.append(int(arg))
        else:
            raise UsageError(f"{arg!r} is not a customer ID (a positive whole number, or -)")
    return ids
