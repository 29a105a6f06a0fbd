"""Does a message look like a pasted or forwarded collection SMS rather than the user's own words?"""

from __future__ import annotations

import re
from typing import Literal

from bot.textnorm import to_halfwidth, to_simplified

Signal = Literal["strong", "weak"]

SCAN_CHARS = 2000
"""Only the start of a long paste is scanned."""
MIN_WEAK_CHARS = 60
"""A long message with debt vocabulary is a weak signal: it may be an SMS or the user's own story."""

_TAG = re.compile(r"【[^】\n]{1,20}】|\[[^\]\n]{1,20}\]\s*\S")
_UNSUBSCRIBE = re.compile(r"退订|回T|回td|拒收请回复|reply\s*stop", re.IGNORECASE)
_SHORT_LINK = re.compile(
    r"https?://|\b(?:t\.cn|url\.cn|dwz\.cn|suo\.im|tb\.cn|c\.tb\.cn|bit\.ly|s\.[a-z0-9-]+\.cn)/",
    re.IGNORECASE,
)
_AMOUNT = re.compile(r"\d[\d,.]*\s*(?:元|块|万)|[¥￥]\s*\d|rmb\s*\d|\d\s*yuan", re.IGNORECASE)
_DEBT_WORDS = re.compile(
    r"逾期|催收|欠款|欠费|还款|结清|立案|起诉|法院|传票|律师函|法务|征信|通讯录|紧急联系人|上门|外访|冻结|"
    r"overdue|repay|debt|collection|lawsuit|court",
    re.IGNORECASE,
)
# "我司/我方/我行/我公司/我们" is how collectors speak of themselves, not the user telling their story.
_FIRST_PERSON = re.compile(r"我(?!司|方|行|公司|们)|\bI\b|\bI'm\b|\bmy\b|\bme\b")


def sms_signal(text: str, forwarded: bool = False) -> Signal | None:
    """Return "strong" (forwarded, 【tag】, 退订, a link), "weak" (long, amount or debt words) or None."""
    if forwarded:
        return "strong"
    sample = to_simplified(to_halfwidth(text[:SCAN_CHARS]))
    if _TAG.search(sample) or _UNSUBSCRIBE.search(sample) or _SHORT_LINK.search(sample):
        return "strong"
    if len(sample.strip()) >= MIN_WEAK_CHARS and (_AMOUNT.search(sample) or _DEBT_WORDS.search(sample)):
        return "weak"
    return None


def speaks_in_first_person(text: str) -> bool:
    """Whether the user seems to tell their own story ("我…", "I …") rather than paste a collector's SMS."""
    return bool(_FIRST_PERSON.search(to_simplified(text[:SCAN_CHARS])))
