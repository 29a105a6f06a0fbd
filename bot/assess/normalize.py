"""Normalise an SMS for matching (controls, width, Traditional → Simplified) and map offsets back."""

from __future__ import annotations

import unicodedata

from bot.textnorm import Aligned, to_simplified_aligned

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
Normalised = Aligned
"""The text to match on, and how to map its offsets back to the original text."""


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


def normalise(text: str) -> Normalised:
    """Return the matching form of `text`: cleaned, half-width, Simplified; offsets map back."""
    cleaned = clean(text)
    if not cleaned:
        return Normalised("")
    return to_simplified_aligned(cleaned)
