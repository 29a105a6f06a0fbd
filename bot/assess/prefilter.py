r"""A one-pass pre-filter: which rules and lawful phrases can match a text, told by Hyperscan in one scan.

Python's `re` runs each pattern over the whole text; on a 500-character message about a hundred rules pass the key
index (engine._KeyIndex) and about fourteen of them really match. Hyperscan matches every pattern at once, so one scan
tells which can match and only those run in `re`, which still gives every span exactly as before.

Hyperscan does not read Python's regex dialect, so each pattern is rewritten into one that matches a **superset** of
what the Python pattern matches (the rewriting only ever widens): look-arounds, anchors and word boundaries are
dropped; \d, \s, \w and their negations become sets that hold every non-ASCII character plus Python's ASCII members;
a case-insensitive ASCII letter becomes exactly the characters Python's `re` folds it with, any other letter with case
also any non-ASCII character; a repeat of more than MAX_REPEAT becomes unbounded. A rule whose rewritten pattern
Hyperscan still cannot take stays with the key index. So the result never depends on Hyperscan's own Unicode tables,
and a rule runs whenever it could match.

Compiling the database takes seconds, so it is built once in a background thread (Hyperscan releases the GIL) and
kept on disk beside the learned layer's weights, keyed by a hash of the patterns and of this file; until it is ready,
and where Hyperscan is not installed, the engine uses its key index alone (same results, slower).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.assess.rules import sre_constants, sre_parse

hyperscan: Any
try:
    import hyperscan
except ImportError:  # a platform without the wheel: the key index alone
    hyperscan = None

log = logging.getLogger(__name__)

MAX_REPEAT = 4  # a longer bounded repeat is widened to unbounded: long bounded repeats make Hyperscan slow
MAX_BYTES = 4000  # a rewritten pattern longer than this is test-compiled alone, and split when Hyperscan refuses it
_ANY = "(?s:.)"
_NON_ASCII = "\\x{80}-\\x{10ffff}"
# Python's ASCII members of each class (with re.ASCII or without); without, it may match non-ASCII characters too
_ASCII_CLASS = {
    sre_constants.CATEGORY_DIGIT: "0-9",
    sre_constants.CATEGORY_SPACE: "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20",
    sre_constants.CATEGORY_WORD: "0-9A-Za-z_",
}
# what each class surely holds in both modes (\x1c-\x1f are spaces only without re.ASCII): a negated set excludes
# only these
_SURELY = {**_ASCII_CLASS, sre_constants.CATEGORY_SPACE: " \\t\\n\\x0b\\x0c\\r"}
_NEGATED = {
    sre_constants.CATEGORY_NOT_DIGIT: sre_constants.CATEGORY_DIGIT,
    sre_constants.CATEGORY_NOT_SPACE: sre_constants.CATEGORY_SPACE,
    sre_constants.CATEGORY_NOT_WORD: sre_constants.CATEGORY_WORD,
}
# Python folds [a-z] with re.IGNORECASE to these four non-ASCII letters too (documented in the `re` module)
_FOLD_EXTRA = "\u0130\u0131\u017f\u212a"
_SIZE_ERRORS = ("exceeds", "too large")
# every pattern: UTF-8 text, one report per pattern, empty matches count
_HS_FLAGS = (
    int(hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY) if hyperscan else 0
)


class _Refused(Exception):
    """Hyperscan cannot take a rewritten pattern, even split."""


@functools.cache
def case_variants(ch: str, caseless: bool) -> tuple[frozenset[str], bool]:
    """The characters Python's `re` matches for the literal `ch`, and whether any non-ASCII one may match too.

    Without re.IGNORECASE, or for a character without case (Chinese), only `ch` itself. An ASCII letter matches its
    other case and the four non-ASCII letters Python folds with [a-z]. A non-ASCII letter with case is widened to
    its ASCII partners and every non-ASCII character, so no folding rule of Python's can be missed.
    """
    if not caseless or (ch.lower() == ch and ch.upper() == ch):
        return frozenset(ch), False
    pattern = re.compile(re.escape(ch), re.IGNORECASE)
    if ch.isascii():
        near = {ch.lower(), ch.upper(), *_FOLD_EXTRA}
        return frozenset(d for d in near if pattern.fullmatch(d)), False
    return frozenset({ch} | {chr(x) for x in range(128) if pattern.fullmatch(chr(x))}), True


def _set_char(ch: str) -> str:
    """One character inside a Hyperscan [...] set."""
    return ch if ch.isalnum() else f"\\x{{{ord(ch):x}}}"


def _members(ch: str, caseless: bool) -> str:
    """The inside of a set matching at least what Python matches for the literal `ch`."""
    chars, wide = case_variants(ch, caseless)
    return "".join(map(_set_char, sorted(chars))) + (_NON_ASCII if wide else "")


def _class(items: Any, caseless: bool) -> str:
    """A [...] set of Python's parse tree, widened (negated: only what Python surely excludes is excluded)."""
    c = sre_constants
    negate = bool(items) and items[0][0] is c.NEGATE
    parts: list[str] = []
    for op, av in items[1:] if negate else items:
        if op is c.LITERAL:
            parts.append(_set_char(chr(av)) if negate else _members(chr(av), caseless))
        elif op is c.RANGE:
            low, high = av
            parts.append(f"\\x{{{low:x}}}-\\x{{{high:x}}}")
            if caseless and not negate:  # what Python folds the range's letters with
                parts += [_members(chr(x), True) for x in range(low, high + 1) if chr(x).lower() != chr(x).upper()]
        elif op is c.CATEGORY and av in _ASCII_CLASS:
            parts.append(_SURELY[av] if negate else _ASCII_CLASS[av] + _NON_ASCII)
        elif op is c.CATEGORY and av in _NEGATED and not negate:
            parts.append(f"\\x00-\\x7f{_NON_ASCII}")
        else:  # [^\\D…] and anything unusual: any character
            return _ANY
    if not parts:
        return _ANY
    return ("[^" if negate else "[") + "".join(parts) + "]"


