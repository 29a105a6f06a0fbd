"""Normalisation for matching: width, script and controls change, offsets still point into the original."""

from __future__ import annotations

from bot.assess.normalize import Normalised, clean, normalise
from bot.textnorm import convert_chunked


def test_traditional_becomes_simplified_char_for_char():
    n = normalise("你已經被法院立案，再不還錢就等著坐牢吧。")
    assert n.text == "你已经被法院立案,再不还钱就等著坐牢吧。"  # 著 is also Simplified; ， → ,
    assert n.starts is None  # identity map: same length
    assert n.span(3, 5) == (3, 5)


def test_full_width_and_controls_are_mapped_one_to_one():
    assert clean("ＡＰＰ　１２\x00\u200b") == "APP 12  "
    n = normalise("ＡＰＰ已关闭")
    assert n.text == "APP已关闭"


def test_lone_surrogates_do_not_crash_the_converter():
    n = normalise("逾期\ud800提醒")
    assert len(n.text) == 5 and "\ud800" not in n.text


def test_a_conversion_that_changes_length_keeps_spans_exact():
    def fake(s: str) -> str:  # pretends 臺 becomes two characters and 乾坤 collapses to one
        return s.replace("臺", "台台").replace("乾坤", "乾")

    src = "【臺北法院】乾坤，請還款"
    n = convert_chunked(src, fake, fake)  # "臺" +1 and "乾坤" -1 cancel out: same length, not aligned
    # the changed chunk is redone char by char, so nothing collapses and every char keeps its source index
    assert n.text == "【台台北法院】乾坤，請還款"
    k = n.text.index("乾坤")
    assert src[slice(*n.span(k, k + 2))] == "乾坤"
    i = n.text.index("北法院")
    start, end = n.span(i, i + 3)
    assert src[start:end] == "北法院"
    start, end = n.span(1, 3)  # both halves of the expanded char map to the one source char
    assert src[start:end] == "臺"
    j = n.text.index("請還款")
    assert src[slice(*n.span(j, j + 3))] == "請還款"


def test_empty_text():
    assert normalise("") == Normalised("")


def test_words_split_to_slip_past_filters_are_joined_and_quoted_as_sent():
    for sent, joined in [
        ("转为刑 事 案 件处理", "转为刑事案件处理"),
        ("录入全国征.信黑名单", "录入全国征信黑名单"),
        ("【法 院】通知", "【法院】通知"),
        ("【人民 法 院】通知", "【人民法院】通知"),
    ]:
        n = normalise(sent)
        assert n.text == joined
        assert sent[slice(*n.span(0, len(n.text)))] == sent


def test_a_lone_space_between_sentences_and_masked_names_are_kept():
    assert normalise("法院执行局通知 你的案子已到执行 今天不还").text == "法院执行局通知 你的案子已到执行 今天不还"
    assert normalise("您是蒋*先生的紧急联系人").text == "您是蒋*先生的紧急联系人"
    assert normalise("刑 事").text == "刑 事"
