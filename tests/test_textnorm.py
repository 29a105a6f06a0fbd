"""What the model sees: one script, half-width, tidy whitespace, a length cap, and nothing that hides words."""

from __future__ import annotations

from bot.textnorm import has_words, normalise, to_simplified


def test_traditional_becomes_simplified_and_simplified_stays_as_it_is() -> None:
    assert to_simplified("我該怎麼投訴") == "我该怎么投诉"
    # Taiwan-variant converters turn 么 into 幺; Simplified input must come through unchanged.
    for text in ("怎么办", "什么意思", "为什么要还", "这么多电话"):
        assert to_simplified(text) == text


def test_taiwan_zhe_becomes_simplified_but_not_in_words_where_it_is_correct() -> None:
    assert to_simplified("活著好累") == "活着好累"
    assert to_simplified("睡不著") == "睡不着"
    assert to_simplified("著名律師的著作") == "著名律师的著作"


def test_full_width_controls_and_whitespace_are_tidied() -> None:
    text, notes = normalise("ＡＢＣ　１２３\x00\u200b催收\n\n\t 短信")
    assert text == "ABC 123 催收 短信"
    assert notes == []


def test_a_huge_paste_is_cut_with_a_note() -> None:
    text, notes = normalise("催" * 100_000, max_chars=2000)
    assert len(text) == 2000
    assert notes and "2000" in notes[0]


def test_only_emoji_or_symbols_have_no_words() -> None:
    assert not has_words("😀😀 !!! 123")
    assert has_words("ok")
    assert has_words("好")
