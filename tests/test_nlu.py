"""The real Rasa model understands frightened borrowers in Simplified, Traditional and English."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.evaluate import REPORTED_BLIND, REPORTED_CRISIS, Report, acted_on, load_examples, score_acted
from bot.nlu import InProcessParser, prepare

# The targets on the reported blind set and the reported blind crisis set (written by people who never saw
# the data; never trained on; bench/bench_nlu.py prints the figures).
BLIND_MACRO_F1_TARGET = 0.95
BLIND_RECALL_TARGET = 0.90
BLIND_SCRIPT_GAP_MAX = 0.03
OFF_TOPIC_MAX = 0.01
FULL_FALSE_ALARM_GUARD = 13 / 100
"""Hard non-crisis messages of the reported crisis set that get only the crisis reply (no answer): no target (a
false alarm costs a kind sentence), measured 13 of 100; a guard so that it does not grow unnoticed."""


def _decider(parser: InProcessParser) -> Callable[[str], tuple[str, str | None]]:
    """What the bot acts on, for this parser."""
    return acted_on(parser.parse_sync, parser.threshold)


@pytest.fixture(scope="module")
def blind_report(parser: InProcessParser) -> Report:
    return score_acted(load_examples(REPORTED_BLIND), _decider(parser))


@pytest.fixture(scope="module")
def dev_report(parser: InProcessParser) -> Report:
    return score_acted(load_examples(), _decider(parser))


def test_the_blind_set_macro_f1_meets_the_target(blind_report: Report) -> None:
    assert blind_report.macro_f1 >= BLIND_MACRO_F1_TARGET, f"macro-F1 {blind_report.macro_f1:.3f}"


def test_every_intent_and_every_crisis_message_of_the_blind_set_is_recalled(blind_report: Report) -> None:
    missed = {(text, gold) for text, gold, _, _ in blind_report.errors}
    blind = load_examples(REPORTED_BLIND)
    for intent in {e.intent for e in blind}:
        of_intent = [e for e in blind if e.intent == intent]
        recall = sum((e.text, intent) not in missed for e in of_intent) / len(of_intent)
        assert recall >= BLIND_RECALL_TARGET, f"{intent} recall {recall:.2f}"
    assert blind_report.crisis_recall == 1.0, f"crisis recall {blind_report.crisis_recall:.3f}"


def test_the_scripts_are_understood_alike_on_the_blind_set(blind_report: Report) -> None:
    acc = blind_report.accuracy_by_script
    assert max(acc.values()) - min(acc.values()) <= BLIND_SCRIPT_GAP_MAX, acc


def test_on_topic_blind_messages_rarely_get_the_off_topic_answer(parser: InProcessParser) -> None:
    from bot.understand import decide

    in_domain = [e for e in load_examples(REPORTED_BLIND) if e.intent != "out_of_scope"]
    off = [
        e.text
        for e in in_domain
        if decide(parser.parse_sync(e.text), e.text, parser.threshold).action in ("out_of_scope", "lending")
    ]
    assert len(off) / len(in_domain) <= OFF_TOPIC_MAX, f"{len(off)} of {len(in_domain)}"  # texts unread: blind


def test_the_crisis_reply_comes_for_every_message_of_the_blind_crisis_set(parser: InProcessParser) -> None:
    decide_on = _decider(parser)
    crisis = [e.text for e in load_examples(REPORTED_CRISIS) if e.intent == "crisis"]
    shown = sum(decide_on(t)[0] == "crisis" for t in crisis)
    assert shown == len(crisis), f"{shown} of {len(crisis)}"  # texts unread: blind


def test_hard_non_crisis_messages_rarely_get_only_the_crisis_reply(parser: InProcessParser) -> None:
    from bot.understand import decide

    others = [e.text for e in load_examples(REPORTED_CRISIS) if e.intent != "crisis"]
    full = sum(decide(parser.parse_sync(t), t, parser.threshold).action == "crisis" for t in others)
    assert full / len(others) <= FULL_FALSE_ALARM_GUARD, f"{full} of {len(others)}"


def test_no_crisis_message_in_the_dev_set_is_missed(dev_report: Report) -> None:
    missed = [e for e in dev_report.errors if e[1] == "crisis"]
    assert dev_report.crisis_recall == 1.0, missed


def test_the_direct_pipeline_answers_exactly_as_rasas_graph_runner_on_the_dev_set(parser: InProcessParser) -> None:
    graph = parser._agent
    assert graph is not None and graph.direct is not None  # the project's pipeline takes the direct path
    texts = [prepare(e.text, parser.max_chars).text for e in load_examples()]
    texts += ["/greet", '/know_rights{"platform": "借呗"}', "打12378投诉借呗和360借条", "ok", "？？好"]
    kept = ("text", "intent", "intent_ranking", "entities")
    differ = []
    for text in filter(None, texts):
        direct, runner = graph.direct.parse(text), graph.run_graph(text)
        assert direct is not None, text  # every one of them has tokens
        if {k: direct.get(k) for k in kept} != {k: runner.get(k) for k in kept} or direct.keys() != runner.keys():
            differ.append((text, direct, runner))
    assert not differ, differ[:3]  # same intent, the same confidences to the last bit, same ranking and entities


def test_the_dev_set_covers_every_intent_in_every_script() -> None:
    examples = load_examples()
    assert {e.script for e in examples} == {"zh-Hans", "zh-Hant", "en"}
    assert len({e.intent for e in examples}) == 14


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我該怎麼投訴", "report_complaint"),
        ("他们说我不还钱就要坐牢，是真的吗", "false_threat"),
        ("催收已经打电话给我妈和我领导了", "contacts_harassed"),
        ("我撑不下去了，不想活了", "crisis"),
        ("有人在砸我家的门", "crisis"),
        ("how do I keep evidence of their calls", "gather_evidence"),
    ],
)
def test_typical_messages_reach_their_flow(parser: InProcessParser, text: str, intent: str) -> None:
    assert parser.parse_sync(text).intent == intent


def test_traditional_and_simplified_get_the_same_answer(parser: InProcessParser) -> None:
    a = parser.parse_sync("錢實在還不上了，能不能跟平台協商分期")
    b = parser.parse_sync("钱实在还不上了，能不能跟平台协商分期")
    assert a.intent == b.intent == "repayment_plan"
    assert a.confidence == pytest.approx(b.confidence)


def test_a_lending_platform_is_extracted(parser: InProcessParser) -> None:
    p = parser.parse_sync("借呗的催收天天打电话骚扰我")
    assert ("platform", "借呗") in {(e.entity, e.value) for e in p.entities}


def test_the_crisis_safeguard_overrides_the_model(parser: InProcessParser) -> None:
    p = parser.parse_sync("帮我看看这条短信：【某平台】您已逾期。另外我真的想自杀")
    assert p.intent == "crisis" and p.confidence == 1.0
    assert any("safeguard" in n for n in p.notes)


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        ("", "empty message"),
        ("   \n\t ", "empty message"),
        ("😭😭😭", "no words"),
        ("\x00\x01\x02", "empty message"),
        ("12345 !!!", "no words"),
    ],
)
def test_input_without_words_is_out_of_scope_and_says_why(raw: str, note: str) -> None:
    answer = prepare(raw, 2000).answer
    assert answer is not None and answer.intent == "out_of_scope"
    assert any(note in n for n in answer.notes)


def test_a_100kb_paste_is_cut_and_still_classified(parser: InProcessParser) -> None:
    p = parser.parse_sync("他们天天打电话威胁我" * 10_000)
    assert p.intent in {
        "assess_sms",
        "stay_calm",
        "false_threat",
        "know_rights",
        "report_complaint",
        "contacts_harassed",
        "out_of_scope",
    }
    assert any("cut" in n for n in p.notes)


def test_jsonl_batch_keeps_order_and_reports_bad_lines() -> None:
    lines = [
        json.dumps({"text": "我該怎麼投訴"}, ensure_ascii=False),
        "this is not json",
        json.dumps({"txt": "missing field"}),
        json.dumps({"text": 42}),
        json.dumps({"text": ""}),
        json.dumps({"text": "\udcff\x00binary\x07junk"}),
        json.dumps({"text": "谢谢你", "id": 7}, ensure_ascii=False),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "nlu", "--jsonl"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["intent"] == "report_complaint"
    assert "error" in out[1] and "error" in out[2] and "error" in out[3]
    assert out[4]["intent"] == "out_of_scope" and "empty message" in out[4]["notes"]
    assert out[5]["intent"] == "out_of_scope"
    assert out[6] == {**out[6], "id": 7, "intent": "thanks"}


def test_the_loaded_model_is_kept_out_of_garbage_collection(parser: InProcessParser) -> None:
    # A full collection over Rasa's ~400,000 objects stops every thread for ~0.6 s on the test machine;
    # frozen after loading, they are never walked again, so no user waits for one.
    import gc

    assert parser.ready
    assert gc.get_freeze_count() > 100_000


# ── the http backend against a real `rasa run --enable-api` ────────────────────────────────────────────────
def _rasa_run(port: int, token: str, log: Path) -> subprocess.Popen[bytes]:
    """The stock Rasa server on 127.0.0.1 with an auth token, on the project's trained model."""
    from bot.train import rasa_env, rasa_server_command

    cmd = rasa_server_command(ROOT / "rasa_project" / "models" / "nlu.tar.gz", port, token)
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT / "rasa_project", env=rasa_env(), stdout=out, stderr=subprocess.STDOUT)


