"""The search index (公共检索): every customer's searchable text in an FTS5 trigram index, so a
substring search reads a few posting lists instead of every customer.

What is indexed is one text per customer, worked out in SQL from its columns: the name as
SQLite lower-cases it, its duplicate key when the key is not already part of that (a
full-width name: ＡＢＣ贸易 -> abc贸易), and the phone, e-mail and company id keys. The index only
finds candidates: `listing` checks every candidate against the columns themselves, so a
trigram that happens to span two parts never shows a wrong customer.

Consistency: triggers on `customers` keep the index in step inside every transaction that
writes a customer, whoever writes it (crmpool, or an admin with the sqlite3 shell). The table
is contentless (`content=''`, a third of the size and time of one that keeps its text), so a
delete must hand FTS5 the same text that was indexed; the triggers compute it from the OLD
row with the same expression.

Bulk writers: a trigger that writes into FTS5 costs about 30 us a row (each trigger statement
flushes FTS5's pending terms), against 4-5 us for one INSERT ... SELECT; a million-row import
would double. So a bulk writer calls `deferred(conn, first_id)`: inside its transaction, the
insert trigger is dropped, the other triggers leave customers from `first_id` on alone, and
those are indexed in one statement on the way out. Other connections never see the deferral,
which is rolled back with everything if the import fails or is killed.

Changing SEARCH_TEXT means a new migration that drops and re-creates the index (`install`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from crmpool.engines import engine_of

# The text indexed for a customer row `{row}` (new, old, or a table alias). char(31) keeps
# the parts apart (a unit separator nobody types).
SEARCH_TEXT = (
    "CASE WHEN {row}.name_key IS NULL OR instr(lower({row}.name), {row}.name_key) > 0"
    " THEN lower({row}.name) ELSE {row}.name_key || char(31) || lower({row}.name) END"
    " || char(31) || coalesce({row}.phone_key, '') || char(31) || coalesce({row}.email_key, '')"
    " || char(31) || coalesce({row}.company_id_key, '')"
)
_COLUMNS = "name, name_key, phone_key, email_key, company_id_key"
# Customers from this id on are not indexed yet (a bulk import's own rows, in its transaction).
_INDEXED = "NOT EXISTS (SELECT 1 FROM search_deferred WHERE {row}.id >= first_id)"
SHORTEST = 3  # trigrams; shorter text is looked up through the trigrams it begins
# Past this many (a character followed by every other) the lookup costs more than a scan,
# which finds so common a text within its first rows.
MOST_SHORT_TRIGRAMS = 64
COMMON_SHARE, SAMPLE = 10, 2000  # see _common


def install(conn: sqlite3.Connection) -> None:
    """Create the index, its triggers, and index every customer (a migration step)."""
    conn.execute("CREATE VIRTUAL TABLE customer_search USING fts5("
                 "text, tokenize = 'trigram', detail = none, content = '')")
    # The index's trigrams, for the ones a two-character search begins.
    conn.execute("CREATE VIRTUAL TABLE customer_search_terms"
                 " USING fts5vocab(customer_search, row)")
    conn.execute("CREATE TABLE search_deferred (first_id INTEGER NOT NULL)")
    add = "INSERT INTO customer_search (rowid, text) VALUES (new.id, {text});".format(
        text=SEARCH_TEXT.format(row="new"))
    remove = ("INSERT INTO customer_search (customer_search, rowid, text)"
              " VALUES ('delete', old.id, {text});").format(text=SEARCH_TEXT.format(row="old"))
    # No deferral check: `deferred` drops this one for its block.
    conn.execute(f"CREATE TRIGGER customers_search_insert AFTER INSERT ON customers"
                 f" BEGIN {add} END")
    conn.execute(f"CREATE TRIGGER customers_search_delete AFTER DELETE ON customers"
                 f" WHEN {_INDEXED.format(row='old')} BEGIN {remove} END")
    # Only a change to what is indexed touches the index: the sweep, claims and assigns
    # change owners, never these columns.
    conn.execute(f"CREATE TRIGGER customers_search_update AFTER UPDATE OF {_COLUMNS}"
                 f" ON customers WHEN {_INDEXED.format(row='old')}"
                 f" AND ({SEARCH_TEXT.format(row='old')}) IS NOT ({SEARCH_TEXT.format(row='new')})"
                 f" BEGIN {remove} {add} END")
    _index_from(conn, 0)


def install_pg(conn: sqlite3.Connection) -> None:
    """PostgreSQL's search index: a trigram index (pg_trgm, a trusted extension a database
    owner may add) of the same text, kept by PostgreSQL itself, so no triggers and nothing
    to defer. Searches look it up with LIKE (crmpool/search.py)."""
    from crmpool.engines.pg_sql import translate
    from crmpool.errors import DatabaseUnavailable

    try:
        conn.execute_native("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # type: ignore[attr-defined]
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(
            f"the search index needs PostgreSQL's pg_trgm extension ({exc}): install the"
            " server's contrib modules, or have the database's owner run CREATE EXTENSION"
            " pg_trgm in it; then run `crmpool init` again") from None
    text = translate(SEARCH_TEXT.format(row="c")).sql.replace("c.", "")
    conn.execute_native(  # type: ignore[attr-defined]
        f"CREATE INDEX customers_search ON customers USING gin (({text}) gin_trgm_ops)")
    conn.execute("CREATE TABLE search_deferred (first_id INTEGER NOT NULL)")


def like_escaped(text: str) -> str:
    """`text` for inside a LIKE pattern: its own % and _ (and the escape) match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _index_from(conn: sqlite3.Connection, first_id: int) -> None:
    conn.execute("INSERT INTO customer_search (rowid, text)"
                 f" SELECT id, {SEARCH_TEXT.format(row='c')} FROM customers c WHERE id >= ?",
                 (first_id,))


