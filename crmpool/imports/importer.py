"""`crmpool import`: customers, contacts or deals from CSV, TSV, JSON or JSON lines.

All or nothing: one transaction; any bad row stops it with file, line and column, unless
--skip-bad sets the bad rows aside in a file of their own. Rows stream through one Python
pass (convert, normalise keys) into the table; duplicates, caps and events are then worked out
in SQL over the whole batch at once.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from crmpool import search_index
from crmpool.choices import ON_DUPLICATE
from crmpool.dupes import KEY_COLUMNS, find_new_duplicates
from crmpool.engines import engine_of
from crmpool.errors import InputError, UsageError
from crmpool.imports import rows as customer_rows
from crmpool.imports.fields import (
    CUSTOMER_FIELDS,
    KIND_FIELDS,
    Layout,
    RowError,
    clean_json,
)
from crmpool.imports.sources import Source, read_records, read_rows
from crmpool.pools import DEFAULT_POOL, pool_names, require_pool
from crmpool.rules import RECLAIMABLE_SQL
from crmpool.ruleset import active_rules
from crmpool.store import Rollback, indexes_rebuilt, transaction
from crmpool.users import User, require_role
from crmpool.values import plural
from crmpool.when import stored

CHUNK = 20_000
_INSERT_CUSTOMER = (
    "INSERT INTO customers (id, name, phone, email, company_id, level, region, industry,"
    " owner, pool, status, assigned_at, last_contact_at, next_contact_at, frozen_until,"
    " freeze_reason, won_at, invalid_reason, created_at, extra, name_key, phone_key,"
    " email_key, company_id_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?, ?, ?, ?, ?)"
)
# Fields copied onto an existing customer by --on-duplicate update: descriptions, never
# ownership (that goes through claim and assign).
UPDATABLE = ("phone", "email", "company_id", "level", "region", "industry")


@dataclass
class ImportOptions:
    """What `crmpool import` was told."""

    kind: str = "customers"
    mapping: dict[str, str] = field(default_factory=dict)
    on_duplicate: str = "skip"
    owner: str | None = None
    pool: str | None = None
    dry_run: bool = False
    skip_bad: str | None = None
    date_order: str | None = None  # ymd, dmy or mdy: how to read 3/4/2018
    distribute: str | None = None  # a strategy: hand the rows left in pools out at once


@dataclass
class ImportSummary:
    """What an import did, or with --dry-run would do."""

    file: str
    kind: str
    format: str
    encoding: str
    dry_run: bool = False
    read: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates_skipped: int = 0
    sent_to_pool_over_cap: int = 0
    rejected: int = 0
    would_reclaim_today: int = 0
    extra_columns: list[str] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    over_cap: dict[str, int] = field(default_factory=dict)
    not_updated: int = 0  # --on-duplicate update: existing customers not the importer's to edit
    distributed: dict = field(default_factory=dict)  # --distribute: what it handed out
    headers_seen: set[str] = field(default_factory=set)  # to check --map against

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "headers_seen"}


class _Rejects:
    """The --skip-bad file: rejected rows as they came, plus their line and reason.

    Written beside the target and renamed into place only when the import succeeds; the
    CSV header is the source's own, known once the first rejected record arrives.
    """

    def __init__(self, path: str | None, source: Source) -> None:
        self.path = path
        self.count = 0
        self._json = source.format in ("json", "jsonl")
        self._partial = Path(path + ".partial") if path else None
        self._file = None
        self._writer = None
        self._headers: list[str] = []

    def add(self, line: int, record: dict, reason: str) -> None:
        self.count += 1
        if self._file is None:
            self._file = self._partial.open("w", encoding="utf-8", newline="")
            if not self._json:
                self._headers = list(record)
                self._writer = csv.writer(self._file, lineterminator="\n")
                self._writer.writerow([*self._headers, "crmpool_line", "crmpool_reason"])
        if self._json:
            row = {**record, "crmpool_line": line, "crmpool_reason": reason}
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self._writer.writerow([*(record.get(h, "") for h in self._headers), line, reason])

    def finish(self, keep: bool) -> None:
        if self._file is None:
            if keep and self.path:
                Path(self.path).write_text("")  # no rejects: say so with an empty file
            return
        self._file.close()
        if keep:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)


class _Layouts:
    """The header layouts of one file, worked out once each: the header's, or one per key
    set of JSON objects. Each new layout's extra columns are named in the summary."""

    def __init__(self, opts: ImportOptions, summary: ImportSummary, json: bool) -> None:
        self.opts, self.summary, self.json = opts, summary, json
        self.known: dict[tuple, Layout] = {}

    def of(self, headers: list[str] | tuple[str, ...]) -> Layout:
        key = tuple(headers)
        layout = self.known.get(key)
        if layout is None:
            self.summary.headers_seen.update(key)
            unused = [src for src in self.opts.mapping if src not in key]
            if unused and not self.json:  # a JSON object may simply lack that key
                raise UsageError(f"--map {unused[0]}=…: the file has no column {unused[0]!r}"
                                 f" (its columns: {', '.join(key)[:300]})")
            layout = self.known[key] = Layout(self.opts.kind, list(key), self.opts.mapping,
                                              self.opts.date_order, self.json)
            self.summary.extra_columns += [k for k in layout.extra
                                           if k not in self.summary.extra_columns]
        return layout


