"""Which locale to answer in: the user's explicit choice, else the script of what they just wrote."""

from __future__ import annotations

import re
from typing import Any

from bot.config import LOCALES
from bot.textnorm import TRAD_ZHE, converter

DETECT_CHARS = 400
"""Only the start of a message is looked at: enough to tell the script, cheap for a 100 KB paste."""
MIN_LATIN_LETTERS = 3
"""A first message counts as English with this many Latin letters and no Chinese ("ok" does not)."""
SWITCH_WORDS = 2
SWITCH_LONG_WORD = 5
"""A user already answered in Chinese switches to English with two words, or one word of five letters or more
("thanks", "hello"), so stray letters ("abc", "ok") do not flip the language."""

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:cn|com|net|cc|me)/\S*", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[A-Za-z]{2,}")
_HINTS = {
    "zh-hant": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh": "zh-Hans",
    "en": "en",
}


SHORT_ENGLISH = frozenset({"hi", "yo", "ty"})
"""Whole messages too short for the letter count that are English all the same."""


def _t2s_conv() -> Any:
    """The Traditional→Simplified converter (plain t2s: Taiwan variants would rewrite 怎么 into 怎幺)."""
    return converter("t2s")


def _s2t_conv() -> Any:
    """The Simplified→Traditional converter."""
    return converter("s2t")


def detect_script(text: str) -> str | None:
    """Return zh-Hant / zh-Hans (script-specific characters), "zh" (Chinese in both scripts), en, or None."""
    sample = _URL.sub(" ", text[:DETECT_CHARS])
    chinese = "".join(_CJK.findall(sample))
    if chinese:
        if str(_t2s_conv().convert(chinese)) != chinese or TRAD_ZHE.search(chinese):
            return "zh-Hant"
        if str(_s2t_conv().convert(chinese)) != chinese:
            return "zh-Hans"
        return "zh"
    if len(_LATIN.findall(sample)) >= MIN_LATIN_LETTERS:
        return "en"
    if sample.strip(" !.?~").lower() in SHORT_ENGLISH:
        return "en"
    return None


def from_hint(hint: str | None) -> str | None:
    """Map a channel's language code (Telegram's "zh-hans", "zh-TW", "en-US" …) to a locale."""
    if not hint:
        return None
    code = hint.strip().lower().replace("_", "-")
    if code in _HINTS:
        return _HINTS[code]
    base = code.split("-")[0]
    return _HINTS.get(base)


def choose_locale(current: str | None, fixed: bool, text: str, hint: str | None, default: str) -> str:
    """Pick the reply locale: a fixed choice wins, then the script of this message, then what we had."""
    if fixed and current in LOCALES:
        return current
    detected = detect_script(text) if text else None
    if detected == "en" and current in LOCALES and current != "en" and not _clearly_english(text):
        detected = None
    if detected == "zh":  # "不清楚" is the same in both scripts: keep the user's Chinese script
        return current if current in ("zh-Hans", "zh-Hant") else "zh-Hans"
    if detected:
        return detected
    if current in LOCALES:
        return current
    return from_hint(hint) or default


def _clearly_english(text: str) -> bool:
    """Whether a message has enough English words to switch a Chinese conversation to English."""
    words = _WORD.findall(_URL.sub(" ", text[:DETECT_CHARS]))
    return len(words) >= SWITCH_WORDS or any(len(w) >= SWITCH_LONG_WORD for w in words)
