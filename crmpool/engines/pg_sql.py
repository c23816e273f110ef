"""crmpool's SQL, written for SQLite, said the way PostgreSQL says it: the one place where the
engines' dialects differ (SPEC: engine-specific SQL lives in one place per engine).

Each statement is translated once and cached. The translation works on tokens, never inside a
string literal or a quoted name, and covers what crmpool's SQL uses:

- placeholders: `?` -> `%s`, `?1` and `:name` -> `%(…)s`; every `%` doubled;
- `user` (a column in deals, contacts and pool_admins; a keyword in PostgreSQL, where a bare
  `user` silently means the session's user) -> `"user"`;
- `x IN ()` -> an empty subquery; `temp.table` -> `pg_temp.table`;
- `INSERT OR IGNORE` -> `ON CONFLICT DO NOTHING`;
- `LIKE` -> `ILIKE` (SQLite's LIKE ignores the case of ASCII letters), `x GLOB 'p'` -> a
  regular expression, `a IS b` -> `a IS NOT DISTINCT FROM b`;
- `CAST(x AS INTEGER)` truncates as SQLite does (PostgreSQL rounds); `max`/`min` of two or
  more are SQLite's scalar ones (NULL if any argument is); `char(n)` -> `chr(n)`;
  `group_concat` -> `string_agg`; `CROSS JOIN … ON` -> `JOIN … ON`;
- in DDL, `INTEGER` -> `BIGINT` (SQLite's are 64-bit) and `INTEGER PRIMARY KEY` -> an
  identity column; `TEXT` -> `TEXT COLLATE "C"` (SQLite's order); a `VIRTUAL` generated
  column -> `STORED`;
- a subquery in FROM without a name gets one (PostgreSQL before 16 requires it).

SQLite's date functions (`date`, `datetime`, `strftime`, `julianday`), `instr` and `printf`
are called as sqlite_date and so on, and `json_group_array` as itself: functions crmpool
installs in the database (engines/pg_functions.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""(?P<str>'(?:[^']|'')*')"""
    r"""|(?P<qid>"(?:[^"]|"")*")"""
    r"""|(?P<comment>--[^\n]*)"""
    r"""|(?P<num>\?[0-9]+)"""
    r"""|(?P<q>\?)"""
    r"""|(?P<named>(?<!:):[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<space>\s+)"""
    r"""|(?P<other>.)""",
    re.S,
)

# SQLite's functions, installed as sqlite_NAME (engines/pg_functions.py): `date` is also a
# type, and the others would shadow nothing, but one prefix says where they come from.
_SQLITE_FUNCTIONS = {"DATE", "DATETIME", "JULIANDAY", "STRFTIME", "INSTR", "PRINTF"}
_IS_KEEPS = {"NULL", "NOT", "TRUE", "FALSE", "DISTINCT"}


class Translated:
    """A statement in PostgreSQL's words, and how to hand it its parameters."""

    __slots__ = ("sql", "numbered", "named", "inserts_into")

    def __init__(self, sql: str, numbered: bool, named: bool, inserts_into: str | None):
        self.sql = sql
        self.numbered = numbered  # ?1, ?2: parameters become a mapping p1, p2
        self.named = named  # :name: parameters are a mapping already
        self.inserts_into = inserts_into  # the table of a plain INSERT (for lastrowid)

    def params(self, params):
        if self.numbered:
            return {f"p{i}": value for i, value in enumerate(params, start=1)}
        return params


def _tokens(sql: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(sql)]  # type: ignore[misc]


def _glob_to_regex(literal: str) -> str:
    """A GLOB pattern literal ('1[3-9]*') as an anchored POSIX regular expression literal."""
    pattern = literal[1:-1].replace("''", "'")
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.index("]", i + 2 if pattern[i + 1:i + 2] in ("^", "]") else i + 1)
            out.append(pattern[i:end + 1])
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "'" + "".join(out).replace("'", "''") + "'"


def _matching(tokens: list[tuple[str, str]], open_at: int) -> int:
    """Index of the ')' that closes the '(' at `open_at`."""
    depth = 0
    for i in range(open_at, len(tokens)):
        if tokens[i][1] == "(":
            depth += 1
        elif tokens[i][1] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses in SQL")


