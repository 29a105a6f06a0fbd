"""Repayment arithmetic: the numbers a user sees, checked against values computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.plan import (
    LICENSED_RATE_REFERENCE,
    PRIVATE_LOAN_CAP,
    AmountError,
    Debt,
    RateError,
    build_plan,
    monthly_payment,
    months_to_clear,
    parse_amount,
    parse_rate,
)

D = Decimal


# -- monthly_payment -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "rate", "months", "expected"),
    [
        # 60,000 / 60 = 1,000 (fact sheet §6 example)
        (60_000, 0, 60, "1000.00"),
        # r = 0.01; 1.01^-60 = 0.550450; 600 / (1 - 0.550450) = 600 / 0.449550 = 1,334.67 (fact sheet §6)
        (60_000, 12, 60, "1334.67"),
        # 12,000 / 7 = 1,714.2857… → 1,714.29 (half-up to cents)
        (12_000, 0, 7, "1714.29"),
        # r = 0.01; 1.01^12 = 1.126825; 1 - 1/1.126825 = 0.112551; 100 / 0.112551 = 888.49
        (10_000, 12, 12, "888.49"),
        # r = 0.02; 1.02^36 = 2.039887; 1 - 1/2.039887 = 0.509777; 2,000 / 0.509777 = 3,923.29
        (100_000, 24, 36, "3923.29"),
        # r = 0.03; 1.03^6 = 1.194052; 1 - 1/1.194052 = 0.162516; 150 / 0.162516 = 922.99
        (5_000, 36, 6, "922.99"),
    ],
)
def test_equal_instalment_matches_hand_computation(principal: int, rate: int, months: int, expected: str) -> None:
    assert monthly_payment(principal, rate, months) == D(expected)


def test_monthly_payment_accepts_decimal_and_float_inputs() -> None:
    assert monthly_payment(D("60000"), D("12"), 60) == monthly_payment(60000.0, 12.0, 60) == D("1334.67")


@pytest.mark.parametrize(("principal", "rate", "months"), [(0, 12, 12), (-5, 12, 12), (1000, -1, 12), (1000, 12, 0)])
def test_monthly_payment_rejects_impossible_inputs(principal: int, rate: int, months: int) -> None:
    with pytest.raises(ValueError):
        monthly_payment(principal, rate, months)


# -- parse_amount --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12000", "12000"),
        ("1.2万", "12000"),
        ("1,200", "1200"),
        ("１２０００", "12000"),  # full-width digits
        ("5k", "5000"),
        ("5K", "5000"),
        ("3千", "3000"),
        ("¥3000", "3000"),
        ("￥3000", "3000"),  # full-width yen sign
        ("3000元", "3000"),
        ("1.2万元", "12000"),
        ("3千块", "3000"),
        ("人民币 8,500.50 元", "8500.50"),
        ("2万3千", "23000"),
        ("1万2000", "12000"),
        ("1.5w", "15000"),
        ("12,000.555", "12000.56"),  # cents, half up
        ("1亿", "100000000"),  # the largest accepted
    ],
)
def test_parse_amount_reads_how_people_type_money(text: str, expected: str) -> None:
    assert parse_amount(text) == D(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "not_a_number"),
        ("", "not_a_number"),
        ("一万", "not_a_number"),
        ("1,2", "not_a_number"),
        ("1万2", "not_a_number"),  # colloquially 12,000 but ambiguous: ask again
        ("3千2万", "not_a_number"),
        ("-500", "negative"),
        ("负3000元", "negative"),
        ("0", "zero"),
        ("0.001", "zero"),
        ("2亿", "too_large"),
        ("100000001", "too_large"),
    ],
)
def test_parse_amount_says_why_it_refuses(text: str, reason: str) -> None:
    with pytest.raises(AmountError) as err:
        parse_amount(text)
    assert err.value.reason == reason


# -- parse_rate ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18%", "18"),
        ("18", "18"),
        ("年化18%", "18"),
        ("日息0.05%", "18.25"),  # 0.05 × 365
        ("月息1.5%", "18"),  # 1.5 × 12
        ("日利率万分之五", "18.25"),  # 5/10000 = 0.05 % a day
        ("年化利率18%（按月计息）", "18"),  # "年" wins over "月"
        ("百分之二十四", "24"),
        ("APR 35.9%", "35.9"),
        ("1‰/天", "36.5"),  # 0.1 % × 365
        ("０", "0"),
    ],
)
def test_parse_rate_returns_percent_per_year(text: str, expected: str) -> None:
    assert parse_rate(text) == D(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "not_a_number"),
        ("18-24%", "not_a_number"),
        ("-3%", "out_of_range"),
        ("1001%", "out_of_range"),
        ("日息5%", "out_of_range"),
    ],  # 5 % a day = 1,825 %/yr: not a rate anyone means
)
def test_parse_rate_refuses_non_rates(text: str, reason: str) -> None:
    with pytest.raises(RateError) as err:
        parse_rate(text)
    assert err.value.reason == reason


# -- months_to_clear -----------------------------------------------------------------------------------


def test_months_to_clear_matches_the_instalment_formula() -> None:
    assert months_to_clear(60_000, 12, D("1334.67")) == 60
    assert months_to_clear(60_000, 0, 1000) == 60
    assert months_to_clear(60_000, 0, 999) == 61
    # 100,000 at 36 %/yr = 3,000 a month interest: 3,000 a month never clears it
    assert months_to_clear(100_000, 36, 3000) is None


# -- build_plan ----------------------------------------------------------------------------------------


def test_plan_orders_court_first_then_licensed_within_caps_and_splits_the_surplus_pro_rata() -> None:
    debts = [
        Debt("甲银行信用卡", D(20_000), D(18), "credit_card"),
        Debt("乙网贷", D(10_000), D(36), "online_platform"),
        Debt("朋友", D(2_000), None, "private"),
        Debt("丙银行", D(8_000), D(6), "bank", in_court=True),
    ]
    plan = build_plan(debts, monthly_income=8_000, essential_costs=5_000)
    # buffer = 10 % × 8,000 = 800; surplus = 8,000 − 5,000 − 800 = 2,200
    assert (plan.buffer, plan.surplus, plan.affordable) == (D(800), D(2200), True)
    assert plan.total_debt == D(40_000)
    # court case first; then licensed lenders, the one within the caps before the one above 24 %; private last
    assert [i.debt.creditor for i in plan.items] == ["丙银行", "甲银行信用卡", "乙网贷", "朋友"]
    assert [i.priority for i in plan.items] == [1, 2, 3, 4]
    # pro rata by balance over 40,000: 2,200 × 8/40 = 440; × 20/40 = 1,100; × 10/40 = 550; × 2/40 = 110
    assert [i.monthly for i in plan.items] == [D(440), D(1100), D(550), D(110)]
    # months n = −ln(1 − rB/P) / ln(1 + r), rounded up:
    #   丙: r = 0.005, rB = 40:  −ln(1 − 40/440) / ln(1.005) = 0.095310 / 0.0049875 = 19.11 → 20
    #   甲: r = 0.015, rB = 300: −ln(1 − 300/1100) / ln(1.015) = 0.318454 / 0.0148886 = 21.39 → 22
    #   乙: r = 0.03,  rB = 300: −ln(1 − 300/550) / ln(1.03) = 0.788457 / 0.0295588 = 26.67 → 27
    #   朋友: rate unknown, counted interest-free: 2,000 / 110 = 18.2 → 19
    assert [i.months for i in plan.items] == [20, 22, 27, 19]
    assert [i.flags for i in plan.items] == [("in_court",), (), ("rate_above_24",), ("rate_unknown",)]
    assert plan.flags == ()


def test_a_500_percent_app_loan_is_not_paid_before_a_credit_card_or_a_court_case() -> None:
    debts = [
        Debt("高息App", D(3_000), D(500), "other"),
        Debt("信用卡", D(20_000), D(18), "credit_card"),
        Debt("已起诉的网贷", D(15_000), D(12), "online_platform", in_court=True),
    ]
    plan = build_plan(debts, 10_000, 4_000)
    assert [i.debt.creditor for i in plan.items] == ["已起诉的网贷", "信用卡", "高息App"]


@pytest.mark.parametrize("kind", ["credit_card", "online_platform", "private", "other"])
def test_a_higher_rate_never_moves_a_debt_up(kind: str) -> None:
    others = [Debt("a", D(4_000), D(10), "bank"), Debt("b", D(6_000), None, "private")]
    ranks = []
    for rate in (0, 6, 12, 18, 24, 36, 100, 500):
        plan = build_plan([*others, Debt("x", D(5_000), D(rate), kind)], 10_000, 3_000)
        ranks.append(next(i.priority for i in plan.items if i.debt.creditor == "x"))
    assert ranks == sorted(ranks), ranks  # the rank number only stays or grows as the rate rises


def test_interest_above_the_caps_is_not_paid_first() -> None:
    # one debt, plenty of money: the suggestion clears the principal plus one month at the protected rate only
    # app at 120 %/yr: 1,000 × (1 + 24 %/12) = 1,020 (not 1,000 × 1.10 = 1,100 at the contract rate)
    # private at 36 %/yr: 1,000 × (1 + 12 %/12) = 1,010 (4 × LPR for private loans)
    plan = build_plan(
        [Debt("app", D(1_000), D(120), "online_platform"), Debt("朋友", D(1_000), D(36), "private")],
        50_000,
        0,
        buffer_ratio=0,
    )
    assert {i.debt.creditor: i.monthly for i in plan.items} == {"app": D(1020), "朋友": D(1010)}
    assert "rate_above_4x_lpr" in plan.items[1].flags and "rate_above_24" in plan.items[0].flags


def test_plan_gives_small_debts_at_least_the_minimum_or_their_balance() -> None:
    debts = [Debt("big", D(50_000), D(10)), Debt("small", D(300), D(10)), Debt("tiny", D(50), None)]
    plan = build_plan(debts, monthly_income=3_000, essential_costs=1_900, buffer_ratio=0)
    # surplus 1,100. Pro rata "small" would get 1,100 × 300/50,350 = 6.55 → raised to the 100 minimum;
    # "tiny" would get 1.09 → raised to its whole balance 50; "big" gets the rest: 1,100 − 100 − 50 = 950.
    by_name = {i.debt.creditor: i for i in plan.items}
    assert [i.debt.creditor for i in plan.items] == ["small", "big", "tiny"]  # same rate: smaller first
    assert (by_name["big"].monthly, by_name["small"].monthly, by_name["tiny"].monthly) == (
        D(950),
        D(100),
        D(50),
    )
    assert sum(i.monthly for i in plan.items) == plan.surplus
    # small: 300 → 202.50 → 104.19 → 5.06 → paid in month 4
    # big: −ln(1 − 416.67/950) / ln(1 + 0.1/12) = 0.577315 / 0.0082988 = 69.57 → 70
    assert (by_name["small"].months, by_name["big"].months, by_name["tiny"].months) == (4, 70, 1)


def test_when_payment_cannot_cover_the_interest_the_plan_says_so() -> None:
    plan = build_plan([Debt("高息网贷", D(100_000), D(36), "online_platform")], 6_000, 5_000, buffer_ratio=0)
    # surplus 1,000 < monthly interest 100,000 × 3 % = 3,000
    [item] = plan.items
    assert item.monthly == D(1000)
    assert item.months is None
    assert "payment_below_interest" in item.flags
    assert "rate_above_24" in item.flags


def test_no_surplus_means_not_affordable_and_no_payments() -> None:
    plan = build_plan([Debt("x", D(5_000), D(12))], monthly_income=3_000, essential_costs=3_500)
    # 3,000 − 3,500 − 300 = −800
    assert plan.surplus == D(-800)
    assert plan.affordable is False
    assert plan.flags == ("shortfall",)
    assert plan.items[0].monthly == 0
    assert plan.items[0].months is None
    assert "no_payment" in plan.items[0].flags


def test_minimums_go_in_priority_order_when_the_surplus_is_tiny() -> None:
    debts = [
        Debt("a", D(1_000), D(30), "bank"),
        Debt("b", D(1_000), D(20), "bank"),
        Debt("c", D(1_000), D(10), "bank", in_court=True),
    ]
    plan = build_plan(debts, 1_150, 1_000, buffer_ratio=0)
    # surplus 150 < 3 × 100 minimum: the court case c gets 100, b (within 24 %) the last 50, a (above) nothing
    assert [(i.debt.creditor, i.monthly) for i in plan.items] == [("c", D(100)), ("b", D(50)), ("a", D(0))]
    assert plan.flags == ("minimums_not_covered",)
    assert "no_payment" in plan.items[2].flags


def test_shortfall_keeps_the_order_and_pays_nothing() -> None:
    debts = [
        Debt("网贷", D(5_000), D(36), "online_platform"),
        Debt("车贷", D(40_000), D(8), "bank", secured=True),
        Debt("信用卡", D(12_000), D(18), "credit_card", in_court=True),
    ]
    plan = build_plan(debts, monthly_income=4_000, essential_costs=4_200)
    # 4,000 − 4,200 − 400 = −600: nothing to share, but the order still says what to protect first
    assert plan.flags == ("shortfall",) and plan.affordable is False
    assert [i.debt.creditor for i in plan.items] == ["车贷", "信用卡", "网贷"]
    assert all(i.monthly == 0 and "no_payment" in i.flags for i in plan.items)
    assert plan.items[0].flags[0] == "secured" and plan.items[1].flags[0] == "in_court"


def test_private_loan_above_4x_lpr_is_flagged_but_a_bank_at_the_same_rate_is_not() -> None:
    assert PRIVATE_LOAN_CAP == D(12)
    assert LICENSED_RATE_REFERENCE == D(24)
    plan = build_plan(
        [Debt("朋友", D(10_000), D(15), "private"), Debt("银行", D(10_000), D(15), "bank")], 10_000, 2_000
    )
    flags = {i.debt.creditor: i.flags for i in plan.items}
    assert flags == {"朋友": ("rate_above_4x_lpr",), "银行": ()}


def test_secured_debt_comes_before_everything() -> None:
    debts = [
        Debt("court", D(1_000), D(5), in_court=True),
        Debt("mortgage", D(300_000), D(3), secured=True),
        Debt("loan", D(5_000), D(30)),
    ]
    plan = build_plan(debts, 20_000, 5_000)
    assert [i.debt.creditor for i in plan.items] == ["mortgage", "court", "loan"]


def test_unknown_rates_come_after_known_rates_within_the_caps_and_ties_prefer_the_smaller_balance() -> None:
    debts = [
        Debt("u5000", D(5_000), None, "bank"),
        Debt("u3000", D(3_000), None, "bank"),
        Debt("k", D(9_000), D(1), "bank"),
        Debt("high", D(1_000), D(30), "bank"),
    ]
    plan = build_plan(debts, 10_000, 2_000)
    assert [i.debt.creditor for i in plan.items] == ["k", "u3000", "u5000", "high"]


def test_private_and_unknown_lenders_come_after_licensed_lenders() -> None:
    debts = [Debt("私人", D(500), D(0), "private"), Debt("不清楚", D(800), D(5)), Debt("银行", D(9_000), D(5), "bank")]
    plan = build_plan(debts, 10_000, 2_000)
    assert [i.debt.creditor for i in plan.items] == ["银行", "私人", "不清楚"]


def test_nothing_is_suggested_beyond_what_clears_a_debt() -> None:
    plan = build_plan([Debt("a", D(500), D(12)), Debt("b", D(1_000), D(0))], 50_000, 0, buffer_ratio=0)
    # a: 500 + one month's interest 5 = 505 clears it in month 1; b: 1,000 at 0 %
    assert [(i.debt.creditor, i.monthly, i.months) for i in plan.items] == [
        ("a", D(505), 1),
        ("b", D(1000), 1),
    ]
    assert plan.surplus == D(50_000)  # the rest of the surplus is left to the user


def test_debt_rejects_impossible_values() -> None:
    with pytest.raises(ValueError):
        Debt("x", D(0), D(10))
    with pytest.raises(ValueError):
        Debt("x", D(100), D(-1))
    with pytest.raises(ValueError):
        Debt("x", D(100), D(10), "loan_shark")