def _rows(source: Source, opts: ImportOptions, convert: Callable[[dict, Layout], tuple],
          rejects: _Rejects, summary: ImportSummary, lines: array) -> Iterator[tuple]:
    headers, records = read_records(source)
    layouts = _Layouts(opts, summary, json=not headers)
    layout = layouts.of(headers) if headers else None
    for line, record in records:
        summary.read += 1
        if not headers:  # JSON: every object names its own keys
            layout = layouts.of(record.keys())
        try:
            row = convert(record, layout)
        except RowError as exc:
            if rejects.path is None:
                raise InputError(f"{source.name} line {line}, column {exc.column!r}: {exc}"
                                 ) from None
            rejects.add(line, record, f"{exc} (column {exc.column!r})")
            continue
        lines.append(line)
        yield row


def import_file(conn: sqlite3.Connection, actor: User, source: Source, opts: ImportOptions,
                now: datetime, progress: Callable[[int, int | None], None] | None = None
                ) -> ImportSummary:
    """Import one source, all or nothing; see the module docstring."""
    if opts.kind not in KIND_FIELDS:
        raise UsageError(f"--kind must be one of {', '.join(KIND_FIELDS)}")
    if opts.on_duplicate not in ON_DUPLICATE:
        raise UsageError(f"--on-duplicate must be one of {', '.join(ON_DUPLICATE)}")
    for src, target in opts.mapping.items():
        if target not in KIND_FIELDS[opts.kind]:
            raise UsageError(f"--map {src}={target}: {opts.kind} have no field {target!r}"
                             f" (fields: {', '.join(KIND_FIELDS[opts.kind])})")
    summary = ImportSummary(source.name, opts.kind, source.format, source.encoding,
                            opts.dry_run)
    rejects: _Rejects | None = None
    try:
        with transaction(conn):
            require_role(actor, "manager", "admin", to="import")
            rejects = _Rejects(opts.skip_bad, source)
            load = _import_customers if opts.kind == "customers" else _import_activity
            load(conn, actor, source, opts, now, summary, rejects, progress)
            unused = [src for src in opts.mapping if src not in summary.headers_seen]
            if unused and summary.read:
                raise UsageError(f"--map {unused[0]}=…: {source.name} has no column"
                                 f" {unused[0]!r} (its columns: "
                                 f"{', '.join(sorted(summary.headers_seen))[:300]})")
            summary.rejected = rejects.count
            if opts.dry_run:
                raise Rollback
    except BaseException:
        if rejects:
            rejects.finish(keep=False)
        raise
    if rejects:
        # A dry run writes what it would reject too: that is what one runs it for.
        rejects.finish(keep=True)
    return summary


