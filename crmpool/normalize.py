"""Normalised keys for duplicate checks (查重 / 撞单): phone, e-mail, company name, company id.

Each key folds the ways people write the same thing: full-width characters, spacing, case,
country prefixes, legal-form suffixes. They run once per imported row, so they stay on what C
does for us (unicodedata, str.translate, one compiled regex).
"""

from __future__ import annotations

import re
import unicodedata

_NON_DIGITS = re.compile(r"\D+")
# Legal-form suffixes, longest first; English ones only as whole words at the end.
_SUFFIX = re.compile(
    r"(?:有限责任公司|股份有限公司|有限公司|集团公司|公司"
    r"|(?<![a-z0-9])(?:co\W*ltd|company\W*limited|co\W*limited|ltd|limited|inc|incorporated"
    r"|corp|corporation|llc|gmbh|plc|company|co)\W*)$"
)
_NAME_NOISE = re.compile(r"[\W_]+")


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