def _next_code(tokens: list[tuple[str, str]], i: int) -> int:
    """Index of the next token after `i` that is not white space or a comment."""
    i += 1
    while i < len(tokens) and tokens[i][0] in ("space", "comment"):
        i += 1
    return i


def _top_level_comma_at(tokens: list[tuple[str, str]], open_at: int,
                        close_at: int) -> int | None:
    """The first comma between a call's arguments, if it has two or more."""
    spans = _arguments(tokens, open_at, close_at)
    return spans[0][1] if len(spans) > 1 else None


_JOIN_ENDS = {"JOIN", "WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "HAVING", "CROSS", "LEFT",
              "INNER"}


def _has_on(tokens: list[tuple[str, str]], upper: list[str], join_at: int) -> bool:
    """Whether the join at `join_at` has an ON (looked for at its own depth)."""
    depth = 0
    for i in range(join_at + 1, len(tokens)):
        text = tokens[i][1]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth < 0:
                return False
        elif depth == 0 and tokens[i][0] == "word":
            if upper[i] == "ON":
                return True
            if upper[i] in _JOIN_ENDS:
                return False
    return False


def _top_level_commas(tokens: list[tuple[str, str]], open_at: int, close_at: int) -> int:
    return len(_arguments(tokens, open_at, close_at)) - 1


