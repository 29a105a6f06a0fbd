"""Load the pattern and text data under bot/assess/patterns/ and compile it once (cached)."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.assess.model import CATEGORIES, LOCALES

try:  # Python 3.11+
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants
    import sre_parse

PATTERN_DIR = Path(__file__).resolve().parent / "patterns"
_MACRO = re.compile(r"\{\{([A-Z_]+)\}\}")
_ESCAPE = re.compile(r"\\[A-Za-z]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD_BOUNDARY = re.compile(r"\\b")
SCRIPTS = ("zh", "en", "any")
MAX_FIRST_CHARS = 400  # a longer first-character set is not worth a pre-check
KEY_LEN = 2  # the keys of the rule index are strings of one or two characters
MAX_KEYS = 300  # a longer key set is not worth checking
MAX_STATES = 3000  # give up on a key set that grows past this while it is computed
_lock = threading.Lock()
_cache: dict[Path, RuleSet] = {}


class RuleError(ValueError):
    """The pattern data is malformed (named file and rule in the message)."""


Needs = tuple[tuple[frozenset[str], ...], ...]
"""Per top-level alternative of a regex, key sets of which a match of that alternative contains one each."""


@dataclass(frozen=True)
class Rule:
    """One compiled pattern of a category file."""

    id: str
    category: str
    regex: re.Pattern[str]
    source: str  # the regex after macro expansion (for the category pre-filter)
    explain: str
    legal_basis: str | None
    example: str
    counter_examples: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # contexts that must all occur in the message for the rule to count
    unless: str | None = None  # a context that, anywhere in the message, makes the rule not count
    not_after: re.Pattern[str] | None = None
    violent: bool = False
    court_procedure: bool = False  # a court's own procedure word: in a fake court's voice, part of the impersonation
    script: str = "zh"  # zh: run when the text has Chinese; en: when it has Latin letters; any: always
    ignorecase: bool = False  # a plain bool: testing regex.flags goes through the slow enum machinery
    needs: Needs | None = None  # what every match contains (see needed_keys); None: run on every text


@dataclass(frozen=True)
class Category:
    """The rules of one category, in file order."""

    name: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class LawfulRule:
    """A lawful phrase: a hit overlapping it does not count; its note may tell the user why it is fine."""

    id: str
    regex: re.Pattern[str]
    example: str
    script: str = "zh"
    ignorecase: bool = False
    needs: Needs | None = None


@dataclass
class RuleSet:
    """Everything the engine needs, compiled: categories, negation, contexts, lawful phrases and texts."""

    categories: tuple[Category, ...]
    negators_zh: re.Pattern[str]
    negators_en: re.Pattern[str]
    window_zh: int
    window_en_words: int
    contexts: dict[str, re.Pattern[str]]
    lawful: tuple[LawfulRule, ...]
    texts: dict[str, dict[str, dict[str, str]]]
    compile_seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def text(self, section: str, key: str, locale: str) -> str:
        """Return the text `key` of `section` in `locale` (falls back to zh-Hans, then the key)."""
        entry = self.texts.get(section, {}).get(key)
        if not entry:
            return key
        return entry.get(locale) or entry.get("zh-Hans") or key

    def has_text(self, section: str, key: str) -> bool:
        """Tell whether `section` has an entry `key`."""
        return key in self.texts.get(section, {})

    def rules(self) -> list[Rule]:
        """Return every rule of every category, in file order."""
        return [r for c in self.categories for r in c.rules]


def _read(path: Path) -> Any:
    """Read one YAML file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path.name}: not valid YAML: {exc}") from exc


