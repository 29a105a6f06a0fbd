"""Assess a collection SMS: match the pattern data, drop negated and lawful hits, rate risk, pick advice."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime

from bot.assess.learned import Classifier, cache_dir, get_classifier
from bot.assess.model import CATEGORIES, HIGH_CATEGORIES, LOCALES, Advice, Assessment, Finding, risk_for
from bot.assess.normalize import Normalised, normalise
from bot.assess.prefilter import PrefilterSlot
from bot.assess.rules import Needs, Rule, RuleSet, get_rules

MAX_CHARS = 20_000  # longer pastes are cut: an SMS thread this long is not one message
MAX_HITS_PER_RULE = 3
MAX_TRIES_PER_RULE = 200  # rejected candidates examined per rule before giving up (bounded time)
MAX_FINDINGS = 40
# The classifier adds a category the rules missed from this probability (leave-one-writer-out cross-validation
# on the training files: scripts/cv_sms_model.py). With C = 10 (learned.C), 0.70 turns no lawful SMS high on writers
# the model never saw and keeps the corpus's own held-out F1 at its 0.99 floor; 0.65 does too for 0.002 more mean F1
# but turns third-party-contact-only probes high with a model insult; 0.60 and below turn lawful SMS high. One
# threshold for every category: thresholds chosen per category fitted the files they were chosen on and lost recall
# on a writer added later.
MODEL_THRESHOLD = 0.70
MODEL_THRESHOLDS = dict.fromkeys(CATEGORIES, MODEL_THRESHOLD)
# A high-risk message rated low is the costliest mistake. When nothing at all was found, the message shows no lawful
# phrase and does not speak as a court, the likeliest high-risk category is still added from this lower
# probability if the model's "abusive or not" head also reaches MODEL_HEAD: of the pairs that rate no more lawful SMS
# high than the threshold alone, each training file scored by a model that never saw its writer
# (scripts/cv_sms_model.py), the one that leaves the fewest high-risk SMS rated low. The head does most of the work;
# either gate alone rates lawful SMS high before it catches as much.
MODEL_FALLBACK = 0.20
MODEL_HEAD = 0.90
# A model finding of these categories must quote a sentence that names something legal / a state body (contexts in
# lawful.yml): the explanation the user reads is about exactly that.
_MODEL_QUOTE_GATES = {"false_legal_threat": "model_legal_words", "impersonation": "model_authority_words"}
_FALLBACK_CATEGORIES = tuple(k for k, c in enumerate(CATEGORIES) if c in HIGH_CATEGORIES)
MODEL_CHARS = 3000  # the classifier reads the start of a long paste only (bounded time)
# Legal basis shown with a model-only finding (the rules' usual basis for that category).
_MODEL_BASIS = {
    "false_legal_threat": "civil_not_criminal",
    "impersonation": "impersonation_ban",
    "third_party_contact": "third_party",
    "insult_or_intimidation": "insult",
    "privacy_exposure": "privacy",
    "scam_payment": "fake_collector",
}
OFF_HOURS_START = 22  # GB/T 45251-2025 and the 2026 banking-association guideline: no collection 22:00–08:00
OFF_HOURS_END = 8

_CLAUSE_END = re.compile(r"[，,。！？!?；;:：\n]")
_WORD = re.compile(r"[A-Za-z']+")
_YOU_EN = frozenset({"you", "you'll", "youll", "u", "your", "you're"})
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+/\S*", re.IGNORECASE)
_LETTER_OR_CJK = re.compile(r"[A-Za-z\u3400-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2}")
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_TRAD_HINT_LOCALES = {"zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "zh-mo": "zh-Hant", "zh-hant": "zh-Hant"}
# Signs that a message in a court's name is not from a court: a mobile number (mainland 1xx, Taiwan 09xx) to
# call, a link outside gov.cn, an arrest claim. Courts use 12368, landlines and court.gov.cn platforms.
_MOBILE = re.compile(
    r"(?<![\d*])(?:\+?86[- ]?)?1[3-9]\d[\d* -]{7,10}\d(?![\d*])|(?<![\d*])09\d{2}[\d* -]{5,8}\d(?![\d*])"
    # a mobile number spelt in Chinese numerals ("一三九二二三三六六七七"), a way to slip past filters
    r"|(?<![零〇一二三四五六七八九幺])[一幺][三四五六七八九][零〇一二三四五六七八九幺 ]{9,12}"
    r"(?![零〇一二三四五六七八九幺])"
)
# A bare host name without a path ("cz-zhongcai.vip 缴纳答辩费"), for the court check only: a link is a link.
_BARE_HOST = re.compile(
    r"\b(?:[a-z0-9-]+\.)+(?:top|vip|xyz|cc|com|net|org|cn|info|club|online|site|link|app|me|io|co|hk|tw|shop|live|pro|biz)"
    r"\b(?![.\w-])",
    re.IGNORECASE,
)
# Courts' own sites: mainland gov.cn, the Hong Kong Judiciary (judiciary.hk), Taiwan's Judicial Yuan (judicial.gov.tw).
_OFFICIAL_HOST = re.compile(r"(?:^|\.)(?:gov\.cn|judiciary\.hk|gov\.hk|judicial\.gov\.tw|gov\.tw)$", re.IGNORECASE)
# A body's own site named as such and given only to look something up (arbitration commissions are not on gov.cn)
_OWN_SITE = re.compile(
    r"(?:本院|本会|本委|我院|我会)(?:的)?官(?:方)?网(?:站)?\s*[:：（(]?\s*(?:https?://)?(?:www\.)?$"
    r"|\b(?:verified|checked|viewed|verify|check|view|log in|login|sign in|review)\b[^.!?]{0,30}"
    r"\bofficial (?:web)?(?:site|platform|portal)(?: at| via)?\s*[:：(]?\s*$",
    re.IGNORECASE,
)
_INSTITUTION_HOST = re.compile(r"\.(?:org|cn|org\.cn|com\.cn|org\.hk|com\.hk|org\.tw|com\.tw)$", re.IGNORECASE)
_CHECK_ONLY = re.compile(
    r"\s*[）)]?\s*(?![^。！!；;\n]{0,30}(?:缴|付款|支付|转账|汇款|还款|\bpay|\bfee|\btransfer))"
    r"(?:(?:查询|查看|查阅|核实|查证|查收|下载|\bto (?:review|view|read|download|check)\b)[^。！!；;\n.]{0,24})?"
    r"(?:[。！!；;]|\.(?!\w)|$)",
    re.IGNORECASE,
)
_HOST = re.compile(r"^(?:https?://)?([a-z0-9.-]+)", re.IGNORECASE)  # stops at "/", ":", a space or "。"
_ARREST = re.compile(
    r"抓|捉|捕|坐牢|牢|监狱|坐监|踎监|拉你|拉人|带走|铐|通缉|判刑|刑拘|jail|arrest|prison", re.IGNORECASE
)
_SCAM_SIGNAL_RULES = frozenset(
    {"imp_authority_coercion", "imp_en_coercion", "imp_en_police_arrest", "imp_lawyer_power", "flt_police"}
)
# What a real court's own notice names as procedure: dropped when it may be real (a court telling your employer to
# withhold wages under a judgment is enforcement, not a collector contacting a third party).
_COURT_PROCEDURE = frozenset({"false_legal_threat", "impersonation", "third_party_contact"})
_CENTRE_VOICE = frozenset({"本中心", "我中心"})
# A court or arbitration body named anywhere (a mediation centre that names none has no enforcement power).
_COURT_WORD = re.compile(
    r"法院|法庭|本院|我院|本庭|审裁处|执行局|执行署|仲裁|12368|执行信息公开网|\barbitration\b|\bcourt\b|\btribunal\b"
    r"|\bjudiciary\b",
    re.IGNORECASE,
)
_THREATS = frozenset(
    {"false_legal_threat", "impersonation", "third_party_contact", "insult_or_intimidation", "privacy_exposure"}
)


@dataclass(frozen=True)
class _Hit:
    """A candidate finding on the normalised text."""

    rule: Rule
    start: int
    end: int


def resolve_locale(locale: str | None, text: str = "", norm: Normalised | None = None) -> str:
    """Map a locale hint (zh-CN, zh_TW, en-US, auto…) to zh-Hans, zh-Hant or en."""
    hint = (locale or "auto").strip().replace("_", "-").lower()
    if hint in ("auto", ""):
        return detect_locale(text, norm)
    if hint.startswith("en"):
        return "en"
    if hint in _TRAD_HINT_LOCALES:
        return _TRAD_HINT_LOCALES[hint]
    for loc in LOCALES:
        if hint == loc.lower():
            return loc
    return "zh-Hans"


def detect_locale(text: str, norm: Normalised | None = None) -> str:
    """Guess the user's script: English when there is no CJK, Traditional when t2s changes a CJK char."""
    sample = text[:2000]
    if not _CJK.search(sample):
        return "en" if _LATIN_WORD.search(sample) else "zh-Hans"
    if norm is None or norm.starts is not None:
        norm = normalise(sample)
    changed = any(a != b and _CJK.match(a) for a, b in zip(sample, norm.text, strict=False))
    return "zh-Hant" if changed else "zh-Hans"


