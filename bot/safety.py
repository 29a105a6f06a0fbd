"""Deterministic crisis safeguard: catch self-harm and danger-at-the-door messages before any model runs.

The phrases live in bot/data/crisis_lexicon.yml (Simplified Chinese and English, with comments for
volunteers). A message is matched on a normalised copy: half-width, lower-case ASCII, Traditional→Simplified,
curly quotes straightened, spaces between Chinese characters dropped, other whitespace runs shrunk to one
space. Spans in the result always point into the caller's original text. Recall matters more than precision
here: a false alarm shows a hotline to someone who did not need it; a miss can cost a life.
Must not import the dialogue or a channel (tests/test_architecture.py).
"""

from __future__ import annotations

import bisect
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.assess.rules import first_chars
from bot.textnorm import converter

LEXICON_PATH = Path(__file__).parent / "data" / "crisis_lexicon.yml"
KINDS = ("self_harm", "danger")

_ID = re.compile(r"[a-z][a-z0-9_]{0,60}")
_ASCII_WORD = re.compile(r"[a-z0-9]")
# Messages are lower-cased before matching, so patterns need no IGNORECASE (which would slow the search).
# ASCII: \b and \w treat Chinese as a non-word character, so "我想kms" still matches "kms".
_FLAGS = re.ASCII
_MASK = "\x00"
_DROP = "\u200b"  # zero-width characters are mapped to this one, then dropped from the view
# Only the runs worth changing: zero-width characters, 2+ spaces, one space between two Chinese characters.
_GAPS = re.compile(r"[ \u200b]{2,}|\u200b|(?<=[\u3400-\u9fff\uf900-\ufaff]) (?=[\u3400-\u9fff\uf900-\ufaff])")
_CJK_BLOCKS = ((0x3400, 0xA000), (0xF900, 0xFB00))
_SCRIPT_CONFIGS = ("t2s", "tw2s", "hk2s")  # t2s first; the others add regional variants such as 著 → 着


def _char_fixes() -> dict[int, str]:
    """Return the one-to-one character fixes: full-width, case, quotes, whitespace, zero-width characters."""
    table: dict[int, str] = {cp: chr(cp - 0xFEE0).lower() for cp in range(0xFF01, 0xFF5F)}
    table.update({ord(c): c.lower() for c in string.ascii_uppercase})
    table.update(dict.fromkeys(map(ord, "\u2018\u2019\u02bc\u0060\u00b4"), "'"))
    spaces = "\t\n\r\f\v\x85\u00a0\u1680\u2028\u2029\u202f\u205f\u3000"
    spaces += "".join(map(chr, range(0x2000, 0x200B)))
    table.update(dict.fromkeys(map(ord, spaces), " "))
    table.update(dict.fromkeys(map(ord, "\u200c\u200d\u2060\ufeff\u00ad\u180e"), _DROP))
    return table


def script_table(keep: set[str]) -> dict[int, str]:
    """Build a character-level Traditional→Simplified table from OpenCC, never remapping a char in keep.

    Converting character by character keeps every index of the message valid, and only the characters of the
    lexicon matter for matching, so whole-phrase conversion is not needed.
    """
    chars = [chr(cp) for lo, hi in _CJK_BLOCKS for cp in range(lo, hi)]
    table: dict[int, str] = {}
    for config in _SCRIPT_CONFIGS:
        conv = converter(config)
        if conv is None:
            continue
        out = str(conv.convert("\n".join(chars))).split("\n")
        if len(out) != len(chars):
            continue
        for src, dst in zip(chars, out, strict=True):
            if len(dst) == 1 and dst != src and src not in keep:
                table.setdefault(ord(src), dst)
    return table


@dataclass(frozen=True)
class CrisisHit:
    """A crisis found in a message: its kind, where it is in the original text, and which lexicon entry."""

    kind: str  # "self_harm" | "danger"
    span: tuple[int, int]
    pattern_id: str
    reported: bool = False  # every sign lies in someone else's words or a finished past event (see lexicon)