def _expand(rx: str, macros: dict[str, str], where: str) -> str:
    """Replace {{NAME}} macros (defined in lawful.yml) in a regex."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise RuleError(f"{where}: unknown macro {{{{{name}}}}}")
        return macros[name]

    return _MACRO.sub(sub, rx)


def _nested_macros(macros: dict[str, str]) -> dict[str, str]:
    """Expand macros used inside other macros ({{KIN}} inside {{TARGET}}), refusing a cycle."""
    out = dict(macros)
    for _ in range(len(out) + 1):
        if not any(_MACRO.search(v) for v in out.values()):
            return out
        out = {k: _expand(v, out, f"lawful.yml macro {k}") for k, v in out.items()}
    raise RuleError("lawful.yml: macros refer to each other in a cycle")


def _flags(rx: str, script: str = "zh") -> int:
    """Match case-insensitively when the regex spells ASCII letters (English or 'APP', 'QR').

    English rules also match with ASCII word boundaries: in a mixed message ("不还钱就jail") a Chinese character
    next to an English word is not a letter of that word, so a word-boundary rule for "jail" still matches there.
    """
    flags = re.IGNORECASE if _ASCII_LETTER.search(_ESCAPE.sub("", rx)) else 0
    return flags | re.ASCII if script == "en" else flags


def _first_of_seq(items: Any, classes: bool = False) -> tuple[set[str] | None, bool]:
    r"""Return (chars a match of this sequence can start with, or None if unknown; can it match empty).

    With `classes`, \d and \s count as known and stand in the set as themselves (for a look-ahead only).
    """
    chars: set[str] = set()
    for op, av in items:
        first, nullable = _first_of_op(op, av, classes)
        if first is None:
            return None, False
        chars |= first
        if not nullable:
            return chars, False
    return chars, True


def _first_of_op(op: Any, av: Any, classes: bool = False) -> tuple[set[str] | None, bool]:
    """First characters of one regex node (conservative: None when unsure)."""
    c = sre_constants
    if op is c.LITERAL:
        return {chr(av)}, False
    if op is c.IN:
        chars = _chars_of_set(av, classes)
        return (None, False) if chars is None else (chars, False)
    if op is c.SUBPATTERN:
        _, add_flags, del_flags, sub = av
        if (add_flags | del_flags) & re.IGNORECASE:
            return None, False
        return _first_of_seq(sub.data, classes)
    if op is c.BRANCH:
        chars, nullable = set(), False
        for alt in av[1]:
            first, alt_nullable = _first_of_seq(alt.data, classes)
            if first is None:
                return None, False
            chars |= first
            nullable = nullable or alt_nullable
        return chars, nullable
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, _, sub = av
        first, nullable = _first_of_seq(sub.data, classes)
        return (None, False) if first is None else (first, low == 0 or nullable)
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # anchors and lookarounds consume nothing
        return set(), True
    return None, False


def first_chars(rx: str, flags: int = 0) -> set[str] | None:
    """The characters every match of `rx` starts with, or None when that cannot be told exactly."""
    try:
        return _first_chars_of(sre_parse.parse(rx, flags))
    except Exception:  # an unusual construct: no pre-check
        return None


def _first_chars_of(tree: Any, classes: bool = False) -> set[str] | None:
    """The characters every match of a parsed regex starts with, or None (with `classes`: see _first_of_seq)."""
    first, nullable = _first_of_seq(tree.data, classes)
    if first is None or nullable or not first or len(first) > MAX_FIRST_CHARS:
        return None
    return first


class _TooMany(Exception):
    """A key set grew past MAX_STATES."""


_Prefixes = set[tuple[str, bool]]
"""Prefixes of at most KEY_LEN chars of a node's matches; True when the whole match is that prefix (it can go on)."""


def _extend(states: _Prefixes, node: _Prefixes | None) -> _Prefixes:
    """Prefixes of a sequence after one more node (None: the node's characters are unknown, so prefixes stop)."""
    out: _Prefixes = set()
    for p, open_ in states:
        if not open_ or len(p) >= KEY_LEN:
            out.add((p, False))
        elif node is None:
            out.add((p, False))
        else:
            for s, whole in node:
                q = p + s
                out.add((q[:KEY_LEN], False) if len(q) >= KEY_LEN else (q, whole))
    if len(out) > MAX_STATES:
        raise _TooMany
    return out


def _prefixes_of_seq(items: Any) -> _Prefixes:
    """Prefixes of the matches of a sequence of regex nodes."""
    states: _Prefixes = {("", True)}
    for op, av in items:
        if not any(open_ for _, open_ in states):
            break
        states = _extend(states, _prefixes_of_op(op, av))
    return states


def _prefixes_of_op(op: Any, av: Any) -> _Prefixes | None:
    """Prefixes of the matches of one regex node (None when its characters cannot be listed)."""
    c = sre_constants
    if op is c.LITERAL:
        return {(chr(av), True)}
    if op is c.IN:
        chars = _chars_of_set(av)
        return None if chars is None else {(ch, True) for ch in chars}
    if op is c.SUBPATTERN:
        _, add_flags, del_flags, sub = av
        return None if (add_flags | del_flags) & re.IGNORECASE else _prefixes_of_seq(sub.data)
    if op is c.BRANCH:
        out: _Prefixes = set()
        for alt in av[1]:
            out |= _prefixes_of_seq(alt.data)
        return out
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, sub = av
        once = _prefixes_of_seq(sub.data)
        found: _Prefixes = {("", True)} if low == 0 else set()
        states: _Prefixes = {("", True)}
        rounds = min(high, KEY_LEN)
        for i in range(1, rounds + 1):
            states = _extend(states, once)
            if i >= low:
                found |= states
        if low > rounds:  # more rounds must follow: what was seen so far is only a prefix
            found |= {(p, False) for p, _ in states}
        return found
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # consume nothing; ignoring their condition only widens the set
        return {("", True)}
    return None