def _is_off_hours(received_at: datetime | None) -> bool:
    """Tell whether the local time of `received_at` is between 22:00 and 08:00."""
    if received_at is None:
        return False
    return received_at.hour >= OFF_HOURS_START or received_at.hour < OFF_HOURS_END


class _Scanner:
    """Matches one normalised text against the rules, with the negation and lawful-context layers."""

    def __init__(self, rules: RuleSet, text: str) -> None:
        """Prepare lazy caches for one text."""
        self.rules = rules
        self.text = text
        self._lawful: list[tuple[int, int, str]] | None = None
        self._contexts: dict[str, bool] = {}
        has_cjk = _CJK.search(text) is not None
        has_latin = _LATIN_WORD.search(text) is not None
        self.scripts = {"any"} | ({"zh"} if has_cjk else set()) | ({"en"} if has_latin else set())
        self._keys: set[str] | None = None
        # (rules, lawful phrases) the pre-filter says can match, each in file order; None while it is not ready
        self.prefiltered = _prefiltered(rules, text)
        # (start, end, category) of phrases a rule matched that the negation layer or the rule's own not_after turned
        # down ("We will not contact your family"): the learned layer must not count them either
        self.denied: list[tuple[int, int, str]] = []

    def lawful_spans(self) -> list[tuple[int, int, str]]:
        """Return (start, end, lawful id) of every lawful phrase in the text (computed once)."""
        if self._lawful is None:
            spans: list[tuple[int, int, str]] = []
            lawful = self.rules.lawful
            for i in self.lawful_candidates():
                lw = lawful[i]
                if lw.script not in self.scripts:
                    continue
                for n, m in enumerate(lw.regex.finditer(self.text)):
                    if n >= MAX_TRIES_PER_RULE:
                        break
                    if m.end() > m.start():
                        spans.append((m.start(), m.end(), lw.id))
            self._lawful = spans
        return self._lawful

    def context(self, name: str) -> bool:
        """Tell whether the named context (e.g. a repayment demand) occurs anywhere in the text."""
        if name not in self._contexts:
            self._contexts[name] = self.rules.contexts[name].search(self.text) is not None
        return self._contexts[name]

    def _clause_before(self, start: int, width: int) -> str:
        """Return up to `width` chars before `start`, cut at the last clause boundary."""
        window = self.text[max(0, start - width) : start]
        parts = _CLAUSE_END.split(window)
        return parts[-1] if parts else ""

    def negated(self, start: int) -> bool:
        """Tell whether a negation ("不会", "will not"…) governs the hit starting at `start`."""
        first = self.text[start] if start < len(self.text) else ""
        if first.isascii() and first.isalpha():
            words = _WORD.findall(self._clause_before(start, 60))
            n = self.rules.window_en_words
            for i in range(max(0, len(words) - n), len(words)):
                if self.rules.negators_en.fullmatch(words[i]) or (
                    i + 1 < len(words) and self.rules.negators_en.fullmatch(f"{words[i]} {words[i + 1]}")
                ):
                    # "we will not contact…" negates the act; "you will never buy a ticket" IS the threat
                    return not any(w.lower() in _YOU_EN for w in words[max(0, i - 2) : i])
            return False
        return self.rules.negators_zh.search(self._clause_before(start, self.rules.window_zh)) is not None

    def in_lawful(self, start: int, end: int) -> bool:
        """Tell whether the span overlaps a lawful phrase."""
        return any(s < end and start < e for s, e, _ in self.lawful_spans())

    def accept(self, rule: Rule, start: int, end: int) -> bool:
        """Apply the per-rule guard, negation and lawful layers to one candidate."""
        guarded = rule.not_after is not None and rule.not_after.search(self._clause_before(start, 24)) is not None
        if guarded or self.negated(start):
            self.denied.append((start, end, rule.category))
            return False
        return not self.in_lawful(start, end)

    def keys(self) -> set[str]:
        """The text's characters and two-character strings, also lower-cased and casefolded (computed once)."""
        if self._keys is None:
            keys: set[str] = set()
            for variant in {self.text, self.text.lower(), self.text.casefold()}:
                keys.update(variant)
                keys.update(map(operator.add, variant, variant[1:]))
            self._keys = keys
        return self._keys

    def candidates(self) -> list[int]:
        """Return, in file order, the positions (in _RuleIndex.rules) of the rules that can match this text.

        A rule can match when its script occurs and the pre-filter (prefilter.py) finds it can; without the
        pre-filter, the key index tells (key_candidates). Both only ever add rules that cannot match, never drop
        one that can, so the hits are the same either way.
        """
        found = self.prefiltered
        if found is None:
            return self.key_candidates()
        rules, scripts = _rule_index(self.rules).rules, self.scripts
        return [i for i in found[0] if rules[i].script in scripts]

    def key_candidates(self) -> list[int]:
        """The rules that can match by the key index, in file order.

        A rule can match when its script occurs and, for one of its alternatives, the text holds a key of each of
        the alternative's key sets (rules.needed_keys); found by looking the text's keys up in an index of each
        alternative's rarest set, then checking the others, rather than running every rule.
        """
        index = _rule_index(self.rules)
        scripts = self.scripts
        return [i for i in index.index.matchable(self.keys()) if index.rules[i].script in scripts]

    def lawful_candidates(self) -> list[int]:
        """The positions (in RuleSet.lawful) of the lawful phrases that can match, as for rules (script aside)."""
        found = self.prefiltered
        return self.key_lawful_candidates() if found is None else found[1]

    def key_lawful_candidates(self) -> list[int]:
        """The lawful phrases that can match by the key index."""
        return _rule_index(self.rules).lawful.matchable(self.keys())

    def scan(self) -> list[_Hit]:
        """Return the accepted hits of every category, one per passage."""
        hits: list[_Hit] = []
        rules = _rule_index(self.rules).rules
        cat_hits: list[_Hit] = []
        category = ""
        for i in self.candidates():
            rule = rules[i]
            if rule.category != category:
                hits.extend(_dedupe(cat_hits))
                cat_hits, category = [], rule.category
            if rule.requires and not all(self.context(name) for name in rule.requires):
                continue
            if rule.unless and self.context(rule.unless):
                continue
            kept = 0
            for n, m in enumerate(rule.regex.finditer(self.text)):
                if n >= MAX_TRIES_PER_RULE or kept >= MAX_HITS_PER_RULE:
                    break
                if m.end() > m.start() and self.accept(rule, m.start(), m.end()):
                    cat_hits.append(_Hit(rule, m.start(), m.end()))
                    kept += 1
        hits.extend(_dedupe(cat_hits))
        return hits


