"""Split a long reply into message-sized chunks for a platform that counts length its own way.

Telegram counts UTF-16 code units, WeChat UTF-8 bytes; both channels use this one splitter with their own
length function. Texts are cut on paragraphs first, then lines, sentences, clauses and words, and only as a
last resort inside a word (never inside a character).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SPLIT_SEPARATORS = ("\n\n", "\n", "。", "！", "？", ". ", "; ", "；", "，", ", ", " ")
"""Long texts are split on paragraphs first, then lines, sentences, clauses and words."""

Length = Callable[[str], int]


def _hard_split(text: str, limit: int, length: Length) -> list[str]:
    """Cut text into pieces of at most `limit` (by `length`) without breaking a character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        n = length(ch)
        if size + n > limit and current:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    if current:
        pieces.append("".join(current))
    return pieces


def _split(text: str, limit: int, separators: Sequence[str], length: Length) -> list[str]:
    """Greedily pack pieces of text, cut at the first separator that occurs, into chunks within limit."""
    if length(text) <= limit:
        return [text]
    if not separators:
        return _hard_split(text, limit, length)
    sep, finer = separators[0], separators[1:]
    parts = text.split(sep)
    if len(parts) == 1:
        return _split(text, limit, finer, length)
    pieces = [p + sep for p in parts[:-1]] + [parts[-1]]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if length(current + piece) <= limit:
            current += piece
            continue
        if current:
            chunks.append(current)
            current = ""
        if length(piece) <= limit:
            current = piece
        else:
            sub = _split(piece, limit, finer, length)
            chunks.extend(sub[:-1])
            current = sub[-1]
    if current:
        chunks.append(current)
    return chunks


def split_by(text: str, limit: int, length: Length, separators: Sequence[str] = SPLIT_SEPARATORS) -> list[str]:
    """Split a plain text into chunks of at most `limit` by `length`, on paragraph boundaries where possible."""
    return [c.strip() for c in _split(text.strip(), limit, separators, length) if c.strip()]