def _seq(items: Any, caseless: bool) -> str:
    """Rewrite a sequence of parse-tree nodes."""
    return "".join(_node(op, av, caseless) for op, av in items)


def _node(op: Any, av: Any, caseless: bool) -> str:
    """Rewrite one parse-tree node into a Hyperscan regex matching a superset of it."""
    c = sre_constants
    if op is c.LITERAL:
        chars, wide = case_variants(chr(av), caseless)
        return _set_char(chr(av)) if len(chars) == 1 and not wide else f"[{_members(chr(av), caseless)}]"
    if op is c.NOT_LITERAL:  # whatever Python folds with it, it surely excludes the character itself
        return f"[^{_set_char(chr(av))}]"
    if op is c.IN:
        return _class(av, caseless)
    if op is c.BRANCH:
        return "(?:" + "|".join(_seq(alt.data, caseless) for alt in av[1]) + ")"
    if op is c.SUBPATTERN:
        return "(?:" + _seq(av[3].data, _folds(caseless, av)) + ")"
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, sub = av
        inner = _seq(sub.data, caseless)
        if high is c.MAXREPEAT or high > MAX_REPEAT:
            return f"(?:{inner}){{{low},}}"
        return f"(?:{inner}){{{low},{high}}}"
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # consume nothing: dropping their condition only widens
        return ""
    if op is c.ANY:
        return _ANY
    return f"{_ANY}*"  # a back-reference or anything unusual: any text


def _folds(caseless: bool, group: Any) -> bool:
    """Whether a group's inside matches case-insensitively: its (?i) / (?-i) flags over the surrounding mode."""
    _, add_flags, del_flags, _ = group
    return (caseless or bool(add_flags & re.IGNORECASE)) and not del_flags & re.IGNORECASE


