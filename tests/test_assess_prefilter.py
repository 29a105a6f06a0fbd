"""The Hyperscan pre-filter: a rule or lawful phrase that can match is never skipped, so no assessment changes."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from bot.assess import assess, engine
from bot.assess import prefilter as pf
from bot.assess.engine import _rule_index, _Scanner
from bot.assess.rules import get_rules
from tests._sms_texts import TRICKY, every_text, matches

RULES = get_rules()
INDEX = _rule_index(RULES)
PREFILTER = INDEX.prefilter.get(wait=True)


def one(regex: str, flags: int = 0) -> pf.Prefilter:
    """A pre-filter of a single Python regex."""
    return pf.build([(regex, flags)])


def test_the_prefilter_is_built_and_holds_every_rule_and_lawful_phrase():
    assert PREFILTER is not None
    assert PREFILTER.count == len(INDEX.rules) + len(RULES.lawful)
    assert PREFILTER.always == frozenset()


def test_a_rule_or_lawful_phrase_that_matches_is_never_skipped():
    assert PREFILTER is not None
    count = len(INDEX.rules)
    narrowed = 0
    for t, norm, hit_rules, hit_lawful in matches():
        found = PREFILTER.matchable(norm)
        assert found is not None
        for i in hit_rules:
            assert i in found, (INDEX.rules[i].id, t[:60])
        for i in hit_lawful:
            assert count + i in found, (RULES.lawful[i].id, t[:60])
        narrowed += len(found) < PREFILTER.count // 4
    assert narrowed > 30_000  # it does skip: on most SMS only a few patterns can match


@pytest.mark.parametrize(
    ("regex", "flags", "text"),
    [
        (r"(?<!不)联系你(?=的)家人|(?<=通知)你单位", 0, "我们通知你单位"),
        (r"\bjail\b", re.IGNORECASE, "JAİL"),
        (r"\bjail\b", re.IGNORECASE | re.ASCII, "JAIL"),
        (r"\bscam\b", re.IGNORECASE, "ſcam"),
        (r"kill", re.IGNORECASE, "\u212aILL"),
        (r"will\scontact", re.IGNORECASE, "WILL\x1cCONTACT"),
        (r"x[^\s]y", re.ASCII, "x\x1cy"),
        (r"账户\d{6,}", 0, "账户٣٤٥٦٧٨"),
        (r"\w+钱", 0, "\U0001e900钱"),
        (r"σας", re.IGNORECASE, "ΣΑΣ"),
        (r"[а-я]+ долг", re.IGNORECASE, "ВАШ ДОЛГ"),
        (r"[^a-z]{3}", re.IGNORECASE, "123"),
        (r"你[^，。]{0,40}家人", 0, "你" + "欠" * 40 + "家人"),
        (r"(喂){2,9}", 0, "喂喂"),
        (r"(老赖)\1", 0, "老赖老赖"),
        (r"^【法院】.$", re.MULTILINE, "x\n【法院】传"),
    ],
)
def test_python_regex_features_are_widened_never_narrowed(regex: str, flags: int, text: str):
    assert re.search(regex, text, flags), "the case must match in Python's re first"
    assert one(regex, flags).matchable(text) == {0}


def test_a_pattern_that_cannot_match_is_not_reported():
    prefilter = one(r"(?:通知|联系)(?:你|您)的?(?:家人|单位)")
    assert prefilter.matchable("今天天气很好，按时还款") == set()
    assert prefilter.matchable("我们会联系您的家人") == {0}


def test_python_folds_ascii_letters_with_exactly_the_characters_the_rewriting_lists():
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        python = set(re.findall(re.escape(letter), everything, re.IGNORECASE))
        chars, wide = pf.case_variants(letter, True)
        assert (set(chars), wide) == (python, False), letter


def test_a_text_hyperscan_cannot_read_falls_back_to_the_key_index():
    assert PREFILTER is not None
    broken = "我们会联系你全家\ud800"
    assert PREFILTER.matchable(broken) is None
    scanner = _Scanner(RULES, broken)
    assert scanner.candidates() == scanner.key_candidates()


def test_the_assessment_is_the_same_with_and_without_the_prefilter(monkeypatch: pytest.MonkeyPatch):
    sample = [*random.Random(5).sample(every_text(), 1500), *TRICKY]
    with_prefilter = [assess(t) for t in sample]
    monkeypatch.setattr(engine, "_prefiltered", lambda rules, text: None)
    assert [assess(t) for t in sample] == with_prefilter


def test_the_database_is_kept_on_disk_and_rebuilt_when_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    patterns = [("联系你(?:家人|单位)", 0), ("(?i)court", re.IGNORECASE)]
    slot = pf.PrefilterSlot(patterns, tmp_path)
    built = slot.get(wait=True)
    assert built is not None and built.matchable("将联系你单位") == {0}
    files = list(tmp_path.glob("patterns-*.hsdb"))
    assert len(files) == 1

    monkeypatch.setattr(pf, "_ready", {})  # a new process
    monkeypatch.setattr(pf, "_building", {})
    monkeypatch.setattr(pf, "build", lambda _: pytest.fail("a kept database must be loaded, not rebuilt"))
    loaded = pf.PrefilterSlot(patterns, tmp_path).get(wait=True)
    assert loaded is not None and loaded.matchable("COURT notice") == {1}

    monkeypatch.undo()
    monkeypatch.setattr(pf, "_ready", {})
    monkeypatch.setattr(pf, "_building", {})
    files[0].write_bytes(b"2\n\nnot a database")
    rebuilt = pf.PrefilterSlot(patterns, tmp_path).get(wait=True)
    assert rebuilt is not None and rebuilt.matchable("联系你家人") == {0}
    assert files[0].read_bytes() != b"2\n\nnot a database"


def test_switched_off_the_rules_still_run_through_the_key_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ASSESS_PREFILTER", "off")
    assert pf.PrefilterSlot([("联系你家人", 0)], tmp_path).get(wait=True) is None
    assert not list(tmp_path.iterdir())


def test_a_failed_build_leaves_the_key_index_in_charge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken(_: object) -> pf.Prefilter:
        raise RuntimeError("no memory")

    monkeypatch.setattr(pf, "_ready", {})
    monkeypatch.setattr(pf, "_building", {})
    monkeypatch.setattr(pf, "build", broken)
    slot = pf.PrefilterSlot([("联系你家人", 0)], tmp_path)
    assert slot.get(wait=True) is None
    monkeypatch.setattr(pf, "_load", lambda _: pytest.fail("disk is tried once per process"))
    assert slot.get(wait=True) is None