@dataclass(frozen=True)
class _KeyIndex:
    """Which of a list of patterns a text can match, told from the keys the text holds (rules.needed_keys)."""

    always: frozenset[int]  # patterns without key sets: run on every text
    direct: dict[str, frozenset[int]]  # key -> patterns one of whose alternatives needs nothing more than this key
    table: dict[str, tuple[tuple[int, tuple[frozenset[str], ...]], ...]]  # key -> (pattern, its other key sets)
    keys: frozenset[str]  # the keys of both tables

    @classmethod
    def build(cls, needs: list[Needs | None]) -> _KeyIndex:
        """Index each pattern's alternatives under the keys of their rarest set."""
        always: set[int] = set()
        direct: dict[str, set[int]] = {}
        table: dict[str, list[tuple[int, tuple[frozenset[str], ...]]]] = {}
        for i, need in enumerate(needs):
            if need is None:
                always.add(i)
                continue
            for rarest, *others in need:
                for key in rarest:
                    if others:
                        table.setdefault(key, []).append((i, tuple(others)))
                    else:
                        direct.setdefault(key, set()).add(i)
        return cls(
            frozenset(always),
            {k: frozenset(v) for k, v in direct.items()},
            {k: tuple(v) for k, v in table.items()},
            frozenset(direct) | frozenset(table),
        )

    def matchable(self, keys: set[str]) -> list[int]:
        """Return, in order, the patterns that can match a text holding `keys`."""
        found = set(self.always)
        present = keys & self.keys
        for key in present:
            hit = self.direct.get(key)
            if hit is not None:
                found |= hit
        for key in present:
            for i, others in self.table.get(key, ()):
                if i in found:
                    continue
                for need in others:  # a plain loop: this runs tens of times per SMS
                    if need.isdisjoint(keys):
                        break
                else:
                    found.add(i)
        return sorted(found)