def _parts(items: list[Any], caseless: bool, fits: Callable[[str], bool]) -> list[str]:
    """Rewrite a sequence into patterns whose union is its superset, split where Hyperscan refuses one whole."""
    c = sre_constants
    whole = _seq(items, caseless)
    if len(whole.encode()) < MAX_BYTES or fits(whole):
        return [whole]
    if len(items) == 1 and items[0][0] is c.SUBPATTERN:
        return _parts(list(items[0][1][3].data), _folds(caseless, items[0][1]), fits)
    # A(B|C)D == ABD|ACD: distribute over the biggest group or alternation
    sizes = [(len(_seq([item], caseless)), k) for k, item in enumerate(items)]
    for _, k in sorted(sizes, reverse=True):
        op, av = items[k]
        if op is c.SUBPATTERN and not av[1] and not av[2]:
            return _parts(items[:k] + list(av[3].data) + items[k + 1 :], caseless, fits)
        if op is c.BRANCH:
            return [p for alt in av[1] for p in _parts(items[:k] + list(alt.data) + items[k + 1 :], caseless, fits)]
    raise _Refused


def superset_patterns(rx: str, flags: int, fits: Callable[[str], bool]) -> list[str]:
    """Hyperscan patterns (UTF-8 mode) whose union matches wherever the Python regex `rx` can match."""
    tree = sre_parse.parse(rx, flags)
    return _parts(list(tree.data), bool(tree.state.flags & re.IGNORECASE), fits)


def _fits(expression: str) -> bool:
    """Tell whether Hyperscan takes one pattern (False when it is too large; other errors propagate)."""
    assert hyperscan is not None
    try:
        hyperscan.Database().compile(expressions=[expression.encode()], ids=[0], flags=[_HS_FLAGS])
    except hyperscan.error as exc:
        if any(word in str(exc) for word in _SIZE_ERRORS):
            return False
        raise
    return True


class Prefilter:
    """A compiled Hyperscan database over a list of Python patterns; tells which of them can match a text."""

    def __init__(self, database: Any, count: int, always: frozenset[int]) -> None:
        """Wrap a database whose ids are positions in the pattern list (`always`: patterns it does not hold)."""
        self.database = database
        self.count = count
        self.always = always
        self._local = threading.local()

    def matchable(self, text: str) -> set[int] | None:
        """Positions of the patterns that can match `text` (a superset of those that do); None: cannot tell."""
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: Hyperscan reads only valid UTF-8
            return None
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        found = set(self.always)
        add = found.add
        try:
            self.database.scan(data, match_event_handler=lambda i, *_: add(i), scratch=scratch)
        except hyperscan.error:  # a database this CPU cannot run (see _load): the key index decides
            return None
        return found


def build(patterns: list[tuple[str, int]]) -> Prefilter:
    """Compile the database for (regex, flags) pairs (seconds: PrefilterSlot builds it in the background)."""
    assert hyperscan is not None
    rewritten: dict[int, list[bytes]] = {}
    always: set[int] = set()
    for i, (rx, flags) in enumerate(patterns):
        try:
            rewritten[i] = [p.encode() for p in superset_patterns(rx, flags, _fits)]
        except (_Refused, RecursionError):
            always.add(i)
    try:
        database = _compile(rewritten)
    except hyperscan.error:  # find the patterns Hyperscan refuses; they stay with the key index
        for i, parts in list(rewritten.items()):
            try:
                _compile({i: parts})
            except hyperscan.error:
                always.add(i)
                del rewritten[i]
        database = _compile(rewritten)
    return Prefilter(database, len(patterns), frozenset(always))


