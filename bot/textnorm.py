"""Text normalisation shared by the NLU, training and the safeguards: script, width, whitespace, length."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress, count
from operator import ne
from typing import Any

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
_WS = re.compile(r"\s+")


# OpenCC t2s keeps Taiwan's 著 (睡不著, 活著); outside 著名/著作/显著/土著 … it is the Traditional form of 着.
TRAD_ZHE = re.compile(r"(?<![显顯土卓])著(?![名作称稱录錄述])")


@lru_cache(maxsize=8)
def converter(config: str) -> Any | None:
    """Return the OpenCC converter for a config ("t2s", "s2t", "tw2s", "hk2s"), created once; None without OpenCC.

    The one place the project builds OpenCC converters. Bindings differ in how they want the config named
    ("t2s" or "t2s.json"), so both are tried.
    """
    try:
        import opencc
    except ImportError:
        return None
    for name in (config, f"{config}.json"):
        try:
            return opencc.OpenCC(name)
        except Exception:  # the other spelling is tried next
            continue
    return None


def _t2s() -> Any:
    """Return the Traditional→Simplified converter (plain t2s, see to_simplified); raises without OpenCC.

    Plain t2s on purpose: the Taiwan-variant config (tw2s) also rewrites characters that are correct
    Simplified (怎么 → 怎幺), so the one Taiwan variant that matters here, 著 for 着, is handled by TRAD_ZHE.
    """
    conv = converter("t2s")
    if conv is None:
        raise RuntimeError("OpenCC is not installed (pip install -r requirements.txt)")
    return conv


SIMPLIFIED_CACHE_CHARS = 2000
"""Texts up to this long have their conversion remembered: one message is converted by several checks."""


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters (and Taiwan's 著 for 着) to Simplified; other text is unchanged."""
    if not text:
        return text
    if len(text) <= SIMPLIFIED_CACHE_CHARS:
        return _to_simplified_cached(text)
    return _to_simplified(text)


def _to_simplified(text: str) -> str:
    """The conversion itself."""
    return TRAD_ZHE.sub("着", str(_t2s().convert(text)))


@lru_cache(maxsize=256)
def _to_simplified_cached(text: str) -> str:
    """The conversion of a recent text (the answer and the locale checks, the SMS signal… see the same message)."""
    return _to_simplified(text)


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII letters, digits, punctuation and the ideographic space to half-width."""
    return text.translate(_FULLWIDTH)


def strip_controls(text: str) -> str:
    """Replace control and format characters (except line breaks and tabs) with spaces."""
    if text.isprintable():
        return text
    return "".join(ch if ch in "\n\t" or not unicodedata.category(ch).startswith("C") else " " for ch in text)


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


# -- index-preserving conversion ------------------------------------------------------------------------------

# Chunks converted on their own when the whole text changes length under t2s: runs of non-punctuation.
_CHUNK = re.compile(r"[^\s，。！？；、,.!?;:：]+|[\s，。！？；、,.!?;:：]+")


@dataclass(frozen=True)
class Aligned:
    """Converted text, and how to map its offsets back to the text it came from."""

    text: str
    starts: list[int] | None = None  # source start index of each converted char (None = identity)
    ends: list[int] | None = None  # source end index of each converted char

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the converted text to the source text."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end or not self.starts:
            pos = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=16384)
def _t2s_char(ch: str) -> str:
    """Convert one character on its own (memoised; used to check alignment)."""
    return str(_t2s().convert(ch))


def _aligned(src: str, out: str, char: Callable[[str], str] = _t2s_char) -> bool:
    """Tell whether `out` is a char-for-char conversion of `src` (equal length is not enough by itself)."""
    if src == out:
        return True
    if len(src) != len(out):
        return False
    # only the characters that differ are checked one by one (finding them runs in C)
    return all(char(src[i]) == out[i] for i in compress(count(), map(ne, src, out)))


def convert_chunked(text: str, convert: Callable[[str], str], char: Callable[[str], str] = _t2s_char) -> Aligned:
    """Convert chunk by chunk, building an index map where a chunk is not converted char for char.

    convert turns a chunk, char one character (both are OpenCC t2s in use; tests give stand-ins).
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _CHUNK.finditer(text):
        chunk, base = m.group(), m.start()
        conv = convert(chunk)
        if _aligned(chunk, conv, char):
            out.append(conv)
            starts.extend(range(base, base + len(chunk)))
            ends.extend(range(base + 1, base + len(chunk) + 1))
            continue
        for i, ch in enumerate(chunk):  # rare: convert char by char, each maps to its own source char
            c = char(ch) or ch
            out.append(c)
            starts.extend([base + i] * len(c))
            ends.extend([base + i + 1] * len(c))
    return Aligned("".join(out), starts, ends)


def to_simplified_aligned(text: str) -> Aligned:
    """Traditional → Simplified keeping every offset mappable back to `text` (for spans shown to the user)."""
    if not text or text.isascii():  # nothing for t2s to do
        return Aligned(text)
    convert: Callable[[str], str] = _t2s().convert
    try:
        simplified = convert(text)
    except Exception:  # the converter refused the text: keep it as it is
        return Aligned(text)
    if _aligned(text, simplified):
        return Aligned(simplified)
    return convert_chunked(text, convert)
