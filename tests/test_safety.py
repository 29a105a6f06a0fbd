"""The crisis safeguard catches self-harm and danger at the door in any script, and stays quiet on idioms."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.evaluate import load_examples
from bot.safety import (
    CrisisHit,
    _opencc,
    detect_crisis,
    lexicon,
    load_lexicon,
    phrase_to_regex,
    unbounded_repeat,
)

DEV_SET = ROOT / "rasa_project" / "tests" / "dev_nlu.yml"
TRAIN_DIR = ROOT / "rasa_project" / "data" / "nlu"

# Written as users would write them, separately from the dev set: a second check that the lexicon generalises.
SIMPLIFIED_CRISIS = [
    "我已经想好了，明天就去江边",
    "欠了四十万，我准备把自己了结掉",
    "不如死了干净",
    "我怕我哪天会控制不住从楼上跳",
    "活着就是受罪，一点盼头都没有",
    "我在河边坐了一下午，很想走进去",
    "我吃了半瓶安眠药",
    "真的撑不下去了，想一了百了",
    "我不想活了，别劝我",
    "要不我死了算了，他们就不会再找我家人了",
]
TRADITIONAL_CRISIS = [
    "我真的不想再活了",
    "我想結束自己的生命",
    "活著好累，好想就這樣睡去不要醒來",
    "乾脆死一死算了",
    "我已經寫好遺書了",
    "我好想消失在這個世界上",
    "我覺得我撐唔到聽日",
    "我想自殺，已經準備好了",
    "欠這麼多錢，不如跳樓算了",
    "沒有我，大家都會過得更好",
]
ENGLISH_CRISIS = [
    "i don't see the point of living anymore",
    "I'm planning to kill myself tonight",
    "i wrote a letter to my family saying goodbye",
    "i want to hurt myself",
    "i'm at the train tracks",
    "life has no meaning, i'm done",
    "i took a whole bunch of my sleeping meds",
    "I DON'T WANT TO LIVE",
    "everyone would be better off without me",
    "thinking about suicide a lot lately",
]
DANGER = [
    "他们现在在我家门外骂，还在踹",
    "催收的五六个人围在我家门口不让我出去",
    "有个男的拿着刀说要我还钱",
    "他們在我家外面一直撞門",
    "有人闖進我家了，快幫我",
    "我被討債的人打了",
    "追數佬喺門口拍門",
    "they smashed my window and are trying to get in",
    "someone is standing outside my door and won't go away",
    "the collectors cornered me outside my office and threatened me",
]
HARMLESS = [
    "笑死我了",
    "今天累死了",
    "饿死了，先去吃饭",
    "热死了",
    "想死你了",
    "跳楼价大甩卖",
    "我爸喜欢紫砂壶",
    "梅西头球破门",
    "绝望的主妇好看吗",
    "他们天天打我电话",
    "催收打电话到我家了",
    "我被催收打了几十个电话",
    "快递寄到我家了",
    "他們說我不還就要坐牢，是真的嗎",
    "我好害怕，整晚睡不著",
    "I'm dying to know how this works",
    "they call me every day",
    "I'm breaking in new shoes",
    "can they come to my house?",
    "bookmarks",
]


def _dev(crisis: bool = True) -> list[str]:
    return [e.text for e in load_examples(DEV_SET) if (e.intent == "crisis") == crisis]


def _train_crisis() -> list[str]:
    return [e.text for p in sorted(TRAIN_DIR.glob("*.yml")) for e in load_examples(p) if e.intent == "crisis"]


def test_every_crisis_message_in_the_dev_set_is_caught() -> None:
    missed = [t for t in _dev() if detect_crisis(t) is None]
    assert len(_dev()) >= 20
    assert not missed


def test_every_crisis_message_in_the_training_data_is_caught() -> None:
    missed = [t for t in _train_crisis() if detect_crisis(t) is None]
    assert not missed


def test_ordinary_questions_in_the_dev_set_raise_no_false_alarm() -> None:
    alarms = [(t, detect_crisis(t)) for t in _dev(crisis=False)]
    assert not [a for a in alarms if a[1] is not None]


@pytest.mark.parametrize("text", SIMPLIFIED_CRISIS)
def test_simplified_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", TRADITIONAL_CRISIS)
def test_traditional_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", ENGLISH_CRISIS)
def test_english_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", DANGER)
def test_someone_at_the_door_or_violence_is_danger(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "danger"


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_idioms_and_ordinary_questions_are_not_a_crisis(text: str) -> None:
    assert detect_crisis(text) is None


def test_every_chinese_phrase_of_the_lexicon_is_caught_when_typed_in_traditional() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "bot" / "data" / "crisis_lexicon.yml").read_text(encoding="utf-8"))
    phrases = [p for k in ("self_harm", "danger") for e in data[k] for p in e.get("phrases") or []]
    chinese = [p for p in phrases if re.search(r"[\u4e00-\u9fff]", p)]
    assert len(chinese) > 200
    missed = []
    for config in ("s2t", "s2tw", "s2hk", "s2twp"):
        conv = _opencc(config)
        assert conv is not None, config
        converted = [(p, str(conv.convert(p))) for p in chinese]
        missed += [(config, p, t) for p, t in converted if detect_crisis(f"我{t}。") is None]
    assert not missed


def test_an_idiom_never_hides_a_real_crisis_in_the_same_message() -> None:
    hit = detect_crisis("想死你了，但我真的不想活了")
    assert hit is not None and hit.pattern_id == "sh_dont_want_to_live"
    assert detect_crisis("笑死，跳楼价都买不起，我想自杀") is not None


def test_the_span_points_at_the_words_in_the_original_message() -> None:
    text = "唉…我撐不下去了"
    hit = detect_crisis(text)
    assert hit is not None and text[hit.span[0] : hit.span[1]] == "撐不下去"
    text = "They’re OUTSIDE my door"
    hit = detect_crisis(text)
    assert hit is not None and text[hit.span[0] : hit.span[1]] == "They’re OUTSIDE my door"


def test_spaces_invisible_characters_and_full_width_letters_do_not_hide_a_crisis() -> None:
    for text, words in [
        ("我 不 想 活 了", "不 想 活"),
        ("不\u200b想\u200b活", "不\u200b想\u200b活"),
        ("ＫＩＬＬ　ＭＹＳＥＬＦ", "ＫＩＬＬ　ＭＹＳＥＬＦ"),
        ("i want   to\n die", "want   to\n die"),
        ("我想kms", "kms"),
    ]:
        hit = detect_crisis(text)
        assert hit is not None, text
        assert text[hit.span[0] : hit.span[1]] == words


def test_hit_reports_kind_span_and_lexicon_entry() -> None:
    assert detect_crisis("有人在砸门！") == CrisisHit("danger", (3, 5), "dg_door_attack")
    assert detect_crisis("我想自殺") == CrisisHit("self_harm", (2, 4), "sh_suicide_words")
    assert detect_crisis("") is None


def test_a_100kb_paste_returns_quickly_with_or_without_a_crisis() -> None:
    lexicon()  # loading is timed separately below
    blobs = [
        "他们天天打电话威胁我" * 10_000,
        "a " * 50_000,
        "不想" * 50_000,
        ("are at my " * 10_000)[:100_000],
        "死" * 100_000,
        " \u200b" * 50_000,
        ("kill " * 20_000) + "myself",
    ]
    for blob in blobs:
        started = time.perf_counter()
        detect_crisis(blob)
        assert time.perf_counter() - started < 1.0
    assert detect_crisis("x" * 100_000 + "不想活了") is not None


def test_a_typical_message_is_checked_in_well_under_a_millisecond() -> None:
    lexicon()
    texts = ["他们天天打电话骚扰我，说要起诉我，我该怎么办", "They keep calling my mom, what can I do?"]
    started = time.perf_counter()
    for _ in range(200):
        for text in texts:
            detect_crisis(text)
    assert (time.perf_counter() - started) / 400 < 0.001


def test_the_lexicon_loads_once_and_quickly() -> None:
    lexicon.cache_clear()
    started = time.perf_counter()
    lexicon()
    assert time.perf_counter() - started < 5.0
    assert lexicon() is lexicon()


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("  - id: sh_x\n    regex: ['死.*']\n", "unbounded"),
        ("  - id: sh_x\n    regex: ['(?:死)?']\n", "empty string"),
        ("  - id: sh_x\n    regex: ['KILL']\n", "lower case"),
        ("  - id: sh_x\n    regex: ['(']\n", "bad regex"),
        ("  - id: Bad-Id\n    phrases: [自杀]\n", "bad or duplicate id"),
        ("  - id: sh_x\n    phrases: [自杀]\n  - id: sh_x\n    phrases: [轻生]\n", "bad or duplicate id"),
        ("  - id: sh_x\n    phrases: [不 想活]\n", "space between"),
        ("  - id: sh_x\n    note: nothing\n", "needs a list"),
    ],
)
def test_a_lexicon_mistake_is_reported_clearly(tmp_path: Path, entry: str, error: str) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("self_harm:\n" + entry, encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        load_lexicon(path)


def test_lexicon_helpers_spot_unbounded_repeats_and_build_word_edges() -> None:
    assert unbounded_repeat("a.*b") and unbounded_repeat("a+") and unbounded_repeat("x{2,}")
    assert not unbounded_repeat(r"a.{0,6}b") and not unbounded_repeat(r"[*+]") and not unbounded_repeat(r"\*")
    rx = re.compile(phrase_to_regex("don't want to live"), re.ASCII)
    assert rx.search("i dont want to live") and rx.search("i don't want to live")
    assert not re.search(phrase_to_regex("kms"), "bookmarks", re.ASCII)
