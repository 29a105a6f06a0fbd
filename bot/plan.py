"""Repayment-plan arithmetic: amounts and rates from chat text, instalments, a priority-ordered plan.

Pure functions. Money is Decimal, rounded to cents with ROUND_HALF_UP wherever a user sees it.
Rates are **percent per year** everywhere in this module (18 means 18 %/yr), as parse_rate returns them.
The arithmetic and the order of debts follow docs/legal-sources.md ("Repayment plan").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MONTHS_PER_YEAR = 12
# Daily rates are annualised over 365 days ("日息0.05%" → 18.25 %/yr), the reading that does not
# understate the cost to the borrower (some lenders divide by 360; the difference is under 1.5 %).
DAYS_PER_YEAR = 365

MAX_AMOUNT = Decimal(100_000_000)  # more than this in one debt or income is almost surely a typo
MAX_RATE = Decimal(1000)  # %/yr; beyond this the number is not a rate
MIN_PAYMENT = Decimal(100)  # yuan/month: smallest suggested payment to a debt (or its balance if smaller)

# Interest-cap reference points (docs/legal-sources.md, "Interest caps"):
# - licensed lenders: courts commonly cut interest + fees above 24 %/yr
#   (SPC 法发〔2017〕22号; the sheet rates this `likely`, so texts must hedge it);
LICENSED_RATE_REFERENCE = Decimal(24)
# - private loans: courts support at most 4 × the one-year LPR at the date the contract was formed
#   (民间借贷规定 art. 25, 法释〔2020〕17号; `verified`). One-year LPR 3.0 % since May 2025 (`verified`
#   at the 2026-01-20 fixing), so 4 × LPR = 12 % for contracts formed while the LPR was 3.0 %.
LPR_ONE_YEAR = Decimal("3.0")
PRIVATE_LOAN_CAP = 4 * LPR_ONE_YEAR

DEBT_KINDS = ("credit_card", "bank", "consumer_finance", "online_platform", "small_loan", "private", "other")
# Lenders that are (or are usually funded by) licensed institutions; "private" and "other" (unknown) are not.
LICENSED_KINDS = frozenset({"credit_card", "bank", "consumer_finance", "online_platform", "small_loan"})

AmountReason = Literal["not_a_number", "negative", "zero", "too_large"]
RateReason = Literal["not_a_number", "out_of_range"]
Number = Decimal | int | float | str


class AmountError(ValueError):
    """A money amount the user typed cannot be used; reason says why."""

    def __init__(self, reason: AmountReason) -> None:
        """Keep the machine-readable reason."""
        super().__init__(reason)
        self.reason: AmountReason = reason


class RateError(ValueError):
    """An interest rate the user typed cannot be used; reason says why."""

    def __init__(self, reason: RateReason) -> None:
        """Keep the machine-readable reason."""
        super().__init__(reason)
        self.reason: RateReason = reason


def _dec(value: Number) -> Decimal:
    """Convert to Decimal without binary-float noise (0.1 → Decimal('0.1'))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def cents(value: Decimal) -> Decimal:
    """Round money to cents, half up (as shown to users)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def monthly_payment(principal: Number, annual_rate: Number, months: int) -> Decimal:
    """Return the equal monthly instalment L·r/(1−(1+r)^−n), r = annual_rate/100/12; rate 0 → L/n."""
    loan, rate = _dec(principal), _dec(annual_rate)
    if loan <= 0:
        raise ValueError("principal must be positive")
    if rate < 0:
        raise ValueError("annual_rate must not be negative")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ValueError("months must be a whole number ≥ 1")
    with localcontext() as ctx:
        ctx.prec = 40
        if rate == 0:
            return cents(loan / months)
        r = rate / HUNDRED / MONTHS_PER_YEAR
        return cents(loan * r / (1 - (1 + r) ** -months))


# -- parsing what users type ---------------------------------------------------------------------------

_MULTIPLIERS = {"亿": 100_000_000, "万": 10_000, "w": 10_000, "千": 1_000, "k": 1_000, "百": 100}
_UNIT_DIGITS = {10_000: 4, 1_000: 3, 100: 2, 100_000_000: 8}  # digits a bare tail may have: 1万2000
_CURRENCY_PREFIX = ("人民币", "rmb", "cny", "¥")
_CURRENCY_SUFFIX = ("人民币", "块钱", "块", "元", "圆", "rmb", "cny", "yuan")
_NUM = r"\d+(?:\.\d+)?"
_SEGMENT = re.compile(rf"({_NUM})(亿|万|w|千|k|百)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_MINUS = ("-", "−", "–", "负")


def _normalise(text: str) -> str:
    """NFKC (full-width digits and signs to ASCII), lower-case, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower().replace("￥", "¥")


