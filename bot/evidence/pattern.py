"""The harassment pattern in numbers, computed from the evidence log.

Each figure is tied to the rule it relates to (docs/legal-sources.md, "Collection rules"):
- contacts between 22:00 and 08:00: GB/T 45251-2025 and the 2026 banking-association guideline bar collection
  then without consent;
- call attempts from one number on one day above 6: the 2026 guideline allows at most 6 unanswered attempts a day per
  number (the log cannot always tell answered from unanswered calls, so the figure says how many were marked missed);
- third parties contacted: both rules say collect from the debtor only (the guideline: unrelated third parties in
  principle not contacted);
- distinct sender numbers: many numbers are how the per-number limit is evaded, and each is a number to report;
- threats by category: from the SMS assessment (bot/assess) of each logged text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from bot.store import EvidenceItem

NIGHT_START_HOUR = 22
NIGHT_END_HOUR = 8
MAX_UNANSWERED_PER_NUMBER_PER_DAY = 6
"""The 2026 China Banking Association collection guideline: at most 6 unanswered attempts a day per number."""
CONTACT_KINDS = ("sms", "call", "visit", "contact", "post")
EXACT_PRECISIONS = ("minute", "hour")
"""Only times known to the hour count as night contacts ("昨天晚上" alone could be 21:00)."""


@dataclass(frozen=True)
class OverLimitDay:
    """A day on which one number made more call attempts than the guideline's figure."""

    day: date
    number: str
    attempts: int
    missed: int


@dataclass
class Pattern:
    """The figures of one user's log."""

    entries: int = 0
    contacts: int = 0
    first: date | None = None
    last: date | None = None
    per_day: dict[date, int] = field(default_factory=dict)
    night: int = 0
    night_entries: list[int] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    third_party: int = 0
    visits: int = 0
    posts: int = 0
    over_limit: list[OverLimitDay] = field(default_factory=list)
    threats: dict[str, int] = field(default_factory=dict)
    legal_basis: list[str] = field(default_factory=list)

    @property
    def busiest(self) -> tuple[date, int] | None:
        """The day with the most contacts."""
        if not self.per_day:
            return None
        day = max(self.per_day, key=lambda d: (self.per_day[d], d))
        return day, self.per_day[day]


def _count(item: EvidenceItem) -> int:
    """How many contacts one entry stands for ("打了3次" is three)."""
    value = item.meta.get("count", 1)
    return value if isinstance(value, int) and 1 <= value <= 500 else 1


def item_numbers(item: EvidenceItem) -> list[str]:
    """The phone numbers recorded with an entry."""
    out: list[str] = []
    numbers = item.meta.get("numbers")
    if isinstance(numbers, list):
        out += [str(n) for n in numbers if n]
    for key in ("sender", "number", "caller"):
        value = item.meta.get(key)
        if value:
            out.append(str(value))
    return list(dict.fromkeys(out))


def _strings(value: Any) -> list[str]:
    """A meta list of strings (anything else ignored)."""
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def is_night(item: EvidenceItem, tz: tzinfo) -> bool:
    """True when the entry happened between 22:00 and 08:00 and its time is known to the hour."""
    if item.meta.get("precision", "minute") not in EXACT_PRECISIONS:
        return False
    hour = item.at.astimezone(tz).hour
    return hour >= NIGHT_START_HOUR or hour < NIGHT_END_HOUR


def compute(items: Sequence[EvidenceItem], tz: tzinfo) -> Pattern:
    """Compute the pattern of a log (items in any order)."""
    p = Pattern(entries=len(items))
    per_day: Counter[date] = Counter()
    attempts: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    threats: Counter[str] = Counter()
    numbers: list[str] = []
    basis: list[str] = []
    for no, item in enumerate(sorted(items, key=lambda i: (i.at, i.id)), start=1):
        day = item.at.astimezone(tz).date()
        categories = _strings(item.meta.get("categories"))
        threats.update(categories)
        basis += _strings(item.meta.get("legal_basis"))
        if item.kind not in CONTACT_KINDS:
            continue
        n = _count(item)
        p.contacts += n
        per_day[day] += n
        if is_night(item, tz):
            p.night += n
            p.night_entries.append(no)
        found = item_numbers(item)
        numbers += found
        if item.kind == "contact" or "third_party_contact" in categories:
            p.third_party += n if item.kind == "contact" else 1
        if item.kind == "visit":
            p.visits += n
        if item.kind == "post":
            p.posts += n
        if item.kind == "call":
            for number in found[:1] or ["?"]:
                counts = attempts[(day, number)]
                counts[0] += n
                counts[1] += n if item.meta.get("missed") else 0
    p.per_day = dict(sorted(per_day.items()))
    if p.per_day:
        p.first, p.last = min(p.per_day), max(p.per_day)
    p.numbers = list(dict.fromkeys(numbers))
    p.over_limit = [
        OverLimitDay(day, number, total, missed)
        for (day, number), (total, missed) in sorted(attempts.items())
        if total > MAX_UNANSWERED_PER_NUMBER_PER_DAY and number != "?"
    ]
    p.threats = dict(threats.most_common())
    p.legal_basis = list(dict.fromkeys(basis))
    return p