@dataclass(frozen=True)
class _RuleIndex:
    """Every rule in file order and every lawful phrase, with their key indexes."""

    rules: tuple[Rule, ...]
    index: _KeyIndex
    lawful: _KeyIndex
    prefilter: PrefilterSlot  # the rules' then the lawful phrases' patterns


_INDEXES: dict[int, tuple[RuleSet, _RuleIndex]] = {}


def _rule_index(rules: RuleSet) -> _RuleIndex:
    """Return the key indexes of a rule set (built once per rule set)."""
    cached = _INDEXES.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    flat = tuple(rules.rules())
    patterns = [(r.regex.pattern, int(r.regex.flags)) for r in flat]
    patterns += [(lw.regex.pattern, int(lw.regex.flags)) for lw in rules.lawful]
    index = _RuleIndex(
        flat,
        _KeyIndex.build([r.needs for r in flat]),
        _KeyIndex.build([lw.needs for lw in rules.lawful]),
        PrefilterSlot(patterns, cache_dir()),
    )
    _INDEXES[id(rules)] = (rules, index)
    return index


def _prefiltered(rules: RuleSet, text: str) -> tuple[list[int], list[int]] | None:
    """Split what the pre-filter finds into (rules, lawful phrases), each in file order; None when it cannot tell."""
    index = _rule_index(rules)
    prefilter = index.prefilter.get()
    found = prefilter.matchable(text) if prefilter is not None else None
    if found is None:
        return None
    count = len(index.rules)
    ordered = sorted(found)
    return [i for i in ordered if i < count], [i - count for i in ordered if i >= count]