def _compile(rewritten: dict[int, list[bytes]]) -> Any:
    """One Hyperscan block-mode database of the rewritten patterns, each reporting its pattern's position."""
    assert hyperscan is not None
    expressions = [p for parts in rewritten.values() for p in parts]
    ids = [i for i, parts in rewritten.items() for _ in parts]
    database = hyperscan.Database()
    database.compile(expressions=expressions, ids=ids, flags=[_HS_FLAGS] * len(ids))
    return database


def _cache_key(patterns: list[tuple[str, int]]) -> str:
    """A hash of the patterns, this file and the Hyperscan version: a change to any rebuilds the database."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(str(getattr(hyperscan, "__version__", "")).encode())
    for rx, flags in patterns:
        h.update(f"{flags}\0{rx}\0".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def _save(prefilter: Prefilter, path: Path) -> None:
    """Write the database atomically (a half-written file is never read)."""
    assert hyperscan is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    always = ",".join(map(str, sorted(prefilter.always))).encode()
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
        fh.write(b"%d\n%s\n" % (prefilter.count, always))
        fh.write(hyperscan.dumpb(prefilter.database))
    os.replace(fh.name, path)


def _load(path: Path) -> Prefilter:
    """Read a database written by `_save` (raises when missing, damaged or built for another CPU)."""
    assert hyperscan is not None
    data = path.read_bytes()
    count, always, blob = data.split(b"\n", 2)
    database = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
    # a database built on a CPU with features this one lacks raises here rather than at the first SMS
    database.scan(b"", match_event_handler=lambda *_: None, scratch=hyperscan.Scratch(database))
    return Prefilter(database, int(count), frozenset(int(i) for i in always.split(b",") if i))


_lock = threading.Lock()
_ready: dict[str, Prefilter] = {}
_building: dict[str, threading.Thread] = {}


class PrefilterSlot:
    """The pre-filter of one pattern list: loaded from disk or built in the background, then kept."""

    def __init__(self, patterns: list[tuple[str, int]], cache_dir: Path) -> None:
        """Remember the (regex, flags) pairs and where databases are kept; nothing is built yet."""
        self.patterns = patterns
        self.cache_dir = cache_dir
        self._key: str | None = None
        self._value: Prefilter | None = None

    def get(self, wait: bool = False) -> Prefilter | None:
        """The pre-filter, or None while it is being built (with `wait`, until it is built) or without Hyperscan."""
        if self._value is not None:
            return self._value
        if hyperscan is None or os.environ.get("ASSESS_PREFILTER") == "off":
            return None
        if self._key is None:
            self._key = _cache_key(self.patterns)
        self._value = _get(self._key, self.patterns, self.cache_dir / f"patterns-{self._key}.hsdb", wait)
        return self._value


def _get(key: str, patterns: list[tuple[str, int]], path: Path, wait: bool) -> Prefilter | None:
    """The ready pre-filter of `key`: from this process, else from disk, else start (and with `wait` join) a build.

    Disk is tried once per process: while a build runs, or after one failed, the answer is None (the key index).
    """
    assert hyperscan is not None
    with _lock:
        if key in _ready:
            return _ready[key]
        thread = _building.get(key)
        if thread is None:
            try:
                _ready[key] = _load(path)
                return _ready[key]
            except (OSError, ValueError, hyperscan.error):
                pass
            thread = threading.Thread(target=_build_and_keep, args=(key, patterns, path), daemon=True)
            thread.name = "assess-prefilter"
            _building[key] = thread
            thread.start()
    if wait:
        thread.join()
    return _ready.get(key)


def _build_and_keep(key: str, patterns: list[tuple[str, int]], path: Path) -> None:
    """Build the database, keep it for this process and on disk (the background thread's body)."""
    try:
        prefilter = build(patterns)
    except Exception:  # the engine keeps using its key index: same results, slower
        log.exception("assess pre-filter: build failed; rules run through the key index")
        return
    _ready[key] = prefilter
    try:
        _save(prefilter, path)
    except OSError:  # a read-only checkout: rebuilt by the next process
        pass
