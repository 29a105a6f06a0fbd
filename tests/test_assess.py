"""SMS assessment: held-out accuracy floors, and what a user forwarding a collection SMS would notice."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.assess import CATEGORIES, RISKS, Assessment, assess, risk_for

DATA = Path(__file__).parent / "data"


def load(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


CORPUS = load("sms_corpus.jsonl")
PROBES = load("sms_probes.jsonl")
RULE_PROBES = load("sms_rule_probes.jsonl")  # not training data: they pin rule behaviour without moving the model


@dataclass
class Scores:
    n: int
    binary_accuracy: float  # malicious (medium/high) vs lawful (low)
    micro_p: float
    micro_r: float
    micro_f1: float
    lawful_rated_high: list[str]
    high_rated_low: list[str]
    wrong: list[tuple[str, list[str], list[str]]]

    def summary(self) -> str:
        return (
            f"n={self.n} binary_acc={self.binary_accuracy:.3f} P={self.micro_p:.3f} R={self.micro_r:.3f} "
            f"F1={self.micro_f1:.3f} lawful->high={self.lawful_rated_high} "
            f"high->low={self.high_rated_low} wrong={self.wrong}"
        )


def evaluate(rows: list[dict]) -> Scores:
    tp = fp = fn = correct = 0
    lawful_high: list[str] = []
    high_low: list[str] = []
    wrong: list[tuple[str, list[str], list[str]]] = []
    for r in rows:
        a = assess(r["text"], locale=r["lang"])
        gold, pred = set(r["categories"]), set(a.categories)
        tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
        correct += (r["risk"] == "low") == (a.risk == "low")
        if r["risk"] == "low" and a.risk == "high":
            lawful_high.append(r["id"])
        if r["risk"] == "high" and a.risk == "low":
            high_low.append(r["id"])
        if gold != pred:
            wrong.append((r["id"], sorted(gold - pred), sorted(pred - gold)))
    p = tp / (tp + fp) if tp + fp else 1.0
    rc = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    return Scores(len(rows), correct / len(rows), p, rc, f1, lawful_high, high_low, wrong)


# ---------------------------------------------------------------------------------------------- the corpus


def test_corpus_is_big_varied_and_consistently_labelled():
    assert len(CORPUS) >= 200
    assert len({r["id"] for r in CORPUS}) == len(CORPUS)
    lawful = sum(r["risk"] == "low" for r in CORPUS) / len(CORPUS)
    assert 0.30 <= lawful <= 0.45, lawful
    heldout = sum(r["split"] == "heldout" for r in CORPUS) / len(CORPUS)
    assert 0.35 <= heldout <= 0.40, heldout
    assert {r["lang"] for r in CORPUS} == {"zh-Hans", "zh-Hant", "en"}
    for r in CORPUS + PROBES + RULE_PROBES:
        assert set(r["categories"]) <= set(CATEGORIES), r["id"]
        assert r["risk"] in RISKS and r["split"] in ("tune", "heldout")
        assert r["risk"] == risk_for(r["categories"]), f"{r['id']}: risk does not follow the risk rule"
    assert all(r["split"] == "tune" for r in PROBES)
    noise = "".join(r["text"] for r in CORPUS)
    for marker in ("【", "退订", "http", "*", "尾号", "案号"):
        assert marker in noise, marker


# ------------------------------------------------------------------------------------- held-out floors


@pytest.fixture(scope="module")
def heldout() -> Scores:
    return evaluate([r for r in CORPUS if r["split"] == "heldout"])


def test_heldout_malicious_vs_lawful_accuracy_is_at_least_95_percent(heldout):
    assert heldout.binary_accuracy >= 0.95, heldout.summary()


def test_heldout_category_micro_f1_is_at_least_90_percent(heldout):
    assert heldout.micro_f1 >= 0.90, heldout.summary()


def test_heldout_no_lawful_reminder_is_rated_high(heldout):
    assert heldout.lawful_rated_high == [], heldout.summary()


def test_heldout_no_high_risk_message_is_rated_low(heldout):
    assert heldout.high_rated_low == [], heldout.summary()


def test_tuning_data_and_probes_stay_at_the_same_floors():
    s = evaluate([r for r in CORPUS if r["split"] == "tune"] + PROBES)
    assert s.binary_accuracy >= 0.95 and s.micro_f1 >= 0.90, s.summary()
    assert not s.lawful_rated_high and not s.high_rated_low, s.summary()


@pytest.mark.parametrize("row", RULE_PROBES, ids=lambda r: r["id"])
def test_each_rule_probe_gets_exactly_its_labels(row):
    a = assess(row["text"])
    assert (sorted(a.categories), a.risk) == (sorted(row["categories"]), row["risk"]), [f.rule for f in a.findings]


# ------------------------------------------------------------------------- what a user would notice

FAKE_SUMMONS = (
    "【XX市中级人民法院】传票通知：你因拖欠网贷被起诉，案号（2025）X01民初5521号，请于今日17点前"
    "联系承办法官138****2046处理还款，逾期将强制执行并冻结名下所有账户。"
)


def finding(a: Assessment, category: str) -> list[str]:
    return [f.text for f in a.findings if f.category == category]


def test_forwarding_a_fake_court_summons_shows_high_risk_and_names_the_impersonation():
    a = assess(FAKE_SUMMONS)
    assert a.risk == "high"
    assert "impersonation" in a.categories and "false_legal_threat" in a.categories
    assert any("法院" in t for t in finding(a, "impersonation"))
    imp = next(f for f in a.findings if f.category == "impersonation")
    assert "12368" in imp.explanation and imp.legal_basis
    assert {"verify_court_12368", "report_96110", "never_pay_personal"} <= {x.key for x in a.advice}


def test_a_polite_lawful_reminder_is_low_and_says_why_it_is_fine():
    a = assess(
        "【青禾分期】尊敬的王*明，您的借款应还1,286.40元已逾期3天，"
        "请通过官方APP还款。逾期将依法上报征信。如已还款请忽略。退订回T"
    )
    assert a.risk == "low" and a.categories == [] and a.findings == []
    assert "low_pay_official" in {x.key for x in a.advice}
    assert any("征信" in n for n in a.notes[1:]), a.notes


@pytest.mark.parametrize(
    "text",
    [
        "逾期将依法上报征信，请尽快还款。",
        "您的借款已逾期，我司可能依法提起民事诉讼。",
        "如有异议可向法院起诉，或联系官方客服核对。",
        "【华信律师事务所】受某某小额贷款有限公司委托，请您于15日内与委托方协商还款，本函不代表任何国家机关。",
        "了解到您还款困难，我们可为您申请12期分期还款方案，协商不收取任何费用。",
        "我们不会上门，也不会联系您的家人，请放心。",
        "如您已还款请忽略本短信。",
        "【某银行】提醒您：本行不会要求您转账至个人账户或安全账户，请勿向他人透露验证码。",
        "We will not contact your family or employer. Please repay in the app.",
    ],
)
def test_lawful_context_negations_and_hedges_do_not_trigger(text):
    a = assess(text)
    assert a.risk == "low", [(f.rule, f.text) for f in a.findings]


@pytest.mark.parametrize(
    "text, category",
    [
        ("我们不会上门？明天就去你家。", "insult_or_intimidation"),  # a negation in another clause does not help
        ("你再不还钱，我们就通知你单位领导。", "third_party_contact"),
        ("You will never buy a train ticket again.", "false_legal_threat"),  # "you will never" is the threat
    ],
)
def test_negation_only_covers_its_own_clause_and_subject(text, category):
    assert category in assess(text).categories


def test_explicit_violence_is_high_and_puts_110_first():
    a = assess("再不还钱，我找人打断你的腿。")
    assert a.risk == "high" and a.advice[0].key == "call_110_if_danger"
    assert any(f.violent for f in a.findings)


def test_a_fake_collector_asking_for_a_personal_account_is_high_with_fraud_advice():
    a = assess("因官方通道维护，请把欠款3,200元转到财务个人账户6217****1029，户名张红，转账后截图。")
    assert a.risk == "high" and a.categories == ["scam_payment"]
    keys = [x.key for x in a.advice]
    assert "never_pay_personal" in keys and "report_96110" in keys


def test_threats_to_call_family_are_medium_with_the_contacts_advice():
    a = assess("今天不还，我们就打电话给你的父母和同事。")
    assert a.risk == "medium" and a.categories == ["third_party_contact"]
    assert "tell_contacts" in {x.key for x in a.advice}
    assert "12378" in next(x.text for x in a.advice if x.key == "complain_lender_12378")


def test_harassment_basis_names_the_2025_revision_of_article_50():
    a = assess("你个老赖，出门小心点。")
    basis = " ".join(f.legal_basis or "" for f in a.findings)
    assert "治安管理处罚法" in basis and "2025年修订版" in basis and "第50条" in basis


def test_every_corpus_span_is_the_exact_slice_of_the_original_text():
    for r in CORPUS + PROBES:
        for f in assess(r["text"]).findings:
            assert 0 <= f.start < f.end <= len(r["text"])
            assert r["text"][f.start : f.end] == f.text, r["id"]


def test_traditional_input_spans_map_back_to_the_traditional_text():
    text = (
        "【臺北地方法院】台端積欠款項已進入強制執行程序，"
        "請立即撥打0912***456與書記官聯繫還款，否則凍結台端所有帳戶。"
    )
    a = assess(text, locale="zh-Hant")
    assert a.risk == "high" and "impersonation" in a.categories
    for f in a.findings:
        assert text[f.start : f.end] == f.text
    assert "【臺北地方法院】" in [f.text for f in a.findings]
    assert any("凍結" in f.text for f in a.findings)
    imp = next(f for f in a.findings if f.category == "impersonation")
    assert "冒用" in imp.explanation and "這條短信" in imp.explanation  # explained in Traditional


def test_full_width_input_is_matched_and_spans_stay_in_the_original():
    text = "你的欠款已移交公安，ＡＰＰ已关闭，请转账至个人账户！"
    a = assess(text)
    assert {"false_legal_threat", "scam_payment"} <= set(a.categories)
    assert all(text[f.start : f.end] == f.text for f in a.findings)


def test_explanations_follow_the_locale():
    text = "You have been reported to the police and will be arrested."
    en = assess(text, locale="en").findings[0].explanation
    hans = assess(text, locale="zh-Hans").findings[0].explanation
    assert en.isascii() and not hans.isascii()
    assert assess("你已經被法院立案，等著坐牢吧", locale="auto").locale == "zh-Hant"
    assert assess("Pay now or go to jail", locale="auto").locale == "en"


@pytest.mark.parametrize(
    "hour, minute, expected",
    [
        (23, 30, True),
        (10, 0, False),
        (22, 0, True),
        (7, 59, True),
        (8, 0, False),
        (21, 59, False),
        (2, 15, True),
    ],
)
def test_off_hours_is_flagged_between_22_and_08_local_time(hour, minute, expected):
    a = assess("今天不还，我们就联系你的家人。", received_at=datetime(2026, 3, 5, hour, minute))
    assert a.off_hours is expected
    assert ("off_hours" in {x.key for x in a.advice}) is expected


def test_off_hours_uses_the_local_time_of_the_datetime_given():
    beijing = timezone(timedelta(hours=8))
    assert assess("请尽快还款", received_at=datetime(2026, 3, 5, 23, 30, tzinfo=beijing)).off_hours
    assert not assess("请尽快还款", received_at=datetime(2026, 3, 5, 10, 0, tzinfo=beijing)).off_hours
    assert not assess("请尽快还款").off_hours


JUNK = [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("😀😡🙏💸" * 5, "no_words"),
    ("https://t.cn/A6xYz9Qp", "link_only"),
    (random.Random(4096).randbytes(4096).decode("latin-1"), None),  # seeded: a failure can be replayed
    ("\x00\x01\x02 逾期 \ud800\udfff \ufffd", "binary"),
    ("还款" + "\u200b" * 1000 + "提醒", None),
]


JUNK_IDS = ["empty", "blank", "emoji", "link", "bytes", "binary", "zwsp"]


@pytest.mark.parametrize("text, note", JUNK, ids=JUNK_IDS)
def test_junk_input_gets_a_valid_answer_never_a_crash(text, note):
    a = assess(text)
    assert a.risk in RISKS
    json.dumps(a.to_dict(), ensure_ascii=False)
    assert any("法律意见" in n for n in a.notes)
    if note == "empty":
        assert a.risk == "low" and any("空" in n for n in a.notes)
    if note in ("no_words", "link_only"):
        assert a.risk == "low" and len(a.notes) >= 2


def test_a_100_kb_paste_is_answered_with_a_note():
    """How fast: bench/bench_limits.py."""
    text = ("【青禾分期】您的借款已逾期，请通过官方APP还款。" * 5000)[:100_000]
    a = assess(text)
    assert a.risk == "low" and any("20000" in n for n in a.notes)


@pytest.mark.parametrize(
    "text",
    [
        "你" * 50000 + "!",
        "上门" * 25000,
        "不会上门" * 12500,
        "你的" * 25000 + "身份证",
        "【" * 30000,
        "a" * 50000,
        "你 " * 30000,
    ],
)
def test_pathological_inputs_get_an_answer_with_capped_findings(text):
    """How fast: bench/bench_limits.py."""
    a = assess(text)
    assert a.risk in RISKS
    assert len(a.findings) <= 40


def test_findings_are_capped_per_rule():
    a = assess("上门" * 200)
    assert 1 <= len([f for f in a.findings if f.rule == "ins_visit"]) <= 3


def test_to_dict_is_the_jsonl_contract():
    d = assess(FAKE_SUMMONS, received_at=datetime(2026, 1, 1, 23, 0)).to_dict()
    assert {"risk", "categories", "findings", "advice", "off_hours", "notes"} <= set(d)
    f = d["findings"][0]
    assert {"category", "span", "explanation", "legal_basis"} <= set(f)
    assert set(f["span"]) == {"start", "end", "text"}
    assert d["off_hours"] is True
    json.dumps(d, ensure_ascii=False)


@pytest.mark.parametrize(
    "cats, violent, expected",
    [
        ([], False, "low"),
        (["false_legal_threat"], False, "medium"),
        (["third_party_contact"], False, "medium"),
        (["false_legal_threat", "third_party_contact"], False, "medium"),
        (["impersonation"], False, "high"),
        (["insult_or_intimidation"], False, "high"),
        (["privacy_exposure"], False, "high"),
        (["scam_payment"], False, "high"),
        (["false_legal_threat"], True, "high"),
    ],
)
def test_risk_rule(cats, violent, expected):
    assert risk_for(cats, violent=violent) == expected


# ------------------------------------------------------------- compositional rules (issue 10 examples)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("妈的，钱不还是吧，等着你全家出名", {"insult_or_intimidation", "third_party_contact"}),
        ("你个老赖，再装死明天就去你公司门口拉横幅", {"insult_or_intimidation", "third_party_contact"}),
        (
            "【某某资产】您的欠款已转入法律程序，今日不处理将由属地派出所上门传唤",
            {"false_legal_threat", "impersonation"},
        ),
        (
            "你的照片已经P好了，今晚就发到你们小区业主群",
            {"privacy_exposure", "third_party_contact", "insult_or_intimidation"},
        ),
    ],
)
def test_the_issue_examples_come_out_high_with_every_category(text, expected):
    a = assess(text)
    assert a.risk == "high" and expected <= set(a.categories), [(f.rule, f.text) for f in a.findings]
    for f in a.findings:
        assert text[f.start : f.end] == f.text and f.explanation


@pytest.mark.parametrize(
    "text",
    [
        "仆街，仲唔還錢？",
        "你老母，欠錢唔還",
        "冚家鏟，聽日再唔還就有排你受",
        "幹你娘，錢到底什麼時候還",
        "靠北喔，欠錢不還還敢封鎖我",
        "You deadbeat asshole, pay up.",
    ],
)
def test_profanity_in_cantonese_taiwanese_and_english_is_an_insult(text):
    assert "insult_or_intimidation" in assess(text).categories


def test_a_polite_announced_visit_is_lawful_but_a_menacing_one_is_not():
    assert assess("明天上午10点我司外访人员将上门拜访，如不方便请致电客服改约。").risk == "low"
    assert "insult_or_intimidation" in assess("明天我们就上门找你，你最好在家等着。").categories


def test_reaching_an_unreachable_debtor_through_their_emergency_contact_is_not_third_party_contact():
    a = assess("因多次联系不上您，我们致电了您的紧急联系人，未透露任何借款信息，请您尽快回电。")
    assert "third_party_contact" not in a.categories
    assert "third_party_contact" in assess("你的紧急联系人我们都打过了，他们都知道你欠钱不还。").categories


# ------------------------------------------------------------------- court notices: verify, don't dismiss

GENUINE_COURT = [
    "【XX区人民法院】（2025）京0105民初1234号案件已立案，请于3月5日9时到本院第三法庭参加庭审。详询当地区号+12368。",
    "【XX人民法院】您好，您与某某银行信用卡纠纷一案已进入诉前调解，调解员将与您电话联系，可登录人民法院在线服务查看。",
    "【XX区人民法院】（2025）京0105执1234号：你未按判决履行还款义务，本院已依法将你纳入失信被执行人名单并限制高消费。"
    "查询请拨打当地区号+12368。",
    "【臺北某法院】台端（2025）北簡字第88號傳票已依法送達，請準時到庭。如有疑問請洽12368。",
]
FAKE_COURT = [
    "【XX区人民法院】你的借款纠纷已立案，案号(2025)京0105民初77号，撤诉请缴纳撤诉费2000元至安全账户。",
    "【XX区人民法院】（2025）京0105民初1234号案件已立案，详情点击 http://fayuan-gov.top/case 查看并缴纳保证金。",
    "【XX人民法院】（2025）X01民初5521号传票：请今日联系承办法官138****2046处理还款，否则派出所将上门拘传。",
    # claims no court makes over a civil debt, with no number, link or account in them
    "【某某区人民法院】你拖欠的网贷已转为刑事案件，请三日内到本院说明情况。",
    "【某某市人民法院执行局】你的欠款逾期未还，本院将通知你孩子所在学校，取消其入学资格。",
    "【某某区人民法院】本院已签发拘留令，今日还清欠款方可撤销。",
    # a bare host name to pay on, without http:// or a path
    "【某某仲裁委员会】你的借贷纠纷已受理，请于48小时内登录 zc-case.vip 提交答辩材料。",
]


@pytest.mark.parametrize("text", GENUINE_COURT)
def test_a_genuine_court_notice_is_not_a_false_threat_and_says_how_to_verify_it(text):
    a = assess(text)
    assert "false_legal_threat" not in a.categories and "impersonation" not in a.categories
    assert a.court_notice and a.verify
    keys = [x.key for x in a.advice]
    assert keys[0] == "court_may_be_real" and "verify_court_12368" in keys
    may_be_real = a.advice[0].text
    assert "12368" in may_be_real and "人民法院在线服务" in may_be_real and "按时" in may_be_real
    d = a.to_dict()
    assert d["verify"] is True and d["court_notice"] is True and d["risk"] == "low"


@pytest.mark.parametrize("text", FAKE_COURT)
def test_a_court_notice_with_a_scam_sign_is_impersonation(text):
    a = assess(text)
    assert a.risk == "high" and "impersonation" in a.categories
    assert a.court_notice and not a.verify
    assert "court_may_be_real" not in {x.key for x in a.advice}


@pytest.mark.parametrize(
    "text",
    [
        "如您收到法院传票，请按时出庭应诉。",
        "您的借款已逾期，我司可能依法向法院起诉，判决生效后可申请强制执行。",
    ],
)
def test_a_lawful_sentence_with_summons_lawsuit_or_enforcement_is_not_a_false_threat(text):
    assert assess(text).risk == "low"


def test_a_collector_claiming_to_send_a_summons_is_still_a_false_threat():
    assert "false_legal_threat" in assess("【融通法务】法院传票已经寄往你户籍地，请注意查收。").categories


def test_an_sms_in_two_scripts_is_read_in_both():
    text = "你個老賴，pay up or we will call your boss. 明天就去你公司門口。"
    a = assess(text)
    assert {"insult_or_intimidation", "third_party_contact"} <= set(a.categories)
    assert any(f.text == "call your boss" for f in a.findings)
    assert all(text[f.start : f.end] == f.text for f in a.findings)


def test_a_court_notice_with_a_scam_link_inside_is_impersonation_not_verified():
    text = (
        "【XX区人民法院】（2025）京0105民初1234号传票已送达，详询12368。"
        "为免开庭请点击 http://court-cn.vip/pay 缴纳和解金。"
    )
    a = assess(text)
    assert a.risk == "high" and "impersonation" in a.categories and not a.verify


@pytest.mark.parametrize("text", ["仆街" * 20000, "【法院" * 20000, "(" * 50000 + "传票", "去你" * 30000 + "公司"])
def test_backtracking_bombs_on_the_new_rules_get_a_bounded_answer(text):
    a = assess(text)  # timing is measured in bench/bench_assess.py, not here
    assert a.risk in RISKS and len(a.findings) <= 40


def test_own_corpus_held_out_figures_stay_at_0_99(heldout):
    assert heldout.binary_accuracy >= 0.99 and heldout.micro_f1 >= 0.99, heldout.summary()


def test_the_training_corpus_is_large_labelled_by_the_contract_and_never_held_out():
    train = load("sms_train.jsonl")
    assert len(train) >= 600 and {r["lang"] for r in train} == {"zh-Hans", "zh-Hant", "en"}
    heldout_texts = {r["text"] for r in CORPUS if r["split"] == "heldout"}
    for r in train:
        assert r["split"] == "tune" and r["text"] not in heldout_texts
        assert r["risk"] == risk_for(r["categories"]), r["id"]
        if r.get("kind") in ("lawful", "court_genuine"):
            assert r["categories"] == [], r["id"]
        if r.get("kind") == "authority_fake":
            assert "impersonation" in r["categories"], r["id"]


# ------------------------------------------- compositional rules: actor × action, authority × claim, channel × demand


@pytest.mark.parametrize(
    "text, category",
    [
        # the collector claims to work with the police or a court
        ("我们和你户籍地派出所已经对接好了，欠款今天必须还清", "impersonation"),
        ("本公司已联合你所在区法院，逾期欠款将马上处理", "impersonation"),
        ("再不还钱，明天民警陪同我们上门", "impersonation"),
        ("我司是经法院授权的清收机构，请今天结清欠款", "impersonation"),
        ("We are working with the police on your unpaid loan.", "impersonation"),
        # a message written to a third party, or about telling one
        ("陈*的同事你好，他在我平台的欠款逾期两个月了", "third_party_contact"),
        ("您是刘*的室友吧？麻烦提醒他尽快还钱", "third_party_contact"),
        ("你老婆的电话我已经拿到了，晚上打给她", "third_party_contact"),
        ("我们会寄一封催款函到你的单位人事部", "third_party_contact"),
        ("Dear colleague of Mr. Wu: he owes our client money and must repay.", "third_party_contact"),
        # publishing on platforms and in public places
        ("再拖下去，你的名字和欠款金额就挂到抖音上公示", "privacy_exposure"),
        ("你的身份证号和住址明天会出现在本地论坛", "privacy_exposure"),
        ("Your photo will be posted in every WeChat group of your hometown.", "privacy_exposure"),
        # payment routes a lender never uses
        ("公司账户冻结了，今天钱直接转给我，我帮你入账", "scam_payment"),
        ("请把欠款存入我们的过渡账户，完成后结清", "scam_payment"),
        ("交600元手续费，我就帮你把逾期记录消掉", "scam_payment"),
        ("还款请汇到 6228 1234 5678 9012，今天到账", "scam_payment"),
        ("Pay now via this link to avoid the court: bit.ly/x1y2", "scam_payment"),
    ],
)
def test_new_wording_of_each_category_is_caught_by_the_rules(text, category):
    a = assess(text)
    hits = [f for f in a.findings if f.category == category and f.source == "rule"]
    assert hits, [(f.rule, f.text) for f in a.findings]
    for f in hits:
        assert text[f.start : f.end] == f.text and f.explanation and f.legal_basis


@pytest.mark.parametrize(
    "text",
    [
        "您好，我司外访专员将于周三下午上门拜访，如不方便请提前致电改约。",
        "您的借款已逾期，请通过官方APP还款；任何要求您转账到私人户口的都是诈骗。",
        "作为担保人，请您督促其尽快还款，如有疑问请致电客服。",
        "我们联系不上您，已请您的紧急联系人转告您回电，未透露借款信息。",
        "【某某区人民法院】（2025）某0101民初123号案件已立案，本院不会要求当事人缴纳任何撤案费，详询12368。",
        "还款请汇入对公账户，户名：某某消费金融有限公司，账号 6222 0000 1111 2222。",
        "如遇冒充公安或法院的人要求转账，请向当地派出所报案。",
        "Please upload a photo of your ID card in the app to finish verification.",
    ],
)
def test_lawful_reminders_visits_and_court_notices_stay_low(text):
    a = assess(text)
    assert a.risk == "low" and not [f for f in a.findings if f.source == "rule"], [(f.rule, f.text) for f in a.findings]


@pytest.mark.parametrize(
    "text",
    [
        "臺灣臺中地方法院通知：某某銀行對臺端聲請之支付命令（113年度司促字第1234號）已核發，如有異議應於送達後20日內提出。",
        "[Hangzhou Internet Court] Notice in case (2025) Zhe 0192 Min Chu No. 77: the hearing is set for 3 June; "
        "check it on the People's Court Online Service platform.",
        "[12368] You have court documents to sign for in case (2025) Yue 0106 Min Chu No. 321. Log in to the "
        "People's Court Online Service to read them.",
        # Hong Kong: a tribunal heading, the Judiciary in English, and the Judiciary's own site
        "小額錢債審裁處：SCTC 1234/2025 聆訊定於3月5日上午9時30分，請親身出席。"
        "詳情可瀏覽司法機構網站 www.judiciary.hk。",
        "Judiciary HKSAR: Small Claims Tribunal claim SCTC 5678/2025 is listed for hearing on 5 March at 9:30 a.m.",
    ],
)
def test_court_notices_in_taiwanese_or_english_form_are_verified_not_dismissed(text):
    a = assess(text)
    assert a.verify and a.risk == "low", [(f.rule, f.text) for f in a.findings]


def test_a_polite_visit_announced_in_cantonese_is_lawful():
    assert assess("陳先生，我哋同事會喺週三下晝3點上門拜訪，傾下還款安排，如果唔方便請致電改期。").risk == "low"


# ------------------------------- menace, wages, visas, acting with the police, documents sent to others (new wording)


@pytest.mark.parametrize(
    "text, category",
    [
        # coming to find or wait for the person, in Mandarin, Cantonese and English
        ("地址我们已经查到了，周五晚上见。", "insult_or_intimidation"),
        ("你唔覆我，我哋今晚就上嚟搵你。", "insult_or_intimidation"),
        ("我们的人已经在你家楼下了，下来还钱。", "insult_or_intimidation"),
        ("你女儿放学的时候我们会在校门口等她。", "insult_or_intimidation"),
        ("Keep ignoring us and we will come and find you tonight.", "insult_or_intimidation"),
        # menace about where relatives and children are
        ("你老爸在城南那个菜市场摆摊是吧？", "insult_or_intimidation"),
        ("你也不想你儿子出什么意外吧，今天把钱还了。", "insult_or_intimidation"),
        # Cantonese abuse and masked profanity
        ("你个赖数佬，成日食懒饭，仲唔还钱？", "insult_or_intimidation"),
        ("F*** off and pay what you owe.", "insult_or_intimidation"),
        ("别逼我们动手，钱今天必须到。", "insult_or_intimidation"),
        # jail in Cantonese, salary deduction, visas and deportation
        ("再唔还钱就等住踎监啦。", "false_legal_threat"),
        ("我们明天就让你们老板从你工资里扣，一分不少。", "false_legal_threat"),
        ("唔还钱就同你公司讲，扣你人工抵数。", "false_legal_threat"),
        ("你的工作签证马上会被取消，然后遣返回国。", "false_legal_threat"),
        ("Pay by Friday or you will be deported.", "false_legal_threat"),
        # acting together with the police or a court, whichever comes first
        ("辖区民警明天会陪同我们上门，你最好在家等着。", "impersonation"),
        ("我司已和户籍地公安联合办理你的案子。", "impersonation"),
        ("刑警那边我们早就打好招呼了，你躲不掉的。", "impersonation"),
        ("We are cooperating with the police in your city; officers will come with us.", "impersonation"),
        # documents and debt sent to people who know the person
        ("你的身份证复印件和欠款明细已经寄给你单位领导了。", "privacy_exposure"),
        ("今晚开始向你通讯录所有联系人发送你的欠款截图。", "privacy_exposure"),
        ("Everyone in that chat will receive your passport photo tonight.", "privacy_exposure"),
        # third parties by new names and verbs
        ("今天不还，我们就给你二老打电话。", "third_party_contact"),
        ("已经发邮件给你公司HR了，下一步抄送你们CEO。", "third_party_contact"),
        ("不想让你学校知道就赶紧还。", "third_party_contact"),
        # payees a lender never uses
        ("请立即转账到催收专员的个人微信，今天结清。", "scam_payment"),
        ("缴纳500元下架费，我们就把你的信息撤下来。", "scam_payment"),
    ],
)
def test_menace_wages_visas_and_authority_claims_in_new_wording_are_caught_by_the_rules(text, category):
    a = assess(text)
    hits = [f for f in a.findings if f.category == category and f.source == "rule"]
    assert hits, [(f.rule, f.text) for f in a.findings]
    for f in hits:
        assert text[f.start : f.end] == f.text and f.explanation and f.legal_basis


def test_a_visa_threat_is_explained_as_beyond_a_collectors_power_with_a_hedge():
    a = assess("不还钱就通知移民局，让你签证作废。", locale="zh-Hans")
    f = next(f for f in a.findings if f.rule == "flt_visa")
    assert "无权" in f.explanation and "没有找到" in f.explanation


@pytest.mark.parametrize(
    "text",
    [
        "明天上午10点我司两名外访人员将上门拜访，届时出示工作证，如不方便请致电改约。",
        "我们会安排专员去找您协商还款方案，请保持电话畅通。",
        "请您核实预留的家庭住址和单位信息是否有变化。",
        "谨防骗子冒充我司催收人员，凡是要求转账到个人账户的都是骗子。",
        "如您的签证或居留信息有变化，请在APP内更新资料。",
        "我们不会向您的联系人发送任何欠款信息，请放心。",
        "如需开具结清证明，请联系官方客服，不收取任何费用。",
        "如遇暴力催收，您可以请民警陪同处理，也可以向派出所报案。",
        "Our visiting officer will call on you at 10:00 tomorrow; if inconvenient please call to rearrange.",
        "Neither we nor our agency will ever ask you to pay into a personal account.",
        # a visit rescheduled, two staff wearing badges; a visit that found nobody home and left a letter
        "李先生您好，原定周三的上门拜访改到周五下午3点，拜访人员两名，均佩戴工牌。",
        "您好，我们是某某金融的上门拜访团队，昨天上午来您家时您不在，已留下联系函，请查收后回电。",
        # the debtor's own contact asked only to have them call back
        "您好，我们一直联系不上王先生，您是他留的紧急联系人，麻烦您方便时请他回电，谢谢。",
        # anti-fraud warnings: a law firm's fee warning, and an English list of things never asked for
        "【某某律师事务所】提示：任何以本所名义收取“撤诉费”的行为均属诈骗，请勿转账。",
        "Fraud alert: we will never ask you to scan a personal QR code or share your screen. Hang up and call us.",
        # FPS (a Hong Kong transfer) to the lender's own named account
        "Your loan is 3 days overdue. Please repay in the app or by FPS to Harbor Credit Ltd.",
        "你嘅貸款已逾期3日，請經App或轉數快至本公司賬戶還款。",
    ],
)
def test_lawful_reminders_with_visit_family_visa_or_police_words_stay_low(text):
    a = assess(text)
    assert a.risk == "low" and not [f for f in a.findings if f.source == "rule"], [(f.rule, f.text) for f in a.findings]


@pytest.mark.parametrize(
    "text",
    [
        # real enforcement measures named by the court itself
        "【某某区人民法院】（2025）某0102执3456号：请于收到本通知之日起五日内如实申报财产，拒不申报的，本院可依法予以罚款、"
        "拘留；你已被纳入失信被执行人名单并限制高消费。详询当地区号+12368。",
        # the enforcement notice's own warning about the crime of refusing to comply is not a false claim
        "【某某区人民法院】（2025）某0102执789号：请按执行通知书履行义务。拒不履行的，本院可依法予以罚款、拘留；"
        "构成犯罪的，依法追究刑事责任。详询当地区号+12368。",
        # a greeting before the court's name, and the court's e-service platform
        "您好，某某市某某区人民法院立案庭通知：某某银行诉你信用卡纠纷一案已登记立案，文书将通过人民法院电子送达平台送达。",
        # a 12368 sender tag with no court name in it
        "【12368】你有一份诉讼文书待签收，请登录人民法院在线服务查看。",
        # a Taiwanese mediation committee with no case number but a sitting to attend
        "臺灣新竹地方法院調解委員會：某某銀行與臺端之債務調解事件訂於5月3日上午9時於本院調解室進行，請準時出席。",
        # an English notice from a court-invited mediator
        "[Chengdu Wuhou District People's Court - court-invited mediator] Your loan dispute has been referred to "
        "pre-litigation mediation, free of charge. Please reply through the People's Court Online Service.",
    ],
)
def test_real_enforcement_and_mediation_notices_get_verify_advice_never_a_false_threat(text):
    a = assess(text)
    assert a.verify and a.court_notice and a.risk == "low", [(f.rule, f.text) for f in a.findings]
    assert not {"false_legal_threat", "impersonation"} & set(a.categories)
    assert a.advice[0].key == "court_may_be_real"


@pytest.mark.parametrize(
    "text, category",
    [
        # a relative named only in the shared kin list reaches the third-party rules (macros inside macros)
        ("今晚我们就打给你岳母，让她评评理。", "third_party_contact"),
        ("我哋聽日打咗畀你阿爺先，再打畀你前度。", "third_party_contact"),
        # a contact told they owe the debt too
        ("您是他的紧急联系人，他不还您就要承担连带还款责任。", "false_legal_threat"),
        # the police coming, in Cantonese and English
        ("差人听日会上嚟拉你，你自己谂。", "false_legal_threat"),
        ("The police will come with our staff to your office on Monday.", "false_legal_threat"),
        ("你再拖，警方就会发协查通报到你单位。", "false_legal_threat"),
        # humiliation in front of others, and dares
        ("明天去你单位，当着你领导的面让你丢人。", "insult_or_intimidation"),
        ("再不还就拉你进去关几天，不信试试。", "insult_or_intimidation"),
    ],
)
def test_kin_police_visits_liability_and_dares_in_new_wording_are_caught(text, category):
    a = assess(text)
    assert [f for f in a.findings if f.category == category and f.source == "rule"], [
        (f.rule, f.text) for f in a.findings
    ]


def test_a_warning_about_app_repayment_does_not_hide_a_personal_account_demand():
    a = assess("系统升级请勿通过APP还款，请把本期1,200元转到专员个人微信，转完截图。")
    assert "scam_payment" in a.categories and a.risk == "high"


def test_a_fee_waiver_does_not_hide_an_odd_payment_link_after_it():
    a = assess("今天点这个链接还款免收违约金：pay-now8.vip/k2 ，过时失效。")
    assert "scam_payment" in a.categories


def test_a_guarantor_reminded_of_the_guarantee_is_not_told_a_false_threat():
    a = assess("您作为担保人，依合同应承担连带保证责任，请督促借款人按时还款。")
    assert a.risk == "low", [(f.rule, f.text) for f in a.findings]


@pytest.mark.parametrize(
    "text, category",
    [
        # third parties: pushed to contacts, numbers in hand, a relative who talked, a foreman called, English receivers
        ("我们会把你的欠款账单推送给你的紧急联系人，让他们也看看。", "third_party_contact"),
        ("你舅舅的电话也在我们手上，别逼我们。", "third_party_contact"),
        ("你室友已经告诉我们你搬去哪了。", "third_party_contact"),
        ("我刚给你们车间的王组长打过电话。", "third_party_contact"),
        ("你的通讯录我们已经备份了，从今晚开始一个个打。", "third_party_contact"),
        ("今晚call你dad，让他知道你做了什么。", "third_party_contact"),
        ("Your grandmother is going to receive a letter from us this week.", "third_party_contact"),
        ("Your emergency contacts have already been informed about the amount.", "third_party_contact"),
        ("We emailed the school principal about your loan.", "third_party_contact"),
        ("We have every contact on your phone and will text them tonight.", "third_party_contact"),
        # privacy: a whole estate told, a village broadcast, a named banner, a feed debut, the internet
        ("我们要让你们整个小区的人都知道你欠钱。", "privacy_exposure"),
        ("你的事很快会在你们村的广播里播一遍。", "privacy_exposure"),
        ("横幅上会印你的名字和欠款金额。", "privacy_exposure"),
        ("Get ready for your TikTok debut, everyone will see your face.", "privacy_exposure"),
        ("再拖下去，你的借款记录会在网上公开。", "privacy_exposure"),
        # false threats: wages or a pension said to be frozen by the collector, an exit bar, fraud, a family's credit
        ("你的工资我们已经冻住了，这个月一分都拿不到。", "false_legal_threat"),
        ("你嘅退休金已经俾我哋扣住咗。", "false_legal_threat"),
        ("海关那边已经有你的记录，欠钱不还出不了境。", "false_legal_threat"),
        ("Because of this debt you cannot leave the country until it is paid.", "false_legal_threat"),
        ("这笔欠款会影响到你家人的征信。", "false_legal_threat"),
        # fake bodies with state power
        ("SEC Enforcement Division: your loan account is under review for fraud.", "impersonation"),
        ("I am an attorney appointed by the court to collect your debt.", "impersonation"),
        ("【国家反诈中心】你名下的贷款存在异常，请配合核查。", "impersonation"),
        # payment to a person acting for the police, a court or the collector; cards and deposits
        ("罚款直接转到办案民警的个人银行卡。", "scam_payment"),
        ("Transfer the settlement to the clerk's personal account today.", "scam_payment"),
        ("Pay the balance in Google Play cards and send us the codes.", "scam_payment"),
        ("请按警官要求准备取保候审金两万元。", "scam_payment"),
        ("请联系法院书记员安排付款。", "scam_payment"),
        ("去便利店买游戏点卡，把卡密拍给我。", "scam_payment"),
        # menace: a squad whose methods are left unsaid, a relative's job held over the debtor
        ("账已经交给我们的线下处置组，他们的做法你受不了。", "insult_or_intimidation"),
        ("你弟弟在区医院上班吧，别让他因为你丢了饭碗。", "insult_or_intimidation"),
    ],
)
def test_third_parties_publicity_wages_fake_agencies_and_payment_to_a_person_are_caught_by_the_rules(text, category):
    a = assess(text)
    assert [f for f in a.findings if f.category == category and f.source == "rule"], [
        (f.rule, f.text) for f in a.findings
    ]


@pytest.mark.parametrize(
    "text",
    [
        "【某某财务】Your account is 10 days overdue. Please pay at our branch or via our official FPS ID.",
        "【某某银行】您好，本行取得执行名义后将依法声请强制执行，现在协商仍可减免利息。",
        "您好，我们想联系您的朋友陈某，可他的电话一直打不通，麻烦您转告他回电。",
        "If you get a court summons for this account, please attend the hearing.",
        "We never ask for payment to a staff member's personal WeChat or Alipay account.",
        "收到您关于我司催收员打电话给您同事的投诉，我们已停止该员工的工作。",
        "我所律师无权冻结您的账户，也不会上门。",
        "【某某资产】上门拜访提醒：周四下午两名工作人员将到您家拜访，如不方便请回复改约。",
        "提醒您：判决生效后如仍未履行，法院可依法通知您的工作单位协助扣划工资。",
        "我司计划下周三上午10点上门拜访，拜访人员为我司员工王某（工号B22）。如您不方便，请致电改约。",
        "因一直联系不上您，我们致电了您留的联络人，仅请其转告您回电，未透露任何欠款信息。",
        "If you get a court summons, please attend. You can verify any court notice on the court's official website.",
        "Pls pay today.",
        "如有困难，您可以请家人协助您办理分期。",
        "【某某调解中心】本中心是依法登记的民间调解组织，受债权人委托与您商量还款方案，款项请通过债权人官方App支付。",
    ],
)
def test_lawful_reminders_with_fps_enforcement_contact_or_complaint_words_stay_low(text):
    a = assess(text)
    assert a.risk == "low", [(f.rule, f.text) for f in a.findings]


@pytest.mark.parametrize(
    "text",
    [
        "12368提示：您的（2025）某0105民初321号案件已排期开庭，请登录人民法院在线服务查看。",
        "Shenzhen Futian District People's Court to Mr. Li: case (2025) Yue 0304 Min Chu 55 is heard on 3 June.",
        "【臺灣某某地方法院】本院裁定已寄存於台端住所地派出所，請攜帶證件領取。",
    ],
)
def test_court_notices_with_a_service_heading_or_police_station_deposit_are_verified(text):
    a = assess(text)
    assert a.verify and a.risk == "low", [(f.rule, f.text) for f in a.findings]
    assert a.advice[0].key == "court_may_be_real"


@pytest.mark.parametrize(
    "text",
    [
        "【某某区人民法院】请将执行款转入调解员本人银行卡。",
        "【某某地方法院】台端的強制執行如欲暫緩，請先匯款五萬元。",
        "[Court Bailiff] Seizure is set for Friday; send the deposit to account 6228 0000 1111 2222 (Wang Lei).",
    ],
)
def test_a_court_voice_asking_to_pay_a_person_or_to_pay_for_a_delay_is_impersonation(text):
    a = assess(text)
    assert not a.verify and {"impersonation", "scam_payment"} <= set(a.categories), [
        (f.rule, f.text) for f in a.findings
    ]


def test_a_mediation_centre_that_tells_the_family_is_contacting_third_parties():
    a = assess("【某某调解中心】本中心已将您的欠款告知您的母亲和单位领导。")
    assert "third_party_contact" in a.categories and a.risk != "low"


@pytest.mark.parametrize(
    "text",
    [
        "账单已逾期请尽快处理。顺便说一句，你儿子读的那间小学我们很清楚。",
        "你这笔账已经交给道上的兄弟去办了，他们可不讲规矩。",
        "我们不是银行，不会跟你讲道理，你的腿还想不想要？",
        "借钱不还，断子绝孙。",
        "你家住阳光花园3栋2单元吧？楼下那家超市不错。",
        "We know your new address now. See you soon.",
        "唔好再扮死，将钱转去我个人户口，转完截图俾我。",
        "Just read back the code we sent you and we will stop the calls.",
    ],
)
def test_veiled_menace_curses_and_payment_to_the_sender_are_high_never_low(text):
    # a polite opening or a warning word ("唔好") earlier in the message must not hide the harm at its end
    assert assess(text).risk == "high", text


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("再拖，你的照片就会贴满你们村每一根电线杆。", "third_party_contact"),
        ("再不还，只能请您老公来协助处理了。", "third_party_contact"),
        ("逾期不处理，我们将向您的紧急联系人说明欠款情况。", "third_party_contact"),
        ("Every person in your contact list will hear from us this week.", "third_party_contact"),
        ("We will post about your debt in your neighbourhood Facebook group.", "third_party_contact"),
        ("明天你公司门口见。", "third_party_contact"),
    ],
)
def test_bringing_in_the_village_family_or_contact_list_is_third_party_contact(text, category):
    assert category in assess(text).categories, text


def test_a_court_mediator_writing_in_the_first_person_gets_the_verify_advice():
    a = assess(
        "我系广州市天河区人民法院调解中心的调解员，关于（2026）粤0106民初1111号案，想约你经人民法院在线服务做线上调解。"
    )
    assert a.verify and not a.categories


def test_a_collection_agency_calling_itself_this_centre_is_not_a_court():
    a = assess("【某某法务催收中心】我中心已通知您的村委会协助催收。")
    assert not a.court_notice and "third_party_contact" in a.categories


# ------------------------------------------------------------------- blind sets: the judged one, and tuned-on floors


@pytest.fixture(scope="module")
def judged_blind():
    from bot.assess.evaluate import JUDGED_SMS_SET
    from bot.assess.evaluate import evaluate as score

    return score(load(JUDGED_SMS_SET.name))


# The issue's targets on the judged set; beside them, guards at the measured level catch a regression that still
# meets the targets.
JUDGED_GUARDS = {
    "accuracy": 0.99,
    "micro_f1": 0.96,
    "lawful_rated_high": 0,
    "high_rated_low": 0,
    "court_called_false": 0,
    "court_not_verified": 0,
}
JUDGED_RECALL_GUARDS: dict[str, float] = {}  # every category is above the 0.85 target (lowest: impersonation 0.915)


def test_the_judged_blind_set_meets_the_issue_targets(judged_blind):
    s = judged_blind
    assert s.binary_accuracy >= 0.97 and s.micro_f1 >= 0.92, s.summary()
    for cat in CATEGORIES:
        recall = s.recall(cat)
        assert recall is None or recall >= 0.85, f"{cat} recall {recall}"
    assert not s.lawful_rated_high and not s.high_rated_low, s.summary()
    assert not s.court_called_false and not s.court_not_verified, s.summary()


def test_the_judged_blind_set_stays_at_its_measured_level(judged_blind):
    s, g = judged_blind, JUDGED_GUARDS
    assert s.binary_accuracy >= g["accuracy"] and s.micro_f1 >= g["micro_f1"], s.summary()
    for cat in CATEGORIES:
        recall = s.recall(cat)
        assert recall is None or recall >= JUDGED_RECALL_GUARDS.get(cat, 0.85), f"{cat} recall {recall}"
    assert len(s.lawful_rated_high) <= g["lawful_rated_high"], s.summary()
    assert len(s.high_rated_low) <= g["high_rated_low"], s.summary()
    assert len(s.court_called_false) <= g["court_called_false"], s.summary()
    assert len(s.court_not_verified) <= g["court_not_verified"], s.summary()


# The earlier blind sets have been reported and tuned on: their figures are regression floors, not evidence of
# generalisation (measured with the shipped classifier, which also trains on them).
TUNED_ON_FLOORS = {
    "sms_blind.jsonl": (0.99, 0.93),
    "sms_blind_2.jsonl": (0.99, 0.93),
    "sms_blind_3.jsonl": (0.99, 0.94),
    "sms_blind_4.jsonl": (0.99, 0.93),
    "sms_blind_5.jsonl": (0.99, 0.94),
    "sms_blind_6.jsonl": (0.99, 0.95),
    "sms_blind_7.jsonl": (0.99, 0.94),
    "sms_blind_8.jsonl": (0.99, 0.95),
    "sms_blind_9.jsonl": (0.98, 0.90),
    "sms_blind_10.jsonl": (0.99, 0.94),
    "sms_blind_11.jsonl": (0.99, 0.98),
    "sms_blind_12.jsonl": (0.99, 0.98),
    "sms_blind_13.jsonl": (0.99, 0.96),
    "sms_blind_14.jsonl": (0.99, 0.97),
    "sms_blind_15.jsonl": (0.99, 0.96),
    "sms_blind_16.jsonl": (0.99, 0.96),
    "sms_blind_17.jsonl": (0.99, 0.95),
    "sms_blind_18.jsonl": (0.99, 0.97),
    "sms_blind_19.jsonl": (0.99, 0.94),
    "sms_blind_20.jsonl": (0.99, 0.96),
    "sms_blind_21.jsonl": (0.99, 0.93),
    "sms_blind_22.jsonl": (0.99, 0.91),
    "sms_blind_23.jsonl": (0.99, 0.94),
    # blind 24's writer counts "police will come and arrest you" as a false legal threat only; the label contract (and
    # the writers after it) also call it impersonation, which the rules follow
    "sms_blind_24.jsonl": (0.99, 0.93),
    "sms_blind_25.jsonl": (0.99, 0.93),
    "sms_blind_26.jsonl": (0.99, 0.95),
    "sms_blind_27.jsonl": (0.99, 0.93),
    "sms_blind_28.jsonl": (0.99, 0.94),
    "sms_blind_29.jsonl": (0.99, 0.94),
    "sms_blind_30.jsonl": (0.99, 0.97),
    "sms_blind_31.jsonl": (0.99, 0.97),
    "sms_blind_32.jsonl": (0.99, 0.95),
    "sms_blind_34.jsonl": (0.99, 0.97),
    "sms_blind_35.jsonl": (0.99, 0.98),
    "sms_blind_36.jsonl": (0.98, 0.89),
    "sms_blind_37.jsonl": (0.99, 0.94),
    "sms_blind_38.jsonl": (0.99, 0.95),
    "sms_blind_39.jsonl": (0.99, 0.96),
    "sms_blind_40.jsonl": (0.99, 0.95),
    "sms_blind_41.jsonl": (0.99, 0.94),
    "sms_blind_42.jsonl": (0.99, 0.94),
    "sms_blind_43.jsonl": (0.99, 0.94),
    "sms_blind_44.jsonl": (0.99, 0.95),
    "sms_blind_45.jsonl": (0.99, 0.94),
    "sms_blind_46.jsonl": (0.99, 0.95),
    "sms_blind_47.jsonl": (0.99, 0.97),
    "sms_blind_48.jsonl": (0.99, 0.94),
    "sms_blind_49.jsonl": (0.99, 0.95),
    "sms_blind_50.jsonl": (0.99, 0.95),
    "sms_blind_51.jsonl": (0.99, 0.94),
    "sms_blind_33.jsonl": (0.99, 0.96),
    "sms_blind_52.jsonl": (0.99, 0.95),
    "sms_blind_53.jsonl": (0.99, 0.94),
    "sms_blind_54.jsonl": (0.99, 0.96),
    "sms_blind_55.jsonl": (0.99, 0.96),
    "sms_blind_56.jsonl": (0.99, 0.97),
    "sms_blind_57.jsonl": (0.99, 0.96),
    "sms_blind_58.jsonl": (0.99, 0.97),
    "sms_blind_59.jsonl": (0.99, 0.96),
    "sms_blind_61.jsonl": (0.99, 0.97),
    "sms_blind_62.jsonl": (0.99, 0.97),
    "sms_blind_63.jsonl": (0.99, 0.97),
    "sms_blind_64.jsonl": (0.99, 0.96),
    "sms_blind_65.jsonl": (0.98, 0.95),
    "sms_blind_68.jsonl": (0.99, 0.96),
    "sms_blind_69.jsonl": (0.99, 0.95),
    "sms_blind_70.jsonl": (0.99, 0.97),
    "sms_blind_71.jsonl": (0.99, 0.96),
    "sms_blind_72.jsonl": (0.99, 0.97),
    "sms_blind_73.jsonl": (0.99, 0.95),
    "sms_blind_74.jsonl": (0.99, 0.96),
    "sms_blind_75.jsonl": (0.99, 0.95),
}


@pytest.mark.parametrize("name", sorted(TUNED_ON_FLOORS))
def test_tuned_on_blind_sets_stay_at_their_floors(name):
    from bot.assess.evaluate import evaluate as score

    s = score(load(name))
    accuracy, f1 = TUNED_ON_FLOORS[name]
    assert s.binary_accuracy >= accuracy and s.micro_f1 >= f1, s.summary()
    assert not s.lawful_rated_high, s.summary()
    assert not s.court_called_false and not s.court_not_verified, s.summary()


# Where writers disagree and the rules follow the majority, a spent set is held at its measured level instead:
# blind 25's writer counts a child's school named as third-party contact, which the writers of blind 19 and 24 do
# not; blind 36's writer counts every threat aimed at a relative, a dorm or a child's school as third-party contact.
# The writers of blind 48 to 51 read "debt details sent to others" as covering the debt told to one relative or an
# employer (privacy exposure as well as third-party contact), where the earlier writers and the rules count
# third-party contact only (so do the writers of blind 52 and 53, given the same contract text); blind 48's writer also
# counts "自己掂量" alone as menace, which the contract calls pressure. Blind 57's writer counts shaming remarks and
# police coming along with collectors as menace too, where most writers and the rules do not.
SPENT_EXCEPTIONS: dict[str, dict[str, float]] = {
    "sms_blind_25.jsonl": {"third_party_contact": 0.82},
    "sms_blind_36.jsonl": {"third_party_contact": 0.72},
    "sms_blind_48.jsonl": {"privacy_exposure": 0.71, "high_rated_low": 1},
    "sms_blind_49.jsonl": {"privacy_exposure": 0.79},
    "sms_blind_50.jsonl": {"privacy_exposure": 0.76},
    "sms_blind_51.jsonl": {"privacy_exposure": 0.65},
    "sms_blind_52.jsonl": {"privacy_exposure": 0.81},
    "sms_blind_53.jsonl": {"privacy_exposure": 0.72},
    "sms_blind_57.jsonl": {"insult_or_intimidation": 0.83},
}


def _spent_sets() -> list[str]:
    """Every spent blind set, by file name."""
    from bot.assess.evaluate import SPENT_SMS_SETS

    return [p.name for p in SPENT_SMS_SETS]


@pytest.mark.parametrize("name", _spent_sets())
def test_spent_blind_sets_keep_every_category_recall_and_no_high_risk_sms_rated_low(name):
    from bot.assess.evaluate import evaluate as score

    s = score(load(name))
    allowed = SPENT_EXCEPTIONS.get(name, {})
    assert len(s.high_rated_low) <= allowed.get("high_rated_low", 0), s.summary()
    for cat in CATEGORIES:
        assert (s.recall(cat) or 1.0) >= allowed.get(cat, 0.85), f"{cat} recall {s.recall(cat)}"


def test_blind_sets_are_reported_by_their_file_number_not_their_position():
    from pathlib import Path

    from bot.assess.evaluate import JUDGED_SMS_SET, SPENT_SMS_SETS, blind_number

    assert blind_number(Path("tests/data/sms_blind.jsonl")) == 1
    assert blind_number(Path("tests/data/sms_blind_37.jsonl")) == 37
    spent = [blind_number(p) for p in SPENT_SMS_SETS]
    assert len(set(spent)) == len(spent) and blind_number(JUDGED_SMS_SET) not in spent


def test_the_key_index_skips_most_rules_on_a_short_sms():
    from bot.assess.engine import _rule_index, _Scanner
    from bot.assess.normalize import normalise
    from bot.assess.rules import get_rules

    rules = get_rules()
    total = len(_rule_index(rules).rules)
    run = [len(_Scanner(rules, normalise(r["text"]).text).candidates()) for r in CORPUS]
    # a typical SMS can start a match of only a few rules: the index must not send it through most of them
    assert sum(run) / len(run) < total / 4, (sum(run) / len(run), total)


def test_every_court_voice_in_the_data_passes_its_cheap_gate():
    from bot.assess.normalize import normalise
    from bot.assess.rules import get_rules

    rules = get_rules()
    voice, gate = rules.contexts["court_voice"], rules.contexts["court_voice_gate"]
    for name in (
        "sms_corpus.jsonl",
        "sms_probes.jsonl",
        "sms_voices5.jsonl",
        "sms_voices7.jsonl",
        "sms_voices8.jsonl",
        "sms_voices9.jsonl",
    ):
        for r in load(name):
            for m in voice.finditer(normalise(r["text"]).text):
                assert gate.search(m.group()), (name, r["id"], m.group())
