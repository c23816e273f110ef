"""Everything crmpool prints: rows in five formats on stdout, messages on stderr.

Machine formats (json, jsonl, csv, tsv) are written directly and streamed row by row; only the
table format, meant for people at a terminal, goes through Rich (imported only then).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from crmpool.choices import OUTPUT_FORMATS as FORMATS  # noqa: F401
from crmpool.choices import needs_guard
from crmpool.screen import printable


def guard_formula(value: Any) -> Any:
    """Neutralise spreadsheet formulas with a leading ', which import takes off again, so
    export → import is exact (crmpool/imports/fields.py `clean`)."""
    if isinstance(value, str) and needs_guard(value):
        return "'" + value
    return value


def tsv_escape(text: str) -> str:
    """A TSV field as PostgreSQL's text format writes it: TAB, LF, CR and backslash escaped,
    so every line is one record and every tab a column break (cut and awk work)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def _cell(value: Any) -> Any:
    """A value as one CSV/TSV cell: arrays and objects as JSON text, booleans as JSON's
    true/false, None as an empty cell (README: "CSV and TSV")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


class Output:
    """One command's output: a format, quiet or not, and the two streams."""

    def __init__(self, fmt: str | None = None, quiet: bool = False,
                 out: IO[str] | None = None, err: IO[str] | None = None,
                 view: View | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.view = view or View()
        if fmt is None:
            fmt = "table" if self.out.isatty() else "jsonl"
        self.format = fmt
        self.quiet = quiet
        # JSON escapes what the output's encoding cannot hold (PYTHONIOENCODING=ascii).
        try:
            "中文".encode(getattr(self.out, "encoding", None) or "utf-8")
            self.ascii = False
        except (UnicodeEncodeError, LookupError):
            self.ascii = True

    @property
    def for_people(self) -> bool:
        return self.format == "table"

    def fetch_limit(self, asked: int | None) -> int | None:
        """How many rows a command should fetch: what --limit asked; for a table without
        --all, one more than it shows (whether more exist is all it needs to know; `rows`'
        `total` counts them); otherwise every row."""
        self.view.asked = asked
        if asked is not None or self.format != "table" or self.view.all:
            return asked
        return self.view.table_limit + 1

    def say(self, text: str) -> None:
        """A message for people, on stderr; silent with -q."""
        if not self.quiet:
            print(printable(text), file=self.err)

    def error(self, text: str) -> None:
        """A failure, on stderr, always."""
        print(f"crmpool: {printable(text)}", file=self.err)

    def rows(self, rows: Iterable[dict], columns: Sequence[str] | None = None,
             title: str | None = None, for_people: Sequence[str] | None = None,
             total: Callable[[], int] | None = None) -> int:
        """Write rows in the chosen format, streaming them; returns how many.

        `columns` are every column (what machine formats write); `for_people`, the ones a
        table shows by default, most important first. `--columns` picks columns for every
        format (checked against both lists); `--wide` shows every column in a table.
        `total` counts every row when a table shows only the first (with `fetch_limit`, so
        the rows it leaves out are never fetched); without it they are counted by reading.
        """
        if self.quiet:
            return sum(1 for _ in rows)
        if self.view.columns:
            known = list(dict.fromkeys([*(columns or ()), *(for_people or ())]))
            unknown = [c for c in self.view.columns if known and c not in known]
            if unknown:
                from crmpool.errors import UsageError

                raise UsageError(f"--columns: no column {unknown[0]!r}; the columns:"
                                 f" {', '.join(known)}")
            columns = self.view.columns
        elif self.for_people and for_people and not self.view.wide:
            columns = for_people
        if self.format == "table":
            return self._write_table(iter(rows), list(columns) if columns else None, title,
                                     total)
        writer = getattr(self, f"_write_{self.format}")
        return writer(iter(rows), list(columns) if columns else None, title)

    def record(self, obj: dict, title: str | None = None) -> None:
        """Write one object (nested lists allowed)."""
        if self.quiet:
            return
        if self.format == "json":
            print(json.dumps(obj, ensure_ascii=self.ascii, indent=2), file=self.out)
        elif self.format == "table":
            self._write_record_table(obj, title)
        else:
            self.rows([obj])

    def json_texts(self, texts: Iterable[str]) -> int:
        """Rows already encoded as JSON objects (by SQLite): JSON lines, or one array."""
        write = self.out.write
        count = 0
        if self.format == "jsonl":
            for text in texts:
                write(text)
                write("\n")
                count += 1
            return count
        write("[")
        for text in texts:
            write(",\n " if count else "\n ")
            write(text)
            count += 1
        write("\n]\n" if count else "]\n")
        return count

    def lines(self, header: str, lines: Iterable[str]) -> int:
        """CSV or TSV lines already built (by SQLite), under their header."""
        write = self.out.write
        write(header + "\n")
        count = 0
        for line in lines:
            write(line)
            write("\n")
            count += 1
        return count

    def record_with_streams(self, obj: dict, streams: dict[str, Iterable[dict]]) -> None:
        """One JSON object whose last members are arrays written as they are read."""
        dumps = functools.partial(json.dumps, ensure_ascii=self.ascii)
        write = self.out.write
        write("{")
        write(", ".join(f"{dumps(k)}: {dumps(v)}" for k, v in obj.items()))
        for key, items in streams.items():
            write(f", {dumps(key)}: [")
            for n, item in enumerate(items):
                write(("," if n else "") + "\n  " + dumps(item))
            write("]")
        write("}\n")

    def _first(self, rows, columns):
        first = next(rows, None)
        if columns is None:
            columns = list(first) if first is not None else []
        return first, columns

    def _write_jsonl(self, rows, columns, title) -> int:
        count = 0
        for row in _only(rows, columns):
            print(json.dumps(row, ensure_ascii=self.ascii), file=self.out)
            count += 1
        return count

    def _write_json(self, rows, columns, title) -> int:
        count = 0
        self.out.write("[")
        for row in _only(rows, columns):
            self.out.write(",\n " if count else "\n ")
            self.out.write(json.dumps(row, ensure_ascii=self.ascii))
            count += 1
        self.out.write("\n]\n" if count else "]\n")
        return count

    def _write_csv(self, rows, columns, title) -> int:
        import csv

        first, columns = self._first(rows, columns)
        writer = csv.writer(self.out, lineterminator="\n")
        # Python's csv quotes a field holding LF but not one holding a bare CR, which every
        # reader takes for a line end: such rows are written with every field quoted.
        quoted = csv.writer(self.out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(columns)
        count = 0
        for row in _chain(first, rows):
            cells = [guard_formula(_cell(row.get(c))) for c in columns]
            if any(isinstance(c, str) and "\r" in c for c in cells):
                quoted.writerow(cells)
            else:
                writer.writerow(cells)
            count += 1
        return count

    def _write_tsv(self, rows, columns, title) -> int:
        first, columns = self._first(rows, columns)
        write = self.out.write
        write("\t".join(tsv_escape(c) for c in columns) + "\n")
        count = 0
        for row in _chain(first, rows):
            cells = []
            for column in columns:
                value = _cell(row.get(column))
                cells.append("" if value is None else tsv_escape(str(guard_formula(value))))
            write("\t".join(cells) + "\n")
            count += 1
        return count

    def _write_xlsx(self, rows, columns, title) -> int:
        """An Excel workbook at the view's target file (`export -f xlsx -o FILE`), written a
        row at a time (openpyxl's write-only mode: memory stays flat). Times are Excel dates
        in local time; text gets the same formula guard as CSV, which import takes off."""
        from crmpool.errors import UsageError

        target = self.view.target
        if target is None:
            raise UsageError("-f xlsx writes a file: give -o FILE (crmpool export -f xlsx -o"
                             " team.xlsx)")
        from openpyxl import Workbook

        from crmpool.tables import is_time_column
        from crmpool.when import from_stored

        first, columns = self._first(rows, columns)
        book = Workbook(write_only=True)
        sheet = book.create_sheet(title or "crmpool")
        sheet.append(columns)
        times = [is_time_column(c) for c in columns]
        count = 0
        for row in _chain(first, rows):
            cells = []
            for column, is_time in zip(columns, times, strict=True):
                value = _cell(row.get(column))
                if is_time and isinstance(value, str) and value.endswith("Z"):
                    value = from_stored(value).astimezone().replace(tzinfo=None)
                elif isinstance(value, str):
                    value = guard_formula(value)
                cells.append(value)
            sheet.append(cells)
            count += 1
        book.save(target)
        return count

    def _width(self) -> int | None:
        """The terminal's width for a table (None with --wide: every column whole)."""
        if self.view.wide:
            return None
        import shutil

        return self.view.width or shutil.get_terminal_size((100, 24)).columns

    def _write_table(self, rows, columns, title, total=None) -> int:
        from crmpool.tables import cell_text

        first, columns = self._first(rows, columns)
        # --limit shows what it asked for; otherwise a screenful (--all: every row).
        limit = None if self.view.all or self.view.asked else self.view.table_limit
        shown: list[list[str]] = []
        count = 0
        now = self.view.now
        for row in _chain(first, rows):
            count += 1
            if limit is None or count <= limit:
                shown.append([cell_text(c, row.get(c), now) for c in columns])
            elif total is not None:
                count = total()
                break
        if not count:
            print("(no rows)", file=self.err)
            return 0
        self._print_fitted(columns, shown, title)
        if limit is not None and count > limit:
            self._dim(f"… {count - limit:,} more (--limit N or --all)")
        return count

    def _print_fitted(self, columns: list[str], cells: list[list[str]],
                      title: str | None) -> None:
        from rich import box
        from rich.markup import escape
        from rich.table import Table

        from crmpool.tables import GAP, fit, label

        fitted = fit(columns, cells, self._width())
        table = Table(title=title, title_justify="left", header_style="bold",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column, width in zip(fitted.columns, fitted.widths, strict=True):
            right = column == "id" or column.endswith(("_id", "count", "days")) or column in (
                "reclaimed", "warned", "unfrozen", "owned", "counted", "cap", "waiting",
                "home_of", "amount", "version")
            table.add_column(label(column), width=width, no_wrap=True, overflow="ellipsis",
                             justify="right" if right else "left")
        index = [columns.index(c) for c in fitted.columns]
        for row in cells:
            table.add_row(*[escape(row[i]) for i in index])
        total = sum(fitted.widths) + GAP * (len(fitted.widths) - 1)
        console = self._console(total)
        console.print(table)
        if fitted.left_out:
            self._dim(f"left out to fit: {', '.join(fitted.left_out)} (--wide shows all,"
                      " -c a,b,c picks)")

    def _dim(self, text: str) -> None:
        from rich.console import Console

        # A sentence, not data: it may wrap at the screen's edge.
        Console(file=self.out, highlight=False, width=self._width() or 200).print(
            text, style="dim", markup=False)

    def _console(self, width: int):
        """A console exactly as wide as the fitted table, so Rich never re-flows it."""
        from rich.console import Console

        return Console(file=self.out, highlight=False, soft_wrap=False, width=max(width, 20))

    def _write_record_table(self, obj: dict, title: str | None) -> None:
        from crmpool.tables import cell_text

        now = self.view.now
        scalars, nested = [], {}
        for key, value in obj.items():
            if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                nested[key] = value
            elif value not in (None, ""):
                scalars.append([key, cell_text(key, value, now)])
        self._print_fitted(["field", "value"], scalars, title)
        for key, items in nested.items():
            if not items:
                print(f"{key}: none", file=self.out)
                continue
            columns = list(items[0])
            self._print_fitted(columns, [[cell_text(c, item.get(c), now) for c in columns]
                                         for item in items], key)


def _only(rows, columns):
    """Rows as objects of just `columns` (all their keys when none are named)."""
    if not columns:
        return rows
    return ({c: row.get(c) for c in columns} for row in rows)


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


class View:
    """How a table is shown: picked columns, every column, every row, the width, and the
    time that makes "this year" for compact times."""

    def __init__(self, columns: list[str] | None = None, wide: bool = False,
                 all_rows: bool = False, now: Any = None, width: int | None = None,
                 table_limit: int = 100, target: Any = None) -> None:
        self.columns = columns
        self.wide = wide
        self.all = all_rows
        self.now = now
        self.width = width
        self.table_limit = table_limit
        self.asked: int | None = None  # --limit, told by Output.fetch_limit
        self.target = target  # the file a workbook is written to