def prepare(wait: bool = True) -> bool:
    """Load the rules and start (with `wait`, finish) loading or building the pre-filter; tell whether it is on."""
    return _rule_index(get_rules()).prefilter.get(wait=wait) is not None


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    """Keep one hit per overlapping passage of a category (the earliest, then the longest)."""
    out: list[_Hit] = []
    for h in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if out and h.start < out[-1].end:
            continue
        out.append(h)
    return out


def _court_scam_signal(scanner: _Scanner, hits: list[_Hit], court_named: bool) -> bool:
    """Tell whether a message in a court's name shows a scam sign (payment route, fee, arrest, odd number/link/host).

    A court that asks you to contact someone to settle the debt is collecting, which courts do not do: that is a
    scam sign too (context `court_collects`), and so is a claim no court makes over a civil debt: that it became
    criminal, that the police act on it, that the family is punished, that paying cancels an order
    (context `court_false_claim`). A mediation centre that names no court and threatens enforcement (立案, 移送执行)
    claims a power it does not have: a scam sign as well (`court_named`: a court or arbitration body is named).
    """
    text = scanner.text
    for h in hits:
        if h.rule.category == "scam_payment" or h.rule.id in _SCAM_SIGNAL_RULES:
            return True
        if not court_named and h.rule.court_procedure and h.rule.category == "false_legal_threat":
            return True  # a mediation centre that names no court has no enforcement to send a case to
        if h.rule.id in ("flt_jail", "flt_en_jail") and _ARREST.search(text, h.start, h.end):
            return True
    if _MOBILE.search(text) or scanner.context("court_collects"):
        return True
    # a claim inside a lawful phrase is the court warning about it ("要求转账、交钱撤案的均为诈骗"), not making it
    for m in scanner.rules.contexts["court_false_claim"].finditer(text):
        if not scanner.in_lawful(m.start(), m.end()):
            return True
    for m in (*_URL.finditer(text), *_BARE_HOST.finditer(text)):
        host = _HOST.match(m.group())
        own = host is not None and _INSTITUTION_HOST.search(host.group(1).rstrip("."))
        if own and _OWN_SITE.search(text[max(0, m.start() - 48) : m.start()]) and _CHECK_ONLY.match(text, m.end()):
            continue  # "详情请登录本院官网 www.scia.com.cn 查询": an arbitration body's own site, to read, not to pay
        if host is None or not _OFFICIAL_HOST.search(host.group(1).rstrip(".")):
            return True
    return False