@dataclass(frozen=True)
class Lexicon:
    """The compiled crisis lexicon.

    Plain phrases are compiled into two prefix trees (phrases starting with an ASCII letter, and the rest),
    each one regex without groups, so CPython's engine skips positions no phrase can start at and tries only
    the branches for the current character. Hand-written regexes are searched one by one.
    """

    translate: dict[int, str]  # one-to-one character fixes and Traditional→Simplified
    phrase_trees: tuple[re.Pattern[str], ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]  # (entry id, pattern)
    entries: tuple[tuple[str, re.Pattern[str]], ...]  # (entry id, its phrases): names a phrase-tree hit
    kinds: dict[str, str]  # entry id → kind
    exclusions: re.Pattern[str] | None
    reported: re.Pattern[str] | None = None  # a collector's words, a visit that is over: the crisis reply stays
    by_first: dict[str, tuple[int, ...]] | None = None
    """Character → indices in regexes of those a match may start with it (first_chars); None: try them all."""
    any_first: tuple[int, ...] = ()
    """Indices of the regexes whose first character cannot be told: always tried."""


def first_index(
    patterns: tuple[tuple[str, re.Pattern[str]], ...],
) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Index patterns by the characters their matches start with; also those that cannot be indexed."""
    by_first: dict[str, list[int]] = {}
    always: list[int] = []
    for i, (_, rx) in enumerate(patterns):
        first = None if rx.flags & re.IGNORECASE else first_chars(rx.pattern, rx.flags)
        if first is None:
            always.append(i)
            continue
        for ch in first:
            by_first.setdefault(ch, []).append(i)
    return {ch: tuple(ids) for ch, ids in by_first.items()}, tuple(always)


def phrase_tokens(phrase: str) -> list[str]:
    """Turn a lexicon phrase into regex tokens: lower-case literals, optional apostrophes, word edges."""
    phrase = " ".join(phrase.lower().split())
    if not phrase:
        raise ValueError("empty phrase in the crisis lexicon")
    tokens = ["'?" if ch == "'" else re.escape(ch) for ch in phrase]
    if _ASCII_WORD.match(phrase[0]):  # word edge checked just after the first letter, which keeps search fast
        tokens[0] = f"{tokens[0]}(?<![a-z0-9]{tokens[0]})"
    if _ASCII_WORD.match(phrase[-1]):
        tokens.append("(?![a-z0-9])")
    return tokens


def phrase_to_regex(phrase: str) -> str:
    """Turn a plain lexicon phrase into a regex (see phrase_tokens)."""
    return "".join(phrase_tokens(phrase))


def tree_regex(phrases: list[list[str]]) -> str:
    """Build one regex that matches any of the token lists, factored as a prefix tree."""
    root: dict[str, Any] = {}
    for tokens in phrases:
        node = root
        for token in tokens:
            node = node.setdefault(token, {})
        node[""] = {}  # end of a phrase

    def emit(node: dict[str, Any]) -> str:
        """Return the regex for the phrases continuing below a node."""
        alts = [token + emit(child) for token, child in node.items() if token]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})"
        return f"(?:{body})?" if "" in node else body

    return "|".join(token + emit(child) for token, child in root.items())


def unbounded_repeat(regex: str) -> bool:
    """Tell whether a regex uses an unbounded repeat (*, +, {n,}) outside a character class."""
    i, in_class = 0, False
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if regex[i + 1 : i + 2] == "]":  # "[]...]" starts with a literal ]
                i += 1
        elif ch in "*+" or (ch == "{" and re.match(r"\{\d*,\}", regex[i:])):
            return True
        i += 1
    return False


def _checked(regex: str, where: str) -> str:
    """Check one regex: it compiles and never matches the empty string."""
    try:
        compiled = re.compile(regex, _FLAGS)
    except re.error as exc:
        raise ValueError(f"{where}: bad regex {regex!r}: {exc}") from exc
    if compiled.search("") is not None:
        raise ValueError(f"{where}: {regex!r} matches the empty string")
    return regex


def _entry(entry: dict[str, Any], where: str) -> tuple[list[list[str]], list[str]]:
    """Validate one lexicon entry and return its phrases (as regex tokens) and its hand-written regexes."""
    phrases = entry.get("phrases") or []
    regexes = entry.get("regex") or []
    if not isinstance(phrases, list) or not isinstance(regexes, list) or not (phrases or regexes):
        raise ValueError(f"{where}: needs a list of phrases and/or a list of regex")
    for rx in regexes:
        if unbounded_repeat(str(rx)):
            raise ValueError(f"{where}: unbounded repeat in {rx!r}; use a bounded gap like .{{0,6}}")
        if re.search(r"(?<!\\)[A-Z]", str(rx)):
            raise ValueError(f"{where}: write regex {rx!r} in lower case (messages are lower-cased first)")
    for phrase in phrases:
        if re.search(r"[\u3400-\u9fff] +[\u3400-\u9fff]", str(phrase)):
            raise ValueError(f"{where}: {phrase!r} has a space between Chinese characters (never matches)")
    tokens = [phrase_tokens(str(p)) for p in phrases]
    for t in tokens:
        _checked("".join(t), where)
    return tokens, [_checked(str(rx), where) for rx in regexes]


def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    """Read, check and compile a crisis lexicon file; raise ValueError on any mistake in it."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    ascii_start: list[list[str]] = []
    other_start: list[list[str]] = []
    regexes: list[tuple[str, re.Pattern[str]]] = []
    entries: list[tuple[str, re.Pattern[str]]] = []
    kinds: dict[str, str] = {}
    for kind in KINDS:
        for entry in data.get(kind) or []:
            pid = str(entry.get("id", ""))
            if not _ID.fullmatch(pid) or pid in kinds:
                raise ValueError(f"{path.name}: bad or duplicate id {pid!r} in {kind}")
            kinds[pid] = kind
            phrases, own = _entry(entry, f"{path.name}:{pid}")
            for tokens in phrases:
                (ascii_start if _ASCII_WORD.match(tokens[0][0]) else other_start).append(tokens)
            if phrases:
                entries.append((pid, re.compile("|".join("".join(t) for t in phrases), re.ASCII)))
            regexes += [(pid, re.compile(rx, re.ASCII)) for rx in own]
    if not kinds:
        raise ValueError(f"{path.name}: no crisis patterns")
    trees = tuple(re.compile(tree_regex(group), re.ASCII) for group in (other_start, ascii_start) if group)
    excl: list[str] = []
    for entry in data.get("exclusions") or []:
        phrases, own = _entry(entry, f"{path.name}:{entry.get('id')}")
        excl += ["".join(t) for t in phrases] + own
    exclusions = re.compile("|".join(excl), _FLAGS) if excl else None
    told: list[str] = []
    for entry in data.get("reported") or []:
        phrases, own = _entry(entry, f"{path.name}:{entry.get('id')}")
        told += ["".join(t) for t in phrases] + own
    reported = re.compile("|".join(told), _FLAGS) if told else None
    sections = [e for key in (*KINDS, "exclusions", "reported") for e in data.get(key) or []]
    written = "".join(str(x) for e in sections for x in [*(e.get("phrases") or []), *(e.get("regex") or [])])
    table = {**script_table({ch for ch in written if _is_cjk(ch)}), **_char_fixes()}
    by_first, any_first = first_index(tuple(regexes))
    return Lexicon(table, trees, tuple(regexes), tuple(entries), kinds, exclusions, reported, by_first, any_first)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """Return the project's compiled crisis lexicon (loaded once, on first use)."""
    return load_lexicon()


