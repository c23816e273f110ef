"""A customers import on PostgreSQL: every row worked out in Python (rows.reference_row, the
rules the SQLite INSERT applies in SQL) and sent with COPY, the engine's bulk path.

Ids are given here, from `base` on without gaps, as SQLite gives them, so every message
about a row can find its line; the table's identity then continues after them. The caller
holds the database's write lock, so no other writer takes an id meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

from crmpool.errors import InputError
from crmpool.imports import rows as customer_rows
from crmpool.imports.fields import RowError


def copy_customers(conn, feed, ctx: customer_rows.Context, rejects, base: int) -> None:
    columns = ("id", *customer_rows.COLUMNS)
    conn.copy_rows(f"COPY customers ({', '.join(columns)}) FROM STDIN",
                   _rows(feed, ctx, rejects, base))
    conn.execute_native("SELECT setval(pg_get_serial_sequence('customers', 'id'),"
                        " greatest((SELECT max(id) FROM customers), 1))")
    # Fresh statistics for what follows (duplicates by key, caps): planned on the table's
    # size before the load, the duplicate query took 33 s instead of 0.3 at 200,000 rows.
    conn.execute_native("ANALYZE customers")


def _rows(feed, ctx: customer_rows.Context, rejects, base: int) -> Iterator[tuple]:
    headers = feed.headers
    summary = feed.summary
    as_tuple = itemgetter(*customer_rows.COLUMNS)
    cells_of = _cells_by_place(feed.layout) if headers else None
    next_id = base
    for line, values in feed.records:
        summary.read += 1
        if not summary.read & 0x3FFF and feed.progress:
            feed.progress(feed.source.bytes_read(), feed.source.size)
        if cells_of is not None:
            # A delimited row: its cells by place, cleaned once (headers are distinct, so
            # this is the {header: value} record's content, without making one per row).
            layout = feed.layout
            cells, extra = cells_of(values)
        else:
            layout = feed.layouts.of(values.keys())
            cells = layout.cells(values)
            extra = customer_rows.merge_extra(cells.get("extra"), layout.extras(values))
        try:
            row = customer_rows.reference_row(cells, layout, ctx, extra)
        except RowError as problem:
            record = dict(zip(headers, values, strict=False)) if headers else values
            if rejects.path is None:
                where = f", column {problem.column!r}" if problem.column else ""
                raise InputError(f"{feed.source.name} line {line}{where}: {problem}") from None
            reason = f"{problem} (column {problem.column!r})" if problem.column else str(problem)
            rejects.add(line, record, reason)
            continue
        feed.lines.append(line)
        yield (next_id, *as_tuple(row))
        next_id += 1


def _cells_by_place(layout):
    """For one header layout: a row's values -> (its fields' cells, its `extra` JSON), as
    Layout.cells and Layout.extras give them from a record, read by position."""
    cleaned = customer_rows.cleaned
    merge_extra = customer_rows.merge_extra
    fields = [(field, place - 1) for field, place in layout.position.items()]
    extras = [(header, place - 1) for header, place in
              zip(layout.extra, layout.extra_positions, strict=True)]
    width = len(layout.headers)

    def cells_of(values: list[str]) -> tuple[dict, str | None]:
        if len(values) < width:
            values = values + [""] * (width - len(values))
        clean = cleaned(values)
        cells = {field: clean[place] for field, place in fields}
        extra = {header: clean[place] for header, place in extras if clean[place] is not None}
        return cells, merge_extra(cells.get("extra"), extra)

    return cells_of