def parse_amount(text: str) -> Decimal:
    """Read a yuan amount such as "12000", "1.2万", "1,200", "１２０００", "5k", "3千", "¥3000", "3000元"."""
    s = _normalise(text)
    for prefix in _CURRENCY_PREFIX:
        s = s.removeprefix(prefix)
    negative = s.startswith(_MINUS)
    if negative:
        s = s[1:]
    for prefix in _CURRENCY_PREFIX:
        s = s.removeprefix(prefix)
    for suffix in _CURRENCY_SUFFIX:
        s = s.removesuffix(suffix)
    s = _THOUSANDS.sub("", s)
    value = _parse_magnitude(s)
    if value is None:
        raise AmountError("not_a_number")
    if negative and value != 0:
        raise AmountError("negative")
    value = cents(value)
    if value == 0:
        raise AmountError("zero")
    if value > MAX_AMOUNT:
        raise AmountError("too_large")
    return value


def _parse_magnitude(s: str) -> Decimal | None:
    """Parse "12000", "1.2万", "1万2000", "2万3千"; None if it is not such a number."""
    if re.fullmatch(_NUM, s):
        return Decimal(s)
    total, pos, last_unit = ZERO, 0, 0
    for match in _SEGMENT.finditer(s):
        if match.start() != pos:
            return None
        unit = _MULTIPLIERS[match.group(2)]
        if last_unit and unit >= last_unit:
            return None  # units must shrink: 2万3千, not 3千2万
        total += Decimal(match.group(1)) * unit
        pos, last_unit = match.end(), unit
    if not last_unit:
        return None
    tail = s[pos:]
    if tail:
        # "1万2000" is 12,000; "1万2" is ambiguous (colloquially 12,000), so ask again.
        if not tail.isdigit() or len(tail) != _UNIT_DIGITS[last_unit]:
            return None
        total += Decimal(tail)
    return total


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_FRACTION = re.compile(r"(万|千|百)分之(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十]+)")
_PERCENT = re.compile(rf"({_NUM})(%|‰)?")
_ANNUAL = ("年", "year", "annual", "apr")
_DAILY = ("日", "天", "day", "daily")
_MONTHLY = ("月", "month")


