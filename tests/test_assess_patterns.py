"""The pattern data a legal volunteer edits: every rule proves itself, every text exists in every locale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.assess import CATEGORIES, LOCALES, assess
from bot.assess.engine import _rule_index, _Scanner
from bot.assess.normalize import normalise
from bot.assess.rules import PATTERN_DIR, RuleError, get_rules, load_rules
from tests._legal_sources import HOTLINES
from tests._sms_texts import matches

RULES = get_rules()
ALL_RULES = RULES.rules()


def rule_hits(rule_id: str, text: str) -> bool:
    """Tell whether the rule `rule_id` gives an accepted finding on `text`."""
    return any(f.rule == rule_id for f in assess(text).findings)


def test_there_is_one_yaml_file_per_category_and_it_is_loaded():
    names = {p.stem for p in PATTERN_DIR.glob("*.yml")}
    assert set(CATEGORIES) <= names
    assert {r.category for r in ALL_RULES} == set(CATEGORIES)
    assert len({r.id for r in ALL_RULES}) == len(ALL_RULES), "pattern ids must be unique across files"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.id)
def test_every_rule_catches_its_own_example(rule):
    assert rule_hits(rule.id, rule.example), f"{rule.category}.yml {rule.id}: example does not trigger"


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.counter_examples], ids=lambda r: r.id)
def test_no_rule_catches_its_counter_examples(rule):
    for text in rule.counter_examples:
        assert not rule_hits(rule.id, text), f"{rule.id} wrongly triggers on {text!r}"


@pytest.mark.parametrize("lawful", RULES.lawful, ids=lambda r: r.id)
def test_every_lawful_phrase_recognises_its_example(lawful):
    scanner = _Scanner(RULES, normalise(lawful.example).text)
    assert any(lid == lawful.id for _, _, lid in scanner.lawful_spans())


def test_every_text_exists_in_all_three_locales():
    for section, entries in RULES.texts.items():
        for key, entry in entries.items():
            for loc in LOCALES:
                assert entry.get(loc), f"texts.yml {section}.{key} lacks {loc}"
    for r in ALL_RULES:
        assert RULES.has_text("explanations", r.explain)
        assert r.legal_basis is None or RULES.has_text("legal_basis", r.legal_basis)
    for cat in CATEGORIES:
        assert RULES.has_text("categories", cat)


def test_traditional_texts_are_really_traditional():
    for section in ("explanations", "advice"):
        for key, entry in RULES.texts[section].items():
            if re.search(r"[\u4e00-\u9fff]", entry["zh-Hans"]):
                assert entry["zh-Hant"] != entry["zh-Hans"], f"{section}.{key}: zh-Hant equals zh-Hans"


def test_no_phone_number_is_invented():
    number = re.compile(r"(?<![\d.-])(?:010-)?(?:1\d{2}|1\d{4}|9\d{4})(?![\d])")
    for section in ("advice", "explanations", "notes", "lawful"):
        for key, entry in RULES.texts[section].items():
            for loc, text in entry.items():
                for n in number.findall(text):
                    assert n in HOTLINES, f"texts.yml {section}.{key} ({loc}): {n} is not in docs/legal-sources.md"


def test_the_renumbered_public_security_article_is_always_cited_with_its_version():
    for key, entry in RULES.texts["legal_basis"].items():
        for text in entry.values():
            if "治安管理处罚法" in text or "治安管理處罰法" in text:
                assert "2025年修订版" in text or "2025年修訂版" in text, key
                assert "第50条" in text or "第50條" in text, key
            if "Public Security Administration" in text:
                assert "2025 revision" in text and "art. 50" in text, key


def test_hedged_items_stay_hedged():
    basis = RULES.texts["legal_basis"]["impersonation_ban"]
    assert "待核实" in basis["zh-Hans"] and "to be confirmed" in basis["en"]
    assert "可能" in RULES.texts["legal_basis"]["fake_collector"]["zh-Hans"]


def test_patterns_are_compiled_once_and_cached():
    """How fast: bench/bench_limits.py."""
    assert get_rules() is get_rules()


def test_a_broken_pattern_file_is_reported_by_name(tmp_path):
    for p in PATTERN_DIR.glob("*.yml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "scam_payment.yml"
    broken = bad.read_text(encoding="utf-8").replace("regex: '安全", "regex: '(安全", 1)
    bad.write_text(broken, encoding="utf-8")
    with pytest.raises(RuleError, match="scam_payment.yml"):
        load_rules(tmp_path)


def test_a_rule_mixing_chinese_and_english_words_is_refused(tmp_path):
    for p in PATTERN_DIR.glob("*.yml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    f = tmp_path / "false_legal_threat.yml"
    original = f.read_text(encoding="utf-8")
    mixed = original.replace("regex: '司法拘留|", "regex: '\\bjail\\b|司法拘留|")
    assert mixed != original
    f.write_text(mixed, encoding="utf-8")
    with pytest.raises(RuleError, match="mixes Chinese and English"):
        load_rules(tmp_path)


def test_an_english_rule_finds_its_word_right_next_to_chinese_characters():
    rules = get_rules()
    jail = next(r for c in rules.categories for r in c.rules if r.id == "flt_en_jail")
    assert jail.regex.search("不还钱就jail了") is not None
    assert jail.regex.search("jailbreak") is None  # still a whole word among Latin letters
    found = assess("你的case已经交给police处理，下周就arrest你")
    assert "false_legal_threat" in found.categories
    # contexts too: a loan named next to Chinese still makes the message about a debt
    assert rules.contexts["debt_demand"].search("您的loan帐户异常") is not None
    assert rules.contexts["debt_demand"].search("download帐户") is None


def test_the_start_guard_and_word_tries_never_change_what_a_rule_lawful_phrase_or_context_matches():
    import json
    import random
    import re as stdre

    import yaml

    from bot.assess.rules import _expand, _nested_macros

    data = Path(__file__).parent / "data"
    texts = [
        json.loads(line)["text"]
        for name in ("sms_corpus.jsonl", "sms_probes.jsonl")
        for line in (data / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts += [r.example for r in ALL_RULES] + [c for r in ALL_RULES for c in r.counter_examples]
    rng = random.Random(7)
    pool = "".join(texts)
    texts += ["".join(rng.choice(pool) for _ in range(300)) for _ in range(50)]  # shuffled characters
    norm = [normalise(t).text for t in texts]
    common = yaml.safe_load((PATTERN_DIR / "lawful.yml").read_text(encoding="utf-8"))
    macros = _nested_macros({str(k): str(v) for k, v in common["macros"].items()})
    assert [item["id"] for item in common["lawful"]] == [lw.id for lw in RULES.lawful]
    compiled = [(rule.id, rule.source, rule.regex) for rule in ALL_RULES]
    compiled += [
        (lw.id, _expand(item["regex"], macros, lw.id), lw.regex)
        for item, lw in zip(common["lawful"], RULES.lawful, strict=True)
    ]
    compiled += [(k, _expand(v, macros, k), RULES.contexts[k]) for k, v in common["contexts"].items()]
    compared = 0
    for name, source, regex in compiled:
        plain = stdre.compile(source, regex.flags)
        if plain.pattern == regex.pattern:
            continue
        compared += 1
        for t in norm:
            expected = [m.span() for m in plain.finditer(t)]
            assert [m.span() for m in regex.finditer(t)] == expected, name
    assert compared >= len(compiled) // 2


def test_first_chars_is_exact_or_gives_up():
    from bot.assess.rules import first_chars

    assert first_chars("坐牢|(?:你|您)的?照片") == {"坐", "你", "您"}
    assert first_chars("(?:不要)?上门") == {"不", "上"}
    assert first_chars(r"\d+元") is None  # \d: unknown set
    assert first_chars("a?") is None  # can match empty


def test_word_tries_match_exactly_what_the_word_lists_matched():
    import random

    from bot.assess.rules import factor_alternations

    assert factor_alternations("(?:父母|父亲|家人)的") == "(?:父(?:母|亲)|家人)的"
    assert factor_alternations("(?<=家人|父母)说") == "(?<=家人|父母)说"  # a look-behind keeps its fixed width
    assert factor_alternations("Boss|boss|Bob") == "Boss|boss|Bob"  # "B" and "b" may match the same letter
    cases = [
        "爸|爸爸",
        "爸爸|爸",
        "(?:爸|爸爸)妈",
        "(?:ab||a|ac)c",
        "(?:联系|联络|通知|通告|告诉)(?:你的)?(?:家人|家属|家)",
        "x(?:p(?:yq|o)|po|p)",
        "(?:kk|k|kks)s",
    ]
    rng = random.Random(5)
    texts = ["".join(rng.choice("爸妈家人属的你联系络通知告诉abcxpoyqks ") for _ in range(60)) for _ in range(300)]
    for rx in cases:
        for flags in (0, re.IGNORECASE):
            plain, fast = re.compile(rx, flags), re.compile(factor_alternations(rx), flags)
            for t in texts:
                assert [m.span() for m in fast.finditer(t)] == [m.span() for m in plain.finditer(t)], rx


def test_each_rule_has_a_start_guard_that_knows_digits_and_spaces():
    from bot.assess.rules import _compile_keyed

    guarded, _ = _compile_keyed("(?:父母|家人)联系|你[^，]{0,4}好", "test", 0)
    assert guarded.pattern.startswith("(?=[家父][人母]|[你])")
    digits, _ = _compile_keyed(r"\d{4}元|打到", "test", 0)
    assert digits.pattern.startswith(r"(?=[\d打])")
    assert digits.search("转2000元") and not digits.search("两千元")
    spaced, _ = _compile_keyed(r"^\s*法院通知", "test", 0)
    assert spaced.search("  法院通知") and not spaced.search("据法院通知")


def test_skipping_a_rule_whose_keys_are_absent_never_loses_a_match():
    flat = _rule_index(RULES).rules
    for t, norm, hit_rules, hit_lawful in matches():
        scanner = _Scanner(RULES, norm)
        run = set(scanner.key_candidates())
        for i in hit_rules:
            if flat[i].script in scanner.scripts:
                assert flat[i].ignorecase == bool(flat[i].regex.flags & re.IGNORECASE)
                assert i in run, (flat[i].id, t[:60])
        lawful_run = set(scanner.key_lawful_candidates())
        for i in hit_lawful:
            if RULES.lawful[i].script in scanner.scripts:
                assert i in lawful_run, (RULES.lawful[i].id, t[:60])


def test_needed_keys_lists_what_every_match_contains():
    from bot.assess.rules import needed_keys

    assert needed_keys("坐牢|进监狱") == (
        (frozenset({"坐牢"}), frozenset({"牢"})),
        (frozenset({"进监"}), frozenset({"监狱"}), frozenset({"狱"})),
    )
    (alt,) = needed_keys("(?:父母|家人)[^，。]{0,6}(?:联系|通知)")
    assert frozenset({"父母", "家人"}) in alt and frozenset({"联系", "通知"}) in alt
    assert needed_keys(r"\d+元") == ((frozenset({"元"}),),)  # \d is unknown: only 元 is certain
    assert needed_keys("a?") is None  # can match empty: nothing is certain
    assert needed_keys("Scam", re.IGNORECASE)[0][0] >= {"sc"}


def test_a_macro_may_use_another_macro_but_not_in_a_cycle(tmp_path):
    assert "{{" not in "".join(r.regex.pattern for r in ALL_RULES), "a macro was left unexpanded"
    for p in PATTERN_DIR.glob("*.yml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    f = tmp_path / "lawful.yml"
    original = f.read_text(encoding="utf-8")
    cyclic = original.replace('  KIN: "(?:父母|', '  KIN: "(?:{{TARGET}}|父母|', 1)
    assert cyclic != original
    f.write_text(cyclic, encoding="utf-8")
    with pytest.raises(RuleError, match="cycle"):
        load_rules(tmp_path)
