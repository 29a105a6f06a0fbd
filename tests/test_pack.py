"""The complaint pack and the evidence-log export, as the user and the office receiving them read them."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from typing import Any

import pytest
import yaml

from bot.config import LOCALES, ROOT
from bot.evidence import build_complaint_pack, export_evidence_log
from bot.store import EvidenceItem

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
FAKE_SUMMONS = "【XX金融】您已严重逾期，我司已向法院提交立案材料，明日上门核实，请于今日18点前还款，否则后果自负。"


def item(n: int, kind: str, text: str, meta: dict[str, Any], at: datetime) -> EvidenceItem:
    return EvidenceItem(id=n, kind=kind, text=text, meta=meta, at=at, created_at=at)


@pytest.fixture
def items() -> list[EvidenceItem]:
    # given out of order: the pack must sort by time
    return [
        item(
            2,
            "call",
            '电话里说要去我单位找领导 | 还要"爆通讯录"',
            {
                "sender": "13800000000",
                "risk": "high",
                "categories": ["third_party_contact", "insult_or_intimidation"],
                "legal_basis": ["《民法典》第1033条", "《治安管理处罚法》（2025年修订）第50条"],
            },
            datetime(2026, 11, 21, 1, 5, tzinfo=UTC),
        ),
        item(
            1,
            "sms",
            FAKE_SUMMONS,
            {
                "sender": "10690000123",
                "risk": "high",
                "categories": ["false_legal_threat"],
                "legal_basis": ["《民法典》第1033条"],
            },
            datetime(2026, 11, 20, 14, 35, tzinfo=UTC),
        ),  # 22:35 in China: off-hours
    ]


def pack_text(items: list[EvidenceItem], locale: str = "zh-Hans", **kw: Any) -> str:
    attachment = build_complaint_pack(items, locale, now=NOW, **kw)
    return attachment.data.decode("utf-8")


def test_pack_is_a_markdown_file_named_by_date(items: list[EvidenceItem]) -> None:
    attachment = build_complaint_pack(items, "zh-Hans", now=NOW)
    assert attachment.filename == "complaint-pack-20261128.md"
    assert attachment.mime_type == "text/markdown"
    assert attachment.data.decode("utf-8").startswith("# 关于催收行为的投诉材料")


def test_pack_says_it_is_not_legal_advice_and_points_to_legal_aid(items: list[EvidenceItem]) -> None:
    text = pack_text(items)
    assert "不是法律意见" in text
    assert "12348" in text


def test_pack_leaves_blanks_for_name_phone_and_id_the_bot_never_collects(items: list[EvidenceItem]) -> None:
    text = pack_text(items)
    assert "- 姓名：＿＿＿＿＿＿＿＿" in text
    assert "- 手机号：＿＿＿＿＿＿＿＿" in text
    assert "- 身份证号：＿＿＿＿＿＿＿＿" in text
    assert "本助手不收集身份证号" in text


def test_pack_fills_lender_and_contract_from_details_and_lists_collector_numbers(
    items: list[EvidenceItem],
) -> None:
    text = pack_text(items, details={"lender": "某某消费金融有限公司", "contract_no": "HT-2025-0042", "id": "x"})
    assert "- 贷款机构全称（以借款合同为准，不只是 App 名称）：某某消费金融有限公司" in text
    assert "- 借款合同编号 / 借据号：HT-2025-0042" in text
    assert "- 催收号码：10690000123、13800000000" in text
    blank_lender = pack_text(items)
    assert "- 贷款机构全称（以借款合同为准，不只是 App 名称）：＿＿＿＿＿＿＿＿" in blank_lender


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| 序号")]


def test_incident_table_is_in_time_order_in_china_time_with_risk_and_categories(
    items: list[EvidenceItem],
) -> None:
    rows = table_rows(pack_text(items))
    assert len(rows) == 2
    assert rows[0].startswith("| 1 | 2026-11-20 22:35 | 短信 | 10690000123 |")
    assert "风险高 · 虚假的法律威胁" in rows[0]
    assert rows[1].startswith("| 2 | 2026-11-21 09:05 | 电话 | 13800000000 |")
    assert "向无关第三方催收、侮辱或恐吓" in rows[1]


def test_a_pipe_in_a_message_does_not_break_the_table(items: list[EvidenceItem]) -> None:
    for row in table_rows(pack_text(items)):
        assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six columns
    assert "\\|" in table_rows(pack_text(items))[1]


def test_long_messages_are_excerpted_in_the_table_and_given_in_full_in_the_appendix() -> None:
    long_text = "你欠的钱" * 100 + "结尾在这里"
    text = pack_text([item(1, "sms", long_text, {}, NOW)])
    [row] = table_rows(text)
    assert "…" in row and "结尾在这里" not in row
    assert long_text in text  # appendix, verbatim


def test_a_message_cannot_escape_its_appendix_code_block() -> None:
    sneaky = "正文 ```\n# 伪造的标题\n```"
    text = pack_text([item(1, "sms", sneaky, {}, NOW)])
    assert "\n````\n" + sneaky + "\n````\n" in text


def test_rules_breached_are_collected_once_each(items: list[EvidenceItem]) -> None:
    text = pack_text(items)
    rules = text.split("## 四、涉嫌违反的规定")[1].split("## 五")[0]
    assert rules.count("《民法典》第1033条") == 1
    assert "《治安管理处罚法》（2025年修订）第50条" in rules


def test_without_legal_basis_the_rules_section_asks_the_user_to_fill_it_in() -> None:
    text = pack_text([item(1, "note", "他们又打电话了", {}, NOW)])
    assert "请在此写下对方可能违反的规定" in text


def test_requests_include_the_five_asks_with_pipl_articles(items: list[EvidenceItem]) -> None:
    text = pack_text(items)
    requests = text.split("## 六、我的诉求")[1].split("## 七")[0]
    assert requests.count("- [ ] ") == 5
    assert "第三方" in requests
    assert "《个人信息保护法》第15条、第47条" in requests
    assert "更换催收人员" in requests
    assert "征信" in requests
    assert "分期" in requests


def test_channels_put_the_lender_first_then_the_hotlines(items: list[EvidenceItem]) -> None:
    text = pack_text(items)
    channels = text.split("## 八、提交到哪里")[1]
    positions = [
        channels.index(s) for s in ("贷款机构本身", "12378", "12321", "110", "https://jubao.nifa.org.cn", "12348")
    ]
    assert positions == sorted(positions)


def test_what_i_already_did_comes_from_details_or_a_template(items: list[EvidenceItem]) -> None:
    assert "工单号 ＿＿＿＿" in pack_text(items)
    done = "2026-11-22 在 App 内投诉，工单号 A123"
    assert done in pack_text(items, details={"already_done": done})


def test_an_empty_log_still_gives_a_usable_pack() -> None:
    text = pack_text([])
    assert "还没有记录任何事件" in text
    assert "## 八、提交到哪里" in text
    assert "附：原文" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_renders_without_missing_text(items: list[EvidenceItem], locale: str) -> None:
    text = pack_text(items, locale=locale, details={"lender": "ACME Consumer Finance Co., Ltd."})
    assert not re.search(r"\{[a-z_]+\}", text)  # no placeholder left unfilled
    assert "https://jubao.nifa.org.cn" in text and "12378" in text and "12321" in text
    assert "ACME Consumer Finance Co., Ltd." in text


def test_traditional_and_english_packs_are_in_their_language(items: list[EvidenceItem]) -> None:
    assert pack_text(items, locale="zh-Hant").startswith("# 關於催收行為的投訴材料")
    english = pack_text(items, locale="en")
    assert english.startswith("# Complaint about debt-collection conduct")
    assert "not legal advice" in english


def test_unknown_locale_is_refused(items: list[EvidenceItem]) -> None:
    with pytest.raises(ValueError, match="zh-Hans"):
        build_complaint_pack(items, "fr", now=NOW)


def _keys_and_placeholders(data: Any, prefix: str = "") -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_keys_and_placeholders(value, path))
        else:
            assert isinstance(value, str), path
            out[path] = set(re.findall(r"\{(\w+)\}", value))
    return out


def test_all_locales_have_the_same_pack_keys_and_placeholders() -> None:
    loaded = {
        loc: _keys_and_placeholders(yaml.safe_load((ROOT / "responses" / loc / "pack.yml").read_text("utf-8")))
        for loc in LOCALES
    }
    reference = loaded["zh-Hans"]
    assert all(isinstance(k, str) for k in reference)
    for loc, keys in loaded.items():
        assert keys == reference, loc


# -- evidence log export -------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM so Excel shows Chinese correctly
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_evidence_log_is_a_csv_with_one_row_per_item_in_time_order(items: list[EvidenceItem]) -> None:
    attachment = export_evidence_log(items, "zh-Hans", now=NOW)
    assert attachment.filename == "evidence-log-20261128.csv"
    assert attachment.mime_type == "text/csv"
    header, first, second = read_csv(attachment.data)
    assert header[:3] == ["序号", "时间 (UTC+08:00)", "类型"]
    assert first[:5] == ["1", "2026-11-20 22:35", "短信", "10690000123", "风险高"]
    assert first[7] == FAKE_SUMMONS
    assert second[6] == "《民法典》第1033条; 《治安管理处罚法》（2025年修订）第50条"


def test_evidence_log_neutralises_spreadsheet_formulas() -> None:
    evil = item(1, "sms", '=HYPERLINK("http://evil.example","点我")', {"sender": "+8613800000000"}, NOW)
    _, row = read_csv(export_evidence_log([evil], "en", now=NOW).data)
    assert row[7].startswith("'=")
    assert row[3] == "'+8613800000000"
