"""`python -m bot assess`: the human report and the JSON-lines batch contract."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from pathlib import Path

from bot.assess import assess
from bot.assess.cli import NOT_LEGAL_ADVICE, format_report, run_jsonl

SCAM = "【法院执行局】缴纳撤诉保证金1500元即可撤销立案，请扫描下方二维码支付。"


def run(lines: list[str]) -> list[dict]:
    out = io.StringIO()
    assert run_jsonl(io.StringIO("\n".join(lines) + "\n"), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_report_quotes_the_sentence_explains_it_and_says_it_is_not_legal_advice():
    text = format_report(assess(SCAM), "zh-Hans")
    assert "风险：高" in text
    assert "「【法院执行局】」" in text and "为什么：" in text and "依据：" in text
    assert "96110" in text
    assert NOT_LEGAL_ADVICE in text and text.rstrip().endswith(NOT_LEGAL_ADVICE)


def test_report_in_english_and_traditional():
    en = format_report(assess("We will call your boss tomorrow.", locale="en"), "en")
    assert "Risk: Medium" in en and "Contacting third parties" in en and "not legal advice" in en
    hant = format_report(assess("我們會通知你的家人", locale="zh-Hant"), "zh-Hant")
    assert "風險" in hant and "這不是法律意見" in hant


def test_report_for_a_lawful_reminder_says_nothing_crosses_a_line():
    text = format_report(assess("【云朵借】您的借款明日到期，请保持银行卡余额充足。"), "zh-Hans")
    assert "风险：低" in text and "没有发现越界的句子" in text


def test_report_flags_off_hours():
    a = assess("你的欠款已立案", received_at=datetime(2026, 5, 1, 23, 30))
    assert "22:00" in format_report(a, "zh-Hans")


def test_jsonl_answers_every_line_in_order_and_survives_bad_lines():
    lines = [
        json.dumps({"text": "你的欠款已移交公安，准备坐牢吧"}, ensure_ascii=False),
        "this is not json",
        json.dumps({"text": 42}),
        json.dumps(["text"]),
        json.dumps({"no_text": "x"}),
        json.dumps({"text": "请尽快还款", "received_at": "not a date"}),
        json.dumps(
            {"id": "m7", "text": "【青禾分期】逾期将依法上报征信", "received_at": "2026-03-05T23:30:00+08:00"},
            ensure_ascii=False,
        ),
        "",
        json.dumps({"text": "We will visit your home tonight.", "locale": "en", "received_at": "2026-03-05T10:00:00Z"}),
    ]
    out = run(lines)
    assert len(out) == len(lines)
    assert out[0]["risk"] == "medium" and out[0]["categories"] == ["false_legal_threat"]
    assert all("error" in o for o in out[1:6]) and "error" in out[7]
    assert out[6]["id"] == "m7" and out[6]["risk"] == "low" and out[6]["off_hours"] is True
    assert out[8]["risk"] == "high" and out[8]["off_hours"] is False and out[8]["locale"] == "en"
    for o in (out[0], out[6], out[8]):
        assert {"risk", "categories", "findings", "advice", "off_hours", "notes"} <= set(o)


def test_jsonl_error_lines_do_not_echo_the_message(caplog):
    secret = "我的身份证号是110101199001011234"
    with caplog.at_level(logging.DEBUG):
        out = run([json.dumps({"text": secret, "received_at": 5}, ensure_ascii=False)])
    assert "error" in out[0] and secret not in json.dumps(out, ensure_ascii=False)
    assert secret not in caplog.text


def test_assessing_never_logs_the_message_text(caplog):
    secret = "你的欠款已立案，王小明"
    with caplog.at_level(logging.DEBUG):
        assess(secret)
    assert secret not in caplog.text


def test_the_report_has_no_trailing_spaces():
    for loc in ("en", "zh-Hans", "zh-Hant"):
        report = format_report(assess(SCAM, locale=loc), loc)
        assert all(line == line.rstrip() for line in report.splitlines())


def test_assess_stays_light_no_rasa_or_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, bot.assess; bot.assess.assess('你的欠款已立案');"
        "print(sorted(m for m in ('rasa', 'tensorflow', 'telegram') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_line_prints_a_report():
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "assess",
            "--locale",
            "en",
            "This is the People's Court. Pay your loan to a personal account today.",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    assert "Risk: High" in out.stdout and "not legal advice" in out.stdout


def test_jsonl_says_whether_a_court_notice_may_be_real_and_keeps_the_contract_fields():
    genuine = (
        "【XX区人民法院】（2025）京0105民初1234号案件已立案，请于3月5日9时到本院第三法庭参加庭审。"
        "详询当地区号+12368。"
    )
    fake = "【XX区人民法院】（2025）京0105民初1234号案件已立案，撤诉请缴纳撤诉费2000元至安全账户。"
    real, scam, plain = run([json.dumps({"text": t}, ensure_ascii=False) for t in (genuine, fake, "请尽快还款")])
    assert real["verify"] is True and real["court_notice"] is True and real["risk"] == "low"
    assert real["advice"][0]["key"] == "court_may_be_real"
    assert scam["verify"] is False and scam["court_notice"] is True and "impersonation" in scam["categories"]
    assert plain["verify"] is False and plain["court_notice"] is False
    for out in (real, scam, plain):
        assert {"risk", "categories", "findings", "advice", "off_hours", "notes"} <= set(out)
    assert all(f["source"] == "rule" for f in scam["findings"])


def test_the_report_of_a_genuine_court_notice_says_it_may_be_real():
    sms = "【XX人民法院】您与某某银行纠纷一案已进入诉前调解，可登录人民法院在线服务查看。"
    text = format_report(assess(sms), "zh-Hans")
    assert "可能是真的" in text and "12368" in text and "虚假法律威胁" not in text
