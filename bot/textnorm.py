"""Text normalisation shared by the NLU, training and the safeguards: script, width, whitespace, length."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
_WS = re.compile(r"\s+")


# OpenCC t2s keeps Taiwan's 著 (睡不著, 活著); outside 著名/著作/显著/土著 … it is the Traditional form of 着.
TRAD_ZHE = re.compile(r"(?<![显顯土卓])著(?![名作称稱录錄述])")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    """Return the OpenCC Traditional→Simplified converter (created once).

    Plain t2s on purpose: the Taiwan-variant config (tw2s) also rewrites characters that are correct
    Simplified (怎么 → 怎幺), so the one Taiwan variant that matters here, 著 for 着, is handled by TRAD_ZHE.
    """
    import opencc

    try:
        return opencc.OpenCC("t2s")
    except Exception:  # the official binding wants the config file name on some versions
        return opencc.OpenCC("t2s.json")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters (and Taiwan's 著 for 着) to Simplified; other text is unchanged."""
    if not text:
        return text
    return TRAD_ZHE.sub("着", str(_t2s().convert(text)))


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII letters, digits, punctuation and the ideographic space to half-width."""
    return text.translate(_FULLWIDTH)


def strip_controls(text: str) -> str:
    """Replace control and format characters (except line breaks and tabs) with spaces."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch in "\n\t" or not unicodedata.category(ch).startswith("C") else " " for ch in text
    )


def normalise(text: str, max_chars: int = 2000) -> tuple[str, list[str]]:
    """Normalise user text for the model: controls, width, script, whitespace, then the length cap."""
    notes: list[str] = []
    if len(text) > max_chars * 4:  # avoid converting a huge paste we will cut anyway
        text = text[: max_chars * 4]
    out = _WS.sub(" ", to_simplified(to_halfwidth(strip_controls(text)))).strip()
    if len(out) > max_chars:
        out = out[:max_chars]
        notes.append(f"text cut to the first {max_chars} characters")
    return out, notes


def has_words(text: str) -> bool:
    """Tell whether the text holds at least one letter or CJK character (not only emoji or symbols)."""
    return any(ch.isalpha() for ch in text)
