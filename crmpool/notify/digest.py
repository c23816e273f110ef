"""What a message says: one digest per recipient (or per run, grouped by person), as plain
text, HTML and Markdown, and as data (the JSON a webhook or a command receives).

The words are English with the Chinese terms beside them, as the rest of crmpool speaks;
names and details are the customers' own. HTML is escaped; nothing is fetched from outside.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from crmpool.when import local_display

_KIND_TITLES = {"warning": "Warnings 预警", "reclaimed": "Reclaimed 已回收",
                "follow-up": "Follow-ups due today 今日待跟进"}
_LEVEL_MARKS = {"high": "高 high", "mid": "中 mid", "low": "低 low"}
# A message lists at most this many of each kind per person (a first night after new rules
# can open thousands); the rest are counted and found with the command named.
MOST_LINES = 100
_MORE = {"warning": "crmpool warnings --mine", "reclaimed": "crmpool events --action reclaim",
         "follow-up": "crmpool due --mine"}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    payload: dict


def _line(item: dict) -> str:
    name = f"{item['name']} (#{item['customer_id']})"
    if item["kind"] == "warning":
        risen = " — risen" if item.get("news") == "risen" else ""
        return (f"[{_LEVEL_MARKS[item['level']]}] {name}: {item['detail'] or item['rule']}"
                f"{risen}")
    if item["kind"] == "reclaimed":
        return f"{name}: back to pool {item['to_pool']} by rule {item['rule']}"
    return f"{name}: follow-up at {local_display(item['due_at'])}"


def compose(grouped: dict[str, list[dict]], people: dict[str, dict], as_of: datetime
            ) -> Message:
    """The message for these people's items (one person for an e-mail digest)."""
    counts = {kind: sum(1 for items in grouped.values() for i in items if i["kind"] == kind)
              for kind in _KIND_TITLES}
    summary = ", ".join(f"{n} {kind}{'s' if n != 1 and kind != 'reclaimed' else ''}"
                        for kind, n in counts.items() if n)
    day = as_of.astimezone().strftime("%Y-%m-%d")
    subject = f"crmpool {day}: {summary}"
    text_parts: list[str] = []
    html_parts: list[str] = []
    for person, items in grouped.items():
        display = people.get(person, {}).get("display") or person
        if len(grouped) > 1:
            text_parts.append(f"== {display} ==")
            html_parts.append(f"<h2>{html.escape(display)}</h2>")
        for kind, title in _KIND_TITLES.items():
            mine = [i for i in items if i["kind"] == kind]
            if not mine:
                continue
            lines = [_line(i) for i in mine[:MOST_LINES]]
            if len(mine) > MOST_LINES:
                lines.append(f"… and {len(mine) - MOST_LINES:,} more ({_MORE[kind]})")
            text_parts.append(title)
            text_parts += [f"  - {line}" for line in lines]
            html_parts.append(f"<h3>{html.escape(title)}</h3><ul>"
                              + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
                              + "</ul>")
    text = "\n".join([subject, "", *text_parts, "",
                      "crmpool warnings --mine lists what is open; crmpool warnings ack ID"
                      " stops the reminders."])
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
            f"<h1>{html.escape(subject)}</h1>{''.join(html_parts)}</body></html>")
    payload = {"subject": subject, "as_of": as_of.isoformat(),
               "people": [{"user": person, "display": people.get(person, {}).get("display"),
                           "items": items[:MOST_LINES * len(_KIND_TITLES)],
                           "count": len(items)} for person, items in grouped.items()]}
    return Message(subject, text, page, payload)


def markdown(payload: dict) -> str:
    """The payload as Markdown, for the robots that render it (WeCom, DingTalk, Feishu,
    Slack's mrkdwn reads it well enough)."""
    lines = [f"**{payload['subject']}**"]
    for person in payload["people"]:
        lines.append(f"\n**{person['display'] or person['user']}**")
        lines += [f"- {_line(item)}" for item in person["items"]]
    return "\n".join(lines)