def _import_customers(conn: sqlite3.Connection, actor: User, source: Source,
                      opts: ImportOptions, now: datetime, summary: ImportSummary,
                      rejects: _Rejects, progress) -> None:
    rules = active_rules(conn)
    users = {row["name"]: bool(row["active"]) for row in conn.execute(
        "SELECT name, active FROM users")}
    if opts.owner is not None:
        if opts.owner not in users:
            raise UsageError(f"--owner: no user named {opts.owner!r}")
        if not users[opts.owner]:
            raise UsageError(f"--owner: {opts.owner} is inactive")
    # A manager imports for their own team only, as they assign.
    team = None if actor.role == "admin" else {row[0] for row in conn.execute(
        "SELECT name FROM users WHERE team = ?", (actor.team,))} | {actor.name}
    if opts.owner is not None and team is not None and opts.owner not in team:
        raise UsageError(f"--owner: {opts.owner} is not in your team")
    ctx = customer_rows.Context(
        now=stored(now), users=users, team=team, pools=set(pool_names(conn)),
        default_pool=require_pool(conn, opts.pool) if opts.pool else DEFAULT_POOL,
        owner=opts.owner, date_order=opts.date_order,
        freeze_until_most=stored(now + timedelta(days=rules.limits.freeze_max_days)))
    headers, records = read_rows(source)
    base = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM customers").fetchone()[0]
    # A load bigger than the table rebuilds its indexes (one sort each) rather than growing
    # them a row at a time; the first rows tell how big the file is.
    head = list(itertools.islice(records, CHUNK))
    bulk = len(head) == CHUNK and _expected_rows(source, len(head)) >= base - 1
    feed = _CustomerFeed(source, opts, headers, itertools.chain(head, records), summary,
                         progress)
    # SQLite works each row out in its INSERT; PostgreSQL in Python, then loads with COPY.
    sql = None if engine_of(conn) == "postgresql" else _insert_statement(conn, ctx, feed,
                                                                         headers, opts)
    # The search index takes the new customers in one statement at the end (search_index).
    with search_index.deferred(conn, base):
        with indexes_rebuilt(conn, "customers") if bulk else nullcontext() as dropped:
            if sql is None:
                from crmpool.imports.copy_pg import copy_customers

                copy_customers(conn, feed, ctx, rejects, base)
            else:
                _insert_each(conn, sql, feed, ctx, rejects)
            lines = feed.lines
            # Row ids run on from base without gaps (SQLite gives max(id) + 1): id - base
            # indexes `lines`. Checked, because every message about a duplicate relies on it.
            count, last = conn.execute("SELECT count(*), max(id) FROM customers WHERE id >= ?",
                                       (base,)).fetchone()
            if count != len(lines) or (count and last != base + count - 1):
                raise RuntimeError(f"import: {count} rows stored for {len(lines)} read")
            if not count:
                return
            # Duplicates are found through the key indexes; the others are built after the
            # duplicates are gone, so deleting them costs those indexes nothing.
            if dropped:
                # merged_into too: every deleted duplicate is checked against it (a reference),
                # and without its index each check reads the whole table.
                dropped.build(within={*KEY_COLUMNS, "merged_into"})
            _settle_duplicates(conn, actor, source, opts, summary, base, lines, team, now)
        _send_over_cap_to_pool(conn, rules.limits, summary, base)
        _settle_freezes(conn, actor, source, rules.limits, ctx.now, base)
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, to_owner, to_pool, reason)"
        " SELECT id, ?, 'import', ?, owner, pool, ? FROM customers WHERE id >= ?",
        # The file's name, not its path: a million events repeat it.
        (ctx.now, actor.name, f"imported from {Path(source.name).name}", base),
    )
    summary.inserted = conn.execute(
        "SELECT count(*) FROM customers WHERE id >= ?", (base,)).fetchone()[0]
    if opts.distribute:
        from crmpool.distribute.run import Request, distribute

        summary.distributed = distribute(
            conn, actor, Request(strategy=opts.distribute, first_id=base), rules.limits,
            rules.territories, now).summary()
    summary.would_reclaim_today = _would_reclaim(conn, rules, now, base)


def _insert_statement(conn: sqlite3.Connection, ctx: customer_rows.Context,
                      feed: _CustomerFeed, headers: list[str], opts: ImportOptions) -> str:
    """The INSERT one row of this file becomes on SQLite, with the Python functions it calls
    registered on the connection."""
    customer_rows.prepare(conn, ctx)
    if headers:
        width, extra_sql = len(headers), customer_rows.register_extra(conn, feed.layout)
    else:
        width = len(JSON_FIELDS) + 1
        extra_sql = f"?{width}"
    feed.settings = customer_rows.settings(ctx)
    return customer_rows.insert_sql(feed.layout, width, extra_sql, opts.owner is not None)


