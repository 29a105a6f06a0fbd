"""Lender names typed in any script are recognised, with the kind of lender they are."""

from __future__ import annotations

import pytest

from bot.platforms import find_platform, kind_of


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("信用飞", "信用飞", "online_platform"),
        ("怎么投诉信用飞啊", "信用飞", "online_platform"),
        ("招商銀行信用卡", "招商銀行", "bank"),
        ("I owe money to huabei", "huabei", "online_platform"),
    ],
)
def test_a_lender_named_in_a_message_is_found_as_written(text: str, name: str, kind: str) -> None:
    assert find_platform(text) == (name, kind)


def test_the_first_lender_in_the_message_wins() -> None:
    assert find_platform("欠了花呗8000 借呗2万") == ("花呗", "online_platform")


def test_short_latin_names_do_not_match_inside_words() -> None:
    assert find_platform("the weather is nice today") is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("某某银行信用卡", "credit_card"),
        ("马上消费金融", "consumer_finance"),
        ("某某小贷", "small_loan"),
        ("分期乐", "online_platform"),
    ],
)
def test_the_kind_of_a_lender_comes_from_its_name(name: str, kind: str) -> None:
    assert kind_of(name) == kind
