"""The four strategies, on plain data: who gets each waiting customer, and why the ones left
stay in the pool. Pure and deterministic: ties go by user name, never by the order users were
created, so a dry run and the real run make the same plan.

Performance shares (the formula in the README): with W the members' won amounts over the last
N days and f the floor (floor_pct / 100), member i's share is

    share_i = f / n + (1 - f) * W_i / sum(W)        (equal shares when nobody won anything)

and each customer goes to the eligible member furthest below their share so far: the one
with the largest share_i * (handed + 1) - got_i.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from crmpool.distribute_rules import Territory


@dataclass
class Receiver:
    """A member who may take customers: how many more (room), and why not when none."""

    name: str
    cap_room: int  # customers more before the cap
    day_room: int | None  # more before today's limit; None: no daily limit
    load: int  # customers counted toward the cap now (least-loaded compares these)
    won_cents: int = 0  # performance: won over the strategy's days
    share: float = 0.0
    got: int = 0

    @property
    def room(self) -> int:
        return self.cap_room if self.day_room is None else min(self.cap_room, self.day_room)

    @property
    def full(self) -> str:
        return "at cap" if self.cap_room <= 0 else "at the daily limit"


@dataclass(slots=True)
class Waiting:
    """A customer waiting in the pool: what territories match on, and the members inside
    their cooldown for it."""

    id: int
    values: dict[str, object] = field(default_factory=dict)
    cooling: frozenset[str] = frozenset()
    name: str = ""


@dataclass
class Plan:
    """Who gets what (customer id, user), why each of the rest stays, where the turn ends."""

    given: list[tuple[int, str]] = field(default_factory=list)
    left: dict[int, str] = field(default_factory=dict)
    last_turn: str | None = None


def _why_nobody(customer: Waiting, among: Sequence[Receiver]) -> str:
    if not among:
        return "nobody to give it to"
    reasons: dict[str, list[str]] = {}
    for r in among:
        why = r.full if r.room <= 0 else "previous owner in cooldown"
        reasons.setdefault(why, []).append(r.name)
    if len(reasons) == 1:
        [(why, names)] = reasons.items()
        return f"everyone {why}" if len(names) > 1 else f"{names[0]} {why}"
    return "nobody eligible: " + "; ".join(
        f"{why}: {', '.join(names)}" for why, names in sorted(reasons.items()))


def _eligible(r: Receiver, customer: Waiting) -> bool:
    return r.room > 0 and r.name not in customer.cooling


def _take(plan: Plan, customer: Waiting, r: Receiver) -> None:
    plan.given.append((customer.id, r.name))
    r.cap_room -= 1
    if r.day_room is not None:
        r.day_room -= 1
    r.load += 1
    r.got += 1


def round_robin(waiting: Sequence[Waiting], receivers: Sequence[Receiver],
                last_turn: str | None) -> Plan:
    """In turn by name, starting after the member who got the last one (kept per pool)."""
    plan = Plan(last_turn=last_turn)
    order = sorted(receivers, key=lambda r: r.name)
    # The first member after the stored turn (names compare; a removed member is skipped).
    start = next((i for i, r in enumerate(order) if last_turn is None or r.name > last_turn), 0)
    count = len(order)
    given = plan.given
    # Inlined _eligible and _take: this loop runs once per customer, 100,000 at a time.
    for customer in waiting:
        cooling = customer.cooling
        for step in range(count):
            at = (start + step) % count
            r = order[at]
            if r.cap_room > 0 and (r.day_room is None or r.day_room > 0) and (
                    not cooling or r.name not in cooling):
                given.append((customer.id, r.name))
                r.cap_room -= 1
                if r.day_room is not None:
                    r.day_room -= 1
                r.load += 1
                r.got += 1
                start = at + 1 if at + 1 < count else 0
                break
        else:
            plan.left[customer.id] = _why_nobody(customer, order)
    if given:
        plan.last_turn = given[-1][1]
    return plan


def rotation(ids: Sequence[int], receivers: Sequence[Receiver],
             last_turn: str | None) -> Plan | None:
    """round_robin's plan when nothing can interrupt the turn: nobody is cooling for these
    customers (the caller checks) and every member has room for an equal share. Then the
    j-th customer goes to the j-th member after the stored turn, and the plan is made
    without a step per customer and member. None when some member could run out."""
    order = sorted(receivers, key=lambda r: r.name)
    n, k = len(ids), len(order)
    if not n or not k:
        return None
    share = -(-n // k)
    if any(r.room < share for r in order):
        return None
    start = next((i for i, r in enumerate(order) if last_turn is None or r.name > last_turn), 0)
    turn = order[start:] + order[:start]
    plan = Plan(last_turn=last_turn)
    plan.given = list(zip(ids, itertools.islice(itertools.cycle([r.name for r in turn]), n),
                          strict=False))
    for place, r in enumerate(turn):
        got = n // k + (1 if place < n % k else 0)
        r.cap_room -= got
        if r.day_room is not None:
            r.day_room -= got
        r.load += got
        r.got += got
    plan.last_turn = plan.given[-1][1]
    return plan


def least_loaded(waiting: Sequence[Waiting], receivers: Sequence[Receiver]) -> Plan:
    """Each to the member owning the fewest (as the cap counts them), never above a cap."""
    plan = Plan()
    heap = [(r.load, r.name, r) for r in receivers if r.room > 0]
    heapq.heapify(heap)
    for customer in waiting:
        skipped = []
        chosen = None
        while heap:
            load, name, r = heapq.heappop(heap)
            if r.name in customer.cooling:
                skipped.append((load, name, r))
                continue
            chosen = r
            break
        if chosen is None:
            plan.left[customer.id] = _why_nobody(customer, receivers)
        else:
            _take(plan, customer, chosen)
            if chosen.room > 0:
                skipped.append((chosen.load, chosen.name, chosen))
        for item in skipped:
            heapq.heappush(heap, item)
    return plan


def territory(waiting: Sequence[Waiting], receivers: Sequence[Receiver],
              territories: Sequence[Territory], expand: Callable[[str], set[str]]) -> Plan:
    """The first territory that matches names who may get it; among them the least loaded.
    A customer no territory matches stays, and the plan says so."""
    plan = Plan()
    by_name = {r.name: r for r in receivers}
    for customer in waiting:
        entry = next((t for t in territories if t.matches(customer.values)), None)
        if entry is None:
            plan.left[customer.id] = "no territory matches it"
            continue
        names = set().union(*(expand(who) for who in entry.to))
        among = sorted((by_name[n] for n in names if n in by_name), key=lambda r: r.name)
        if not among:
            plan.left[customer.id] = (f"territory {entry.name!r} names nobody who may take"
                                      " from this pool")
            continue
        ready = [r for r in among if _eligible(r, customer)]
        if not ready:
            plan.left[customer.id] = f"territory {entry.name!r}: " + _why_nobody(customer, among)
            continue
        _take(plan, customer, min(ready, key=lambda r: (r.load, r.name)))
    return plan


def shares(receivers: Sequence[Receiver], floor_pct: int) -> None:
    """Set each receiver's share of a performance distribution (the module's formula)."""
    n = len(receivers)
    total = sum(r.won_cents for r in receivers)
    floor = floor_pct / 100
    for r in receivers:
        r.share = 1 / n if total == 0 else floor / n + (1 - floor) * r.won_cents / total


def performance(waiting: Sequence[Waiting], receivers: Sequence[Receiver],
                floor_pct: int) -> Plan:
    """Shares in proportion to each member's won amount, with a floor for everyone."""
    plan = Plan()
    if receivers:
        shares(receivers, floor_pct)
    handed = 0
    order = sorted(receivers, key=lambda r: r.name)
    for customer in waiting:
        ready = [(i, r) for i, r in enumerate(order) if _eligible(r, customer)]
        if not ready:
            plan.left[customer.id] = _why_nobody(customer, order)
            continue
        _, best = max(ready, key=lambda ir: (ir[1].share * (handed + 1) - ir[1].got,
                                             ir[1].share, -ir[0]))
        _take(plan, customer, best)
        handed += 1
    return plan
