"""Read a typed answer to the question a step asks: a button choice, an amount, a rate or free text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from bot.dialogue import content
from bot.dialogue.flows import Node
from bot.dialogue.slots import amounts, normalise_amounts
from bot.plan import AmountError, RateError, cents, parse_amount, parse_rate
from bot.platforms import find_platform
from bot.textnorm import to_halfwidth, to_simplified

MAX_NAME_CHARS = 40
"""A creditor's name is cut to this length."""
MAX_ANSWER_SCAN = 200
"""Answers longer than this are not numbers or choices."""

_AMOUNT_TOKEN = re.compile(r"[¥￥]?\s*[-−负]?\s*\d[\d,，]*(?:\.\d+)?\s*(?:万|千|百|k|w|元|块|rmb|yuan)*", re.IGNORECASE)
_ASCII_WORD = re.compile(r"^[a-z][a-z '’-]*$")


@dataclass(frozen=True)
class Answer:
    """A valid answer (value is JSON-safe: a str; amounts and rates as decimal strings)."""

    value: str


@dataclass(frozen=True)
class Invalid:
    """Why an answer could not be used: the key of the kind correction to show, and its placeholders."""

    key: str
    values: tuple[tuple[str, str], ...] = ()


def normalise(text: str) -> str:
    """Lower-case, half-width, Simplified, single-spaced text for matching typed answers."""
    text = unicodedata.normalize("NFKC", to_halfwidth(text))
    return re.sub(r"\s+", " ", to_simplified(text)).strip().lower().replace("’", "'")


def _word_hits(word: str, text: str) -> bool:
    """Whether a vocabulary word occurs in the text ("=word" must be the whole text)."""
    if word.startswith("="):
        return text == word[1:].lower()
    w = word.lower()
    if _ASCII_WORD.match(w):
        return re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text) is not None
    return w in text


def match_words(node: Node, text: str) -> str | None:
    """Return the value whose vocabulary matches the text best (the longest word wins), or None."""
    norm = normalise(text[: MAX_ANSWER_SCAN * 5])
    best: tuple[int, str] | None = None
    for value, words in node.words.items():
        for word in words:
            if _word_hits(word, norm) and (best is None or len(word.lstrip("=")) > best[0]):
                best = (len(word.lstrip("=")), value)
    return best[1] if best else None


def match_choice(node: Node, text: str, locale: str) -> str | None:
    """Return the choice a typed answer picks: its number, its button label, one of its words, a lender's name."""
    norm = normalise(text)
    values = list(node.choices.values())
    if norm.isdigit() and 1 <= int(norm) <= len(values):
        return values[int(norm) - 1]
    for option_id, value in node.choices.items():
        if norm == normalise(content.label(locale, option_id)):
            return value
    said = match_words(node, text)
    if said is None and node.lookup:
        named = find_platform(text[:MAX_ANSWER_SCAN])
        if named is not None:
            said = node.lookup.get(named[1])
    return said


def out_of_range(node: Node, text: str) -> Invalid | None:
    """A typed number that is not one of the options: say which numbers there are."""
    norm = normalise(text)
    if node.choices and norm.isdigit() and not 1 <= int(norm) <= len(node.choices):
        return Invalid("understand.choice_range", (("count", str(len(node.choices))),))
    return None


def read_amount(text: str, zero_ok: bool = False) -> Decimal:
    """Read a yuan amount, also inside a short phrase ("大概3万左右", "五千", "3万5"); raises AmountError."""
    text = normalise_amounts(text)
    try:
        return parse_amount(text)
    except AmountError as exc:
        if exc.reason == "zero" and zero_ok:
            return Decimal("0.00")
        if exc.reason != "not_a_number":
            raise
    tokens = [m.group(0) for m in _AMOUNT_TOKEN.finditer(text[:MAX_ANSWER_SCAN])]
    if len(tokens) != 1:
        found = amounts(text)
        if len(found) == 1:
            return cents(found[0][1])
        raise AmountError("not_a_number")
    try:
        return parse_amount(tokens[0].replace("，", ","))
    except AmountError as exc:
        if exc.reason == "zero" and zero_ok:
            return Decimal("0.00")
        raise


def parse_answer(node: Node, text: str, locale: str) -> Answer | Invalid:
    """Check a typed answer against what the step asks for."""
    text = text.strip()
    if not text:
        return Invalid("answers.empty")
    if node.choices or node.ask == "choice":
        picked = match_choice(node, text, locale)
        if picked is not None:
            return Answer(picked)
        if node.ask == "choice":
            return out_of_range(node, text) or Invalid("answers.choice")
    if node.words and node.ask != "choice":
        said = match_words(node, text)
        if said is not None:
            return Answer(said)
    if node.ask in ("amount", "amount_or_zero"):
        if len(text) > MAX_ANSWER_SCAN:
            return Invalid("answers.amount.not_a_number")
        try:
            return Answer(str(read_amount(to_simplified(text), zero_ok=node.ask == "amount_or_zero")))
        except AmountError as exc:
            return Invalid(f"answers.amount.{exc.reason}")
    if node.ask == "rate":
        if len(text) > MAX_ANSWER_SCAN:
            return Invalid("answers.rate.not_a_number")
        try:
            return Answer(str(parse_rate(to_simplified(text))))
        except RateError as exc:
            return Invalid(f"answers.rate.{exc.reason}")
    if node.ask == "text" and not node.free:
        if not any(ch.isalpha() for ch in text):  # "2" or "😀" is not a name
            return Invalid("understand.name_needed")
        return Answer(" ".join(text.split())[:MAX_NAME_CHARS])
    return Answer(text)
