"""The `[limits]` table of the rules file: what one user may own, claim and freeze.

Its own small module because every claim reads it, and a claim should not pay for loading
the rules parser.
"""

from __future__ import annotations

from typing import NamedTuple


class Limits(NamedTuple):
    """The limits in force; the defaults are SPEC's example."""

    cap: int = 150
    cap_counts_won: bool = False
    claims_per_day: int = 20  # 0 = unlimited
    cooldown_days: int = 30
    freeze_max_days: int = 90
    freezes_per_user: int = 10