@lru_cache(maxsize=4096)
def translate(sql: str) -> Translated:
    tokens = _tokens(sql)
    out: list[str] = []
    numbered = named = False
    ignore_conflicts = False
    subqueries = 0
    closers: dict[int, str] = {}  # index of a ')' -> text to put after it
    upper = [text.upper() if kind == "word" else text for kind, text in tokens]
    upper.append("")  # what lies past the end, for lookahead
    first = next((u for (k, _), u in zip(tokens, upper, strict=False) if k == "word"), "")
    inserts_into = None
    skip_until = -1
    blank: set[int] = set()
    closers_after: dict[int, str] = {}  # index of a token -> text to put in its place
    for i, (kind, text) in enumerate(tokens):
        if i in closers_after:
            out.append(closers_after.pop(i))
        if i <= skip_until or i in blank:
            continue
        word = upper[i]
        if kind == "str":
            out.append(text.replace("%", "%%"))
        elif kind == "num":
            numbered = True
            out.append(f"%(p{text[1:]})s")
        elif kind == "q":
            out.append("%s")
        elif kind == "named":
            named = True
            out.append(f"%({text[1:]})s")
        elif kind == "other":
            out.append("%%" if text == "%" else text)
            if text == ")" and i in closers:
                out.append(closers.pop(i))
            if text == "(":
                # A subquery in FROM or JOIN with no name: PostgreSQL 15 needs one.
                before = [u for (k, _), u in zip(tokens[:i], upper[:i], strict=False)
                          if k not in ("space", "comment")]
                inner = _next_code(tokens, i)
                if before and before[-1] in ("FROM", "JOIN") and inner < len(tokens) \
                        and upper[inner] in ("SELECT", "WITH", "VALUES"):
                    close = _matching(tokens, i)
                    after = _next_code(tokens, close)
                    if after >= len(tokens) or upper[after] in (
                            "WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "JOIN", "LEFT",
                            "INNER", "CROSS", "ON", ")", ",", ";", "HAVING", "EXCEPT",
                            "INTERSECT") or tokens[after][1] in (")", ",", ";"):
                        subqueries += 1
                        closers[close] = f" AS _sub{subqueries}"
        elif kind == "word":
            nxt = _next_code(tokens, i)
            nxt_text = tokens[nxt][1] if nxt < len(tokens) else ""
            if word == "USER":
                out.append('"user"')
            elif word == "TEMP" and nxt_text == ".":
                # an index is made in its table's schema, and may not name one
                if first == "CREATE" and "INDEX" in upper[:i]:
                    skip_until = nxt
                else:
                    out.append("pg_temp")
            elif word == "CROSS" and upper[nxt] == "JOIN" and _has_on(tokens, upper, nxt):
                # SQLite's CROSS JOIN ... ON fixes the join order; PostgreSQL's has no ON
                skip_until = nxt
                out.append("JOIN")
            elif word == "GROUP_CONCAT" and nxt_text == "(":
                close = _matching(tokens, nxt)
                out.append("string_agg(CAST(")
                comma = _top_level_comma_at(tokens, nxt, close)
                if comma is None:
                    blank.add(close)
                    closers_after[close] = " AS TEXT), ',')"
                else:
                    blank.add(comma)
                    closers_after[comma] = " AS TEXT),"
                skip_until = nxt
            elif word == "INSERT" and nxt < len(tokens) and upper[nxt] == "OR":
                verb = _next_code(tokens, nxt)
                if upper[verb] != "IGNORE":
                    raise ValueError(f"INSERT OR {tokens[verb][1]} has no translation")
                ignore_conflicts = True
                out.append("INSERT")
                skip_until = verb
            elif word == "IN" and nxt_text == "(" and tokens[_next_code(tokens, nxt)][1] == ")":
                # SQLite allows an empty list (never in it); PostgreSQL, an empty subquery
                out.append("IN (SELECT NULL WHERE FALSE)")
                skip_until = _next_code(tokens, nxt)
            elif word == "LIKE":
                out.append("ILIKE")
            elif word == "GLOB" and tokens[nxt][0] == "str":
                negated = out and _last_word(out) == "NOT"
                if negated:
                    _drop_last_word(out)
                out.append(("!~ " if negated else "~ ") + _glob_to_regex(nxt_text))
                skip_until = nxt
            elif word == "IS" and nxt < len(tokens):
                following = upper[nxt]
                if following == "NOT":
                    after_not = _next_code(tokens, nxt)
                    if upper[after_not] in _IS_KEEPS:
                        out.append(text)
                    else:
                        out.append("IS DISTINCT FROM")
                        skip_until = nxt
                elif following in _IS_KEEPS:
                    out.append(text)
                else:
                    out.append("IS NOT DISTINCT FROM")
            elif word == "CAST" and nxt_text == "(":
                close = _matching(tokens, nxt)
                tail = [u for (k, _), u in zip(tokens[nxt:close], upper[nxt:close], strict=False)
                        if k not in ("space", "comment")]
                if tail[-2:] == ["AS", "INTEGER"]:
                    # sqlite_int(x): the function's argument is the expression, so "AS
                    # INTEGER" goes
                    out.append("sqlite_int")
                    as_at = max(j for j in range(nxt, close) if upper[j] == "AS")
                    blank.update(range(as_at, close))
                else:
                    out.append(text)
            elif word in ("MAX", "MIN") and nxt_text == "(":
                close = _matching(tokens, nxt)
                scalar = _top_level_commas(tokens, nxt, close) > 0
                out.append(f"sqlite_{word.lower()}" if scalar else text)
            elif word in _DATE_FUNCTIONS and nxt_text == "(" and (
                    inline := _inline_date(sql, tokens, upper, word, nxt)) is not None:
                # Every modifier written out: PostgreSQL's own date arithmetic, inline (a
                # tenth of the cost of the general function, once per row of a sweep).
                native, inner_numbered, inner_named = inline
                numbered |= inner_numbered
                named |= inner_named
                out.append(native)
                skip_until = _matching(tokens, nxt)
            elif word in _SQLITE_FUNCTIONS and nxt_text == "(":
                out.append(f"sqlite_{word.lower()}")
            elif word == "CHAR" and nxt_text == "(":
                out.append("chr")
            elif word == "INTEGER" and first in ("CREATE", "ALTER"):
                # SQLite's integers are 64-bit (amounts in cents among them); an INTEGER
                # PRIMARY KEY is given out by the database.
                out.append("BIGINT GENERATED BY DEFAULT AS IDENTITY"
                           if upper[nxt] == "PRIMARY" and "INDEX" not in upper else "BIGINT")
            elif word == "TEXT" and first in ("CREATE", "ALTER") and upper[nxt] != "COLLATE" \
                    and "INDEX" not in upper:
                # Text compares by code point, as SQLite's BINARY does, whatever the
                # database's own collation (en_US would sort names and key ranges its way).
                out.append('TEXT COLLATE "C"')
            elif word == "VIRTUAL" and first == "CREATE" and upper[nxt] != "TABLE":
                out.append("STORED")  # PostgreSQL computes generated columns on write
            elif word == "INTO" and first == "INSERT" and inserts_into is None:
                inserts_into = tokens[nxt][1] if nxt < len(tokens) else None
                out.append(text)
            else:
                out.append(text)
        else:
            out.append(text)
    statement = "".join(out).rstrip().rstrip(";")
    if ignore_conflicts:
        statement += " ON CONFLICT DO NOTHING"
    plain_insert = first == "INSERT" and "RETURNING" not in upper and "SELECT" not in upper
    return Translated(statement, numbered, named, inserts_into if plain_insert else None)