def _chars_of_set(items: Any, classes: bool = False) -> set[str] | None:
    r"""The characters of a [...] set when it is a short list of literals and ranges, else None.

    With `classes`, \d and \s are kept as themselves (see _first_of_seq).
    """
    c = sre_constants
    chars: set[str] = set()
    for iop, iav in items:
        if iop is c.LITERAL:
            chars.add(chr(iav))
        elif iop is c.RANGE and iav[1] - iav[0] <= MAX_FIRST_CHARS:
            chars.update(chr(x) for x in range(iav[0], iav[1] + 1))
        elif classes and iop is c.CATEGORY and iav in _CLASSES:
            chars.add(_CLASSES[iav])
        else:  # negated sets, \w, huge ranges (and \d \s unless `classes`)
            return None
    return chars


def _alternatives(items: list[Any]) -> list[list[Any]]:
    """Split a regex at its top-level "|" (through plain groups) into its alternatives."""
    c = sre_constants
    while len(items) == 1 and items[0][0] is c.SUBPATTERN and not (items[0][1][1] | items[0][1][2]) & re.IGNORECASE:
        items = list(items[0][1][3].data)
    if len(items) == 1 and items[0][0] is c.BRANCH:
        return [part for alt in items[0][1][1] for part in _alternatives(list(alt.data))]
    return [items]


def _key_cost(keys: frozenset[str]) -> int:
    """Rough chance that a text holds one of `keys`: a two-char key is far rarer than a single char."""
    return sum(1 if len(k) == KEY_LEN else 8 for k in keys)


def needed_keys(rx: str, flags: int = 0) -> Needs | None:
    """Per top-level alternative of `rx`, the key sets of which every match of it contains one key each.

    A key is one or two characters: the possible starts of what the alternative matches from each of its
    elements on (`你.{0,6}(?:父母|家人)` needs one of 你 and one of 父母/家人). Sets are ordered rarest first,
    so the engine indexes the first and checks the others. Lower-cased (and casefolded) when matched
    case-insensitively. None when an alternative has no usable set: the rule then runs on every text.
    """
    try:
        return _needed_keys_of(sre_parse.parse(rx, flags), flags)
    except Exception:  # an unusual construct: no pre-check
        return None


def _needed_keys_of(tree: Any, flags: int) -> Needs | None:
    """The key sets of a parsed regex (see needed_keys)."""
    parsed = list(tree.data)
    out: list[tuple[frozenset[str], ...]] = []
    for alt in _alternatives(parsed):
        sets: list[frozenset[str]] = []
        for j in range(len(alt)):
            try:
                keys = frozenset(p for p, _ in _prefixes_of_seq(alt[j:]))
            except _TooMany:
                continue
            if flags & re.IGNORECASE:
                keys = frozenset(k.lower() for k in keys) | frozenset(k.casefold() for k in keys)
            if keys and "" not in keys and len(keys) <= MAX_KEYS and keys not in sets:
                sets.append(keys)
        if not sets:
            return None
        out.append(tuple(sorted(sets, key=_key_cost)))
    return tuple(out)


_PLAIN = re.compile(r"[^\\()\[\]{}|.*+?^$]+")
_LOOKBEHIND = ("(?<=", "(?<!")
# \d and \s in a first-character set: written into the look-ahead as they are, so they keep their meaning under
# the rule's flags (Unicode digits and spaces, or ASCII ones for English rules)
_CLASSES = {sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_SPACE: r"\s"}
_CLASS_NAMES = frozenset(_CLASSES.values())


def _skip_class(rx: str, i: int) -> int:
    """Return the index just past the [...] set that starts at rx[i]."""
    i += 1
    if rx.startswith("^", i):
        i += 1
    if rx.startswith("]", i):
        i += 1
    while i < len(rx) and rx[i] != "]":
        i += 2 if rx[i] == "\\" else 1
    return i + 1


