"""What the bot makes of the model's ranking: crisis first, no off-topic answer for domain words, ask when unsure."""

from __future__ import annotations

import pytest

from bot.nlu_types import REPORTED_NOTE, Parse
from bot.understand import crisis_kind, decide, digit_slang, domain_words, has_domain_word

THRESHOLD = 0.45


def _parse(*ranking: tuple[str, float], notes: tuple[str, ...] = ()) -> Parse:
    return Parse(ranking[0][0], ranking[0][1], (), tuple(ranking), "", notes)


@pytest.mark.parametrize(
    "text",
    [
        "爆通讯录",
        "欠信用卡不还会怎么样",
        "逾期三天了",
        "催收打电话",
        "卡債還不出來",
        "my loan app is harassing me",
        "cuishou zenme ban",
    ],
)
def test_collection_words_in_every_script_count_as_domain_words(text: str) -> None:
    assert has_domain_word(text), text


@pytest.mark.parametrize("text", ["今天天气怎么样", "tell me a joke", "推荐个口子", "who won the game"])
def test_everyday_and_borrowing_talk_has_no_domain_word(text: str) -> None:
    assert domain_words(text) == []


def test_the_safeguard_hit_is_crisis_whatever_else_the_model_says() -> None:
    d = decide(_parse(("crisis", 1.0), notes=("crisis safeguard (danger, dg_x)",)), "x", THRESHOLD)
    assert (d.action, d.crisis_source) == ("crisis", "lexicon")


def test_a_sign_only_in_a_collectors_words_gives_the_crisis_reply_and_answers_even_if_the_model_says_crisis() -> None:
    note = (f"{REPORTED_NOTE} (self_harm, sh_suicide_words)",)
    d = decide(_parse(("crisis", 0.97), ("report_complaint", 0.02), notes=note), "催收让我去死，能投诉吗", THRESHOLD)
    assert (d.action, d.crisis_source) == ("crisis_soft", "reported")
    assert d.then is not None and d.then.intent == "report_complaint"


def test_crisis_ranked_close_behind_the_top_gives_the_crisis_reply_then_the_answer() -> None:
    d = decide(_parse(("stay_calm", 0.5), ("crisis", 0.3), ("know_rights", 0.1)), "好累", THRESHOLD)
    assert d.action == "crisis_soft" and d.then is not None and d.then.intent == "stay_calm"


def test_a_confident_crisis_intent_is_a_full_crisis() -> None:
    assert decide(_parse(("crisis", 0.95), ("stay_calm", 0.03)), "x", THRESHOLD).action == "crisis"


def test_a_sure_crisis_intent_about_a_visit_that_is_over_gives_the_crisis_reply_and_still_answers() -> None:
    text = "上个星期他们来过一趟我家，后来没再来了，还会来吗"
    d = decide(_parse(("crisis", 0.95), ("false_threat", 0.04)), text, THRESHOLD)
    assert d.action == "crisis_soft" and d.then is not None and d.then.intent == "false_threat"


def test_a_less_sure_crisis_intent_gives_the_crisis_reply_and_still_answers() -> None:
    d = decide(_parse(("crisis", 0.7), ("thanks", 0.25)), "终于有人讲明白了", THRESHOLD)
    assert d.action == "crisis_soft" and d.then is not None and d.then.intent == "thanks"


def test_a_domain_word_turns_off_topic_into_did_you_mean() -> None:
    d = decide(_parse(("out_of_scope", 0.5), ("contacts_harassed", 0.3), ("know_rights", 0.1)), "爆通讯录", THRESHOLD)
    assert d.action == "clarify" and d.guesses[:2] == ("contacts_harassed", "know_rights")


def test_without_a_domain_word_off_topic_stays_off_topic() -> None:
    d = decide(_parse(("out_of_scope", 0.6), ("stay_calm", 0.1)), "今天天气怎么样", THRESHOLD)
    assert d.action == "out_of_scope"


def test_a_sure_off_topic_money_request_gets_its_own_answer() -> None:
    d = decide(_parse(("out_of_scope", 0.95), ("repayment_plan", 0.02)), "哪里能办贷款", THRESHOLD)
    assert (d.action, d.intent) == ("lending", "out_of_scope")


def test_two_flows_neck_and_neck_are_asked_about() -> None:
    d = decide(_parse(("contacts_harassed", 0.49), ("know_rights", 0.43), ("stay_calm", 0.02)), "rights?", THRESHOLD)
    assert d.action == "clarify" and d.guesses[:2] == ("contacts_harassed", "know_rights")


def test_a_clear_winner_is_answered() -> None:
    d = decide(_parse(("report_complaint", 0.9), ("know_rights", 0.05)), "怎么投诉", THRESHOLD)
    assert (d.action, d.intent) == ("intent", "report_complaint")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("they're coming to my house tonight", "danger"),
        ("催收的人在楼下等我", "danger"),
        ("我不想再撑了", "self_harm"),
        ("i feel like disappearing", "self_harm"),
    ],
)
def test_a_model_crisis_gets_the_danger_reply_when_the_words_point_to_danger(text: str, kind: str) -> None:
    assert crisis_kind(text) == kind


def test_a_short_thanks_the_model_is_unsure_of_is_still_answered_as_thanks() -> None:
    d = decide(_parse(("thanks", 0.35), ("greet", 0.18), ("goodbye", 0.16)), "tysm", THRESHOLD)
    assert (d.action, d.intent) == ("intent", "thanks")


def test_a_long_message_weakly_ranked_as_a_greeting_is_not_answered_with_hello() -> None:
    text = "你觉得明天会下雨吗，我想去公园走走看看花"
    assert decide(_parse(("greet", 0.3), ("out_of_scope", 0.28)), text, THRESHOLD).action == "out_of_scope"


def test_a_greeting_below_the_small_talk_floor_is_not_guessed() -> None:
    assert decide(_parse(("greet", 0.2), ("out_of_scope", 0.19)), "qwerty", THRESHOLD).action == "out_of_scope"


@pytest.mark.parametrize(
    ("text", "intent"), [("88", "goodbye"), ("886", "goodbye"), ("８８", "goodbye"), ("880", None)]
)
def test_bye_bye_written_in_digits(text: str, intent: str | None) -> None:
    assert digit_slang(text) == intent


@pytest.mark.parametrize("text", ["貴利係咪犯法", "借大耳窿還唔到", "how to stop the harrasment"])
def test_loan_shark_words_and_common_misspellings_are_domain_words(text: str) -> None:
    assert has_domain_word(text), text


def test_a_sure_model_crisis_on_a_harmless_look_alike_still_shows_the_crisis_reply_and_then_answers() -> None:
    text = "门口有人按门铃，原来是快递，顺便问下怎么录音"
    d = decide(_parse(("crisis", 0.95), ("gather_evidence", 0.04)), text, THRESHOLD)
    assert d.action == "crisis_soft" and d.then is not None and d.then.intent == "gather_evidence"


def test_a_sure_model_crisis_without_a_look_alike_is_a_full_crisis() -> None:
    assert decide(_parse(("crisis", 0.95), ("gather_evidence", 0.04)), "门口有人", THRESHOLD).action == "crisis"