def _court_voice(scanner: _Scanner) -> re.Match[str] | None:
    """Return where the message speaks as a court (not an agency's 本中心, a private mediator, a creditor's lawyer)."""
    if (
        not scanner.context("court_voice_gate")
        or scanner.context("private_mediator")
        or scanner.context("creditor_voice")
    ):
        return None
    agency = None
    for m in scanner.rules.contexts["court_voice"].finditer(scanner.text):
        if m.group().strip() not in _CENTRE_VOICE:
            return m
        if agency is None:
            agency = scanner.context("collector_header")
        if not agency:
            return m
    return None


def _court_layer(
    scanner: _Scanner, hits: list[_Hit]
) -> tuple[list[_Hit], bool, bool, tuple[int, int] | None, frozenset[str]]:
    """Apply "verify, don't dismiss" to court notices.

    Returns (hits, court_notice, verify, span of a fake court voice, the categories whose hits it removed: the
    learned layer must not add those back).

    A message that speaks as a court, arbitration body or court mediator and shows no scam sign may be real,
    with or without an official marker (a case number, 12368, 人民法院在线服务): its procedural words (立案,
    传票, 执行, 失信) are not false threats and its court name is not impersonation, and the report says how to
    check it. Calling it false would tell someone to ignore what may be a real summons. With a scam sign it is a
    fake authority: impersonation is added on the court's name if no rule found it.
    """
    voice = _court_voice(scanner)
    if voice is None:
        return hits, False, False, None, frozenset()
    court_named = _COURT_WORD.search(scanner.text) is not None
    if _court_scam_signal(scanner, hits, court_named):
        has_imp = any(h.rule.category == "impersonation" for h in hits)
        fake = None if has_imp else (voice.start(), voice.end())
        claims = [h for h in hits if h.rule.category == "false_legal_threat"]
        if claims and all(h.rule.court_procedure for h in claims):
            # A fake court's own procedure words (立案, 强制执行, 失信, 传票) are part of the impersonation: the
            # harm is the fake court and its payment route, not a separate claim about the law.
            kept = [h for h in hits if h.rule.category != "false_legal_threat"]
            return kept, True, False, fake, frozenset({"false_legal_threat"})
        return hits, True, False, fake, frozenset()
    # A mediation or arbitration centre that names no court has no enforcement power: telling the family or the
    # employer about the debt is its own third-party contact, not a court's procedure.
    dropped = _COURT_PROCEDURE if court_named else _COURT_PROCEDURE - {"third_party_contact"}
    removed = frozenset(h.rule.category for h in hits if h.rule.category in dropped)
    return [h for h in hits if h.rule.category not in dropped], True, True, None, removed


def _blanked(text: str, s: int, e: int, spans: list[tuple[int, int, str]]) -> str | None:
    """Return text[s:e] with the given spans (lawful or negated phrases) blanked out, or None when it holds none."""
    inside = [(max(a, s), min(b, e)) for a, b, _ in spans if a < e and s < b]
    if not inside:
        return None
    chars = list(text[s:e])
    for a, b in inside:
        chars[a - s : b - s] = " " * (b - a)
    return "".join(chars)


def model_quote(
    clf: Classifier, rules: RuleSet, text: str, k: int, blank: list[tuple[int, int, str]]
) -> tuple[int, int, float | None] | None:
    """Return the sentence a model finding of category k quotes and the score it must still reach, or None.

    None when there is no sentence, or when a false legal threat's sentence names nothing legal or an impersonation's
    no state body (contexts in lawful.yml). The score is the sentence's with the `blank` spans inside it (lawful
    phrases, phrases of the category the negation layer turned down) blanked out; None when it holds none of them.
    Shared with scripts/cv_sms_model.py, which chooses the thresholds on exactly this check.
    """
    s, e = clf.best_sentence(text, k)
    if e <= s:
        return None
    gate = _MODEL_QUOTE_GATES.get(CATEGORIES[k])
    if gate is not None and rules.contexts[gate].search(text, s, e) is None:
        return None
    rest = _blanked(text, s, e, blank)
    return s, e, None if rest is None else float(clf.scores(rest)[k])