def _wait_parses(server: subprocess.Popen[bytes], url: str, token: str, log: Path, timeout: float = 240) -> None:
    """Wait until the server classifies a sentence for a client with the token."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"rasa run exited:\n{log.read_text(errors='replace')[-3000:]}"
        try:
            if (
                httpx.post(f"{url}/model/parse", params={"token": token}, json={"text": "你好"}, timeout=10).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"rasa run did not answer:\n{log.read_text(errors='replace')[-3000:]}")


def test_the_bot_answers_through_a_remote_rasa_server_keeps_answering_without_it_and_recovers(
    parser: InProcessParser, tmp_path: Path
) -> None:
    import itertools
    import signal

    import httpx
    from cryptography.fernet import Fernet

    from bot.dialogue import content
    from tests._workers import SMS, Worker, free_port, post
    from tests.fake_bot_api import FakeBotApi

    port, token = free_port(), "nlu-test-token"
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "rasa.log"
    jail = content.t("zh-Hans", "false_threat.jail").splitlines()[0]
    not_ready = content.t("zh-Hans", "common.not_ready")
    ids = itertools.count(1)
    chat = 770_001
    server: subprocess.Popen[bytes] | None = None
    with FakeBotApi() as fake:
        worker = Worker(
            tmp_path,
            "nlu",
            f"http://127.0.0.1:{fake.port}",
            f"sqlite:///{tmp_path / 'bot.sqlite3'}",
            Fernet.generate_key().decode(),
            url,
            extra_env={"RASA_TOKEN": token},
        ).start()

        def say(update: dict) -> list[str]:
            """Deliver one update; the texts the bot sent back for it."""
            import asyncio

            import aiohttp

            async def one() -> int:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                    return await post(session, lambda: worker.url, {"update_id": next(ids), **update}, retry_s=0)

            before = len(fake.calls_of("sendMessage", chat))
            assert asyncio.run(one()) == 200
            return [c.text for c in fake.calls_of("sendMessage", chat)[before:]]

        def without_the_model() -> None:
            """Everything that needs no model still works, and free text gets a kind 'not ready'."""
            assert any("/help — " in t for t in say(fake.text_update(chat, "/help")))
            assert content.t("zh-Hans", "common.menu") in say(fake.callback_update(chat, "menu"))
            assert content.t("zh-Hans", "crisis.start").splitlines()[0] in "\n".join(
                say(fake.text_update(chat, "我不想活了"))
            )
            assert any("风险：" in t for t in say(fake.forwarded_update(chat, SMS)))
            assert not_ready in say(fake.text_update(chat, "他们说我再不还钱就要坐牢，是真的吗"))

        try:
            worker.wait_healthy()
            without_the_model()  # the NLU server is not there yet
            server = _rasa_run(port, token, log)
            loading = say(fake.text_update(chat, "他们说我再不还钱就要坐牢，是真的吗"))  # while it starts
            assert loading == [not_ready] or jail in "\n".join(loading)
            _wait_parses(server, url, token, log)
            assert httpx.post(f"{url}/model/parse", json={"text": "你好"}, timeout=10).status_code == 401
            assert jail in "\n".join(say(fake.text_update(chat, "他们说我再不还钱就要坐牢，是真的吗")))  # by itself
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            without_the_model()  # the NLU server went away
            assert worker.health().get("ok")
        finally:
            if server is not None and server.poll() is None:
                server.kill()
                server.wait()
            worker.kill()
