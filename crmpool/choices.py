"""The fixed vocabularies crmpool offers: one place for each list of choices.

The domain checks values against these tuples and the CLI builds its option choices from
them, so the two cannot drift apart. Nothing to import here but strings: every start reads it.
"""

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv", "tsv", "xlsx")  # xlsx: export -o FILE
VIAS = ("call", "visit", "email", "message", "meeting", "other")  # 跟进方式
STAGES = ("open", "won", "lost")  # deal stages
EXPORT_KINDS = ("customers", "contacts", "deals", "events")
IMPORT_KINDS = ("customers", "contacts", "deals")
INPUT_FORMATS = ("csv", "tsv", "json", "jsonl", "xlsx")
ENCODINGS = ("auto", "utf-8", "gb18030", "utf-16", "big5")  # what import reads
EXPORT_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")  # utf-8-sig: Excel; gb18030: WPS, old Excel
ON_DUPLICATE = ("skip", "update", "fail")
# A cell starting with one of these is a spreadsheet formula (TAB and CR too: Excel skips
# them and runs what follows): exports put a ' before it and imports take that ' away again.
FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")
# The export also guards a cell that starts with the guard itself, so that import takes off
# exactly what export put on (crmpool/imports/fields.py `clean`).
GUARD_LEADERS = (*FORMULA_LEADERS, "'")


def needs_guard(text: str) -> bool:
    """True for a cell that a spreadsheet would run (= + - @ TAB CR first), that starts with
    the guard itself, or that import's trimming would change (space first or last)."""
    return bool(text) and (text.startswith(GUARD_LEADERS) or text[0].isspace()
                           or text[-1].isspace())

# Every action the audit trail records (`events --action`).
EVENT_ACTIONS = ("create", "import", "import-update", "claim", "release", "assign", "reclaim",
                 "freeze", "unfreeze", "won", "invalid", "undo", "user-add", "user-set",
                 "edit", "merge", "restore", "deal-close")