def _model_findings(
    norm: Normalised,
    source: str,
    found: set[str],
    verify: bool,
    loc: str,
    rules: RuleSet,
    scanner: _Scanner | None = None,
    court_notice: bool = False,
) -> list[Finding]:
    """Add what only the classifier sees: one "likely" finding per category the rules missed, on its sentence.

    The rules' findings are never removed. A genuine-looking court notice gets no model false_legal_threat or
    impersonation (that would undo "verify, don't dismiss"), and a message that names a company as the payee
    gets no model scam_payment (an account number with a company name is the official channel; the scam rules
    still look at everything else in it). As for the rules, lawful and negated phrases do not count: when the
    sentence the model relies on holds a lawful phrase ("如遇…请向派出所报案") or a phrase of the same category that a
    rule matched and the negation layer turned down ("We will not contact your family"), it is scored again without
    it and must still reach the threshold. When nothing was found at all, the message has no lawful phrase and no
    court voice, the likeliest high-risk category is added from the lower MODEL_FALLBACK if the head (abusive or
    not, the score after the categories) reaches MODEL_HEAD (a high-risk SMS rated low is the costliest error).
    """

    def no_scam_here() -> bool:
        """A company named as the payee, or nowhere to pay: "Pls pay today" alone is a reminder (looked up lazily)."""
        return scanner is not None and (scanner.context("official_payee") or not scanner.context("payment_route"))

    clf = get_classifier()
    if clf is None:
        return []
    text = norm.text[:MODEL_CHARS]
    probs = clf.scores(text)
    out: list[Finding] = []

    def finding(k: int, threshold: float) -> Finding | None:
        """The model finding of category k on its best sentence, unless that sentence does not bear it out."""
        cat = CATEGORIES[k]
        blank = [] if scanner is None else [*scanner.lawful_spans(), *(d for d in scanner.denied if d[2] == cat)]
        quote = model_quote(clf, rules, text, k, blank)
        if quote is None or (quote[2] is not None and quote[2] < threshold):
            return None
        start, end = norm.span(quote[0], quote[1])
        return Finding(
            category=cat,
            start=start,
            end=end,
            text=source[start:end],
            explanation=rules.text("explanations", f"model_{cat}", loc),
            legal_basis=rules.text("legal_basis", _MODEL_BASIS[cat], loc),
            rule=f"model:{cat}",
            source="model",
            score=float(probs[k]),
        )

    for k, cat in enumerate(CATEGORIES):
        threshold = MODEL_THRESHOLDS[cat]
        if cat in found or float(probs[k]) < threshold or (verify and cat in _COURT_PROCEDURE):
            continue
        if cat == "scam_payment" and no_scam_here():
            continue
        if (f := finding(k, threshold)) is not None:
            out.append(f)
    if not found and not out and not court_notice and not (scanner is not None and scanner.lawful_spans()):
        k = max(_FALLBACK_CATEGORIES, key=lambda k: float(probs[k]))
        head = float(probs[len(CATEGORIES)]) if len(probs) > len(CATEGORIES) else 1.0
        if (
            float(probs[k]) >= MODEL_FALLBACK
            and head >= MODEL_HEAD
            and not (CATEGORIES[k] == "scam_payment" and no_scam_here())
        ):
            if (f := finding(k, MODEL_FALLBACK)) is not None:
                out.append(f)
    return out


def _input_notes(text: str, norm: Normalised, truncated: bool) -> list[str]:
    """Return the keys of notes about the input itself (empty, no words, only a link, cut)."""
    keys: list[str] = []
    if not text.strip():
        keys.append("empty")
        return keys
    if truncated:
        keys.append("truncated")
    if _JUNK.search(text, 0, 4096):
        keys.append("binary")
    without_links = _URL.sub(" ", norm.text)
    if _URL.search(norm.text) and not _LETTER_OR_CJK.search(without_links):
        keys.append("link_only")
    elif not _LETTER_OR_CJK.search(norm.text):
        keys.append("no_words")
    return keys


