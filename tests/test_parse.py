"""Reading an incident from one typed line: times in words, phone numbers however written, counts, kinds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.evidence.parse import display_number, find_count, find_kind, find_numbers, find_time, parse_incident

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("text", "at", "precision"),
    [
        ("昨天晚上十点多", datetime(2026, 12, 2, 22, 0, tzinfo=CST), "hour"),
        ("前天下午", datetime(2026, 12, 1, 13, 0, tzinfo=CST), "part_of_day"),
        ("昨晚11点半 138xxxx 打了3次", datetime(2026, 12, 2, 23, 30, tzinfo=CST), "minute"),
        ("昨晚十一點半有人打電話來", datetime(2026, 12, 2, 23, 30, tzinfo=CST), "minute"),
        ("12月1日 23:40 又来电", datetime(2026, 12, 1, 23, 40, tzinfo=CST), "minute"),
        ("大前天凌晨两点打来", datetime(2026, 11, 30, 2, 0, tzinfo=CST), "hour"),
        ("yesterday 11:30pm they called 5 times", datetime(2026, 12, 2, 23, 30, tzinfo=CST), "minute"),
        ("Two men came to my door at 9pm on 26 Nov", datetime(2026, 11, 26, 21, 0, tzinfo=CST), "minute"),
    ],
)
def test_times_in_words_resolve_to_china_time(text: str, at: datetime, precision: str) -> None:
    when, future = find_time(text, NOW, CST)
    assert when is not None and not future
    assert (when.at, when.precision) == (at, precision)


def test_a_clock_time_later_than_now_without_a_day_means_the_day_before() -> None:
    when, _ = find_time("23点10分打来的", NOW, CST)
    assert when is not None and when.at == datetime(2026, 12, 2, 23, 10, tzinfo=CST)


@pytest.mark.parametrize("text", ["abc", "他们又打来了", "3次", ""])
def test_no_time_is_found_where_none_is_said(text: str) -> None:
    assert find_time(text, NOW, CST) == (None, False)


def test_a_future_day_is_not_taken_as_when_it_happened() -> None:
    assert find_time("他们说明天来上门", NOW, CST) == (None, True)


def test_tomorrow_said_a_minute_before_midnight_is_still_the_future() -> None:
    just_before_midnight = datetime(2026, 12, 3, 23, 59, 30, tzinfo=CST)
    assert find_time("他们说明天来上门", just_before_midnight, CST) == (None, True)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("+86 138 0013 8000 又打了", ["+8613800138000"]),
        ("号码13800138000和 139-1234-5678", ["+8613800138000", "+8613912345678"]),
        ("固话 010-6552 9988 来电", ["+861065529988"]),
        ("昨晚11点半 138xxxx 打了3次", ["138xxxx"]),
        ("１３８００１３８０００（全角）", ["+8613800138000"]),
        ("没有号码", []),
    ],
)
def test_phone_numbers_are_found_in_one_form(text: str, numbers: list[str]) -> None:
    assert find_numbers(text) == numbers


def test_numbers_read_back_grouped() -> None:
    assert display_number("+8613800138000") == "+86 138 0013 8000"
    assert display_number("138xxxx") == "138xxxx"


@pytest.mark.parametrize(
    ("text", "count"),
    [("打了3次", 3), ("一天打了十二次", 12), ("发了两条短信", 2), ("called 5 times", 5), ("打来电话", 1)],
)
def test_counts_are_read_in_digits_and_chinese_numerals(text: str, count: int) -> None:
    assert find_count(text) == count


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("昨晚两个人上门堵门", "visit"),
        ("给我妈打电话说我欠钱", "contact"),
        ("把我照片发到群里曝光", "post"),
        ("昨晚11点半 138xxxx 打了3次", "call"),
        ("收到一条短信", "sms"),
        ("今天心情很差", None),
    ],
)
def test_the_kind_is_guessed_from_the_words(text: str, kind: str | None) -> None:
    assert find_kind(text) == kind


def test_a_100_kb_paste_is_read_from_its_start_only() -> None:
    text = "昨晚11点半 13800138000 打了3次 " + "骂人的话" * 25_000
    incident = parse_incident(text, NOW, CST)
    assert incident.count == 3 and incident.numbers == ["+8613800138000"] and incident.when is not None
