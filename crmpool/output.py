"""Everything crmpool prints: rows in five formats on stdout, messages on stderr.

Machine formats (json, jsonl, csv, tsv) are written directly and streamed row by row; only the
table format, meant for people at a terminal, goes through Rich (imported only then).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from crmpool.choices import FORMULA_LEADERS
from crmpool.choices import OUTPUT_FORMATS as FORMATS  # noqa: F401
from crmpool.when import local_display


def guard_formula(value: Any) -> Any:
    """Neutralise spreadsheet formulas: a text cell starting = + - @ gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADERS):
        return "'" + value
    return value


def _is_time_column(column: str) -> bool:
    return column in ("at", "as_of", "idle_since") or column.endswith(("_at", "_until", "_from"))


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


class Output:
    """One command's output: a format, quiet or not, and the two streams."""

    def __init__(self, fmt: str | None = None, quiet: bool = False,
                 out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if fmt is None:
            fmt = "table" if self.out.isatty() else "jsonl"
        self.format = fmt
        self.quiet = quiet

    @property
    def for_people(self) -> bool:
        return self.format == "table"

    def say(self, text: str) -> None:
        """A message for people, on stderr; silent with -q."""
        if not self.quiet:
            print(text, file=self.err)

    def error(self, text: str) -> None:
        """A failure, on stderr, always."""
        print(f"crmpool: {text}", file=self.err)

    def rows(self, rows: Iterable[dict], columns: Sequence[str] | None = None,
             title: str | None = None, for_people: Sequence[str] | None = None) -> int:
        """Write rows in the chosen format, streaming them; returns how many.

        `for_people` narrows the columns of the table format to what fits a terminal.
        """
        if self.quiet:
            return sum(1 for _ in rows)
        if self.for_people and for_people:
            columns = for_people
        writer = getattr(self, f"_write_{self.format}")
        return writer(iter(rows), list(columns) if columns else None, title)

    def record(self, obj: dict, title: str | None = None) -> None:
        """Write one object (nested lists allowed)."""
        if self.quiet:
            return
        if self.format == "json":
            print(json.dumps(obj, ensure_ascii=False, indent=2), file=self.out)
        elif self.format == "table":
            self._write_record_table(obj, title)
        else:
            self.rows([obj])

    def _first(self, rows, columns):
        first = next(rows, None)
        if columns is None:
            columns = list(first) if first is not None else []
        return first, columns

    def _write_jsonl(self, rows, columns, title) -> int:
        count = 0
        for row in rows:
            print(json.dumps(row, ensure_ascii=False), file=self.out)
            count += 1
        return count

    def _write_json(self, rows, columns, title) -> int:
        count = 0
        self.out.write("[")
        for row in rows:
            self.out.write(",\n " if count else "\n ")
            self.out.write(json.dumps(row, ensure_ascii=False))
            count += 1
        self.out.write("\n]\n" if count else "]\n")
        return count

    def _write_delimited(self, rows, columns, delimiter: str) -> int:
        import csv

        first, columns = self._first(rows, columns)
        writer = csv.writer(self.out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(columns)
        count = 0
        for row in _chain(first, rows):
            writer.writerow([guard_formula(_cell(row.get(c))) for c in columns])
            count += 1
        return count

    def _write_csv(self, rows, columns, title) -> int:
        return self._write_delimited(rows, columns, ",")

    def _write_tsv(self, rows, columns, title) -> int:
        return self._write_delimited(rows, columns, "\t")

    def _console(self):
        from rich.console import Console

        return Console(file=self.out, highlight=False, soft_wrap=False)

    def _write_table(self, rows, columns, title) -> int:
        from rich.table import Table

        first, columns = self._first(rows, columns)
        from rich import box

        table = Table(title=title, title_justify="left", header_style="bold",
                      box=box.SIMPLE_HEAD)
        for column in columns:
            # Everything may wrap, so that a narrow terminal squeezes all columns a little
            # rather than dropping the name; ids never wrap.
            table.add_column(column, overflow="fold", no_wrap=column == "id",
                             min_width=14 if column == "name" else None)
        count = 0
        for row in _chain(first, rows):
            table.add_row(*[_display(c, row.get(c)) for c in columns])
            count += 1
        console = self._console()
        if count:
            console.print(table)
        else:
            print("(no rows)", file=self.err)
        return count

    def _write_record_table(self, obj: dict, title: str | None) -> None:
        from rich.table import Table

        console = self._console()
        scalars = Table(title=title, title_justify="left", show_header=False)
        scalars.add_column(style="bold")
        scalars.add_column(overflow="fold")
        nested = {}
        for key, value in obj.items():
            if isinstance(value, list):
                nested[key] = value
            elif value not in (None, ""):
                scalars.add_row(key, _display(key, value))
        console.print(scalars)
        for key, items in nested.items():
            if not items:
                console.print(f"{key}: none")
                continue
            table = Table(title=key, title_justify="left", header_style="bold")
            columns = list(items[0])
            for column in columns:
                table.add_column(column, overflow="fold")
            for item in items:
                table.add_row(*[_display(c, item.get(c)) for c in columns])
            console.print(table)


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


def _display(column: str, value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_time_column(column) and isinstance(value, str) and value.endswith("Z"):
        return local_display(value)
    return escape(str(_cell(value)))
