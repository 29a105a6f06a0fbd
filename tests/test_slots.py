"""The repayment plan's figures are read from whatever the user writes (bot/dialogue/slots.py)."""

from __future__ import annotations

import pytest

from bot.dialogue.slots import is_bare_amount, plan_slots


def test_a_whole_story_in_one_message_fills_lender_debt_income_and_costs() -> None:
    assert plan_slots("我欠了信用飞3万，每个月工资5000，房租1500，怎么还") == {
        "creditor": "信用飞",
        "amount": "30000.00",
        "income": "5000.00",
        "costs": "1500.00",
    }


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("月入6k", {"income": "6000.00"}),
        ("房租一千五", {"costs": "1500.00"}),
        ("收入六千 房租一千五 生活费两千", {"income": "6000.00", "costs": "3500.00"}),
        (
            "I owe 20,000 to huabei, salary 8000, rent 3000",
            {"creditor": "huabei", "amount": "20000.00", "income": "8000.00", "costs": "3000.00"},
        ),
        ("年化18%", {}),
        ("分12期", {}),
    ],
)
def test_figures_are_told_apart_by_the_words_before_them(text: str, slots: dict[str, str]) -> None:
    assert plan_slots(text) == slots


def test_digits_inside_a_lender_name_are_not_an_amount() -> None:
    assert "amount" not in plan_slots("360借条")


def test_an_unlabelled_amount_is_the_debt_only_when_a_debt_is_asked() -> None:
    assert plan_slots("3万") == {}
    assert plan_slots("3万", bare_is_debt=True) == {"amount": "30000.00"}


@pytest.mark.parametrize("text", ["3万", "五千", "1.2w", "8000元", "3万5"])
def test_bare_amounts_are_recognised(text: str) -> None:
    assert is_bare_amount(text)


@pytest.mark.parametrize("text", ["我欠了3万", "hello", "", "12期"])
def test_sentences_are_not_bare_amounts(text: str) -> None:
    assert not is_bare_amount(text)