# JSON objects name their own keys, so their rows are bound in this fixed order, with the
# `extra` JSON (worked out in Python) last.
JSON_FIELDS = tuple(f for f in CUSTOMER_FIELDS if f != "extra")


class _CustomerFeed:
    """The rows the INSERT pulls, straight from the file, with what it needs to remember.

    CSV and TSV rows go through as they are read, trimmed and nothing else; JSON objects are
    laid out in JSON_FIELDS order. `lines` holds the line of every row handed over, and
    `current` the last one, so that a refused row can be explained and set aside.
    """

    def __init__(self, source: Source, opts: ImportOptions, headers: list[str],
                 records: Iterator, summary: ImportSummary, progress) -> None:
        self.source, self.opts, self.summary, self.progress = source, opts, summary, progress
        self.headers = headers
        self.records = records
        self.lines = array("q")
        self.current: tuple[int, list | dict] = (0, {})
        self.settings: list = []  # bound after each row's cells (customer_rows.settings)
        self.layouts = _Layouts(opts, summary, json=not headers)
        # JSON rows are laid out in JSON_FIELDS order, so that is the INSERT's layout.
        self.layout = (self.layouts.of(headers) if headers
                       else Layout(opts.kind, list(JSON_FIELDS), {}, opts.date_order, True))
        if "name" not in self.layout.column:
            raise InputError(f"{source.name}: no name column (name, 客户名称, 公司名称, …;"
                             " or --map YOURS=name); every customer needs a name")

    def __iter__(self) -> Iterator[list]:
        cleaned = customer_rows.cleaned
        append = self.lines.append
        summary = self.summary
        delimited = bool(self.headers)
        settings = self.settings
        for line, values in self.records:
            summary.read += 1
            if not summary.read & 0x3FFF and self.progress:
                self.progress(self.source.bytes_read(), self.source.size)
            self.current = (line, values)
            append(line)
            yield (cleaned(values) if delimited else self._json_row(values)) + settings

    def _json_row(self, record: dict) -> list:
        layout = self.layouts.of(record.keys())
        raw = {f: record.get(header) for f, header in layout.column.items()}
        return [*(clean_json(raw.get(f)) for f in JSON_FIELDS),
                customer_rows.merge_extra(clean_json(raw.get("extra")),
                                          layout.extras(record))]

    def explain(self, record: list | dict, ctx: customer_rows.Context
                ) -> tuple[RowError | None, dict]:
        """Why the current row was refused (None if the Python rules find nothing)."""
        if isinstance(record, dict):
            layout = self.layouts.of(record.keys())
        else:
            layout = self.layout
            record = dict(zip(self.headers, record, strict=False))
        try:
            customer_rows.reference_row(layout.cells(record), layout, ctx, None)
        except RowError as exc:
            return exc, record
        return None, record