_DATE_FUNCTIONS = {"DATE", "DATETIME", "STRFTIME", "JULIANDAY"}
# strftime formats, as to_char's; "" for one that has no inline form.
_FORMATS = {"%Y-%m-%dT%H:%M:%SZ": 'YYYY-MM-DD"T"HH24:MI:SS"Z"', "%Y-%m-%d %H:%M":
            "YYYY-MM-DD HH24:MI", "%Y-%m": "YYYY-MM", "%Y-%m-%d": "YYYY-MM-DD"}
_SHIFT = re.compile(r"[+-][0-9]+ +(day|hour|minute|second|month|year)s?")
_LOCAL = "AT TIME ZONE 'UTC' AT TIME ZONE current_setting('TimeZone')"


def _arguments(tokens: list[tuple[str, str]], open_at: int,
               close_at: int) -> list[tuple[int, int]]:
    """The token ranges [start, end) of a call's top-level arguments."""
    spans, depth, start = [], 0, open_at + 1
    for i in range(open_at + 1, close_at):
        text = tokens[i][1]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "," and depth == 0 and tokens[i][0] == "other":
            spans.append((start, i))
            start = i + 1
    spans.append((start, close_at))
    return spans


def _literal(tokens: list[tuple[str, str]], span: tuple[int, int]) -> str | None:
    """The text of an argument that is one string literal, else None."""
    parts = [t for t in tokens[span[0]:span[1]] if t[0] not in ("space", "comment")]
    if len(parts) == 1 and parts[0][0] == "str":
        return parts[0][1][1:-1].replace("''", "'")
    return None


def _inline_date(sql: str, tokens, upper, word: str, open_at: int):
    """SQLite's date(X, 'mod', ...) as PostgreSQL's expression, when every modifier (and a
    strftime format) is a literal crmpool knows; None otherwise (the general function)."""
    close = _matching(tokens, open_at)
    spans = _arguments(tokens, open_at, close)
    fmt = None
    if word == "STRFTIME":
        fmt = _literal(tokens, spans[0]) if spans else None
        if fmt not in _FORMATS:
            return None
        spans = spans[1:]
    if not spans:
        return None
    modifiers = [_literal(tokens, span) for span in spans[1:]]
    if any(m is None for m in modifiers) or _literal(tokens, spans[0]) == "now":
        return None
    start, end = spans[0]
    inner = translate("".join(text for _, text in tokens[start:end]))
    expression = f"CAST(({inner.sql}) AS timestamp)"
    for modifier in modifiers:
        m = modifier.strip().lower()  # type: ignore[union-attr]
        if _SHIFT.fullmatch(m):
            expression = f"({expression} + interval '{m}')"
        elif m == "localtime":
            expression = f"(({expression}) {_LOCAL})"
        elif m == "start of day":
            expression = f"date_trunc('day', {expression})"
        elif m == "start of month":
            expression = f"date_trunc('month', {expression})"
        elif re.fullmatch(r"weekday [0-6]", m):
            expression = (f"({expression} + ((({m[-1]} - extract(dow FROM {expression})::int)"
                          " + 7) %% 7) * interval '1 day')")  # %%: psycopg's % sign
        else:
            return None
    if word == "JULIANDAY":
        native = f"(extract(epoch FROM {expression})::double precision / 86400.0 + 2440587.5)"
    else:
        pattern = {"DATE": "YYYY-MM-DD", "DATETIME": "YYYY-MM-DD HH24:MI:SS"}.get(
            word) or _FORMATS[fmt]  # type: ignore[index]
        native = f"to_char({expression}, '{pattern}')"
    return native, inner.numbered, inner.named


def _last_word(out: list[str]) -> str:
    for text in reversed(out):
        if text.strip():
            return text.upper()
    return ""


def _drop_last_word(out: list[str]) -> None:
    while out and not out[-1].strip():
        out.pop()
    out.pop()
