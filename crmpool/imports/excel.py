"""Excel workbooks (.xlsx) in: a sheet's rows as the same (line, cells) stream CSV gives.

openpyxl in read-only mode reads a row at a time, so memory stays flat however long the
sheet. Cells typed as dates and times in Excel arrive as local times (`2026-03-05 09:30`), a
whole number typed as a number as its digits (a phone keeps no `.0`), anything else as text.
Imported only when a workbook is read (start-up stays fast).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time

from crmpool.errors import InputError, UsageError
from crmpool.imports.fields import distinct_headers


def cell_text(value: object) -> str:
    """One cell as the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def read_sheet(path: str, name: str, sheet: str | None, max_columns: int
               ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the rows of one sheet (the first, unless `sheet` names one)."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise InputError(f"{name}: not an Excel workbook (.xlsx) ({exc})") from None
    if sheet is not None and sheet not in book.sheetnames:
        raise UsageError(f"--sheet {sheet!r}: {name} has {', '.join(book.sheetnames)}")
    rows = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
    header: list[str] = []
    first = 0
    for number, values in enumerate(rows, start=1):
        header = [cell_text(v).strip() for v in values]
        while header and not header[-1]:
            header.pop()
        if header:
            first = number
            break
    if not header:
        raise InputError(f"{name}: the sheet is empty; it needs a header row")
    if len(header) > max_columns:
        raise InputError(f"{name} row {first}: {len(header):,} columns; crmpool reads at most"
                         f" {max_columns:,}")
    header = distinct_headers(header)
    width = len(header)

    def records() -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(rows, start=first + 1):
            cells = [cell_text(v) for v in values[:width]]
            if not any(c.strip() for c in cells) or not cells:
                continue
            if any(cell_text(v).strip() for v in values[width:]):
                raise InputError(f"{name} row {number}: cells beyond the header's {width}"
                                 " columns")
            yield number, cells + [""] * (width - len(cells))
        book.close()

    return header, records()
