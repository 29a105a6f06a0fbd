"""Read the repayment plan's answers from anything the user writes ("欠了信用飞3万，工资5000，房租一千五").

An amount is told apart by the words just before it: income (工资, 月入, salary …), essential costs (房租,
生活费, rent …) or a debt (欠, 借, owe …). Chinese numerals are read with cn2an. What is found fills the plan's
questions so the flow asks only for what is still missing.
"""

from __future__ import annotations

import re
import warnings
from decimal import Decimal

from bot.plan import MAX_AMOUNT, AmountError, parse_amount
from bot.platforms import find_platform
from bot.textnorm import to_halfwidth, to_simplified

MAX_SCAN = 600
"""Only this much of a message is read for amounts (a long paste is not a plan)."""
CONTEXT_CHARS = 8
"""How far before an amount its label word may stand (月收入大概是5000)."""

_NUMBER = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)\s*(万|w|千|k|百)?(\d)?(?![\d%])\s*(?:多|来)?\s*(元|块钱|块|rmb|yuan)?",
    re.IGNORECASE,
)
_INCOME = (
    "工资",
    "月入",
    "收入",
    "月薪",
    "薪水",
    "薪资",
    "挣",
    "赚",
    "到手",
    "出粮",
    "人工",
    "income",
    "salary",
    "earn",
    "make",
    "paid",
)
_COSTS = (
    "房租",
    "租金",
    "生活费",
    "开销",
    "开支",
    "花销",
    "花费",
    "支出",
    "水电",
    "伙食",
    "吃饭",
    "rent",
    "living",
    "expenses",
    "costs",
    "spend",
)
_DEBT = ("欠", "借", "贷", "负债", "逾期", "债", "本金", "额度", "owe", "debt", "borrow", "loan")
_NOT_MONEY = (
    "%",
    "期",
    "个",
    "月",
    "天",
    "年",
    "号",
    "点",
    "次",
    "岁",
    "家",
    "笔",
    "张",
    "位",
    "人",
    "小时",
    "分钟",
    "year",
    "month",
    "day",
    "time",
    "app",
    "loan",
)
MIN_PLAIN_AMOUNT = 10
"""A bare number below this, without 元/万/k, is not a debt, an income or a cost ("一个" becomes 1 in cn2an)."""
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_MULT = {"万": Decimal(10_000), "w": Decimal(10_000), "千": Decimal(1_000), "k": Decimal(1_000), "百": Decimal(100)}


def _convert_numerals(text: str) -> str:
    """Write Chinese numerals as digits (一千五 → 1500); text without them is unchanged."""
    if not re.search(r"[一二两三四五六七八九十百千万零〇]", text):
        return text
    import cn2an

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(cn2an.transform(text, "cn2an"))
        except Exception:  # an odd numeral phrase: keep the text as written
            return text


def normalise_amounts(text: str) -> str:
    """Half-width, Simplified, lower-case text with Chinese numerals as digits."""
    text = _THOUSANDS.sub("", to_simplified(to_halfwidth(text[:MAX_SCAN])).lower())
    return _convert_numerals(text)


def _value(number: str, unit: str | None, tail: str | None) -> Decimal | None:
    """The yuan value of a number with its unit ("3万5" is 35,000), or None when it is not an amount."""
    value = Decimal(number)
    if unit:
        mult = _MULT[unit.lower()]
        value *= mult
        if tail:
            value += Decimal(tail) * mult / 10
    elif tail:
        return None
    if value <= 0 or value > MAX_AMOUNT:
        return None
    return value


def _label(before: str) -> str | None:
    """Which plan answer the words just before an amount point to, or None."""
    best: tuple[int, str] | None = None
    for label, words in (("income", _INCOME), ("costs", _COSTS), ("amount", _DEBT)):
        for w in words:
            pos = before.rfind(w)
            if pos != -1 and (best is None or pos > best[0]):
                best = (pos, label)
    return best[1] if best else None


def amounts(text: str) -> list[tuple[str | None, Decimal]]:
    """Return every amount in the text with the plan answer it belongs to (None when unlabelled)."""
    norm = normalise_amounts(text)
    found: list[tuple[str | None, Decimal]] = []
    for m in _NUMBER.finditer(norm):
        after = norm[m.end() : m.end() + 2]
        if after.startswith(_NOT_MONEY) and not m.group(2):
            continue  # 18%, 12期, 3个月, 10号, 一个 (1个), 好几家 … are not amounts
        value = _value(m.group(1), m.group(2), m.group(3))
        if value is None or (value < MIN_PLAIN_AMOUNT and not m.group(2) and not m.group(4)):
            continue
        before = norm[max(0, m.start() - CONTEXT_CHARS) : m.start()]
        found.append((_label(before), value))
    return found


def is_bare_amount(text: str) -> bool:
    """Whether the message is only an amount ("3万", "五千块", "8000"), nothing else."""
    norm = normalise_amounts(text.strip())
    if not norm or len(norm) > 20:
        return False
    try:
        parse_amount(norm)
    except AmountError:
        m = _NUMBER.fullmatch(norm)
        return bool(m and _value(m.group(1), m.group(2), m.group(3)) is not None)
    return True


def _has_debt_word(text: str) -> bool:
    """Whether the message speaks of owing anywhere in it."""
    norm = normalise_amounts(text)
    return any(w in norm for w in _DEBT)


def plan_slots(text: str, bare_is_debt: bool = False) -> dict[str, str]:
    """Read the plan's answers from a message: creditor, amount, income, costs (decimal strings).

    Costs written in several parts (房租1500，生活费2000) are added up. An unlabelled amount counts as the debt
    only when `bare_is_debt` (the plan is asking about a debt, or the message names a lender).
    """
    slots: dict[str, str] = {}
    platform = find_platform(text)
    if platform is not None:  # the kind is still asked: a name alone can mislead (a bank's card, its app)
        slots["creditor"] = platform[0]
    costs = Decimal(0)
    found = amounts(text.replace(platform[0], " ") if platform is not None else text)
    unlabelled = [value for label, value in found if label is None]
    if len(unlabelled) == 1 and not any(label == "amount" for label, _ in found) and _has_debt_word(text):
        bare_is_debt = True  # "我欠了 credit card 三万": one figure in a message about a debt is the debt
    if platform is not None:  # digits inside a lender's name (360借条) are not amounts
        text = text.replace(platform[0], " ")
    for label, value in amounts(text):
        if label is None and (bare_is_debt or platform is not None):
            label = "amount"
        if label == "costs":
            costs += value
        elif label in ("income", "amount") and label not in slots:
            slots[label] = f"{value:.2f}"
    if costs:
        slots["costs"] = f"{costs:.2f}"
    return slots