@contextmanager
def deferred(conn: sqlite3.Connection, first_id: int) -> Iterator[None]:
    """Inside a bulk writer's transaction: customers from `first_id` on (ids it is adding)
    are indexed in one statement when the block ends, not row by row."""
    # The insert trigger goes for the block (DDL is transactional in SQLite, so a failure or
    # a kill brings it back with everything): even when it does nothing, a trigger builds
    # the whole new row for every insert, about 5 us a row on customers. The others stay,
    # for the existing customers the writer updates or deletes, and skip the new ones.
    if engine_of(conn) == "postgresql":
        yield  # PostgreSQL keeps its index itself
        return
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"
                           " AND name = 'customers_search_insert'").fetchone()[0]
    conn.execute("DROP TRIGGER customers_search_insert")
    conn.execute("INSERT INTO search_deferred (first_id) VALUES (?)", (first_id,))
    try:
        yield
    except BaseException:
        # The transaction is on its way back; should anyone commit it all the same, its
        # customers must not be left out of the index, nor every customer after them.
        with suppress(sqlite3.Error):
            _catch_up(conn, first_id, trigger)
        raise
    _catch_up(conn, first_id, trigger)


def _catch_up(conn: sqlite3.Connection, first_id: int, trigger: str) -> None:
    conn.execute("DELETE FROM search_deferred")
    conn.execute(trigger)
    _index_from(conn, first_id)


def match_query(conn: sqlite3.Connection, texts: list[str]) -> str | None:
    """An FTS5 query for the rows holding any of `texts` as a substring (a superset: the
    caller checks the columns); "" when no row can; None when one of them cannot be looked
    up (text shorter than a trigram that begins too many of them)."""
    alternatives = []
    for text in dict.fromkeys(texts):
        if len(text) >= SHORTEST:
            alternatives.append(_all_trigrams(text))
        elif text:
            # One or two characters (星辰): the trigrams that begin with them. Every indexed
            # part but the last is followed by a separator, so text at a part's end begins
            # one too (the last, the company id, is only ever matched whole).
            if _common(conn, text):
                return None
            grams = [row[0] for row in conn.execute(
                "SELECT term FROM customer_search_terms WHERE term >= ?1"
                " AND term < ?1 || char(1114111) LIMIT ?2", (text, MOST_SHORT_TRIGRAMS + 1))]
            if len(grams) > MOST_SHORT_TRIGRAMS:
                return None
            alternatives.extend(_quoted(gram) for gram in grams)
        else:
            return None
    return " OR ".join(f"({alternative})" for alternative in alternatives)


def _common(conn: sqlite3.Connection, text: str) -> bool:
    """Whether a tenth or more of the first customers hold `text`: then a scan in id order,
    which starts with those same customers, finds the rows shown at once, while the lists of
    every trigram the text begins (客: 客户0 ... 客户9) would be read whole."""
    held, sampled = conn.execute(
        f"SELECT count(*) FILTER (WHERE instr(text, ?) > 0), count(*) FROM"
        f" (SELECT {SEARCH_TEXT.format(row='c')} AS text FROM customers c ORDER BY id"
        " LIMIT ?)", (text, SAMPLE)).fetchone()
    return held * COMMON_SHARE >= sampled > 0


def _all_trigrams(text: str) -> str:
    # Trigrams that cover the text without overlapping, and the last one: a row holding them
    # all nearly always holds the text, and each one more is a posting list more to read.
    starts = list(range(0, len(text) - SHORTEST + 1, SHORTEST))
    if starts[-1] != len(text) - SHORTEST:
        starts.append(len(text) - SHORTEST)
    grams = dict.fromkeys(text[i:i + SHORTEST] for i in starts)
    return " AND ".join(_quoted(gram) for gram in grams)


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'
