"""The learned layer of the SMS assessment: deterministic, bounded, and only ever a "likely" addition."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bot.assess import CATEGORIES, assess, engine, learned
from bot.assess.learned import Classifier, get_classifier
from bot.assess.model import risk_for
from bot.assess.normalize import normalise


def test_training_is_deterministic_and_covers_every_category():
    a = learned.train()
    b = learned.train()
    assert a.vocab == b.vocab and np.array_equal(a.coef, b.coef) and np.array_equal(a.bias, b.bias)
    assert a.coef.shape == (len(a.vocab), len(CATEGORIES) + 1) and a.n_train >= 1000  # categories, then the head
    assert np.count_nonzero(a.coef, axis=0).min() > 0  # every category and the head learned something


def test_cached_weights_give_the_same_scores_as_fresh_training(tmp_path):
    fresh = learned.train()
    path = tmp_path / "w.npz"
    learned._save(fresh, path)
    loaded = learned._load(path)
    text = normalise("你个老赖，明天就去你公司门口拉横幅").text
    assert np.allclose(fresh.scores(text), loaded.scores(text))


def test_the_classifier_separates_crude_abuse_from_a_lawful_reminder():
    clf = get_classifier()
    assert clf is not None
    k = CATEGORIES.index("insult_or_intimidation")
    abuse = clf.scores(normalise("垃圾东西，借钱不还，你这种人不得好死").text)[k]
    lawful = clf.scores(normalise("您的借款已逾期3天，请登录APP还款，如已还款请忽略").text)[k]
    assert abuse > 0.5 > lawful


class _Stub(Classifier):
    """A classifier that calls every sentence mentioning 月亮 insulting (to test the combination)."""

    def __init__(self) -> None:
        super().__init__({}, np.zeros(0), np.zeros((0, len(CATEGORIES))), np.zeros(len(CATEGORIES)))

    def scores(self, text: str) -> np.ndarray:
        p = np.zeros(len(CATEGORIES))
        if "月亮" in text:
            p[CATEGORIES.index("insult_or_intimidation")] = 0.9
            p[CATEGORIES.index("false_legal_threat")] = 0.9
        return p


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(engine, "get_classifier", lambda: _Stub())


def test_a_model_false_legal_threat_needs_a_sentence_that_names_something_legal(stub):
    a = assess("您好，请尽快还款。你就像月亮一样躲着我们！")
    assert [f.category for f in a.findings if f.source == "model"] == ["insult_or_intimidation"]


def test_where_only_the_model_fires_the_finding_quotes_its_sentence_and_says_likely(stub):
    text = "您好，请尽快还款。你就像月亮一样躲着律师！"
    a = assess(text)
    model = [f for f in a.findings if f.source == "model"]
    assert {f.category for f in model} == {"insult_or_intimidation", "false_legal_threat"}
    for f in model:
        assert f.text == "你就像月亮一样躲着律师" and text[f.start : f.end] == f.text
        assert "可能" in f.explanation and "不确定" in f.explanation and f.score == pytest.approx(0.9)
        assert f.to_dict()["source"] == "model"
    assert a.risk == "high"


def test_the_model_never_removes_a_rule_finding_nor_repeats_its_category(stub):
    a = assess("你个老赖，你就像月亮一样。")
    ins = [f for f in a.findings if f.category == "insult_or_intimidation"]
    assert [f.source for f in ins] == ["rule"] and ins[0].text == "老赖"


def test_the_model_cannot_turn_a_genuine_court_notice_into_a_false_threat(stub):
    a = assess("【XX区人民法院】（2025）京0105民初1234号案件已立案，月亮法庭开庭，详询当地区号+12368。")
    assert a.verify and not {"false_legal_threat", "impersonation"} & set(a.categories)


def test_the_model_stays_quiet_on_a_bare_link_or_symbols(stub):
    for text in ("https://t.cn/月亮", "😀😡"):
        assert assess(text).risk == "low"


def test_a_company_named_as_payee_gets_no_model_scam_finding(stub_scam):
    a = assess("线下还款请汇入对公账户，户名：某某消费金融有限公司，账号 6222 0000 1111 2222。")
    assert "scam_payment" not in a.categories
    assert "scam_payment" in assess("线下还款请汇入这个账号 6222 0000 1111 2222。").categories


class _ScamStub(Classifier):
    """A classifier that calls every message a scam (to test where the model may add scam_payment)."""

    def __init__(self) -> None:
        super().__init__({}, np.zeros(0), np.zeros((0, len(CATEGORIES))), np.zeros(len(CATEGORIES)))

    def scores(self, text: str) -> np.ndarray:
        p = np.zeros(len(CATEGORIES))
        p[CATEGORIES.index("scam_payment")] = 0.95
        return p


@pytest.fixture
def stub_scam(monkeypatch):
    monkeypatch.setattr(engine, "get_classifier", lambda: _ScamStub())


def test_the_model_does_not_count_a_lawful_phrase_either(stub):
    assert assess("如遇月亮般的人暴力催收，请报警。").risk == "low"
    a = assess("你就像月亮一样躲着我们！如遇暴力催收，请报警。")
    assert "insult_or_intimidation" in a.categories


def test_the_learned_layer_trains_on_spent_blind_sets_only_never_the_judged_one_a_frozen_one_or_the_held_out_split():
    from bot.assess.datasets import JUDGED_SMS_SET, SPENT_SMS_SETS

    blind = {name for name in learned.TRAIN_FILES if "blind" in name.lower()}
    assert blind == {p.name for p in SPENT_SMS_SETS}
    assert JUDGED_SMS_SET.name not in learned.TRAIN_FILES
    frozen = {p.name for p in learned.DATA_DIR.glob("sms_blind*.jsonl")} - blind - {JUDGED_SMS_SET.name}
    assert frozen and not frozen & set(learned.TRAIN_FILES)
    rows = learned._rows(learned.DATA_DIR)
    assert all(r.get("split", "tune") == "tune" for r in rows)


class _LowStub(Classifier):
    """A classifier unsure about every message: insult 0.55 (below the threshold, above the fallback), others 0.1."""

    def __init__(self) -> None:
        super().__init__({}, np.zeros(0), np.zeros((0, len(CATEGORIES))), np.zeros(len(CATEGORIES)))

    def scores(self, text: str) -> np.ndarray:
        p = np.full(len(CATEGORIES), 0.1)
        p[CATEGORIES.index("insult_or_intimidation")] = 0.55
        return p


@pytest.fixture
def stub_low(monkeypatch):
    monkeypatch.setattr(engine, "get_classifier", lambda: _LowStub())


def test_an_sms_nothing_else_flags_gets_the_likeliest_high_risk_category_rather_than_low(stub_low):
    assert engine.MODEL_FALLBACK <= 0.55 < engine.MODEL_THRESHOLD
    a = assess("你欠的不只是钱。好好想想你家里人。")
    assert a.risk == "high" and a.categories == ["insult_or_intimidation"]
    (f,) = a.findings
    assert f.source == "model" and "不确定" in f.explanation


def test_the_fallback_stays_out_of_lawful_reminders_court_notices_and_messages_already_flagged(stub_low):
    assert assess("您的借款已逾期3天，逾期将依法上报征信，请及时还款。").risk == "low"
    court = assess("【某某区人民法院】（2025）某0102民初123号案件已立案，请按时到庭。详询当地区号+12368。")
    assert court.verify and court.risk == "low"
    a = assess("再不还钱就通知你全家。")
    assert "insult_or_intimidation" not in a.categories and a.categories


def test_every_independent_writers_file_is_trained_on_parses_and_follows_the_risk_rule():
    files = sorted(learned.DATA_DIR.glob("sms_voices*.jsonl"))
    assert len(files) >= 5
    for path in files:
        assert path.name in learned.TRAIN_FILES, f"{path.name} is not in TRAIN_FILES"
        ids: set[str] = set()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            where = f"{path.name}:{n}"
            assert r["id"] not in ids and set(r["categories"]) <= set(CATEGORIES), where
            assert r["risk"] == risk_for(r["categories"]), where
            if r.get("kind") in ("lawful", "court_genuine"):
                assert r["categories"] == [], where
            if r.get("kind") == "authority_fake":
                assert "impersonation" in r["categories"], where
            ids.add(r["id"])


class _UnsureHeadStub(_LowStub):
    """Like _LowStub, but its "abusive or not" head (the score after the categories) says probably not."""

    def scores(self, text: str) -> np.ndarray:
        return np.append(super().scores(text), 0.2)


def test_the_fallback_needs_the_abusive_head_to_agree(monkeypatch):
    monkeypatch.setattr(engine, "get_classifier", lambda: _UnsureHeadStub())
    assert engine.MODEL_HEAD > 0.2
    assert assess("你欠的不只是钱。好好想想你家里人。").risk == "low"


def test_ngrams_are_every_run_of_each_size_in_the_lowered_text():
    for text, sizes in (("", (1, 2, 3)), ("ab", (1, 2, 3)), ("你好  World！", (1, 2, 3)), ("【法院】请到庭", (2, 4))):
        s = re.sub(r"\s+", " ", text.lower())
        expected = [s[i : i + n] for n in sizes for i in range(len(s) - n + 1)]
        assert sorted(learned.ngrams(text, sizes)) == sorted(expected)
