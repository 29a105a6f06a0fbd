"""Normalise an SMS for matching (controls, width, Traditional → Simplified) and map offsets back."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
# Chunks converted on their own when the whole text changes length under t2s: runs of non-punctuation.
_CHUNK = re.compile(r"[^\s，。！？；、,.!?;:：]+|[\s，。！？；、,.!?;:：]+")


@dataclass(frozen=True)
class Normalised:
    """The text to match on, and how to map its offsets back to the original text."""

    text: str
    starts: list[int] | None = None  # original start index of each normalised char (None = identity)
    ends: list[int] | None = None  # original end index of each normalised char

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text to the original text."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end or not self.starts:
            pos = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    """Return the OpenCC Traditional→Simplified conversion function (created once)."""
    import opencc

    try:
        converter = opencc.OpenCC("t2s")
    except Exception:  # the official binding wants the config file name on some versions
        converter = opencc.OpenCC("t2s.json")
    convert: Callable[[str], str] = converter.convert
    return convert


@lru_cache(maxsize=16384)
def _t2s_char(ch: str) -> str:
    """Convert one character on its own (memoised; used to check alignment)."""
    return _t2s()(ch)


def _aligned(src: str, out: str, char: Callable[[str], str]) -> bool:
    """Tell whether `out` is a char-for-char conversion of `src` (equal length is not enough by itself)."""
    if src == out:
        return True
    return len(src) == len(out) and all(a == b or char(a) == b for a, b in zip(src, out, strict=True))


def _clean_char(ch: str) -> str:
    """Replace one control, format or surrogate character by a space (keeps line breaks and tabs)."""
    if ch in "\n\t":
        return ch
    return " " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") else ch


def clean(text: str) -> str:
    """Replace controls and lone surrogates by spaces and map full-width ASCII to half-width (1:1)."""
    if not text.isprintable() and not text.replace("\n", "").replace("\t", "").isprintable():
        text = "".join(_clean_char(ch) for ch in text)
    return text.translate(_FULLWIDTH)


def _convert_chunked(text: str, convert: Callable[[str], str], char: Callable[[str], str]) -> Normalised:
    """Convert chunk by chunk, building an index map where a chunk is not converted char for char."""
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
    return Normalised("".join(out), starts, ends)


def normalise(text: str) -> Normalised:
    """Return the matching form of `text`: cleaned, half-width, Simplified; offsets map back."""
    cleaned = clean(text)
    if not cleaned:
        return Normalised("")
    if cleaned.isascii():  # nothing for t2s to do
        return Normalised(cleaned)
    convert = _t2s()
    try:
        simplified = convert(cleaned)
    except Exception:  # the converter refused the text: match on the cleaned text as is
        return Normalised(cleaned)
    if _aligned(cleaned, simplified, _t2s_char):
        return Normalised(simplified)
    return _convert_chunked(cleaned, convert, _t2s_char)
