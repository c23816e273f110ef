"""Import columns: the field names each kind reads, their Chinese and English aliases, and
how one raw cell becomes a stored value (text, time, amount) or a RowError naming why."""

from __future__ import annotations

from crmpool import values
from crmpool.choices import needs_guard
from crmpool.when import BadWhen, to_stored_time

CUSTOMER_FIELDS = ("name", "phone", "email", "company_id", "level", "region", "industry",
                   "owner", "pool", "status", "assigned_at", "last_contact_at",
                   "next_contact_at", "frozen_until", "freeze_reason", "won_at",
                   "invalid_reason", "created_at", "extra")
CONTACT_FIELDS = ("customer_id", "customer", "phone", "at", "via", "note", "user", "next_at",
                  "external_id")
DEAL_FIELDS = ("customer_id", "customer", "phone", "amount", "stage", "at", "user", "note",
               "external_id")
KIND_FIELDS = {"customers": CUSTOMER_FIELDS, "contacts": CONTACT_FIELDS, "deals": DEAL_FIELDS}
# Columns crmpool wrote itself and never imports (ids belong to the database).
IGNORED = {"id", "crmpool_line", "crmpool_reason"}

_COMMON = {
    "电话": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone",
    "联系电话": "phone", "电话号码": "phone", "mobile": "phone", "tel": "phone",
    "telephone": "phone", "phone_number": "phone",
    "邮箱": "email", "电子邮件": "email", "电子邮箱": "email", "e-mail": "email", "mail": "email",
    "备注": "note", "负责人": "owner", "归属人": "owner", "所属人": "owner", "销售": "owner",
    "sales_agent": "owner", "sales_rep": "owner",
}
ALIASES: dict[str, dict[str, str]] = {
    "customers": _COMMON | {
        "客户名称": "name", "公司名称": "name", "客户": "name", "企业名称": "name",
        "名称": "name", "company": "name", "company_name": "name", "customer": "name",
        "customer_name": "name", "account": "name", "account_name": "name",
        "客户级别": "level", "级别": "level", "等级": "level", "客户等级": "level",
        "地区": "region", "区域": "region", "省份": "region", "所在地区": "region",
        "office_location": "region", "province": "region",
        "行业": "industry", "所属行业": "industry", "sector": "industry",
        "统一社会信用代码": "company_id", "信用代码": "company_id", "credit_code": "company_id",
        "最后跟进时间": "last_contact_at", "最近跟进时间": "last_contact_at",
        "last_contact": "last_contact_at",
        "分配时间": "assigned_at", "领取时间": "assigned_at", "创建时间": "created_at",
        "下次跟进时间": "next_contact_at", "客户状态": "status", "状态": "status",
        "公海": "pool", "所属公海": "pool", "冻结至": "frozen_until",
    },
    "contacts": _COMMON | {
        "客户id": "customer_id", "客户编号": "customer_id", "客户名称": "customer",
        "客户": "customer", "公司名称": "customer", "customer_name": "customer",
        "跟进时间": "at", "时间": "at", "date": "at", "跟进方式": "via", "方式": "via",
        "跟进内容": "note", "内容": "note", "跟进人": "user", "下次跟进时间": "next_at",
        "sales_agent": "user", "contacted_at": "at", "跟进日期": "at", "日期": "at",
        "跟进记录编号": "external_id", "contact_id": "external_id", "编号": "external_id",
    },
    "deals": _COMMON | {
        "客户id": "customer_id", "客户编号": "customer_id", "客户名称": "customer",
        "客户": "customer", "公司名称": "customer", "account": "customer",
        "customer_name": "customer", "金额": "amount", "成交金额": "amount",
        "合同金额": "amount", "close_value": "amount", "value": "amount",
        "阶段": "stage", "状态": "stage", "deal_stage": "stage", "成交时间": "at",
        "日期": "at", "close_date": "at", "签单人": "user", "sales_agent": "user",
        "时间": "at", "date": "at", "closed_at": "at", "成交日期": "at", "签单日期": "at",
        "签约日期": "at", "deal_date": "at", "won_at": "at",
        "合同编号": "external_id", "订单编号": "external_id", "编号": "external_id",
        "deal_id": "external_id", "opportunity_id": "external_id", "order_id": "external_id",
    },
}
# The words each kind of value accepts live with their parsers (crmpool/values.py).
STATUS_WORDS, VIA_WORDS, STAGE_WORDS = values.STATUS_WORDS, values.VIA_WORDS, values.STAGE_WORDS