def _structure(rx: str, i: int = 0) -> Iterator[tuple[int, str, int]]:
    """Yield (index, char, depth) for each "(", ")" and "|" from rx[i] on, outside escapes and [...] sets.

    depth is the number of groups open around the char: a "(" and its ")" get the same depth.
    """
    depth = 0
    while i < len(rx):
        ch = rx[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _skip_class(rx, i)
            continue
        if ch == ")":
            depth -= 1
        if ch in "()|":
            yield i, ch, depth
        if ch == "(":
            depth += 1
        i += 1


def _split_top(rx: str) -> list[str]:
    """Split a regex at its "|" outside groups and sets."""
    cuts = [i for i, ch, depth in _structure(rx) if ch == "|" and depth == 0]
    return [rx[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(rx)], strict=True)]


def _group_end(rx: str, i: int) -> int:
    """Return the index of the ")" that closes the "(" at rx[i]."""
    for j, ch, depth in _structure(rx, i):
        if ch == ")" and depth == 0:
            return j
    raise ValueError("unbalanced parenthesis")


def _trie_words(words: list[str]) -> str:
    """An alternation of plain words with shared first characters factored out, trying them in the same order.

    An empty word matches wherever the others do, so it keeps its place between the words before and after it.
    """
    out: list[str] = []
    run: list[str] = []
    for w in words:
        if w:
            run.append(w)
            continue
        out.extend(_trie_groups(run))
        run = []
        out.append("")
    out.extend(_trie_groups(run))
    return "|".join(out)


def _trie_groups(words: list[str]) -> list[str]:
    """Group non-empty words by first character (groups never match at the same position, so their order is free)."""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0], []).append(w[1:])
    return [
        re.escape(first + rests[0]) if len(rests) == 1 else f"{re.escape(first)}(?:{_trie_words(rests)})"
        for first, rests in groups.items()
    ]


def _trie_run(words: list[str]) -> list[str]:
    """Factor a run of plain words, unless letter case could let two groups match the same character."""
    # lower-case ASCII letters, digits and Chinese: two different characters never match the same text character,
    # even case-insensitively; an upper-case or non-ASCII letter could ("K" and "k", "ſ" and "s")
    if len(words) < 2 or any(ch.lower() != ch.upper() and not ("a" <= ch <= "z") for w in words for ch in w):
        return words
    return [_trie_words(words)]


@functools.lru_cache(maxsize=4096)  # the same macro expansions recur in many rules
def factor_alternations(rx: str) -> str:
    """Rewrite a regex so that plain words of one alternation share their first characters (matches are unchanged).

    Python's `re` tries the words of `(?:父母|父亲|家人|…)` one by one at every position; as a trie
    (`父(?:母|亲)|家人|…`) a position fails after one comparison per distinct first character. Words are only
    grouped within a run of plain words (an alternative with any regex syntax keeps its place), and a group keeps
    the words' order, so the same alternative wins as before: two words with different first characters never
    match at the same position. Look-behinds are left as they are (their width must stay fixed).
    """
    items = [_factor_inside(item) for item in _split_top(rx)]
    out: list[str] = []
    run: list[str] = []
    for item in items:
        if item and _PLAIN.fullmatch(item):
            run.append(item)
            continue
        out.extend(_trie_run(run))
        run = []
        out.append(item)
    out.extend(_trie_run(run))
    return "|".join(out)


def _factor_inside(rx: str) -> str:
    """Apply factor_alternations to the content of every group of one alternative."""
    out: list[str] = []
    i = 0
    while i < len(rx):
        ch = rx[i]
        if ch == "\\":
            out.append(rx[i : i + 2])
            i += 2
        elif ch == "[":
            j = _skip_class(rx, i)
            out.append(rx[i:j])
            i = j
        elif ch == "(":
            j = _group_end(rx, i)
            head = next((h for h in ("(?:", "(?=", "(?!", *_LOOKBEHIND) if rx.startswith(h, i)), "(")
            inner = rx[i + len(head) : j]
            out.append(head + (inner if head in _LOOKBEHIND else factor_alternations(inner)) + ")")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _compile(rx: str, where: str, flags: int | None = None, precheck: bool = True) -> re.Pattern[str]:
    """Compile a regex; when possible, add a start guard and word tries so most positions fail fast."""
    return _compile_keyed(rx, where, flags, precheck)[0]