def _is_cjk(ch: str) -> bool:
    """Tell whether a character is a CJK ideograph."""
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or ch >= "\U00020000"


class _View:
    """A compacted copy of a text for matching, with a map from its indices back to the original."""

    def __init__(self, text: str) -> None:
        """Drop zero-width characters and spaces between Chinese characters; shrink other spaces to one."""
        self.inserts: list[int] = []  # compact index before which characters were dropped
        self.cumulative: list[int] = []  # characters dropped up to and including that point
        parts: list[str] = []
        last = dropped = 0
        for gap in _GAPS.finditer(text):
            start, end = gap.span()
            before = text[start - 1] if start else ""
            after = text[end] if end < len(text) else ""
            between_words = bool(before and after) and not (_is_cjk(before) and _is_cjk(after))
            keep = 1 if " " in gap.group() and between_words else 0
            if end - start == keep:
                continue
            parts.append(text[last:start] + " " * keep)
            self.inserts.append(start + keep - dropped)
            dropped += end - start - keep
            self.cumulative.append(dropped)
            last = end
        self.text = "".join(parts) + text[last:] if parts else text

    def original(self, index: int) -> int:
        """Map the index of a character in the compact text to its index in the original."""
        k = bisect.bisect_right(self.inserts, index)
        return index + (self.cumulative[k - 1] if k else 0)