class RowError(ValueError):
    """One cell that cannot be imported; `column` is the header as written in the file."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def resolve_headers(kind: str, headers: list[str], mapping: dict[str, str]
                    ) -> tuple[dict[str, str], list[str]]:
    """{header in file: field} for the known ones, and the headers kept as extra."""
    fields, aliases = KIND_FIELDS[kind], ALIASES[kind]
    resolved: dict[str, str] = {}
    taken: set[str] = set()
    extra: list[str] = []
    for header in headers:
        folded = header.strip().lower()
        if header in mapping:
            field = mapping[header]
        elif folded in IGNORED:
            continue
        elif folded in fields:
            field = folded
        else:
            field = aliases.get(folded) or aliases.get(header.strip())
            if field not in fields:
                field = None  # an alias for another kind (负责人 means nothing to a deal)
        if field and field not in taken:
            resolved[header] = field
            taken.add(field)
        else:
            extra.append(header)
    return resolved, extra


def distinct_headers(header: list[str]) -> list[str]:
    """Every column its own name, so that no cell is lost wherever a row becomes a
    {header: value} record: a blank header is `column N` (its place), a repeated one `NAME
    (2)`, `NAME (3)` …; the first of a repeated name keeps it (and so its field)."""
    taken = set(header)
    seen: set[str] = set()
    names = []
    for number, name in enumerate(header, start=1):
        if not name or name in seen:
            base, count = (name or f"column {number}"), 1
            candidate = base
            while candidate in taken or candidate in seen:
                count += 1
                candidate = f"{base} ({count})"
            name = candidate
        seen.add(name)
        names.append(name)
    return names


def clean(value: object) -> str | None:
    """A CSV or TSV cell as stored: the export's guard taken off exactly (the rest kept as it
    is), else trimmed; None when empty."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if text[:1] == "'" and needs_guard(text[1:]):
        return text[1:]
    return text.strip() or None


def clean_json(value: object) -> str | None:
    """A JSON value as stored: strings exactly as they are (JSON needs no guard), numbers as
    written, arrays and objects as JSON text; None for null and ""."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)


class Layout:
    """One header layout: which column holds each field, and which columns are extra.

    Worked out once per file (per key set for JSON), so the per-row pass only looks up.
    """

    def __init__(self, kind: str, headers: list[str], mapping: dict[str, str],
                 date_order: str | None = None, json: bool = False) -> None:
        resolved, self.extra = resolve_headers(kind, headers, mapping)
        self.date_order = date_order
        self.json = json
        self.headers = headers
        self.column = {field: header for header, field in resolved.items()}
        # 1-based positions, as SQL parameters number them (a repeated header: its first).
        self.position = {field: headers.index(header) + 1 for field, header in
                         self.column.items()}
        self.extra_positions = [headers.index(header) + 1 for header in self.extra]

    def where(self, field_name: str) -> str:
        return self.column.get(field_name, field_name)

    def cells(self, record: dict) -> dict[str, str | None]:
        """Every known field of one record, cleaned, in one pass (JSON records have their
        own rule: `clean_json`)."""
        cleaner = clean_json if self.json else clean
        return {field_name: cleaner(record.get(header))
                for field_name, header in self.column.items()}

    def parse_time(self, cells: dict, field_name: str, now_text: str, *,
                   past: bool = True) -> str | None:
        """A field of `cells` as a stored time, refusing the future when `past`."""
        text = cells.get(field_name)
        if text is None:
            return None
        try:
            value = to_stored_time(text, self.date_order)
        except BadWhen as exc:
            raise RowError(self.where(field_name), str(exc)) from None
        if past and value > now_text:
            raise RowError(self.where(field_name), f"{text!r} is in the future")
        return value

    def extras(self, record: dict) -> dict:
        """The extra columns' values: cleaned as every cell of a delimited file is (what the
        SQLite INSERT stores), a JSON record's as they are (numbers stay numbers)."""
        if self.json:
            return {h: record[h] for h in self.extra if record.get(h) not in (None, "")}
        return {h: value for h in self.extra if (value := clean(record.get(h))) is not None}