def _insert_each(conn: sqlite3.Connection, sql: str, feed: _CustomerFeed,
                 ctx: customer_rows.Context, rejects: _Rejects) -> None:
    """executemany over the whole stream; a refused row is explained, then either stops the
    import or, with --skip-bad, goes to the rejects file while the rest carries on."""
    rows = iter(feed)
    while True:
        try:
            conn.executemany(sql, rows)  # pulls a row, inserts it, pulls the next
            return
        except (sqlite3.IntegrityError, sqlite3.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and "user-defined function" not in str(
                    exc):
                raise
            feed.lines.pop()  # that row never became a customer
            line, record = feed.current
            problem, as_dict = feed.explain(record, ctx)
            column = problem.column if problem else None
            reason = str(problem) if problem else f"cannot be stored ({exc})"
            if rejects.path is None:
                where = f", column {column!r}" if column else ""
                raise InputError(f"{feed.source.name} line {line}{where}: {reason}") from None
            rejects.add(line, as_dict, f"{reason} (column {column!r})" if column else reason)


def _expected_rows(source: Source, rows_so_far: int) -> int:
    """Rows the whole source will hold, judged from how far the first rows reached."""
    done = source.bytes_read()
    if not source.size or not done:
        return rows_so_far * 2
    return rows_so_far * source.size // done


def _line_of(lines: array, base: int, customer_id: int) -> int:
    return lines[customer_id - base]


def _settle_freezes(conn: sqlite3.Connection, actor: User, source: Source, limits,
                    now_text: str, base: int) -> None:
    """Imported freezes follow the freeze rules (each row's end was checked against
    freeze_max_days as it was read): owned customers only, at most freezes_per_user per
    owner, and a `freeze` event each, as `crmpool freeze` writes."""
    conn.execute("UPDATE customers SET frozen_until = NULL, freeze_reason = NULL"
                 " WHERE id >= ? AND owner IS NULL AND frozen_until IS NOT NULL", (base,))
    over = conn.execute(
        "SELECT owner, count(*) FROM customers WHERE owner IN (SELECT DISTINCT owner FROM"
        " customers WHERE id >= ? AND frozen_until IS NOT NULL) AND frozen_until > ?"
        " GROUP BY owner HAVING count(*) > ? ORDER BY owner LIMIT 1",
        (base, now_text, limits.freezes_per_user)).fetchone()
    if over:
        frozen = plural(over[1], "frozen customer")
        raise InputError(f"{source.name}: {over[0]} would have {frozen}, and"
                         f" freezes_per_user is {limits.freezes_per_user}; nothing imported")
    conn.execute(
        "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason)"
        " SELECT id, ?, 'freeze', ?, owner, owner, 'until ' || frozen_until || ': '"
        " || coalesce(freeze_reason, 'imported') FROM customers"
        " WHERE id >= ? AND frozen_until IS NOT NULL",
        (now_text, actor.name, base))


def _settle_duplicates(conn: sqlite3.Connection, actor: User, source: Source,
                       opts: ImportOptions, summary: ImportSummary, base: int, lines: array,
                       team: set[str] | None, now: datetime) -> None:
    found = find_new_duplicates(conn, base)
    if not found:
        return
    # Follow chains (row C repeats row B which repeats customer A) to the record kept.
    def root(customer_id: int) -> int:
        while customer_id in found:
            customer_id = found[customer_id]["first_id"]
        return customer_id

    kept = {row["id"]: dict(row) for row in conn.execute(
        f"SELECT id, name, owner, pool FROM customers WHERE id IN"
        f" ({', '.join(str(root(i)) for i in set(found))})")}
    for new_id in sorted(found):
        target = kept[root(new_id)]
        entry = {"line": _line_of(lines, base, new_id), "same": found[new_id]["same"],
                 "existing_id": target["id"] if target["id"] < base else None,
                 "existing_line": (_line_of(lines, base, target["id"])
                                   if target["id"] >= base else None),
                 "existing_name": target["name"], "existing_owner": target["owner"]}
        summary.duplicates.append(entry)
    if opts.on_duplicate == "fail":
        first = summary.duplicates[0]
        where = (f"customer {first['existing_id']}" if first["existing_id"]
                 else f"line {first['existing_line']}")
        raise InputError(
            f"{source.name} line {first['line']}: duplicate of {where}"
            f" ({first['existing_name']}, same {' and '.join(first['same'])});"
            f" {plural(len(summary.duplicates), 'duplicate')} in all, nothing imported"
            " (--on-duplicate skip or update to go on)"
        )
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_dups"
                 " (new_id INTEGER PRIMARY KEY, target_id INTEGER)")
    conn.execute("DELETE FROM temp.import_dups")
    conn.executemany("INSERT INTO temp.import_dups VALUES (?, ?)",
                     [(new_id, root(new_id)) for new_id in found])
    if opts.on_duplicate == "update":
        sets = ", ".join(
            f"{f} = coalesce(n.{f}, customers.{f})" for f in UPDATABLE
        ) + ", " + ", ".join(
            f"{k} = CASE WHEN n.{f} IS NOT NULL THEN n.{k} ELSE customers.{k} END"
            for f, k in (("phone", "phone_key"), ("email", "email_key"),
                         ("company_id", "company_id_key"))
        )
        # The last line naming a customer wins, as if the rows were applied in order. A
        # manager updates their team's customers and the pool's, as they may act on them;
        # the others are left as they are, and the summary says so.
        managed, managed_params = "", []
        if team is not None:
            managed = (" AND (t.owner IS NULL OR t.owner IN"
                       f" ({', '.join('?' * len(team))}))")
            managed_params = sorted(team)
        latest = ("(SELECT d.target_id, max(d.new_id) AS new_id FROM temp.import_dups d"
                  " JOIN customers t ON t.id = d.target_id WHERE d.target_id < ?"
                  f"{managed} GROUP BY d.target_id)")
        summary.not_updated = conn.execute(
            "SELECT count(DISTINCT target_id) FROM temp.import_dups WHERE target_id < ?",
            (base,)).fetchone()[0]
        conn.execute(
            "INSERT INTO events (customer_id, at, action, actor, from_owner, to_owner, reason)"
            f" SELECT t.id, ?, 'import-update', ?, t.owner, t.owner, ? FROM {latest} d"
            " JOIN customers t ON t.id = d.target_id",
            (stored(now), actor.name, f"updated from {Path(source.name).name}", base,
             *managed_params))
        summary.updated = conn.execute(
            f"UPDATE customers SET {sets} FROM {latest} d JOIN customers n ON n.id = d.new_id"
            " WHERE customers.id = d.target_id",
            (base, *managed_params),
        ).rowcount
        summary.not_updated -= summary.updated
    summary.duplicates_skipped = conn.execute(
        "DELETE FROM customers WHERE id IN (SELECT new_id FROM temp.import_dups)").rowcount
    if opts.on_duplicate == "update":
        summary.duplicates_skipped -= summary.updated


