"""Where the user seems to be: a message naming Hong Kong, Macau, Taiwan or another country, or carrying their
phone codes or currencies, is recognised; mainland messages (and mainland streets named after them) are not.
"""

from __future__ import annotations

import pytest

from bot.jurisdiction import PLACES, detect_place


@pytest.mark.parametrize(
    ("text", "place"),
    [
        # the place named, in all three scripts
        ("我在香港，催收天天打电话", "hk"),
        ("I live in Hong Kong and a loan app keeps calling", "hk"),
        ("我人在澳門", "mo"),
        ("I'm in Macau", "mo"),
        ("我住在台湾", "tw"),
        ("我住在臺灣高雄", "tw"),
        ("I'm in Taipei", "tw"),
        # phone numbers with the country code
        ("【催收】请回电 +852 6123 4567，否则后果自负", "hk"),
        ("來電 00886-912-345-678 說要告我", "tw"),
        ("+853 6612 3456 called me at midnight", "mo"),
        # amounts
        ("你欠的HK$12,000今天必须还清", "hk"),
        ("欠款港幣八千元", "hk"),
        ("逾期金額NT$35,000，請立即處理", "tw"),
        ("借了新台币5万", "tw"),
        ("owe 20,000 TWD", "tw"),
        # living abroad
        ("我现在在日本读书，国内的网贷一直催", "abroad"),
        ("I live in the UK and Chinese collectors call my family", "abroad"),
        ("I'm based in Canada", "abroad"),
    ],
)
def test_a_message_pointing_elsewhere_is_recognised(text: str, place: str) -> None:
    assert detect_place(text) == place


@pytest.mark.parametrize(
    "text",
    [
        "",
        "催收说明天上门，我该怎么办",
        "【XX金融】您已逾期，请回电 13800138000",
        "来电 +86 138 0013 8000",
        "我家住在青岛香港中路",  # a mainland street named after Hong Kong
        "上海澳门路的公司打电话来",
        "这个平台北京的催收公司",  # 平台 + 北京, not 台北
        "订单号 20085212345",  # 00852 inside a longer number
        "还了500美元",  # a currency alone says nothing about where the user is
        "I use a US loan app",
        "欠款合计12000元",
    ],
)
def test_mainland_messages_point_nowhere(text: str) -> None:
    assert detect_place(text) is None


def test_the_earliest_signal_wins() -> None:
    assert detect_place("我在香港，以前在台湾工作") == "hk"
    assert detect_place("I'm in Taiwan; the lender is in Hong Kong") == "tw"


def test_every_code_is_a_known_place() -> None:
    found = {detect_place(t) for t in ("香港", "澳门", "台湾", "我在美国")}
    assert found == set(PLACES)
