"""Normalised keys for duplicate checks (查重 / 撞单): phone, e-mail, company name, company id.

Each key folds the ways people write the same thing: full-width characters, spacing, case,
country prefixes, legal-form suffixes. They run once per imported row, so they stay on what C
does for us (unicodedata, str methods, one compiled regex).

A bulk import computes the keys inside its INSERT: `*_key_sql` give SQLite expressions that
handle the everyday forms in C (a bare mobile number, a plain ASCII address) and hand anything
else to these same Python functions, registered by `register_key_functions`. Both roads give
the same key; tests/test_when_and_normalize.py checks that on generated input.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata

_NON_DIGITS = re.compile(r"\D+")
# Legal-form suffixes, longest first; English ones only as whole words at the end.
_SUFFIX = re.compile(
    r"(?:有限责任公司|股份有限公司|有限公司|集团公司|公司"
    r"|(?<![a-z0-9])(?:co\W*ltd|company\W*limited|co\W*limited|ltd|limited|inc|incorporated"
    r"|corp|corporation|llc|gmbh|plc|company|co)\W*)$"
)
_NAME_NOISE = re.compile(r"[\W_]+")
# A parenthesised qualifier, usually a place: 北京星辰科技（北京）有限公司 is 北京星辰科技有限公司.
_QUALIFIER = re.compile(r"\([^()]*\)")
# The Chinese legal forms, longest first (the suffix pattern prefers the earliest start).
_CHINESE_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "集团公司", "公司")


def phone_key(raw: str | None) -> str | None:
    """Digits only, with a Chinese country prefix (+86, 0086, (0086)) folded away."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    international = text.startswith("+")
    digits = _NON_DIGITS.sub("", text)
    if digits.startswith("00"):
        digits, international = digits[2:], True
    if international and digits.startswith("86"):
        national = digits[2:]
        # A mobile number stands alone; a landline's area code regains its trunk 0.
        digits = national if (len(national) == 11 and national[0] == "1") else "0" + national
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return digits or None


def email_key(raw: str | None) -> str | None:
    """The address, trimmed and lower-cased."""
    if not raw:
        return None
    key = unicodedata.normalize("NFKC", raw).strip().lower()
    return key or None


def name_key(raw: str | None) -> str | None:
    """The company name with width, case, spacing, punctuation and legal suffixes folded."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).casefold().strip()
    # Most names are letters and digits only (客户科技有限公司): nothing for the noise pattern
    # to remove, and while the name does not end in a Latin letter only a Chinese suffix can
    # match. Strip those directly; anything else takes the general road below.
    if text.isalnum():
        while True:
            last = text[-1]
            if "a" <= last <= "z":
                break  # perhaps "… Inc": the general road
            if last != "司":  # every Chinese suffix ends in 司
                return text
            # The longest suffix the name ends in, as the pattern's leftmost match would
            # take; a name that is nothing but a legal form is kept whole, as there.
            for suffix in _CHINESE_SUFFIXES:
                if text.endswith(suffix):
                    break
            else:
                return text
            if suffix == text:
                return text
            text = text[: -len(suffix)]
    return folded_name_key(text)


def folded_name_key(text: str) -> str | None:
    """name_key's general road, from NFKC-normalised, case-folded, trimmed text."""
    if "(" in text:  # NFKC made （） ASCII; most names have none, and skip the regex
        unqualified = _QUALIFIER.sub("", text).strip()
        if unqualified:
            text = unqualified
    while True:
        shorter = _SUFFIX.sub("", text).rstrip()
        if shorter == text or not shorter:
            break
        text = shorter
    key = _NAME_NOISE.sub("", text)
    return key or None


def company_id_key(raw: str | None) -> str | None:
    """The 统一社会信用代码 (or any registry id), upper-cased, without spaces or dashes."""
    if not raw:
        return None
    key = _NAME_NOISE.sub("", unicodedata.normalize("NFKC", raw)).upper()
    return key or None


def register_key_functions(conn: sqlite3.Connection) -> None:
    """The Python keys as SQL functions, for the forms the SQL fast paths leave to them."""
    for function in (phone_key, email_key, name_key, company_id_key):
        conn.create_function(f"crmpool_{function.__name__}", 1, function, deterministic=True)


# Each takes the SQL expression of a cleaned cell (NULL, or trimmed and non-empty) and may
# repeat it, so it should be cheap (a parameter, or nullif of one). NULL is tested first:
# it would otherwise fail the fast test and cost a call into Python.
def phone_key_sql(cell: str) -> str:
    # An 11-digit mainland mobile, written bare, is its own key: no prefix, nothing to fold.
    return (f"CASE WHEN {cell} IS NULL THEN NULL"
            f" WHEN {cell} GLOB '1[3-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'"
            f" THEN {cell} ELSE crmpool_phone_key({cell}) END")


def email_key_sql(cell: str) -> str:
    # ASCII is already NFKC and SQLite's lower() folds exactly ASCII. A text is ASCII when it
    # has as many bytes as characters: a third of the cost of a GLOB character class, which
    # is parsed again at every position.
    return (f"CASE WHEN {cell} IS NULL THEN NULL"
            f" WHEN length(CAST({cell} AS BLOB)) = length({cell})"
            f" THEN lower({cell}) ELSE crmpool_email_key({cell}) END")


def company_id_key_sql(cell: str) -> str:
    return (f"CASE WHEN {cell} IS NULL THEN NULL WHEN {cell} NOT GLOB '*[^0-9A-Za-z]*'"
            f" THEN upper({cell}) ELSE crmpool_company_id_key({cell}) END")


def name_key_sql(cell: str) -> str:
    return f"crmpool_name_key({cell})"
