"""The dialogue core, as a user meets it: conversations replayed from tests/conversations/*.yml with the real
Rasa model, plus behaviour tests (crisis first, restarts, bad input, every button leads somewhere).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from bot.config import LOCALES, Config
from bot.dialogue import Dialogue, content
from bot.dialogue.answers import normalise, read_amount
from bot.dialogue.commands import COMMANDS, MAX_DESCRIPTION_CHARS, command_menu, parse_command
from bot.dialogue.core import SENT_FLUSH_S
from bot.dialogue.flows import book
from bot.dialogue.locale import choose_locale, detect_script, from_hint
from bot.dialogue.sms import sms_signal, speaks_in_first_person
from bot.dialogue.state import State
from bot.dialogue.turn import MAX_TEXT_CHARS
from bot.dialogue.types import Incoming, Reply
from bot.nlu_types import Parse
from bot.store import BaseStore, RepliesInFlight, Store
from tests._dialogue import make_dialogue, text_ocr, words_in_logs
from tests._fake_parser import FakeParser
from tests.conftest import StoreFactory

CONVERSATIONS = Path(__file__).parent / "conversations"
TYPED_PREFIX = "typed_"
KNOWN_FAILURES = CONVERSATIONS / "known_failures.yaml"
"""Conversations written blind, as people type them: no reply may be a generic fallback."""
FALLBACK_KEYS = ("common.out_of_scope", "answers.choice", "common.error", "understand.no_words")


def build_dialogue(cfg: Config, parser: Any, store: Store, ocr: bool = True) -> Dialogue:
    """Wire the dialogue core through bot/app.py, with the test screenshot reader (or none)."""
    return make_dialogue(cfg, parser, store, ocr=text_ocr if ocr else None)


@dataclass
class Chat:
    """One user talking to the bot through a store that can be closed and reopened (a restart), on either engine."""

    cfg: Config
    parser: Any
    open_store: StoreFactory
    key: bytes
    ocr: bool = True
    user: str = "u1"
    store: BaseStore = field(init=False)
    dialogue: Dialogue = field(init=False)
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        self.store = self.open_store(self.key)
        self.dialogue = build_dialogue(self.cfg, self.parser, self.store, self.ocr)

    def restart(self) -> None:
        self.store.close()
        self.open()

    async def send(self, **kwargs: Any) -> list[Reply]:
        with content.trace() as keys:
            replies = await self.dialogue.handle(Incoming(self.user, **kwargs))
        self.keys = keys
        return replies

    def say(self, text: str, **kwargs: Any) -> list[Reply]:
        return asyncio.run(self.send(text=text, **kwargs))

    def press(self, option_id: str) -> list[Reply]:
        return asyncio.run(self.send(option_id=option_id))

    def send_image(self, shows: str) -> list[Reply]:
        """Send a screenshot that the test screenshot reader reads as `shows`."""
        return asyncio.run(self.send(image=shows.encode("utf-8")))

    @property
    def state(self) -> dict[str, Any]:
        return self.store.get_state(self.user)


def to_the_amount_question(chat: Chat, creditor: str = "某银行", kind: str = "rp:kind:bank") -> None:
    """Start a repayment plan and answer who the creditor is and what kind: the plan then asks the amount."""
    chat.press("flow:plan")
    chat.press("rp:begin")
    chat.say(creditor)
    chat.press(kind)
    assert chat.state["step"] == "amount"


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def chat(cfg: Config, parser: Any, open_store: StoreFactory, key: bytes) -> Chat:
    """A chat with the real Rasa model."""
    return Chat(cfg, parser, open_store, key)


@pytest.fixture
def fake_chat(cfg: Config, open_store: StoreFactory, key: bytes) -> Chat:
    """A chat with the keyword stand-in parser (mechanics only, no model needed)."""
    return Chat(cfg, FakeParser(), open_store, key)


# -- conversations as data -----------------------------------------------------------------------------


def _load_conversations() -> list[Any]:
    known = yaml.safe_load(KNOWN_FAILURES.read_text(encoding="utf-8"))["known_failures"]
    cases = []
    for path in sorted(CONVERSATIONS.glob("*.yml")):
        if path == KNOWN_FAILURES:
            continue
        for conv in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]:
            conv["typed"] = path.stem.startswith(TYPED_PREFIX)
            name = f"{path.stem}: {conv['name']}"
            marks = [pytest.mark.xfail(strict=True, reason="known failure")] if name in known else []
            cases.append(pytest.param(conv, id=name, marks=marks))
    return cases


def test_known_failures_name_existing_conversations() -> None:
    """Every listed known failure is a conversation that exists (a renamed one cannot hide)."""
    known = yaml.safe_load(KNOWN_FAILURES.read_text(encoding="utf-8"))["known_failures"]
    names = {
        f"{path.stem}: {conv['name']}"
        for path in CONVERSATIONS.glob(f"{TYPED_PREFIX}*.yml")
        for conv in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]
    }
    assert set(known) <= names, set(known) - names


def _path(state: dict[str, Any], dotted: str) -> Any:
    value: Any = state
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _check(chat: Chat, replies: list[Reply], expect: dict[str, Any], where: str) -> None:
    state = chat.state
    texts = "\n".join(r.text for r in replies)
    options = [o.id for r in replies for o in r.options]
    locale = state.get("locale") or "zh-Hans"
    assert replies and all(r.text.strip() for r in replies), f"{where}: empty reply"
    for name, want in expect.items():
        if name == "flow":
            assert state.get("topic") == want, f"{where}: topic {state.get('topic')!r}, keys {chat.keys}"
        elif name == "step":
            assert state.get("step") == want, f"{where}: step {state.get('step')!r}, keys {chat.keys}"
        elif name == "locale":
            assert locale == want, f"{where}: locale {locale!r}"
        elif name == "keys_include":
            missing = [k for k in want if k not in chat.keys]
            assert not missing, f"{where}: keys {missing} not used; used {chat.keys}"
        elif name == "keys_exclude":
            present = [k for k in want if k in chat.keys]
            assert not present, f"{where}: keys {present} used"
        elif name == "first_key":
            first_line = content.texts(locale)[want].splitlines()[0]  # raw: placeholders are filled later
            assert replies[0].text.startswith(first_line), f"{where}: first reply is {replies[0].text[:80]!r}"
        elif name == "options_include":
            missing = [o for o in want if o not in options]
            assert not missing, f"{where}: buttons {missing} missing from {options}"
        elif name == "options_exclude":
            present = [o for o in want if o in options]
            assert not present, f"{where}: buttons {present} offered"
        elif name == "text_includes":
            missing = [s for s in want if s not in texts]
            assert not missing, f"{where}: {missing} not in {texts[:400]!r}"
        elif name == "text_excludes":
            present = [s for s in want if s in texts]
            assert not present, f"{where}: {present} in {texts[:400]!r}"
        elif name == "replies":
            assert len(replies) == want, f"{where}: {len(replies)} replies"
        elif name == "attachments":
            names = [a.filename for r in replies for a in r.attachments]
            assert len(names) == len(want), names
            assert all(n.startswith(p) for n, p in zip(names, want, strict=True)), names
        elif name == "evidence":
            assert len(chat.store.list_evidence(chat.user)) == want, where
        elif name == "state":
            for dotted, value in want.items():
                assert _path(state, dotted) == value, f"{where}: state {dotted} = {_path(state, dotted)!r}"
        elif name == "state_empty":
            assert (state == {}) is want, f"{where}: state {state}"
        else:
            raise AssertionError(f"{where}: unknown expectation {name!r}")


@pytest.mark.parametrize("conversation", _load_conversations())
def test_conversation(
    conversation: dict[str, Any], cfg: Config, parser: Any, open_store: StoreFactory, key: bytes
) -> None:
    chat = Chat(cfg, parser, open_store, key, ocr=conversation.get("ocr", True))
    for no, turn in enumerate(conversation["turns"], start=1):
        where = f"turn {no} {({k: v for k, v in turn.items() if k != 'expect'})}"
        if turn.get("restart"):
            chat.restart()
            continue
        kwargs: dict[str, Any] = {}
        if "at" in turn:
            kwargs["received_at"] = datetime.fromisoformat(turn["at"])
        if "hint" in turn:
            kwargs["locale_hint"] = turn["hint"]
        if "press" in turn:
            kwargs["option_id"] = turn["press"]
        elif "forward" in turn:
            kwargs.update(text=turn["forward"], forwarded=True)
        elif "image" in turn:
            kwargs["image"] = turn["image"].encode("utf-8")
        else:
            kwargs["text"] = turn["user"]
        replies = asyncio.run(chat.send(**kwargs))
        assert replies, f"{where}: no reply"
        assert replies[-1].options, f"{where}: the reply ends without buttons (a dead end)"
        expect = turn.get("expect") or {}
        _check(chat, replies, expect, where)
        if conversation["typed"] and expect.get("flow") != "out_of_scope" and "user" in turn:
            fallback = [k for k in chat.keys if k in FALLBACK_KEYS]
            assert not fallback, f"{where}: answered with the generic fallback {fallback}"
    chat.store.close()


def test_conversations_cover_every_flow_in_every_locale() -> None:
    seen: dict[str, set[str]] = {}
    for path in CONVERSATIONS.glob("*.yml"):
        for conv in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]:
            for turn in conv["turns"]:
                exp = turn.get("expect") or {}
                if "flow" in exp and "locale" in exp:
                    seen.setdefault(exp["flow"], set()).add(exp["locale"])
    flows = [f for f in book().flows if f != "check"] + ["check", "greet", "out_of_scope"]
    missing = {f: sorted(set(LOCALES) - seen.get(f, set())) for f in flows if set(LOCALES) - seen.get(f, set())}
    assert not missing, f"flows without a conversation test in some locale: {missing}"


# -- crisis, restarts, bad input -------------------------------------------------------------------------


def test_crisis_mid_flow_is_the_first_reply_and_nothing_is_lost(fake_chat: Chat) -> None:
    to_the_amount_question(fake_chat, "工商银行")
    replies = fake_chat.say("我不想活了")
    assert replies[0].text.startswith(content.t("zh-Hans", "crisis.start").splitlines()[0])
    assert "12356" in replies[0].text
    assert fake_chat.state["paused"] == {"flow": "repayment_plan", "step": "amount"}
    replies = fake_chat.press("resume")
    assert fake_chat.state["step"] == "amount"
    assert "工商银行" in replies[-1].text


def test_crisis_is_caught_even_while_the_model_is_loading(cfg: Config, open_store: StoreFactory, key: bytes) -> None:
    chat = Chat(cfg, FakeParser(ready=False), open_store, key)
    replies = chat.say("我不想活了")
    assert replies[0].text.startswith(content.t("zh-Hans", "crisis.start").splitlines()[0])


def test_while_the_model_loads_buttons_commands_and_sms_still_work(
    cfg: Config, open_store: StoreFactory, key: bytes
) -> None:
    parser = FakeParser(ready=False)
    chat = Chat(cfg, parser, open_store, key)
    replies = chat.say("我想做个还款计划")
    assert chat.keys == ["common.not_ready", *[f"buttons.{o}" for o in book().menu]]
    assert [o.id for o in replies[-1].options] == list(book().menu)
    chat.press("flow:plan")
    assert chat.state["topic"] == "repayment_plan"
    chat.say("/help")
    assert chat.state["topic"] == "help"
    chat.say("【XX】您已逾期，我们将联系您的家人，退订回T")
    assert chat.state["topic"] == "check"
    to_the_amount_question(chat)
    chat.say("5000")
    assert chat.state["step"] == "rate"
    assert parser.calls == 0


def test_a_failing_model_falls_back_instead_of_crashing(cfg: Config, open_store: StoreFactory, key: bytes) -> None:
    class Broken(FakeParser):
        async def parse(self, text: str, screened: bool = False) -> Parse:
            raise ConnectionError("rasa server down")

    chat = Chat(cfg, Broken(), open_store, key)
    replies = chat.say("我想投诉")
    assert "common.not_ready" in chat.keys and replies[-1].options


def test_restart_mid_flow_resumes_from_the_store(fake_chat: Chat) -> None:
    to_the_amount_question(fake_chat, "某App", "rp:kind:platform")
    fake_chat.restart()
    fake_chat.say("3000")
    assert fake_chat.state["step"] == "rate"
    assert fake_chat.state["data"]["repayment_plan"]["amount"] == "3000.00"


def test_a_100_kb_paste_is_answered_quickly_within_message_limits(fake_chat: Chat) -> None:
    paste = ("您的借款已逾期，欠款12000元，我们将联系您的家人。" * 4000)[:100_000]
    replies = fake_chat.say(paste)
    assert replies and all(0 < len(r.text) <= MAX_TEXT_CHARS for r in replies)
    assert fake_chat.state["topic"] == "check"
    assert "sms.truncated" in fake_chat.keys
    fake_chat.press("sms:save")
    assert len(fake_chat.store.list_evidence("u1")) == 1


def test_a_100_kb_paste_mid_question_is_a_kind_correction(fake_chat: Chat) -> None:
    to_the_amount_question(fake_chat)
    replies = fake_chat.say("1" * 100_000)
    assert fake_chat.state["step"] == "amount"
    assert "answers.amount.not_a_number" in fake_chat.keys
    assert all(len(r.text) <= MAX_TEXT_CHARS for r in replies)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_messages_get_a_kind_nudge(fake_chat: Chat, text: str) -> None:
    replies = fake_chat.say(text)
    assert "common.empty" in fake_chat.keys and replies[-1].options


def test_garbage_state_in_the_store_starts_fresh(fake_chat: Chat) -> None:
    fake_chat.store.put_state("u1", {"v": 1, "flow": 3, "step": ["x"], "data": "nope", "paused": {"flow": 1}})
    replies = fake_chat.say("你好")
    assert replies[-1].options
    fake_chat.store.put_state("u1", {"v": 1, "flow": "repayment_plan", "step": "no_such_step"})
    assert fake_chat.say("你好")[-1].options
    fake_chat.store.put_state("u1", {"v": 99})
    assert fake_chat.say("你好")[-1].options


def test_messages_from_one_user_are_handled_in_order(fake_chat: Chat) -> None:
    to_the_amount_question(fake_chat)

    async def burst() -> None:
        await asyncio.gather(*(fake_chat.send(text=t) for t in ("1000", "12%", "1", "2", "1")))

    asyncio.run(burst())
    state = fake_chat.state
    assert state["step"] == "creditor" and len(state["data"]["repayment_plan"]["debts"]) == 1


THREAT = "【XX金融】今晚带人去你家砸门，退订回T"
"""A forwarded SMS answered with two replies: the crisis reply first, then the assessment."""


class Died(BaseException):
    """The worker process vanished here: nothing after this point runs, not even clean-up."""


def deliver(chat: Chat, update_id: str, send: Any, take_over: bool = False, **kwargs: Any) -> list[Reply]:
    """Deliver one update with its platform id; the core sends its replies through send (then the channel stops)."""
    incoming = Incoming(chat.user, update_id=update_id, **kwargs)

    async def go() -> list[Reply]:
        try:
            return await chat.dialogue.handle(incoming, send, take_over=take_over)
        finally:
            await chat.dialogue.flush_sent()

    return asyncio.run(go())


def kept(store: BaseStore, update_key: str) -> bool:
    """Whether the outbox still holds replies of this update."""
    with store._read() as ex:
        return ex("SELECT 1 FROM outbox WHERE update_key = ?", (update_key,)).fetchone() is not None


def test_replies_committed_but_not_sent_when_the_worker_died_go_out_once_on_the_next_delivery(
    fake_chat: Chat,
) -> None:
    out: list[str] = []

    async def dies_after_the_first(reply: Reply) -> None:
        if out:
            raise Died
        out.append(reply.text)

    async def send(reply: Reply) -> None:
        out.append(reply.text)

    with pytest.raises(Died):
        deliver(fake_chat, "tg:1", dies_after_the_first, text=THREAT, forwarded=True)
    assert len(out) == 1 and fake_chat.state["topic"] == "check"  # committed; the assessment never went out
    with pytest.raises(RepliesInFlight):  # the dead worker's lease lasts: "deliver it again later"
        deliver(fake_chat, "tg:1", send)
    assert len(out) == 1
    assert [r.text for r in deliver(fake_chat, "tg:1", send, take_over=True)] == out[1:]  # after a restart
    assert len(out) == 2 and "风险：" in out[1]  # only the assessment that was missing: the turn did not run again
    assert deliver(fake_chat, "tg:1", send, take_over=True) == [] and len(out) == 2  # a third time: nothing


def test_a_reply_that_could_not_be_sent_goes_out_with_the_next_delivery(fake_chat: Chat) -> None:
    fake_chat.say("【XX】您已逾期，将通知您的家人，退订回T", forwarded=True)
    out: list[str] = []

    async def unreachable(reply: Reply) -> None:
        raise ConnectionError("the messaging API cannot be reached")

    async def send(reply: Reply) -> None:
        out.append(reply.text)

    with pytest.raises(ConnectionError):
        deliver(fake_chat, "tg:2", unreachable, option_id="sms:save")
    assert len(fake_chat.store.list_evidence("u1")) == 1  # the save was committed
    deliver(fake_chat, "tg:2", send)  # no lease to wait for: the failed send gave it up
    assert out == [content.t("zh-Hans", "sms.saved", count=1)]
    assert len(fake_chat.store.list_evidence("u1")) == 1  # the save did not run again
    assert not kept(fake_chat.store, "tg:2")  # sent replies are not kept


def test_replies_handed_over_together_count_as_sent_only_once_the_channel_has_delivered_them(
    fake_chat: Chat,
) -> None:
    fake_chat.say("【XX】您已逾期，将通知您的家人，退订回T", forwarded=True)
    handed: list[list[str]] = []

    async def conversation() -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send_all(replies: list[Reply]) -> None:
            handed.append([r.text for r in replies])
            await gate  # the channel is still delivering them

        save = Incoming(fake_chat.user, option_id="sms:save", update_id="wx:1")
        turn = asyncio.ensure_future(fake_chat.dialogue.handle(save, send_all=send_all, take_over=True))
        while not handed:
            await asyncio.sleep(0.01)
        await asyncio.sleep(SENT_FLUSH_S * 4)
        assert kept(fake_chat.store, "wx:1")  # committed, handed over, and still kept until delivered
        gate.set_result(None)
        assert [r.text for r in await turn] == handed[0] == [content.t("zh-Hans", "sms.saved", count=1)]
        await fake_chat.dialogue.flush_sent()

    asyncio.run(conversation())
    assert not kept(fake_chat.store, "wx:1")  # delivered: forgotten

    async def failing(replies: list[Reply]) -> None:
        raise ConnectionError("the delivery failed")

    out: list[str] = []

    async def send_all(replies: list[Reply]) -> None:
        out.extend(r.text for r in replies)

    fake_chat.say("【XX】您已逾期，将通知您的家人，退订回T", forwarded=True)
    again = Incoming(fake_chat.user, option_id="sms:save", update_id="wx:2")
    with pytest.raises(ConnectionError):
        asyncio.run(fake_chat.dialogue.handle(again, send_all=failing, take_over=True))
    asyncio.run(fake_chat.dialogue.handle(again, send_all=send_all, take_over=True))  # the re-delivery
    assert out == [content.t("zh-Hans", "sms.saved", count=2)]
    assert len(fake_chat.store.list_evidence("u1")) == 2  # the save did not run again


def test_the_outbox_forgets_replies_shortly_after_they_are_all_out(fake_chat: Chat) -> None:
    out: list[str] = []

    async def send(reply: Reply) -> None:
        out.append(reply.text)

    async def conversation() -> None:  # one running channel: nobody calls flush_sent
        for n, text in enumerate(("/start", "你好", "/help")):
            await fake_chat.dialogue.handle(Incoming(fake_chat.user, text=text, update_id=f"tg:{n}"), send)
        assert len(out) >= 3
        deadline = time.monotonic() + 10
        while any(kept(fake_chat.store, f"tg:{n}") for n in range(3)):
            assert time.monotonic() < deadline, "sent replies stayed in the outbox"
            await asyncio.sleep(0.02)

    asyncio.run(conversation())


def test_message_text_is_never_logged_on_the_real_model(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    secret = "张三欠招商银行12345元的秘密短信"
    with caplog.at_level(logging.DEBUG):
        chat.say(secret)
        chat.say(f"【XX】{secret}，退订回T")
        chat.press("sms:save")
        chat.press("flow:plan")
        chat.press("rp:begin")
        chat.say(secret)
        chat.say("张三说他们要去我单位闹")
    assert len(chat.store.list_evidence(chat.user)) == 1  # the texts really went through
    assert words_in_logs(caplog.records, [secret, "张三", "12345", "去我单位闹"]) == []


def test_an_internal_error_keeps_the_state_and_says_sorry(fake_chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_chat.press("flow:plan")
    fake_chat.press("rp:begin")
    before = fake_chat.state

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("bot.dialogue.core.advance", boom)
    replies = fake_chat.say("某银行")
    assert "common.error" in fake_chat.keys and replies[-1].options
    assert fake_chat.state == before


# -- every button leads somewhere ------------------------------------------------------------------------


def test_every_button_leads_somewhere_and_every_reply_ends_with_buttons(cfg: Config, tmp_path: Path) -> None:
    """Walk every button reachable from the menu (breadth first), each pressed from the state that offered it.

    Typed questions on the way are answered with a valid answer; a few starting points reach the buttons the
    menu does not lead to (crisis, privacy, a non-empty evidence log).
    """
    store = Store(tmp_path / "walk.sqlite3", Fernet.generate_key())
    dialogue = build_dialogue(cfg, FakeParser(), store)
    answers = {
        "text": "某某银行",
        "amount": "12000",
        "amount_or_zero": "3000",
        "rate": "18%",
        "sms": "【XX】您已逾期",
    }
    seeds: list[tuple[tuple[str, ...], str]] = [((), o) for o in book().menu]
    seeds += [
        (("say:我不想活了",), "crisis:talk"),
        (("say:我不想活了",), "crisis:safe"),
        (("flow:plan", "rp:begin", "say:我不想活了"), "resume"),
        (("say:/privacy",), "delete"),
        (
            ("flow:plan", "rp:begin", "rp:kind:bank", "rp:rate:unknown", "rp:court:no", "rp:secured:no", "flow:plan"),
            "rp:continue",
        ),
        (("say:【XX】您已逾期，将通知您的家人，退订回T", "sms:save", "ev:view"), "ev:export"),
    ]
    seen: set[str] = set()
    queue = list(seeds)
    users = 0

    async def act(user: str, step: str) -> list[Reply]:
        if step.startswith("say:"):
            replies = await dialogue.handle(Incoming(user, text=step[4:]))
        else:
            replies = await dialogue.handle(Incoming(user, option_id=step))
        for _ in range(6):  # answer typed questions until the flow offers its buttons
            state = store.get_state(user)
            flow = book().flows.get(state.get("flow") or "")
            node = flow.nodes.get(state.get("step") or "") if flow else None
            if node is None or not node.ask or node.choices:
                break
            replies = await dialogue.handle(Incoming(user, text=answers[node.ask]))
        return replies

    async def walk() -> None:
        nonlocal users
        while queue:
            path, option = queue.pop(0)
            if option in seen or option == "del:yes":
                continue
            seen.add(option)
            users += 1
            user = f"walker{users}"
            for step in path:
                await act(user, step)
            replies = await act(user, option)
            assert replies and all(r.text.strip() for r in replies), f"{path} → {option}: empty reply"
            assert replies[-1].options, f"{path} → {option}: no buttons (dead end)"
            queue.extend(((*path, option), o.id) for o in replies[-1].options if o.id not in seen)

    asyncio.run(walk())
    unreached = (
        book().option_ids() - seen - {"del:yes", "del:no", "lang:zh-Hans", "lang:zh-Hant", "lang:en", "lang:auto"}
    )
    assert not unreached, f"buttons never reached: {sorted(unreached)}"
    store.close()


def test_language_and_delete_buttons_answer(fake_chat: Chat) -> None:
    for option in ("lang:zh-Hant", "lang:en", "lang:auto", "lang:zh-Hans"):
        assert fake_chat.press(option)[-1].options
    assert fake_chat.say("/delete")[-1].options
    assert fake_chat.press("del:no")[-1].options


# -- commands --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_the_command_menu_fits_telegram(locale: str) -> None:
    menu = command_menu(locale)
    assert [name for name, _ in menu] == [c.name for c in COMMANDS]
    for name, description in menu:
        assert name.isascii() and name.islower() and len(name) <= 32
        assert 0 < len(description) <= MAX_DESCRIPTION_CHARS


def test_help_lists_every_command(fake_chat: Chat) -> None:
    text = fake_chat.say("/help")[0].text
    assert all(f"/{c.name}" in text for c in COMMANDS)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/start", ("start", "")),
        ("/start plan", ("start", "plan")),
        ("/help@CuishouBot", ("help", "")),
        ("/Check  ", ("check", "")),
        ("hello /start", None),
        ("/", None),
        ("//x", None),
    ],
)
def test_parse_command(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse_command(text) == parsed


# -- small parts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("还款计划", "zh-Hans"),
        ("我好害怕，睡不著覺", "zh-Hant"),
        ("還款計畫", "zh-Hant"),
        ("我好害怕", "zh"),
        ("I am scared", "en"),
        ("ok", None),
        ("12000", None),
        ("https://t.cn/abc 我", "zh"),
    ],
)
def test_detect_script(text: str, script: str | None) -> None:
    assert detect_script(text) == script


def test_choose_locale_rules() -> None:
    assert choose_locale(None, False, "", None, "zh-Hans") == "zh-Hans"
    assert choose_locale(None, False, "", "zh-TW", "zh-Hans") == "zh-Hant"
    assert choose_locale(None, False, "我好害怕", None, "zh-Hans") == "zh-Hans"
    assert from_hint("zh-TW") == "zh-Hant" and from_hint("en-US") == "en" and from_hint("zh-hans") == "zh-Hans"
    assert choose_locale("zh-Hant", False, "不清楚", None, "zh-Hans") == "zh-Hant"
    assert choose_locale("zh-Hans", False, "abc", None, "zh-Hans") == "zh-Hans"
    assert choose_locale("zh-Hans", False, "hello", None, "zh-Hans") == "en"
    assert choose_locale("en", True, "我好害怕", None, "zh-Hans") == "en"


def test_telegram_language_hint_is_used_for_a_new_user(fake_chat: Chat) -> None:
    fake_chat.say("/start", locale_hint="zh-TW")
    assert fake_chat.state["locale"] == "zh-Hant"


@pytest.mark.parametrize(
    ("text", "forwarded", "signal"),
    [
        ("【XX金融】您已逾期", False, "strong"),
        ("您已逾期，退订回T", False, "strong"),
        ("详情点击 t.cn/Ab12", False, "strong"),
        ("你好", True, "strong"),
        (
            "您在我司的借款已经逾期九十天，如果今天仍不处理，我们将按照合同约定采取进一步措施，由此产生的一切后果由您自行承担，请知悉。",
            False,
            "weak",
        ),
        ("我该怎么投诉", False, None),
    ],
)
def test_sms_signal(text: str, forwarded: bool, signal: str | None) -> None:
    assert sms_signal(text, forwarded) == signal


def test_first_person_story_is_not_an_sms() -> None:
    assert speaks_in_first_person("我逾期三个月了，催收天天打电话给我")
    assert not speaks_in_first_person("我司已将您的欠款移交法务部")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("12000", "12000"),
        ("1.2万", "12000"),
        ("大概3万左右", "30000"),
        ("about 20,000", "20000"),
        ("5萬", "50000"),
        ("¥3000元", "3000"),
    ],
)
def test_amounts_are_read_from_short_phrases(text: str, amount: str) -> None:
    from decimal import Decimal

    from bot.textnorm import to_simplified

    assert read_amount(to_simplified(text)) == Decimal(amount)


def test_normalise_for_matching() -> None:
    assert normalise("  ＹＥＳ  ") == "yes"
    assert normalise("沒有了") == "没有了"


def test_state_round_trips() -> None:
    s = State(locale="en", flow="repayment_plan", step="amount", data={"repayment_plan": {"creditor": "x"}})
    assert State.from_dict(s.to_dict()) == s
    s.data["repayment_plan"]["debts"] = [{"amount": "12000", "rate": "0.24"}]
    s.pending_sms = {"text": "【XX】逾期", "meta": {"numbers": ["10690000"]}}
    assert State.from_dict(json.loads(json.dumps(s.to_dict()))) == s  # as the store writes and reads it


def test_received_at_without_timezone_is_accepted(fake_chat: Chat) -> None:
    replies = fake_chat.say("【XX】您已逾期，请还款", received_at=datetime(2026, 11, 27, 23, 30))
    assert replies and fake_chat.state["topic"] == "check"
    fake_chat.press("sms:save")
    item = fake_chat.store.list_evidence("u1")[0]
    assert item.at.tzinfo is not None and item.at.astimezone(timezone.utc).year == 2026


@pytest.mark.parametrize(
    ("sms", "kind", "first"),
    [
        ("【XX金融】今晚带人去你家砸门，退订回T", "danger", "crisis.danger"),
        ("【XX】逼死你，让你跳楼，退订回T", "self_harm", "crisis.start"),
    ],
)
def test_a_forwarded_sms_that_trips_the_crisis_safeguard_gets_crisis_first_then_the_assessment(
    fake_chat: Chat, sms: str, kind: str, first: str
) -> None:
    from bot.safety import detect_crisis

    hit = detect_crisis(sms)
    assert hit is not None and hit.kind == kind  # the real lexicon, not a stand-in
    replies = fake_chat.say(sms, forwarded=True)
    assert replies[0].text.startswith(content.t("zh-Hans", first).splitlines()[0])
    assert len(replies) == 2 and "sms:save" in [o.id for o in replies[1].options]
    assert fake_chat.keys[0] == first and fake_chat.parser.calls == 0  # the lexicon answered, not the model
    fake_chat.press("sms:save")
    assert len(fake_chat.store.list_evidence(fake_chat.user)) == 1


MODEL_ONLY_CRISIS = "我想从这个世界消失"
"""A crisis message the lexicon does not know and the trained model classifies as crisis."""


def test_a_crisis_only_the_model_recognises_gets_the_crisis_reply_first(chat: Chat) -> None:
    from bot.safety import detect_crisis
    from bot.understand import decide

    assert detect_crisis(MODEL_ONLY_CRISIS) is None, "the lexicon knows it now: pick a message it does not"
    parse = asyncio.run(chat.parser.parse(MODEL_ONLY_CRISIS))
    assert parse.intent == "crisis" and parse.confidence < 1.0  # the model's own answer, not the safeguard's
    assert decide(parse, MODEL_ONLY_CRISIS, chat.cfg.nlu.confidence_threshold).crisis_source == "model"
    replies = chat.say(MODEL_ONLY_CRISIS)
    assert replies[0].text.startswith(content.t("zh-Hans", "crisis.start").splitlines()[0])
    assert chat.keys[0] == "crisis.start"


@pytest.mark.parametrize("forwarded", [False, True], ids=["typed", "forwarded"])
def test_a_crisis_in_the_middle_of_a_very_long_paste_is_caught(chat: Chat, forwarded: bool) -> None:
    filler = "【XX金融】您的借款已逾期，请尽快还款。"
    paste = filler * 2500 + "我真的不想活了" + filler * 2500
    assert len(paste) > 80_000
    replies = chat.say(paste, forwarded=forwarded)
    assert replies[0].text.startswith(content.t("zh-Hans", "crisis.start").splitlines()[0])


def test_crisis_words_inside_a_screenshot_get_the_crisis_reply_first_then_the_assessment(fake_chat: Chat) -> None:
    replies = fake_chat.send_image("【XX金融】今晚带人去你家砸门，退订回T")
    assert replies[0].text.startswith(content.t("zh-Hans", "crisis.danger").splitlines()[0])
    assert fake_chat.state["topic"] == "check" and "sms:save" in [o.id for r in replies for o in r.options]


def test_a_screenshot_s_sender_number_and_time_are_saved_with_the_sms(fake_chat: Chat) -> None:
    shot = "+86 138 0013 8000\n昨天 23:10\n【XX金融】你再不还钱，我们就通知你单位领导和你的家人"
    fake_chat.say("", image=shot.encode("utf-8"), received_at=datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))
    fake_chat.press("sms:save")
    item = fake_chat.store.list_evidence("u1")[0]
    assert item.meta["numbers"] == ["+8613800138000"]
    assert item.at.astimezone(timezone(timedelta(hours=8))).strftime("%m-%d %H:%M") == "12-02 23:10"


@pytest.mark.parametrize("text", ["88", "886", "８８６"])
def test_bye_bye_in_digits_outside_a_question_is_a_goodbye(fake_chat: Chat, text: str) -> None:
    fake_chat.say("你好")
    fake_chat.say(text)
    assert fake_chat.state["topic"] == "goodbye"
    assert "common.goodbye" in fake_chat.keys and "understand.bare_amount" not in fake_chat.keys


def test_88_where_the_plan_asks_the_amount_is_an_amount(fake_chat: Chat) -> None:
    to_the_amount_question(fake_chat)
    fake_chat.say("88")
    assert fake_chat.state["step"] != "amount"
    assert "common.goodbye" not in fake_chat.keys


def test_another_bare_number_outside_a_question_is_still_offered_the_plan(fake_chat: Chat) -> None:
    fake_chat.say("880")
    assert "understand.bare_amount" in fake_chat.keys


def test_88_at_a_choice_step_is_a_number_out_of_range_not_a_goodbye(fake_chat: Chat) -> None:
    fake_chat.press("flow:plan")
    fake_chat.press("rp:begin")
    fake_chat.say("某银行")
    step = fake_chat.state["step"]
    fake_chat.say("88")
    assert fake_chat.state["step"] == step
    assert "common.goodbye" not in fake_chat.keys
