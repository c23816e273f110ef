"""What `list --search TEXT` matches (公共检索), and in which order.

A name matches by substring after the folding the duplicate keys use (full-width to
half-width, case and spacing); a phone only for a phone fragment (digits and separators, at
least four digits); an e-mail only for text with `@`; a company id only for text shaped like
one. Several words must all match (a phone written with spaces is one word).

Results come in three ranks, each in the caller's sort order: the same name key as the
search, then names whose key begins with it, then the other matches. Each rank is its own
query (an `Arm`), so a search that matches most customers (科技) stops after the rows it
shows instead of ranking a million: exact and prefix through the name-key index, the rest
streamed from the search index (crmpool/search_index.py) in id order.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass

from crmpool import search_index
from crmpool.engines import engine_of
from crmpool.normalize import company_id_key, name_key, phone_key

# Words name keys leave out (crmpool/normalize.py), which only the name itself can match.
LEGAL_WORDS = ("公司", "ltd", "limited", "inc", "corp", "llc", "gmbh", "plc", "co")
_PHONE_FRAGMENT = re.compile(r"[+0-9()\-\s.]+")
_COMPANY_ID = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
# Past this many names beginning with the search, its prefix rank is read in id order.
MANY_PREFIXED = 1000
_ABOVE_ALL = chr(0x10FFFF)  # sorts after every text that begins with a given prefix
_FROM_INDEX = ("customer_search JOIN customers c ON c.id = customer_search.rowid")


def fold(text: str) -> str:
    """Search text folded as names are for their keys: width, case and spacing."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())


@dataclass
class Arm:
    """One rank of results: where its rows come from and what they must pass."""

    source: str  # the FROM clause; customers are `c`
    clauses: list[str]
    params: list[object]
    id_order: str  # the ORDER BY that reads `source` in id order without sorting


@dataclass
class _Word:
    """One search word: the column checks a customer passes by, and the texts it looks
    for inside the indexed columns (so every customer that passes holds one of them)."""

    checks: list[str]
    params: list[object]
    texts: list[str]

    def predicate(self) -> str:
        return "(" + " OR ".join(self.checks) + ")"


def _word(term: str) -> _Word:
    folded = fold(term)
    word = _Word(["instr(c.name_key, ?) > 0"], [folded], [folded])
    # The name itself only when the key cannot hold the word: punctuation, or a legal form
    # (有限公司, Ltd) that keys leave out. Lower-casing every name costs as much as the rest.
    if not folded.isalnum() or any(form in folded for form in LEGAL_WORDS):
        word.checks.append("instr(lower(c.name), ?) > 0")
        word.params.append(term.lower())
        word.texts.append(term.lower())
    normal = unicodedata.normalize("NFKC", term)
    digits = re.sub(r"\D", "", normal)
    if _PHONE_FRAGMENT.fullmatch(normal) and len(digits) >= 4:
        fragment = phone_key(term) if len(digits) >= 11 else digits
        word.checks.append("instr(c.phone_key, ?) > 0")
        word.params.append(fragment)
        word.texts.append(str(fragment))
    if "@" in term:
        email = normal.strip().lower()
        word.checks.append("instr(c.email_key, ?) > 0")
        word.params.append(email)
        word.texts.append(email)
    key = company_id_key(term)
    if key and _COMPANY_ID.fullmatch(key):
        word.checks.append("c.company_id_key = ?")
        word.params.append(key)
        word.texts.append(key)
    return word


def _many_begin_with(conn: sqlite3.Connection, prefix: str) -> bool:
    # Counting stops at MANY_PREFIXED keys, a millisecond through the key index.
    return conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM customers WHERE name_key >= ? AND name_key < ?"
        " LIMIT ?)", (prefix, prefix + _ABOVE_ALL, MANY_PREFIXED)).fetchone()[0] >= MANY_PREFIXED


def arms(conn: sqlite3.Connection, text: str) -> list[Arm]:
    """The queries for a search, best rank first; none when no customer can match."""
    text = text.strip()
    whole_phone = _PHONE_FRAGMENT.fullmatch(unicodedata.normalize("NFKC", text))
    words = [_word(term) for term in ([text] if whole_phone else text.split())]
    checks = [word.predicate() for word in words]
    params = [p for word in words for p in word.params]
    postgresql = engine_of(conn) == "postgresql"
    # The words the index can look up narrow the last rank's candidates, all in one
    # query, which FTS5 answers in id order; the others are checked on each candidate.
    lookups = []
    for word in [] if postgresql else words:
        query = search_index.match_query(conn, word.texts)
        if query == "":
            return []  # no indexed text holds this word, so no customer passes it
        if query is not None:
            lookups.append(f"({query})")
    whole = fold(text)
    key = name_key(text) or whole
    prefix = "c.name_key >= ? AND c.name_key < ?"
    begins = prefix
    if not postgresql and _many_begin_with(conn, whole):
        # Read in id order, where the first rows shown come at once, not through the key
        # index, which would find them all (客户: every name) to sort them.
        begins = prefix.replace("c.name_key", "+c.name_key")
    ranked = [
        Arm("customers c", ["c.name_key = ?", *checks], [key, *params], "c.id"),
        Arm("customers c", [begins, "c.name_key IS NOT ?", *checks],
            [whole, whole + _ABOVE_ALL, key, *params], "c.id"),
    ]
    rest = [f"NOT coalesce(c.name_key = ? OR ({prefix}), FALSE)", *checks]
    rest_params: list[object] = [key, whole, whole + _ABOVE_ALL, *params]
    if postgresql:
        # The trigram index of the same text (search_index.install_pg) answers a LIKE for
        # each text a word looks for.
        indexed = search_index.SEARCH_TEXT.format(row="c")
        for word in words:
            rest.append("(" + " OR ".join(f"{indexed} LIKE ?" for _ in word.texts) + ")")
            rest_params.extend(f"%{search_index.like_escaped(t)}%" for t in word.texts)
        ranked.append(Arm("customers c", rest, rest_params, "c.id"))
    elif lookups:
        ranked.append(Arm(_FROM_INDEX, ["customer_search MATCH ?", *rest],
                          [" AND ".join(lookups), *rest_params], "customer_search.rowid"))
    else:
        ranked.append(Arm("customers c", rest, rest_params, "c.id"))
    return ranked