def _advice_keys(
    cats: set[str],
    findings: list[Finding],
    scanner: _Scanner,
    off_hours: bool,
    collection_like: bool,
    verify: bool = False,
) -> list[str]:
    """Choose the next steps that fit what was found (most urgent first)."""
    keys: list[str] = ["court_may_be_real"] if verify else []
    violent = any(f.violent for f in findings)
    if violent or "insult_or_intimidation" in cats or "privacy_exposure" in cats:
        keys.append("call_110_if_danger")
    if cats & _THREATS:
        keys.append("dont_reply")
    if "scam_payment" in cats or "impersonation" in cats:
        keys.append("never_pay_personal")
        keys.append("report_96110")
    if cats:
        keys.append("keep_evidence")
        keys.append("verify_official")
    if scanner.context("court_named") or "impersonation" in cats or verify:
        keys.append("verify_court_12368")
    if cats & {"insult_or_intimidation", "privacy_exposure", "third_party_contact", "false_legal_threat"}:
        keys.append("report_12321")
    if cats & {"third_party_contact", "insult_or_intimidation", "privacy_exposure", "false_legal_threat"}:
        keys.append("complain_lender_12378")
    if "third_party_contact" in cats:
        keys.append("tell_contacts")
    if cats & {"false_legal_threat", "impersonation"}:
        keys.append("legal_aid_12348")
    if off_hours and (cats or collection_like):
        keys.append("off_hours")
    if not cats and collection_like and not verify:
        keys.extend(["low_pay_official", "low_hardship"])
    if not cats and not collection_like and not verify:
        keys.append("low_nothing_found")
    return keys


def assess(text: str, received_at: datetime | None = None, locale: str = "zh-Hans") -> Assessment:
    """Assess one SMS: risk, categories, the exact offending spans, why, and what to do next."""
    if not isinstance(text, str):
        text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    rules = get_rules()
    truncated = len(text) > MAX_CHARS
    source = text[:MAX_CHARS]
    norm = normalise(source)
    loc = resolve_locale(locale, source, norm)
    scanner = _Scanner(rules, norm.text)
    hits = scanner.scan() if _LETTER_OR_CJK.search(norm.text) else []
    hits, court_notice, verify, fake_court, quieted = (
        _court_layer(scanner, hits)
        if hits or _LETTER_OR_CJK.search(norm.text)
        else (hits, False, False, None, frozenset())
    )
    hits.sort(key=lambda h: (h.start, CATEGORIES.index(h.rule.category)))
    note_keys = _input_notes(text, norm, truncated)
    if len(hits) > MAX_FINDINGS:
        hits = hits[:MAX_FINDINGS]
        note_keys.append("many_findings")
    findings: list[Finding] = []
    for h in hits:
        start, end = norm.span(h.start, h.end)
        r = h.rule
        findings.append(
            Finding(
                category=r.category,
                start=start,
                end=end,
                text=source[start:end],
                explanation=rules.text("explanations", r.explain, loc),
                legal_basis=rules.text("legal_basis", r.legal_basis, loc) if r.legal_basis else None,
                rule=r.id,
                violent=r.violent,
            )
        )
    if fake_court is not None:
        start, end = norm.span(*fake_court)
        findings.append(
            Finding(
                category="impersonation",
                start=start,
                end=end,
                text=source[start:end],
                explanation=rules.text("explanations", "imp_court_scam", loc),
                legal_basis=rules.text("legal_basis", "impersonation_ban", loc),
                rule="imp_court_scam",
            )
        )
    if not {"empty", "link_only", "no_words"} & set(note_keys) and len(findings) < MAX_FINDINGS:
        found = {f.category for f in findings} | quieted
        findings.extend(_model_findings(norm, source, found, verify, loc, rules, scanner, court_notice))
    findings.sort(key=lambda f: (f.start, CATEGORIES.index(f.category)))
    cats = {f.category for f in findings}
    categories = [c for c in CATEGORIES if c in cats]
    off_hours = _is_off_hours(received_at)
    collection_like = scanner.context("collection")
    risk = risk_for(categories, violent=any(f.violent for f in findings))
    advice = [
        Advice(k, rules.text("advice", k, loc))
        for k in _advice_keys(cats, findings, scanner, off_hours, collection_like, verify)
    ]
    notes = [rules.text("notes", "not_legal_advice", loc)]
    notes += [rules.text("notes", k, loc) for k in note_keys]
    seen: set[str] = set()
    for _, _, lid in sorted(scanner.lawful_spans()) if findings or collection_like else []:
        if lid not in seen and rules.has_text("lawful", lid):
            seen.add(lid)
            notes.append(rules.text("lawful", lid, loc))
    return Assessment(
        risk=risk,
        categories=categories,
        findings=findings,
        advice=advice,
        off_hours=off_hours,
        notes=notes,
        locale=loc,
        court_notice=court_notice,
        verify=verify,
    )