def _cn_small(text: str) -> Decimal | None:
    """Read a Chinese numeral below 100 ("五", "十二", "二十"), or None."""
    if text.isascii():
        return Decimal(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        if (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
            return None
        return Decimal((_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0))
    return Decimal(_CN_DIGITS[text]) if text in _CN_DIGITS else None


def parse_rate(text: str) -> Decimal:
    """Read an interest rate as percent per year, e.g. "18%", "年化18%", "日息0.05%" (18.25), "月息1.5%" (18).

    Also "日利率万分之五" (0.05 %/day) and "‰". A bare number is a percentage ("18" is 18 %).
    """
    s = _normalise(text)
    negative = any(m in s for m in _MINUS[:3]) or s.startswith("负")
    fraction = _FRACTION.search(s)
    if fraction:
        base = {"万": Decimal(10_000), "千": Decimal(1_000), "百": HUNDRED}[fraction.group(1)]
        count = _cn_small(fraction.group(2))
        if count is None:
            raise RateError("not_a_number")
        percent = count / base * HUNDRED
    else:
        numbers = _PERCENT.findall(s)
        if len(numbers) != 1:
            raise RateError("not_a_number")
        number, sign = numbers[0]
        percent = Decimal(number) / (10 if sign == "‰" else 1)
    if any(word in s for word in _ANNUAL):
        annual = percent
    elif any(word in s for word in _DAILY):
        annual = percent * DAYS_PER_YEAR
    elif any(word in s for word in _MONTHLY):
        annual = percent * MONTHS_PER_YEAR
    else:
        annual = percent
    if negative or annual > MAX_RATE:
        raise RateError("out_of_range")
    return annual.quantize(Decimal(1)) if annual == annual.to_integral_value() else annual.normalize()


# -- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Debt:
    """One debt: creditor (legal name if known), balance in yuan, annual rate in % (None = unknown), kind.

    kind is one of DEBT_KINDS; in_court marks a debt already in court or enforcement; secured marks a
    mortgage or other secured debt. Both go first in the plan (docs/legal-sources.md, "Repayment plan").
    """

    creditor: str
    amount: Decimal
    annual_rate: Decimal | None
    kind: str = "other"
    in_court: bool = False
    secured: bool = False

    def __post_init__(self) -> None:
        """Coerce numbers to Decimal and reject impossible values."""
        amount = _dec(self.amount)
        if amount <= 0:
            raise ValueError("a debt's amount must be positive")
        object.__setattr__(self, "amount", cents(amount))
        if self.annual_rate is not None:
            rate = _dec(self.annual_rate)
            if not ZERO <= rate <= MAX_RATE:
                raise ValueError(f"a debt's annual rate must be between 0 and {MAX_RATE} percent")
            object.__setattr__(self, "annual_rate", rate)
        if self.kind not in DEBT_KINDS:
            raise ValueError(f"debt kind {self.kind!r} is not one of: {', '.join(DEBT_KINDS)}")


@dataclass(frozen=True)
class DebtPlan:
    """The plan for one debt: its rank, suggested monthly payment, months to clear it, and flags.

    Flags: "secured" and "in_court" (why the debt comes first), "rate_unknown" (months computed as if
    interest-free), "rate_above_24" (may be contestable for licensed lenders), "rate_above_4x_lpr" (private
    loan above 4 × LPR = 12 %), "payment_below_interest" (months is None: the payment does not cover the
    interest), "no_payment" (nothing left for this debt).
    """

    debt: Debt
    priority: int
    monthly: Decimal
    months: int | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A whole plan: money in and out, and one DebtPlan per debt in priority order.

    Plan flags: "shortfall" (no surplus at all), "minimums_not_covered" (the surplus does not reach every
    debt's minimum payment; lower-priority debts get less or nothing).
    """

    monthly_income: Decimal
    essential_costs: Decimal
    buffer: Decimal
    surplus: Decimal
    affordable: bool
    total_debt: Decimal
    items: tuple[DebtPlan, ...]
    flags: tuple[str, ...] = field(default=())


def protected_rate_cap(debt: Debt) -> Decimal:
    """Return the highest annual rate courts are expected to protect for this kind of lender (see above)."""
    return PRIVATE_LOAN_CAP if debt.kind == "private" else LICENSED_RATE_REFERENCE


def _priority_key(debt: Debt) -> tuple[int, int, Decimal]:
    """Sort key: secured, then in court or enforcement, then licensed lenders, then the rest.

    Within a group: debts known to be within the protected caps, then unknown rates, then debts above the caps
    (interest above the caps is not paid first); then the smaller balance (clearing it frees cash sooner).
    A high rate never moves a debt up.
    """
    if debt.secured:
        group = 0
    elif debt.in_court:
        group = 1
    elif debt.kind in LICENSED_KINDS:
        group = 2
    else:
        group = 3
    rate = debt.annual_rate
    if rate is None:
        caps = 1
    else:
        caps = 2 if rate > protected_rate_cap(debt) else 0
    return (group, caps, debt.amount)


def months_to_clear(balance: Number, annual_rate: Number, payment: Number) -> int | None:
    """Return whole months to repay balance at payment a month, or None if the payment never clears it."""
    bal, rate, pay = _dec(balance), _dec(annual_rate), _dec(payment)
    if pay <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        if rate == 0:
            return math.ceil(bal / pay)
        r = rate / HUNDRED / MONTHS_PER_YEAR
        if pay <= bal * r:
            return None
        n = -(1 - r * bal / pay).ln() / (1 + r).ln()
        return max(1, math.ceil(n.quantize(Decimal("1e-9"), rounding=ROUND_DOWN)))


def _rate_flags(debt: Debt) -> list[str]:
    """Flag rates that may be contestable (see the constants above)."""
    rate = debt.annual_rate
    if rate is None:
        return ["rate_unknown"]
    flags = []
    if rate > LICENSED_RATE_REFERENCE:
        flags.append("rate_above_24")
    if debt.kind == "private" and rate > PRIVATE_LOAN_CAP:
        flags.append("rate_above_4x_lpr")
    return flags


def _protected_rate(debt: Debt) -> Decimal:
    """Return the debt's rate, cut to the protected cap (0 when unknown)."""
    return min(debt.annual_rate or ZERO, protected_rate_cap(debt))


def _allocate(debts: Sequence[Debt], surplus: Decimal, minimum: Decimal) -> tuple[list[Decimal], bool]:
    """Split surplus pro rata by balance, each at least min(minimum, balance), at most what clears the debt.

    "What clears it" is the balance plus one month's interest at no more than the protected rate.
    Debts are in priority order; if the minimums alone exceed the surplus they are paid in that order.
    Returns the amounts (cents, summing to at most surplus) and whether every minimum was covered.
    """
    floors = [min(minimum, d.amount) for d in debts]
    caps = [cents(d.amount * (1 + _protected_rate(d) / HUNDRED / MONTHS_PER_YEAR)) for d in debts]
    if sum(floors, ZERO) > surplus:
        amounts, left = [], surplus
        for floor in floors:
            amounts.append(min(floor, left))
            left -= amounts[-1]
        return amounts, False
    amounts = [ZERO] * len(debts)
    fixed: set[int] = set()
    while True:
        free = [i for i in range(len(debts)) if i not in fixed]
        left = surplus - sum((amounts[i] for i in fixed), ZERO)
        weight = sum((debts[i].amount for i in free), ZERO)
        if not free or weight == 0:
            break
        changed = False
        for i in free:
            share = left * debts[i].amount / weight
            if share < floors[i] or share > caps[i]:
                amounts[i] = floors[i] if share < floors[i] else caps[i]
                fixed.add(i)
                changed = True
            else:
                amounts[i] = share
        if not changed:
            break
    amounts = [a.quantize(CENT, rounding=ROUND_DOWN) for a in amounts]
    spare = surplus - sum(amounts, ZERO)
    for i in range(len(debts)):  # give rounding leftovers (a few cents) to the first debt with room
        room = caps[i] - amounts[i]
        if spare <= 0:
            break
        if room > 0:
            extra = min(room, spare)
            amounts[i] += extra
            spare -= extra
    return amounts, True


def build_plan(
    debts: Sequence[Debt],
    monthly_income: Number,
    essential_costs: Number,
    buffer_ratio: Number = Decimal("0.1"),
    min_payment: Number = MIN_PAYMENT,
) -> Plan:
    """Build a plan: surplus = income − essentials − buffer (buffer_ratio × income), split over the debts."""
    income, essentials, ratio = _dec(monthly_income), _dec(essential_costs), _dec(buffer_ratio)
    if income < 0 or essentials < 0:
        raise ValueError("income and essential costs must not be negative")
    if not ZERO <= ratio < 1:
        raise ValueError("buffer_ratio must be between 0 and 1")
    buffer = cents(income * ratio)
    surplus = cents(income - essentials - buffer)
    ordered = sorted(debts, key=_priority_key)
    affordable = surplus > 0
    plan_flags: list[str] = []
    if affordable and ordered:
        amounts, covered = _allocate(ordered, surplus, _dec(min_payment))
        if not covered:
            plan_flags.append("minimums_not_covered")
    else:
        amounts = [ZERO] * len(ordered)
        if not affordable:
            plan_flags.append("shortfall")
    items = []
    for rank, (debt, amount) in enumerate(zip(ordered, amounts, strict=True), start=1):
        flags = [name for name, on in (("secured", debt.secured), ("in_court", debt.in_court)) if on]
        flags += _rate_flags(debt)
        months = months_to_clear(debt.amount, debt.annual_rate or ZERO, amount)
        if amount <= 0:
            flags.append("no_payment")
        elif months is None:
            flags.append("payment_below_interest")
        items.append(DebtPlan(debt, rank, cents(amount), months, tuple(flags)))
    return Plan(
        monthly_income=cents(income),
        essential_costs=cents(essentials),
        buffer=buffer,
        surplus=surplus,
        affordable=affordable,
        total_debt=sum((d.amount for d in ordered), ZERO),
        items=tuple(items),
        flags=tuple(plan_flags),
    )