def _compile_keyed(
    rx: str, where: str, flags: int | None = None, precheck: bool = True
) -> tuple[re.Pattern[str], Needs | None]:
    """Compile a regex (see _compile) and tell its key sets (needed_keys), parsing it once for both.

    Python's `re` tries every alternative at every position when alternatives start with groups; a look-ahead on
    the first two characters a match can start with (computed from the parse tree; the first one alone where the
    second cannot be told) skips most positions in one step, and alternations of plain words are factored into a
    trie (factor_alternations). Neither changes what matches (a test checks this on every rule).
    """
    flags = _flags(rx) if flags is None else flags
    try:
        tree = sre_parse.parse(rx, flags)
    except re.error as exc:
        raise RuleError(f"{where}: bad regex: {exc}") from exc
    try:
        needs = _needed_keys_of(tree, flags) if precheck else None
    except Exception:  # an unusual construct: the rule runs on every text
        needs = None
    if not precheck:
        return re.compile(rx, flags), needs
    guard = _start_guard(tree)
    fast = factor_alternations(rx)
    return re.compile(f"{guard}(?:{fast})" if guard else fast, flags), needs


def _start_guard(tree: Any) -> str:
    """A look-ahead that holds wherever a match of the parsed regex can start ("" when that cannot be told).

    `(?=[父家][母人]|[你])`: a match starts with one of the two-character prefixes, or with a character whose
    follower is not known (`你[^，]{0,6}…`). Two independent sets are looser than the prefixes themselves but cost
    one set test each.
    """
    try:
        prefixes = {p for p, _ in _prefixes_of_seq(tree.data)}
    except _TooMany:
        prefixes = set()
    if not prefixes or "" in prefixes:
        first = _first_chars_of(tree, classes=True)
        return f"(?=[{_charset(first)}])" if first else ""
    singles = {p for p in prefixes if len(p) == 1}
    pairs = {p for p in prefixes if len(p) == 2 and p[0] not in singles}
    if len(singles) + len({p[0] for p in pairs}) > MAX_FIRST_CHARS:
        return ""
    parts = [f"[{_charset(p[0] for p in pairs)}][{_charset(p[1] for p in pairs)}]"] if pairs else []
    parts += [f"[{_charset(singles)}]"] if singles else []
    return f"(?={'|'.join(parts)})"


def _charset(chars: Any) -> str:
    """The inside of a [...] set of the given characters (and classes, see _first_of_seq)."""
    return "".join(ch if ch in _CLASS_NAMES else re.escape(ch) for ch in sorted(set(chars)))


def _script(source: str, declared: Any, where: str) -> str:
    """Decide which texts a regex runs on: declared, else zh when it spells Chinese, else en."""
    has_cjk = _CJK.search(source) is not None
    if declared is not None:
        if declared not in SCRIPTS:
            raise RuleError(f"{where}: script must be one of {', '.join(SCRIPTS)}")
        return str(declared)
    if has_cjk and _WORD_BOUNDARY.search(source) and _ASCII_LETTER.search(_ESCAPE.sub("", source)):
        raise RuleError(f"{where}: mixes Chinese and English words; put the English part in its own rule")
    return "zh" if has_cjk else "en"


def _context(rx: str, where: str) -> re.Pattern[str]:
    """Compile a context with ASCII word boundaries (a Chinese character next to an English word is a boundary)."""
    return _compile(rx, where, _flags(rx) | re.ASCII)