def _first(target: str, lex: Lexicon) -> tuple[int, int, str] | None:
    """The earliest lexicon hit in a prepared text: (start, end, entry id), or None."""
    found: list[tuple[int, int, str]] = []
    for tree in lex.phrase_trees:
        if (m := tree.search(target)) is not None:
            pid = next((p for p, rx in lex.entries if rx.match(target, m.start())), lex.entries[0][0])
            found.append((m.start(), m.end(), pid))
    if lex.by_first is None:
        tried: Any = range(len(lex.regexes))
    else:  # only the regexes that can start at a character of the text
        index = lex.by_first
        tried = set(lex.any_first)
        for ch in set(target).intersection(index):
            tried.update(index[ch])
    for i in tried:
        pid, rx = lex.regexes[i]
        if (m := rx.search(target)) is not None:
            found.append((m.start(), m.end(), pid))
    return min(found) if found else None


def _search(text: str, lex: Lexicon) -> CrisisHit | None:
    """Search one length-aligned copy of the message; the span maps back to the original text.

    A hit that is gone once the "reported" spans are blanked too (a collector's "去死", a visit that is over) is
    still a hit, marked reported: the crisis reply is shown and the message is answered as well.
    """
    view = _View(text)
    target = view.text
    if lex.exclusions is not None:
        target = lex.exclusions.sub(lambda m: _MASK * len(m.group()), target)
    hit = _first(target, lex)
    if hit is None:
        return None
    start, end, pid = hit
    told = False
    if lex.reported is not None:
        own = lex.reported.sub(lambda m: _MASK * len(m.group()), target)
        told = own != target and _first(own, lex) is None
    return CrisisHit(lex.kinds[pid], (view.original(start), view.original(end - 1) + 1), pid, told)


def detect_crisis(text: str) -> CrisisHit | None:
    """Return the first sign of self-harm or immediate danger in a message (any script, any case), or None."""
    if not text:
        return None
    lex = lexicon()
    return _search(text.translate(lex.translate), lex)


def mentions_look_alike(text: str) -> bool:
    """Tell whether a message holds a harmless look-alike of a sign (a lexicon exclusion: 烧炭烤肉, a delivery)."""
    return _mentions(lexicon().exclusions, text)


def _mentions(pattern: re.Pattern[str] | None, text: str) -> bool:
    """Tell whether one of the lexicon's span patterns occurs in a message, read as the safeguard reads it."""
    if not text or pattern is None:
        return False
    return pattern.search(_View(text.translate(lexicon().translate)).text) is not None


def same_to_safeguard(a: str, b: str) -> bool:
    """Whether two texts read the same once prepared for matching (so detect_crisis finds the same in both)."""
    lex = lexicon()
    return a == b or _View(a.translate(lex.translate)).text == _View(b.translate(lex.translate)).text


def mentions_reported(text: str) -> bool:
    """Tell whether a message holds someone else's words or a finished event (the lexicon's "reported" spans)."""
    return _mentions(lexicon().reported, text)
