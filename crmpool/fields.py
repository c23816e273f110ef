"""Import columns: the field names each kind reads, their Chinese and English aliases, and
how one raw cell becomes a stored value (text, time, amount) or a RowError naming why."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from crmpool.choices import FORMULA_LEADERS
from crmpool.when import STORED_FORMAT

CUSTOMER_FIELDS = ("name", "phone", "email", "company_id", "level", "region", "industry",
                   "owner", "pool", "status", "assigned_at", "last_contact_at",
                   "next_contact_at", "frozen_until", "freeze_reason", "won_at",
                   "invalid_reason", "created_at", "extra")
CONTACT_FIELDS = ("customer_id", "customer", "phone", "at", "via", "note", "user", "next_at")
DEAL_FIELDS = ("customer_id", "customer", "phone", "amount", "stage", "at", "user", "note")
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
        "sales_agent": "user",
    },
    "deals": _COMMON | {
        "客户id": "customer_id", "客户编号": "customer_id", "客户名称": "customer",
        "客户": "customer", "公司名称": "customer", "account": "customer",
        "customer_name": "customer", "金额": "amount", "成交金额": "amount",
        "合同金额": "amount", "close_value": "amount", "value": "amount",
        "阶段": "stage", "状态": "stage", "deal_stage": "stage", "成交时间": "at",
        "日期": "at", "close_date": "at", "签单人": "user", "sales_agent": "user",
    },
}
STATUS_WORDS = {"active": "active", "won": "won", "invalid": "invalid", "": "active",
                "正常": "active", "未成交": "active", "已成交": "won", "成交": "won",
                "无效": "invalid"}
VIA_WORDS = {"call": "call", "visit": "visit", "email": "email", "message": "message",
             "meeting": "meeting", "other": "other", "电话": "call", "拜访": "visit",
             "上门": "visit", "邮件": "email", "短信": "message", "微信": "message",
             "消息": "message", "会议": "meeting", "其他": "other", "": "other"}
STAGE_WORDS = {"open": "open", "won": "won", "lost": "lost", "进行中": "open", "跟进中": "open",
               "赢单": "won", "成交": "won", "已成交": "won", "输单": "lost", "丢单": "lost",
               "engaging": "open", "prospecting": "open"}


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


def clean(value: object) -> str | None:
    """A cell as trimmed text (None when empty), with the export formula guard undone."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    if not text:
        return None
    if text[0] == "'" and text[1:2] in FORMULA_LEADERS:
        return text[1:]
    return text


_DATE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


@lru_cache(maxsize=1 << 16)
def to_stored_time(text: str) -> str:
    """An import cell's time as stored UTC text; naive times are local time.

    Cached: exports and spreadsheets repeat the same times over and over.
    """
    if len(text) == 20 and text[-1] == "Z" and text[10] == "T":
        datetime.strptime(text, STORED_FORMAT)  # already in storage form: only validate
        return text
    match = _DATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a date or time (use 2026-03-05 or"
                         " 2026-03-05 09:30)")
    year, month, day, hour, minute, second, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                      int(second or 0))
    if zone:
        moment = datetime.fromisoformat(moment.isoformat() + ("+00:00" if zone == "Z" else zone))
    else:
        moment = moment.astimezone()
    return moment.astimezone(UTC).strftime(STORED_FORMAT)


class Layout:
    """One header layout: which column holds each field, and which columns are extra.

    Worked out once per file (per key set for JSON), so the per-row pass only looks up.
    """

    def __init__(self, kind: str, headers: list[str], mapping: dict[str, str]) -> None:
        resolved, self.extra = resolve_headers(kind, headers, mapping)
        self.headers = headers
        self.column = {field: header for header, field in resolved.items()}
        # 1-based positions, as SQL parameters number them (a repeated header: its first).
        self.position = {field: headers.index(header) + 1 for field, header in
                         self.column.items()}
        self.extra_positions = [headers.index(header) + 1 for header in self.extra]

    def where(self, field_name: str) -> str:
        return self.column.get(field_name, field_name)

    def cells(self, record: dict) -> dict[str, str | None]:
        """Every known field of one record, cleaned, in one pass."""
        cells: dict[str, str | None] = {}
        for field_name, header in self.column.items():
            value = record.get(header)
            if value.__class__ is str:  # the common case, inlined: this runs per cell
                value = value.strip() or None
                if value is not None and value[0] == "'":
                    value = clean(value)
            elif value is not None:
                value = clean(value)
            cells[field_name] = value
        return cells

    def parse_time(self, cells: dict, field_name: str, now_text: str, *,
                   past: bool = True) -> str | None:
        """A field of `cells` as a stored time, refusing the future when `past`."""
        text = cells.get(field_name)
        if text is None:
            return None
        try:
            value = to_stored_time(text)
        except ValueError as exc:
            message = (str(exc) if "is not a date" in str(exc)
                       else f"{text!r} is not a valid date")
            raise RowError(self.where(field_name), message) from None
        if past and value > now_text:
            raise RowError(self.where(field_name), f"{text!r} is in the future")
        return value

    def extras(self, record: dict) -> dict:
        return {h: record[h] for h in self.extra if record.get(h) not in (None, "")}
