"""`report html`: every report on one self-contained page — its charts as inline SVG, CSS in
the page, no script and no external URL, so it reads offline and as an e-mail attachment.
Every text goes through html.escape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

from crmpool.reports.base import Figures, Period

ORDER = ("owners", "pool", "ageing", "lost", "conversion", "sales")
MOST_ROWS = 200  # a page to read, not an export: the rest is in `crmpool report NAME -f csv`
_CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", "PingFang SC", "Microsoft YaHei",
       sans-serif; margin: 2em; color: #1d2733; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border-bottom: 1px solid #dde3ea; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #5b6b7c; font-size: 0.85em; }
svg text { font-size: 12px; fill: #1d2733; }
"""


def every_report(build: Callable[[str], Figures]) -> list[Figures]:
    return [build(name) for name in ORDER]


def bar_svg(labels: list[str], values: list[float], width: int = 640) -> str:
    """A horizontal bar per label, scaled to the largest value."""
    row, label_width = 22, 150
    top = max(values, default=0) or 1
    height = row * len(labels) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
             f' role="img">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * row
        bar = max((width - label_width - 80) * max(value, 0) / top, 0)
        parts.append(f'<text x="0" y="{y + 15}">{escape(label[:24])}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{bar:.1f}" height="{row - 6}"'
                     f' fill="#3b82c4"/>'
                     f'<text x="{label_width + bar + 6:.1f}" y="{y + 15}">{value:,.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_svg(series: dict[str, list[float]], width: int = 640, height: int = 160) -> str:
    """A line per series over the periods."""
    colours = ("#3b82c4", "#d9734a", "#3a9a5b")
    values = [v for vs in series.values() for v in vs]
    if not values:
        return ""
    low, high = min(values + [0]), max(values) or 1
    count = max(len(vs) for vs in series.values())
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}"'
             ' role="img">']
    for k, (name, vs) in enumerate(series.items()):
        step = (width - 100) / max(count - 1, 1)
        scale = (height - 10) / (high - low or 1)
        points = " ".join(f"{10 + i * step:.1f},{height - (v - low) * scale:.1f}"
                          for i, v in enumerate(vs))
        colour = colours[k % len(colours)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"'
                     f' points="{points}"/>'
                     f'<text x="{width - 80}" y="{15 + 15 * k}" fill="{colour}">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(figures: Figures) -> str:
    # The columns a terminal shows first: a page to read; every column is in -f csv.
    columns = figures.shown or figures.columns
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if row.get(c) is None else str(row.get(c)))}</td>"
                         for c in columns) + "</tr>"
        for row in figures.rows[:MOST_ROWS])
    more = (f'<p class="note">… and {len(figures.rows) - MOST_ROWS} more rows</p>'
            if len(figures.rows) > MOST_ROWS else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _section(figures: Figures) -> str:
    parts = [f"<section id=\"{figures.name}\"><h2>{escape(figures.title)}</h2>"]
    if figures.series:
        parts.append(line_svg(figures.series))
    shown = figures.bars[:20]
    if shown and any(value for _, value in shown):
        parts.append(f'<p class="note">{escape(figures.bars_of)}</p>')
        parts.append(bar_svg([label for label, _ in shown], [value for _, value in shown]))
    parts.append(_table(figures) if figures.rows else '<p class="note">nothing in this'
                 " period</p>")
    parts += [f'<p class="note">{escape(n)}</p>' for n in figures.notes]
    parts.append("</section>")
    return "".join(parts)


def render(reports: list[Figures], period: Period, now: datetime) -> str:
    """The whole page."""
    title = f"crmpool 报表 — {period.describe()}"
    return ("<!DOCTYPE html><html lang=\"zh\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"note\">as of"
            f" {now.astimezone():%Y-%m-%d %H:%M}</p>"
            + "".join(_section(f) for f in reports) + "</body></html>")
