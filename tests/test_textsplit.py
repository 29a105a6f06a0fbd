"""Long replies are cut where a reader would cut them, within each platform's own way of counting."""

from __future__ import annotations

from bot.channels.textsplit import split_by


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def test_paragraphs_stay_whole_when_they_fit() -> None:
    assert split_by("甲" * 10 + "\n\n" + "乙" * 10, 40, utf8) == ["甲" * 10, "乙" * 10]


def test_a_long_paragraph_is_cut_at_sentences_then_words_never_inside_a_character() -> None:
    text = "第一句话。" * 6 + "The last words come here"
    chunks = split_by(text, 20, utf8)
    assert all(utf8(c) <= 20 for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


def test_one_endless_word_is_still_cut_within_the_limit() -> None:
    chunks = split_by("字" * 50, 10, utf8)
    assert all(utf8(c) <= 10 for c in chunks) and "".join(chunks) == "字" * 50
