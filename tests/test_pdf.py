"""The PDF complaint file: Chinese text and every hash can be read back, the cover tells a broken chain, the
pattern's figures and the fitting letters are there, and bad input gets no empty or broken file."""

from __future__ import annotations

import io
import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pypdf import PdfReader

from bot.evidence.pattern import compute
from bot.evidence.pdf import build_pdf, find_cjk_font, fitting_channels
from bot.store import Store

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=CST)

pytestmark = pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font: run scripts/install-font.sh")


def text_of(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def store(tmp_path: Path, key: bytes) -> Store:
    s = Store(tmp_path / "db.sqlite3", key)
    day = datetime(2026, 12, 1, tzinfo=CST)
    for n in range(8):  # eight missed calls from one number on 1 Dec, 15:00 to 22:00
        s.add_evidence(
            "u1",
            "call",
            f"未接来电第{n + 1}次",
            {"numbers": ["+8613800138000"], "missed": True, "precision": "minute"},
            at=day + timedelta(hours=15 + n),
        )
    s.add_evidence(
        "u1",
        "sms",
        "【某某金融】再不还钱就通知你单位领导，让你身败名裂",
        {
            "numbers": ["+8613900001111"],
            "categories": ["third_party_contact", "insult_or_intimidation"],
            "legal_basis": ["GB/T 45251—2025（推荐性国家标准）"],
            "precision": "minute",
        },
        at=day + timedelta(days=1, hours=23),
    )
    s.add_evidence(
        "u1",
        "contact",
        "给我妈打电话说我欠钱不还",
        {"count": 2, "precision": "hour"},
        at=day + timedelta(days=1, hours=10),
    )
    return s


def test_the_pdf_reads_back_its_chinese_text_and_every_hash(store: Store) -> None:
    items = store.list_evidence("u1")
    pdf = build_pdf(items, store.verify_evidence("u1"), "zh-Hans", now=NOW)
    assert pdf.filename == "complaint-file-20261203.pdf" and pdf.data.startswith(b"%PDF")
    text = text_of(pdf.data)
    assert "催收骚扰投诉材料" in text and "完整性校验：通过" in text
    assert "再不还钱就通知你单位领导" in text and "给我妈打电话说我欠钱不还" in text
    for item in items:
        assert item.hash in text
    assert store.verify_evidence("u1").head in text


def test_the_cover_says_so_when_the_chain_was_changed(store: Store, key: bytes, tmp_path: Path) -> None:
    target = store.list_evidence("u1")[3]
    store.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        conn.execute("UPDATE evidence SET at = '2026-12-01T09:00:00+08:00' WHERE id = ?", (target.id,))
    with Store(tmp_path / "db.sqlite3", key) as reopened:
        report = reopened.verify_evidence("u1")
        text = text_of(build_pdf(reopened.list_evidence("u1"), report, "zh-Hans", now=NOW).data)
    assert not report.ok and report.first_bad_id == target.id
    assert f"完整性校验：未通过！第{target.seq}条记录" in text and "完整性校验：通过" not in text


def test_the_pattern_counts_night_contacts_over_limit_days_numbers_and_third_parties(store: Store) -> None:
    p = compute(store.list_evidence("u1"), CST)
    assert p.night == 2  # the 22:00 call on 1 Dec and the 23:00 SMS on 2 Dec
    assert [(d.day.isoformat(), d.attempts, d.missed) for d in p.over_limit] == [("2026-12-01", 8, 8)]
    assert p.numbers == ["+8613800138000", "+8613900001111"]
    assert p.third_party == 3  # the two calls to the mother and the SMS threatening the employer
    assert p.per_day[datetime(2026, 12, 1).date()] == 8 and p.contacts == 11


def test_the_figures_and_their_rules_are_in_the_pdf(store: Store) -> None:
    text = text_of(build_pdf(store.list_evidence("u1"), store.verify_evidence("u1"), "zh-Hans", now=NOW).data)
    assert "22:00至次日08:00的联系：2次" in text
    assert "单个号码一天呼叫超过6次：1天" in text
    assert "中国银行业协会催收工作指引（2026）：每个号码每天未接通的呼叫不超过6次" in text
    assert "《治安管理处罚法》2025年修订版第50条" in text


def test_one_letter_per_fitting_channel_with_blanks_and_deadlines(store: Store) -> None:
    items = store.list_evidence("u1")
    pattern = compute(items, CST)
    assert fitting_channels(items, pattern) == ["lender", "nfra", "sms", "police", "carrier", "nifa"]
    assert fitting_channels(items, pattern, "platform") == ["lender", "sms", "police", "carrier", "nifa"]
    note_only = [i for i in items if i.kind == "contact"]
    assert fitting_channels(note_only, compute(note_only, CST), "bank") == ["lender", "nfra"]
    text = text_of(build_pdf(items, store.verify_evidence("u1"), "zh-Hans", now=NOW, lender_kind="bank").data)
    assert "12378" in text and "www.12321.cn" in text and "受案回执" in text and "12300" in text
    assert "15日内处理完毕" in text
    assert "jubao.nifa.org.cn" not in text  # a bank loan: no NIFA letter
    assert "身份证号（实名时自行填写）：＿＿＿＿＿＿" in text


@pytest.mark.parametrize(("locale", "title"), [("zh-Hant", "催收騷擾投訴材料"), ("en", "Complaintfile")])
def test_every_locale_makes_a_pdf(store: Store, locale: str, title: str) -> None:
    text = text_of(build_pdf(store.list_evidence("u1"), store.verify_evidence("u1"), locale, now=NOW).data)
    assert title in text


def test_an_empty_log_gives_no_pdf(store: Store) -> None:
    with pytest.raises(ValueError):
        build_pdf([], store.verify_evidence("nobody"), "zh-Hans")


def test_a_100_kb_paste_and_control_characters_do_not_break_the_pdf(tmp_path: Path) -> None:
    with Store(tmp_path / "db.sqlite3", Fernet.generate_key()) as s:
        s.add_evidence("u", "sms", "骂人\u202e反转\x00" + "你是老赖" * 25_000, at=NOW)
        pdf = build_pdf(s.list_evidence("u"), s.verify_evidence("u"), "zh-Hans", now=NOW)
    text = text_of(pdf.data)
    assert "骂人反转你是老赖" in text and len(pdf.data) < 2_000_000


def test_two_exports_at_once_give_two_whole_files(store: Store) -> None:
    items, report = store.list_evidence("u1"), store.verify_evidence("u1")
    out: list[bytes] = []

    def export() -> None:
        out.append(build_pdf(items, report, "zh-Hans", now=NOW).data)

    threads = [threading.Thread(target=export) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(out) == 2 and all("完整性校验：通过" in text_of(d) for d in out)