def _send_over_cap_to_pool(conn: sqlite3.Connection, limits, summary: ImportSummary,
                           base: int) -> None:
    """An owner at their cap gets no more: their last imported rows wait in the pool."""
    won = "" if limits.cap_counts_won else " AND status <> 'won'"
    counted = f"owner = ? AND status <> 'invalid'{won}"
    arriving = conn.execute(
        f"SELECT owner, count(*) FROM customers WHERE id >= ? AND owner IS NOT NULL"
        f" AND status <> 'invalid'{won} GROUP BY owner", (base,)).fetchall()
    # One pass per owner named in the file (a handful), never per row.
    for owner, count in arriving:
        cap = conn.execute("SELECT coalesce(cap, ?) FROM users WHERE name = ?",
                           (limits.cap, owner)).fetchone()[0]
        held = conn.execute(f"SELECT count(*) FROM customers WHERE {counted} AND id < ?",
                            (owner, base)).fetchone()[0]
        excess = held + count - cap
        if excess <= 0:
            continue
        moved = conn.execute(
            "UPDATE customers SET owner = NULL, assigned_at = NULL WHERE id IN"
            f" (SELECT id FROM customers WHERE {counted} AND id >= ? ORDER BY id DESC LIMIT ?)",
            (owner, base, excess)).rowcount
        summary.over_cap[owner] = moved
        summary.sent_to_pool_over_cap += moved


def _would_reclaim(conn: sqlite3.Connection, rules, now: datetime, base: int) -> int:
    if not rules.reclaim:
        return 0
    parts, params = [], []
    for rule in rules.reclaim:
        sql, rule_params = rule.fires_sql(now)
        parts.append(f"({sql})")
        params.extend(rule_params)
    return conn.execute(
        f"SELECT count(*) FROM customers c WHERE c.id >= ? AND {RECLAIMABLE_SQL}"
        f" AND ({' OR '.join(parts)})",
        (base, stored(now), *params),
    ).fetchone()[0]


def _import_activity(conn: sqlite3.Connection, actor: User, source: Source,
                     opts: ImportOptions, now: datetime, summary: ImportSummary,
                     rejects: _Rejects, progress) -> None:
    """Contacts or deals (crmpool/imports/activity.py)."""
    from crmpool.imports import activity as activity_import

    users = {row[0] for row in conn.execute("SELECT name FROM users")}
    convert = activity_import.converter(opts.kind, actor.name, users, stored(now))
    lines = array("q")
    rows = _rows(source, opts, convert, rejects, summary, lines)
    activity_import.load(conn, actor.name, source.name, opts.kind, opts.on_duplicate, rows,
                         lines, now, summary,
                         (lambda: progress(source.bytes_read(), source.size)) if progress
                         else None)
