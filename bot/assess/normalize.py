"""Normalise an SMS for matching (controls, width, Traditional → Simplified) and map offsets back."""

from __future__ import annotations

import re
import unicodedata

from bot.textnorm import Aligned, to_simplified_aligned

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
Normalised = Aligned
"""The text to match on, and how to map its offsets back to the original text."""

# Collectors split words to slip past filters: "刑 事 案 件", "征.信". A dot, middle dot or underscore
# between two Chinese characters is never Chinese punctuation; a space is dropped only inside a run of three or more
# single characters each spaced apart, because a lone space often separates two sentences ("通知 你的案子"), or inside
# a 【】 sender name ("【法 院】").
_HAN = "\u4e00-\u9fff"
_SPLIT_WORD = re.compile(
    f"(?<=[{_HAN}])[.·_](?=[{_HAN}])"
    f"|(?<=[{_HAN}]) (?=[{_HAN}](?: [{_HAN}])+(?![{_HAN}]))"
    f"|(?<=[{_HAN}] [{_HAN}]) (?=[{_HAN}])"
)
_HEADER = re.compile("【[^】\n]{1,30}】")
_HEADER_SPACE = re.compile(f"(?<=[{_HAN}]) +(?=[{_HAN}])")


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
    return join_split_words(to_simplified_aligned(cleaned))


def join_split_words(al: Aligned) -> Aligned:
    """Drop the separators a collector put inside a Chinese word, keeping every offset mappable back."""
    cuts = [m.start() for m in _SPLIT_WORD.finditer(al.text)]
    if "【" in al.text:
        for h in _HEADER.finditer(al.text):
            for sp in _HEADER_SPACE.finditer(h.group()):
                cuts.extend(range(h.start() + sp.start(), h.start() + sp.end()))
    if not cuts:
        return al
    cut = set(cuts)
    keep = [i for i in range(len(al.text)) if i not in cut]
    starts = al.starts if al.starts is not None else list(range(len(al.text)))
    ends = al.ends if al.ends is not None else list(range(1, len(al.text) + 1))
    return Aligned("".join(al.text[i] for i in keep), [starts[i] for i in keep], [ends[i] for i in keep])
