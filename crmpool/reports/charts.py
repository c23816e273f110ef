"""Pictures in plain text for the terminal: a bar per row and a sparkline per series, sized
to a width (80 columns fit), in characters every terminal shows; no colour, so NO_COLOR and a
pipe get the same lines."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from crmpool.reports.base import Figures

SPARKS = "▁▂▃▄▅▆▇█"
MOST_BARS = 20  # a chart of the first rows; the table has them all


def width_of(text: str) -> int:
    """Columns a text takes: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, most: int) -> str:
    out, used = "", 0
    for ch in text:
        w = width_of(ch)
        if used + w > most:
            return out + " " * (most - used)
        out, used = out + ch, used + w
    return out + " " * (most - used)


def bars(labels: Sequence[str], values: Sequence[float], width: int = 80) -> list[str]:
    """One line per label: the label, a bar in proportion to the largest value, the value."""
    if not labels:
        return []
    label_width = min(max(width_of(s) for s in labels), 16)
    shown = [f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"
             for v in values]
    value_width = max(len(s) for s in shown)
    room = max(width - label_width - value_width - 3, 5)
    top = max((v for v in values), default=0) or 1
    return [f"{_clip(label, label_width)} {'█' * round(room * max(v, 0) / top):<{room}}"
            f" {text:>{value_width}}" for label, v, text in zip(labels, values, shown,
                                                                  strict=True)]


def sparkline(values: Sequence[float]) -> str:
    """A line of eighth-blocks, lowest value to highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def picture(figures: Figures, width: int = 80) -> list[str]:
    """The lines to print under a report's table."""
    lines: list[str] = []
    if figures.series:
        name_width = max(len(n) for n in figures.series)
        room = max(width - name_width - 12, 10)
        for name, values in figures.series.items():
            tail = values[-room:]
            lines.append(f"{name:<{name_width}} {sparkline(tail)}  {tail[-1] if tail else ''}")
    shown = figures.bars[:MOST_BARS]
    if shown and any(value for _, value in shown):
        lines.append(f"{figures.bars_of}:")
        lines += bars([label for label, _ in shown], [value for _, value in shown], width)
    return lines
