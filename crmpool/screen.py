"""Text on its way to a terminal: nothing in it may move the cursor or retitle the window.

Its own small module because every message and every table cell passes through it, and
neither the messages nor the table fitting should load the other.
"""

from __future__ import annotations

# Control characters (C0, DEL, C1) would move the cursor or recolour the terminal when a
# name from an imported file is printed; people see them as \x1b-style escapes instead.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROLS_IN_MESSAGES = {k: v for k, v in _CONTROLS.items() if k not in (0x09, 0x0A)}


def printable(text: str, *, newlines: bool = True) -> str:
    """Text safe for a terminal: control characters shown as escapes (line breaks kept in
    messages, escaped in table cells)."""
    return text.translate(_CONTROLS_IN_MESSAGES if newlines else _CONTROLS)