def _as_list(value: Any) -> tuple[str, ...]:
    """Accept one string or a list of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _load_category(path: Path, macros: dict[str, str]) -> Category:
    """Load and compile one category file."""
    data = _read(path)
    if not isinstance(data, dict) or data.get("category") not in CATEGORIES:
        raise RuleError(f"{path.name}: 'category' must be one of {', '.join(CATEGORIES)}")
    name = str(data["category"])
    rules: list[Rule] = []
    for i, item in enumerate(data.get("patterns") or []):
        where = f"{path.name} pattern #{i + 1} ({item.get('id', '?') if isinstance(item, dict) else '?'})"
        if not isinstance(item, dict) or not all(item.get(k) for k in ("id", "regex", "example")):
            raise RuleError(f"{where}: each pattern needs id, regex and example")
        source = _expand(str(item["regex"]), macros, where)
        script = _script(source, item.get("script"), where)
        flags = _flags(source, script)
        regex, needs = _compile_keyed(source, where, flags)
        not_after = item.get("not_after")
        rules.append(
            Rule(
                id=str(item["id"]),
                category=name,
                regex=regex,
                source=source,
                explain=str(item.get("explain") or item["id"]),
                legal_basis=str(item["legal_basis"]) if item.get("legal_basis") else None,
                example=str(item["example"]),
                counter_examples=_as_list(item.get("counter_example")),
                requires=_names(item.get("requires")),
                unless=str(item["unless"]) if item.get("unless") else None,
                not_after=_compile(_expand(str(not_after), macros, where), where) if not_after else None,
                violent=bool(item.get("violent", False)),
                court_procedure=bool(item.get("court_procedure", False)),
                script=script,
                ignorecase=bool(flags & re.IGNORECASE),
                needs=needs,
            )
        )
    if not rules:
        raise RuleError(f"{path.name}: no patterns")
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise RuleError(f"{path.name}: duplicate pattern ids")
    return Category(name, tuple(rules))


def load_rules(directory: Path = PATTERN_DIR) -> RuleSet:
    """Load and compile the pattern data of `directory` (uncached; see `get_rules`)."""
    t0 = time.perf_counter()
    common = _read(directory / "lawful.yml")
    if not isinstance(common, dict):
        raise RuleError("lawful.yml: expected a mapping")
    macros = _nested_macros({str(k): str(v) for k, v in (common.get("macros") or {}).items()})
    neg = common.get("negation") or {}
    # contexts mix Chinese and English words: ASCII word boundaries let "的loan帐户" count as naming a loan
    contexts = {
        str(k): _context(_expand(str(v), macros, f"lawful.yml context {k}"), f"lawful.yml context {k}")
        for k, v in (common.get("contexts") or {}).items()
    }
    lawful: list[LawfulRule] = []
    for item in common.get("lawful") or []:
        where = f"lawful.yml lawful {item.get('id', '?')}"
        if not item.get("id") or not item.get("regex") or not item.get("example"):
            raise RuleError(f"{where}: each lawful phrase needs id, regex and example")
        source = _expand(str(item["regex"]), macros, where)
        script = _script(source, item.get("script"), where)
        flags = _flags(source, script)
        regex, needs = _compile_keyed(source, where, flags)
        lawful.append(
            LawfulRule(
                str(item["id"]),
                regex,
                str(item["example"]),
                script,
                bool(flags & re.IGNORECASE),
                needs,
            )
        )
    categories = tuple(_load_category(directory / f"{name}.yml", macros) for name in CATEGORIES)
    texts = _read(directory / "texts.yml")
    if not isinstance(texts, dict):
        raise RuleError("texts.yml: expected a mapping of sections")
    rules = RuleSet(
        categories=categories,
        negators_zh=_compile(_expand(str(neg.get("zh", "(?!x)x")), macros, "negation zh"), "negation zh"),
        negators_en=_compile(
            _expand(str(neg.get("en", "(?!x)x")), macros, "negation en"), "negation en", re.IGNORECASE
        ),
        window_zh=int(neg.get("window_zh", 8)),
        window_en_words=int(neg.get("window_en_words", 3)),
        contexts=contexts,
        lawful=tuple(lawful),
        texts={str(k): v for k, v in texts.items()},
        files=sorted(p.name for p in directory.glob("*.yml")),
    )
    _check_texts(rules)
    rules.compile_seconds = time.perf_counter() - t0
    return rules


def _names(value: Any) -> tuple[str, ...]:
    """Read `requires`: one context name or a list of them (all must occur)."""
    if not value:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _check_texts(rules: RuleSet) -> None:
    """Fail early when a rule names an explanation, legal basis or context that does not exist."""
    for r in rules.rules():
        if not rules.has_text("explanations", r.explain):
            raise RuleError(f"{r.category}.yml {r.id}: no explanation '{r.explain}' in texts.yml")
        if r.legal_basis and not rules.has_text("legal_basis", r.legal_basis):
            raise RuleError(f"{r.category}.yml {r.id}: no legal_basis '{r.legal_basis}' in texts.yml")
        for ctx in (*r.requires, r.unless):
            if ctx and ctx not in rules.contexts:
                raise RuleError(f"{r.category}.yml {r.id}: unknown context '{ctx}'")
    for section, entries in rules.texts.items():
        for key, entry in (entries or {}).items():
            missing = [loc for loc in LOCALES if not isinstance(entry, dict) or not entry.get(loc)]
            if missing:
                raise RuleError(f"texts.yml {section}.{key}: missing {', '.join(missing)}")


def get_rules(directory: Path = PATTERN_DIR) -> RuleSet:
    """Return the compiled rules of `directory`, compiling them on first use only."""
    rules = _cache.get(directory)
    if rules is None:
        with _lock:
            rules = _cache.get(directory)
            if rules is None:
                rules = load_rules(directory)
                _cache[directory] = rules
    return rules
