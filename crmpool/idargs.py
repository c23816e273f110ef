"""Customer IDs from the command line, or from stdin with `-` (bare integers or JSON lines)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO

from crmpool.errors import InputError, UsageError
from crmpool.values import MAX_ID, parse_id

MAX_LINE = 1 << 16  # a stdin line holding one ID, or one JSON object with an id


def _json_id(value: object) -> bool:
    # bool is an int in Python; `true` is not customer 1.
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _from_line(line: str, number: int) -> list[int]:
    text = line.strip()
    if not text:
        return []
    if text[0] != "{":
        try:
            return [parse_id(text)]
        except ValueError as exc:
            raise InputError(f"stdin line {number}: {exc}") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        value = None
    if isinstance(value, dict):
        if "id" in value and _json_id(value["id"]):
            return [value["id"]]
        ids = value.get("ids")  # `crmpool dupes` rows name a cluster's customers
        if "id" not in value and isinstance(ids, list) and ids and all(map(_json_id, ids)):
            return list(ids)
    raise InputError(f"stdin line {number}: expected a customer ID or a JSON object with an"
                     f" \"id\" (1 to {MAX_ID}), got {text[:60]!r}")


def _lines(stream: IO[str]):
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE + 1)
        except UnicodeDecodeError:
            raise InputError(f"stdin line {number + 1}: not UTF-8 text") from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith("\n"):
            raise InputError(f"stdin line {number}: longer than {MAX_LINE:,} characters")
        yield number, line


def parse_ids(args: Sequence[str], stdin: IO[str] | None = None) -> list[int]:
    """The IDs named by the arguments; `-` reads one per line from stdin (only then)."""
    if not args:
        raise UsageError("give one or more customer IDs, or - to read them from stdin")
    ids: list[int] = []
    for arg in args:
        if arg == "-":
            for number, line in _lines(stdin or sys.stdin):
                ids.extend(_from_line(line, number))
        else:
            try:
                ids.append(parse_id(arg))
            except ValueError as exc:
                raise UsageError(f"{exc}, or - to read IDs from stdin") from None
    return ids


def parse_clusters(stdin: IO[str] | None = None) -> list[list[int]]:
    """Clusters of IDs from stdin, one a line (a JSON object with `ids`, as `dupes` writes,
    or any line parse_ids reads); each needs two IDs or more."""
    clusters = []
    for number, line in _lines(stdin or sys.stdin):
        found = _from_line(line, number)
        if not found:
            continue
        if len(found) < 2:
            raise InputError(f"stdin line {number}: a cluster needs two or more ids, got"
                             f" {found}")
        clusters.append(found)
    return clusters
