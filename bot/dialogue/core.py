"""The dialogue core: every message from every channel goes through Dialogue.handle, in a fixed order.

1. crisis safeguard (deterministic, on every message, mid-flow too) → the crisis reply comes first;
2. buttons, screenshots, slash commands;
3. a step waiting for an answer takes it, unless the user clearly changes topic;
4. the intent model (or "one moment" while it loads), whose `crisis` intent also counts as crisis;
5. an SMS (forwarded, or looking like one) → the assessment;
6. the flow for the intent.
State is read from the store at the start and written back at the end of every message, with the message's
update id, in one store turn: on PostgreSQL the turn holds the user's lock across workers, so each user's
messages are answered one at a time and a re-delivered update is answered once. When the channel lets the core
send the replies, they are committed in the same turn (the store's outbox) and each is noted once it is out: a
process that dies between the commit and the sending leaves them to the update's re-delivery, which sends them
instead of running the turn again. The routing below is plain code run in a greenlet (bot/offload.py): its store
calls and the model's answer are awaited on the event loop, which serves other chats meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timezone
from decimal import Decimal
from functools import lru_cache

from bot.config import Config
from bot.dialogue import actions
from bot.dialogue.actions import ACTIONS, current_node, menu, waiting_node
from bot.dialogue.answers import Answer, Invalid, normalise, parse_answer
from bot.dialogue.check import local_time, run_assessment
from bot.dialogue.commands import parse_command
from bot.dialogue.engine import PREFILL, STUCK_AFTER, advance, enter, prefill_detected, reask, remember, show
from bot.dialogue.flows import Node, book
from bot.dialogue.locale import choose_locale, from_hint
from bot.dialogue.place import place_notice, remember_place
from bot.dialogue.render import assessment_meta, money, render_assessment
from bot.dialogue.slots import is_bare_amount, plan_slots
from bot.dialogue.sms import Signal, speaks_in_first_person
from bot.dialogue.state import State
from bot.dialogue.turn import Turn
from bot.dialogue.types import Incoming, Reply
from bot.nlu_types import Parse, Parser
from bot.offload import run_bridged, wait_for
from bot.safety import CrisisHit, detect_crisis
from bot.store import MAX_EVIDENCE_CHARS, BaseStore, StoreError, StoreUnavailable
from bot.textnorm import has_words
from bot.understand import Decision, crisis_kind, decide, digit_slang

log = logging.getLogger(__name__)

Send = Callable[[Reply], Awaitable[None]]
"""How a channel sends one reply (all its parts and files); it raises when the reply did not go out."""
SendAll = Callable[[list[Reply]], Awaitable[None]]
"""How a channel that delivers a turn's replies together (WeChat: one text) sends them; it returns once they are
out (or kept by the channel for the user) and raises when they did not go out."""
SENT_FLUSH_S = 0.05
"""Updates whose replies are all out are noted in the store together, this long after the first of them."""

INTENT_FLOWS = {
    "stay_calm": "stay_calm",
    "false_threat": "false_threat",
    "gather_evidence": "gather_evidence",
    "report_complaint": "report_complaint",
    "repayment_plan": "repayment_plan",
    "contacts_harassed": "contacts_harassed",
    "know_rights": "know_rights",
    "crisis": "crisis",
}
SMALL_TALK = ("greet", "thanks", "goodbye")
SMS_FRIENDLY = frozenset({"assess_sms", "out_of_scope", "greet", "thanks", "goodbye", "help"})
MAX_OCR_ECHO = 500
TOPIC_CHECK_CHARS = 6
"""A typed name longer than this (or a question) is checked with the model for a change of topic."""
FREE_TEXT_CRISIS_CHARS = 8
"""Free-text answers (an evidence description) this long are also checked by the model for crisis."""
SURE_SMALL_TALK = 0.8
"""Thanks or goodbye at a question step ends the step (resume offered) only when the model is this sure."""
THANKS_EMOJI = frozenset("🙏👍👌❤💕🌹")
DISTRESS_EMOJI = frozenset("😭😢😰😱😞😔💔🥺😩😫😖😣😥😨😟")
"""A message of only emoji with one of these is met with the stay-calm flow, not "I did not understand"."""
SHORT_ANSWER_CHARS = 12
"""A reply this short that fits the question is taken as the answer without asking the model."""
MAX_SLOT_TEXT = 300
"""Longer messages are not read for the plan's figures (a pasted SMS is not a plan)."""
PLAN = "repayment_plan"
PLAN_FIELDS = ("creditor", "kind", "amount", "rate", "income", "costs")
DEBT_FIELDS = ("creditor", "kind", "amount", "rate")
AMOUNT_FIELDS = ("amount", "income", "costs")
CLARIFY_OPTIONS = {
    "stay_calm": "flow:stay_calm",
    "false_threat": "flow:false_threat",
    "gather_evidence": "flow:evidence",
    "report_complaint": "flow:complain",
    "repayment_plan": "flow:plan",
    "contacts_harassed": "flow:contacts",
    "know_rights": "flow:rights",
    "assess_sms": "flow:check",
}
QUESTION_MARKS = (
    "?",
    "？",
    "吗",
    "怎么",
    "怎样",
    "如何",
    "嗎",
    "怎麼",
    "為什麼",
    "为什么",
    "能不能",
    "可不可以",
    "是不是",
    "有没有",
    "会不会",
    "點算",
    "点算",
    "係咪",
)
"""Words that make a message a question ("叫什么鑫的公司" names something, so 什么 alone does not count)."""
_ENGLISH_QUESTION = re.compile(
    r"^\s*(?:how|what|why|when|where|who|can|could|is|are|do|does|should|will|would)\b", re.IGNORECASE
)


def _crisis_scan(text: str) -> CrisisHit | None:
    """Run the crisis safeguard on the whole message: a crisis line may sit anywhere in a long paste.

    Scanning all of a 100 KB paste takes about a tenth of a second (bench/bench_limits.py).
    """
    return detect_crisis(text)


def _kind_option(value: str) -> str | None:
    """Return the button id of a plan debt kind."""
    for oid, v in book().node(PLAN, "kind").choices.items():
        if v == value:
            return oid
    return None


@dataclass(frozen=True)
class _Answered:
    """What a turn gives the channel: the replies, and where they are kept until sent (outbox key, first unsent)."""

    replies: list[Reply]
    kept: str | None = None
    first: int = 0


@lru_cache(maxsize=4)
def _boilerplate_notes(locale: str) -> frozenset[str]:
    """Return the notes the assessment adds to every result (shown once by our own legal note instead)."""
    from bot.assess import assess

    return frozenset(assess("", locale=locale).notes[:1])


class Dialogue:
    """The channel-agnostic conversation core."""

    def __init__(
        self, cfg: Config, parser: Parser, store: BaseStore, ocr: Callable[[bytes], str] | None = None
    ) -> None:
        """Wire the core to the settings, the intent parser, the store and optionally a screenshot reader."""
        self.cfg = cfg
        self.parser = parser
        self.store = store
        self.ocr = ocr
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}
        self._all_sent: list[str] = []
        self._out: set[str] = set()
        """Updates whose replies this process has sent, until the store has forgotten them."""
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        book()  # load and check the flows now, not on the first message

    async def handle(
        self,
        incoming: Incoming,
        send: Send | None = None,
        *,
        take_over: bool = False,
        send_all: SendAll | None = None,
    ) -> list[Reply]:
        """Answer one message; the user's state is read before and written after (one user at a time).

        Without send the replies are returned for the channel to send. With send the core sends them itself, in
        order, and returns those it sent: they are committed with the state and each is noted in the store once
        out, so a re-delivered update whose replies never all went out gets the rest instead of nothing. A
        re-delivery while another worker may still be sending them raises RepliesInFlight (deliver it again
        later) unless take_over, for channels where a re-delivery only follows a restart (Telegram polling).
        send_all instead of send: the replies not sent yet go to the channel in one call, and count as sent
        once it returns.
        """
        user = incoming.user_id
        lock = self._locks.setdefault(user, asyncio.Lock())
        self._waiting[user] = self._waiting.get(user, 0) + 1
        try:
            async with lock:
                async with self.store.slots():
                    keep = send is not None or send_all is not None
                    answered = await run_bridged(self._handle, incoming, keep, take_over)
                if send is None and send_all is None:
                    return answered.replies
                await self._send(answered, send, send_all)
                return answered.replies[answered.first :]
        finally:
            self._waiting[user] -= 1
            if not self._waiting[user]:  # nobody else queued for this user: forget the lock
                del self._waiting[user], self._locks[user]

    async def _send(self, answered: _Answered, send: Send | None, send_all: SendAll | None = None) -> None:
        """Send the replies from the first unsent one, noting each in the outbox once it is out.

        A reply with more after it is noted at once (a re-delivery sends only the rest). An update whose
        replies are all out is noted with others a moment later (SENT_FLUSH_S), one statement for all: this
        process knows meanwhile (a re-delivery here sends nothing), and the channel tells the platform right
        away that the update is handled, after which it is not delivered again; only a crash in that moment
        leaves the replies to be sent again by another process.
        """
        total = len(answered.replies)
        if send_all is not None and answered.first < total:
            try:
                await send_all(answered.replies[answered.first :])
            except Exception:
                if answered.kept is not None:  # not out: the update's next delivery may send them at once
                    await self._note(self.store.release_unsent, answered.kept)
                raise
        for i in range(answered.first, total if send_all is None else answered.first):
            assert send is not None
            try:
                await send(answered.replies[i])
            except Exception:
                if answered.kept is not None:  # not out: the update's next delivery may send it at once
                    await self._note(self.store.release_unsent, answered.kept)
                raise
            if answered.kept is not None and i + 1 < total:
                await self._note(self.store.mark_sent, answered.kept, i + 1, total)
        if answered.kept is not None:
            self._all_sent.append(answered.kept)
            self._out.add(answered.kept)
            flusher = self._flusher
            if flusher is None or flusher.done() or flusher.get_loop() is not asyncio.get_running_loop():
                self._flusher = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        """After SENT_FLUSH_S, note every update whose replies are all out (one statement for all of them)."""
        try:
            await asyncio.sleep(SENT_FLUSH_S)
            while self._all_sent:
                await self._flush()
        finally:
            if self._flusher is asyncio.current_task():
                self._flusher = None

    async def flush_sent(self) -> None:
        """Note at once the updates whose replies are all out (the outbox forgets them); channels call it on stop."""
        flusher = self._flusher
        if flusher is not None and not flusher.done() and not self._flushing:  # still waiting: no longer needed
            flusher.cancel()
        await self._flush()

    async def _flush(self) -> None:
        """Tell the store which updates have all their replies out."""
        keys, self._all_sent = self._all_sent, []
        if keys:
            self._flushing = True
            try:
                await self._note(self.store.forget_sent, keys)
            finally:
                self._flushing = False
                self._out.difference_update(keys)

    async def _note(self, call: Callable[..., object], *args: object) -> None:
        """Note the outbox's progress; a store that fails now only costs a reply sent again on a re-delivery.

        It takes a turn slot like a turn does (a pool thread and a connection), so it never waits on a turn.
        """
        try:
            async with self.store.slots():
                await run_bridged(call, *args)
        except StoreError as exc:
            log.warning("could not note sent replies in the store: %s", type(exc).__name__)

    def _handle(self, incoming: Incoming, keep: bool = False, take_over: bool = False) -> _Answered:
        """Answer one message in a store turn (state in, state and update id out; nothing twice).

        keep: the replies are committed with the state (the outbox) until the caller has sent them.
        StoreUnavailable goes up to the channel, which answers the platform with an error so that it
        delivers the update again later: nothing was written and nothing sent.
        """
        if incoming.received_at.tzinfo is None:  # a naive time is taken as the collector's local time
            incoming = replace(incoming, received_at=local_time(incoming.received_at, self.cfg.assess.timezone))
        user, key = incoming.user_id, incoming.update_id
        keep = keep and key is not None
        with self.store.turn(user, key) as db:
            if db.duplicate:
                sent_here = key in self._out  # all out, the store not told yet: nothing left to send
                unsent = db.take_unsent(key, take_over) if keep and key is not None and not sent_here else None
                if unsent is None:
                    log.info("an update was delivered again; it was answered already")
                    return _Answered([])
                log.info("an update was delivered again before all its replies were sent; sending the rest")
                return _Answered([Reply.from_json(r) for r in unsent.replies], key, unsent.sent)
            state = State.from_dict(db.get_state(user))
            turn = Turn(user, incoming, state, "", db, self.cfg)
            state.locale = turn.locale = self._locale(turn)
            try:
                self._route(turn)
            except StoreUnavailable:
                raise
            except Exception as exc:  # one bad message must never take the bot down or lose the state
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error("dialogue error %s (message text not logged)\n%s", type(exc).__name__, frames)
                fresh = State.from_dict(db.get_state(user))
                turn = Turn(user, incoming, fresh, turn.locale, db, self.cfg)
                turn.reply(turn.t("common.error"), ["menu"])
            outbox = [r.to_json() for r in turn.replies] if keep and turn.replies else None
            if not db.finish(user, None if turn.deleted else turn.state.to_dict(), key, outbox):
                return _Answered([])  # another worker answered this update first
        return _Answered(turn.replies, key if outbox else None)

    def _locale(self, turn: Turn) -> str:
        """Pick the reply locale; an SMS, a button label or a command does not change the user's language."""
        incoming, state = turn.incoming, turn.state
        text = incoming.text or ""
        own_words = (
            bool(text)
            and incoming.option_id is None
            and not text.lstrip().startswith("/")
            and turn.sms_signal() != "strong"
        )
        default = from_hint(incoming.locale_hint) or self.cfg.locale.default
        return choose_locale(state.locale, state.locale_fixed, text if own_words else "", None, default)

    # -- routing ------------------------------------------------------------------------------------------

    def _route(self, turn: Turn) -> None:
        """Decide what this message is and answer it (see the module docstring for the order)."""
        incoming = turn.incoming
        text = incoming.text or ""
        if text:
            remember_place(turn, text)
        hit = _crisis_scan(text) if text else None
        if hit is not None:
            self._crisis(turn, hit.kind)
            if not hit.reported:
                if turn.sms_signal() == "strong":
                    self._assess(turn, text)  # a threatening SMS: the crisis reply first, then what it means
                return
            # the sign is in a collector's words or an event that is over: the message is answered as well
        if incoming.option_id:
            self._press(turn, incoming.option_id)
            return
        if incoming.image is not None:
            self._image(turn)
            return
        command = parse_command(text)
        if command is not None:
            self._command(turn, *command)
            return
        if not text.strip():
            self._empty(turn)
            return
        self._text(turn, text)

    def _text(self, turn: Turn, text: str) -> None:
        """Answer a typed or pasted message."""
        node = waiting_node(turn)
        signal = turn.sms_signal()
        answer: Answer | Invalid | None = None
        if node is not None:
            if node.free:
                if self._free_text_crisis(turn, text):
                    return
                advance(turn, node, text)
                return
            if signal == "strong":
                self._assess(turn, text)
                return
            if node.ask != "sms":
                turn.detected = prefill_detected(turn, node.flow, text, skip=node)
                answer = self._plan_answer(turn, node, text, parse_answer(node, text, turn.locale))
                if isinstance(answer, Answer) and self._plain_answer(node, text, signal):
                    if turn.noted:
                        turn.noted = False
                        turn.prefix.append(self._noted_text(turn))
                    advance(turn, node, answer.value)
                    return
                if isinstance(answer, Invalid) and self._noted(turn, node):
                    return
                if isinstance(answer, Invalid) and self._precise_reask(turn, node, text):
                    return
        elif signal == "strong":
            self._assess(turn, text)
            return
        elif (slang := digit_slang(text)) is not None:
            self._intent(turn, slang, text)
            return
        elif is_bare_amount(text):
            self._bare_amount(turn)
            return
        elif not has_words(text):
            if any(ch in DISTRESS_EMOJI for ch in text):
                enter(turn, "stay_calm")
            elif any(ch in THANKS_EMOJI for ch in text):
                self._intent(turn, "thanks", text)
            else:
                menu(turn, key="understand.no_words")
                turn.state.topic = "out_of_scope"
            return
        parse = wait_for(self._parse(text, screened=not turn.crisis_shown))
        if parse is None:  # the model is still loading: deterministic answers only
            if node is not None and node.ask == "sms":
                self._assess(turn, text)
            elif node is not None and answer is not None:
                self._answer_or_reask(turn, node, answer)
            else:
                turn.reply(turn.t("common.not_ready"), book().menu)
            return
        decision = decide(parse, text, self.cfg.nlu.confidence_threshold)
        if decision.action == "crisis":
            self._crisis(turn, crisis_kind(text))
            return
        if decision.action == "crisis_soft":  # unsure, but crisis is close: the crisis reply comes first
            self._crisis(turn, crisis_kind(text))
            then = decision.then
            if then is None or then.action not in ("intent", "clarify"):
                if node is not None:  # back to the question that waits, after the crisis reply
                    turn.state.paused = None
                    self._stay(turn, node, answer, text, "out_of_scope")
                return
            decision = then
        intent = decision.intent if decision.action in ("intent", "lending") else decision.action
        if node is not None:
            if not self._leaves_step(turn, node, decision, text, signal, answer):
                if turn.state.paused == {"flow": node.flow, "step": node.name}:
                    turn.state.paused = None  # a crisis reply paused this step; the answer continues it
                self._stay(turn, node, answer, text, intent)
                return
            turn.state.paused = {"flow": node.flow, "step": node.name}
        answered = self._answered_flow(turn, decision.guesses, text) if decision.action == "clarify" else None
        if self._is_sms(text, signal, intent):
            self._assess(turn, text)
        elif answered is not None:
            enter(turn, INTENT_FLOWS[answered], text)
        elif decision.action == "clarify":
            self._clarify(turn, decision.guesses)
        elif decision.action == "lending":
            menu(turn, key="understand.lending")
            turn.state.topic = "out_of_scope"
        else:
            self._intent(turn, intent, text)
        if node is not None and turn.state.paused and turn.replies:
            last = turn.replies[-1]
            if "resume" not in {o.id for o in last.options}:
                turn.replies[-1] = replace(last, options=(*turn.options(["resume"]), *last.options))

    def _free_text_crisis(self, turn: Turn, text: str) -> bool:
        """A free-text answer is also read by the model for crisis; True when only the crisis reply is due."""
        if len(text.strip()) < FREE_TEXT_CRISIS_CHARS:
            return False
        parse = wait_for(self._parse(text, screened=not turn.crisis_shown))
        if parse is None:
            return False
        decision = decide(parse, text, self.cfg.nlu.confidence_threshold)
        if decision.action in ("crisis", "crisis_soft"):
            self._crisis(turn, crisis_kind(text))
        return decision.action == "crisis"

    def _stay(self, turn: Turn, node: Node, answer: Answer | Invalid | None, text: str, intent: str) -> None:
        """The message belongs to the step that waits: take it, or correct kindly and ask again."""
        if node.ask == "sms":
            self._assess(turn, text)
        elif isinstance(answer, Invalid) and intent == "greet":
            reask(turn, node, f"answers.smalltalk.{intent}")
        elif isinstance(answer, Invalid) and intent == "help":
            turn.state.retries = max(turn.state.retries, STUCK_AFTER - 1)
            reask(turn, node, answer)
        elif answer is not None:
            self._answer_or_reask(turn, node, answer)

    def _leaves_step(
        self,
        turn: Turn,
        node: Node,
        decision: Decision,
        text: str,
        signal: Signal | None,
        answer: Answer | Invalid | None,
    ) -> bool:
        """Whether a message at a waiting step is clearly something else: another topic, or a pasted SMS.

        A statement that fits the question ("they keep calling my family" where the complaint asks what
        happened) stays, even when the model would open another flow for it; a question does not.
        """
        if node.ask == "text":  # a name: only a sure other topic, sure small talk or an SMS leaves the question
            sure = decision.action == "intent" and decision.confidence >= SURE_SMALL_TALK
            other = decision.intent in SMALL_TALK or self._changes_topic(node, decision.intent)
            return (sure and other) or (signal == "weak" and not speaks_in_first_person(text))
        sms_like = decision.intent == "assess_sms" or (signal == "weak" and not speaks_in_first_person(text))
        if node.ask != "sms" and sms_like and len(text) > SHORT_ANSWER_CHARS:
            return True
        if isinstance(answer, Answer) and node.ask != "text" and not self._is_question(text):
            if decision.intent not in SMALL_TALK:
                return False
        if decision.action == "intent" and self._changes_topic(node, decision.intent):
            return not turn.detected  # it answers a later question of this flow: stay
        if decision.intent in ("thanks", "goodbye") and decision.confidence >= SURE_SMALL_TALK:
            return isinstance(answer, Invalid) or node.ask == "text"  # "先这样，下次再聊" is not a lender's name
        if decision.action == "clarify" and isinstance(answer, Invalid):
            return node.flow not in decision.guesses
        if decision.action == "clarify" and self._is_question(text):
            return node.flow not in decision.guesses[:1]
        return False

    @staticmethod
    def _is_question(text: str) -> bool:
        """Whether a message is phrased as a question."""
        lowered = text.lower()
        return any(mark in lowered for mark in QUESTION_MARKS) or bool(_ENGLISH_QUESTION.match(lowered))

    def _plain_answer(self, node: Node, text: str, signal: Signal | None) -> bool:
        """Whether a valid-looking answer can be taken without asking the model what the message is.

        Short, non-question replies are answers; a longer message, a question or SMS-like text that merely
        contains an option's word ("爆通讯录" inside a pasted SMS) is checked for a change of topic first.
        """
        if node.ask == "text":
            return not self._needs_topic_check(node, text)
        if normalise(text).isdigit():
            return True
        if signal is not None or self._is_question(text):
            return False
        return len(text.strip()) <= SHORT_ANSWER_CHARS or node.ask in ("amount", "amount_or_zero", "rate")

    def _plan_answer(self, turn: Turn, node: Node, text: str, answer: Answer | Invalid) -> Answer | Invalid:
        """In the repayment plan, keep every figure the message gives for later questions.

        "月入5000" typed where the debt's amount is asked is the income, not the debt: it is kept for the
        income question, and the amount is asked again.
        """
        if node.flow != PLAN or len(text) > MAX_SLOT_TEXT:
            return answer
        own = node.save or ""
        later = PLAN_FIELDS[PLAN_FIELDS.index(own) + 1 :] if own in PLAN_FIELDS else PLAN_FIELDS
        slots = plan_slots(text, bare_is_debt=own in DEBT_FIELDS and not isinstance(answer, Answer))
        data = turn.state.flow_data(PLAN)
        found = {k: v for k, v in slots.items() if k in later and data.get(k) is None}
        if found:
            remember(turn, PLAN, found)
            turn.noted = True
        if own in AMOUNT_FIELDS and own not in slots and any(k in AMOUNT_FIELDS for k in found):
            return Invalid("understand.other_figure")
        return answer

    def _precise_reask(self, turn: Turn, node: Node, text: str) -> bool:
        """Re-ask with a precise correction for emoji only, or an amount where an option is asked for."""
        if not has_words(text) and not any(ch.isdigit() for ch in text):
            reask(turn, node, "understand.no_words_step")
            return True
        if node.choices and is_bare_amount(text) and not normalise(text).isdigit():
            reask(turn, node, Invalid("understand.amount_at_choice", (("count", str(len(node.choices))),)))
            return True
        return False

    def _noted(self, turn: Turn, node: Node) -> bool:
        """Say which figures were kept from an answer that did not fit, and ask the same question again."""
        if not turn.noted:
            return False
        turn.noted = False
        turn.prefix.append(self._noted_text(turn))
        show(turn, node)
        return True

    def _noted_text(self, turn: Turn) -> str:
        """Say back the figures kept for the plan's later questions."""
        pre = turn.state.flow_data(PLAN).get(PREFILL) or {}
        items = []
        for name in PLAN_FIELDS:
            if name not in pre:
                continue
            value = str(pre[name])
            if name in AMOUNT_FIELDS:
                value = money(turn.locale, Decimal(value))
            elif name == "kind":
                value = turn.t(f"buttons.{_kind_option(value)}") if _kind_option(value) else value
            items.append(turn.t(f"understand.field.{name}", value=value))
        return turn.t("understand.noted", items="；".join(items) if turn.locale != "en" else "; ".join(items))

    def _bare_amount(self, turn: Turn) -> None:
        """A message that is only an amount, outside any question: offer the plan with that amount kept."""
        turn.state.topic = "number"
        turn.reply(turn.t("understand.bare_amount"), ["flow:plan", "flow:check", "menu"])

    @staticmethod
    def _answered_flow(turn: Turn, guesses: tuple[str, ...], text: str) -> str | None:
        """Of the flows the model hesitates between, the one whose first question the message already answers.

        "催收说今天下午派人到我家" names a home visit, which the false-threat flow asks about first; when exactly
        one guessed flow is answered this way, it is the one meant.
        """
        answered = []
        for intent in guesses:
            flow = INTENT_FLOWS.get(intent)
            node = book().node(flow) if flow else None
            if node is not None and node.detect and node.ask == "choice" and not text.strip().isdigit():
                if isinstance(parse_answer(node, text, turn.locale), Answer):
                    answered.append(intent)
        return answered[0] if len(answered) == 1 else None

    def _clarify(self, turn: Turn, guesses: tuple[str, ...]) -> None:
        """Ask "did you mean …?" with the best flows as buttons, plus the menu; nothing is learned from it."""
        turn.state.leave_flow()
        turn.state.topic = "clarify"
        options = [CLARIFY_OPTIONS[g] for g in guesses if g in CLARIFY_OPTIONS]
        turn.reply(turn.t("understand.clarify"), [*options, "menu"])

    def _needs_topic_check(self, node: Node, text: str) -> bool:
        """Whether a free-text answer might be a new question instead (long, or phrased as a question)."""
        if node.ask != "text":
            return False
        lowered = text.lower()
        return len(text) > TOPIC_CHECK_CHARS or self._is_question(lowered)

    @staticmethod
    def _changes_topic(node: Node, intent: str) -> bool:
        """Whether the model is confident the user asks about another flow.

        "help" is not a change of topic mid-question ("I don't understand"): the question is asked again with
        the way out (/cancel, the menu) shown at once.
        """
        return intent in INTENT_FLOWS and INTENT_FLOWS[intent] != node.flow

    @staticmethod
    def _is_sms(text: str, signal: Signal | None, intent: str) -> bool:
        """Whether to assess the text as an SMS (a weak signal counts unless the user tells their story)."""
        if signal == "strong":
            return True
        if signal == "weak":
            return intent in SMS_FRIENDLY or not speaks_in_first_person(text)
        return False

    def _answer_or_reask(self, turn: Turn, node: Node, answer: Answer | Invalid) -> None:
        """Take a valid answer, or correct kindly and ask the same question again."""
        if isinstance(answer, Answer):
            advance(turn, node, answer.value)
        else:
            reask(turn, node, answer)

    async def _parse(self, text: str, screened: bool) -> Parse | None:
        """Ask the intent model; None while it is still loading.

        Only messages the crisis safeguard has already passed (_route) come here; screened (no hit at all) spares
        the parser a second scan, while a hit in someone else's words is scanned again so the parse carries it.
        """
        if not self.parser.ready:
            return None
        try:
            return await self.parser.parse(text, screened=screened)
        except Exception as exc:  # a loading or unreachable model: fall back to deterministic answers
            log.warning("intent model unavailable: %s", type(exc).__name__)
            return None

    def _intent(self, turn: Turn, intent: str, text: str) -> None:
        """Start the flow for an intent, or answer small talk."""
        if intent in INTENT_FLOWS:
            if intent == "crisis":
                self._crisis(turn)
            elif intent == "repayment_plan" and self._start_plan_with(turn, text):
                return
            else:
                enter(turn, INTENT_FLOWS[intent], text)
        elif intent == "assess_sms":
            enter(turn, "check")
        elif intent == "help":
            actions.help_text(turn)
        elif intent == "greet":
            menu(turn, key="common.greet")
            turn.state.topic = "greet"
        elif intent in ("thanks", "goodbye"):
            turn.state.leave_flow()
            turn.state.topic = intent
            turn.reply(turn.t(f"common.{intent}"), ["menu"])
        else:
            menu(turn, key="common.out_of_scope")
            turn.state.topic = "out_of_scope"

    def _start_plan_with(self, turn: Turn, text: str) -> bool:
        """Start the plan from a message that already gives figures: keep them and ask only what is missing."""
        data = turn.state.flow_data(PLAN)
        debts = data.get("debts")
        slots = plan_slots(text[:MAX_SLOT_TEXT]) if len(text) <= MAX_SLOT_TEXT else {}
        if not slots or (isinstance(debts, list) and debts):
            return False
        remember(turn, PLAN, slots)
        turn.prefix.append(self._noted_text(turn))
        show(turn, book().node(PLAN, "creditor"))
        return True

    # -- crisis and SMS -----------------------------------------------------------------------------------

    def _crisis(self, turn: Turn, kind: str = "self_harm") -> None:
        """Answer a crisis first and warmly; keep what we were doing so the user can come back to it.

        kind is the safeguard's CrisisHit kind: "danger" gets the danger reply (110 first); "self_harm", and the
        model's crisis intent, get the self-harm reply (which keeps the 110/120 line).
        """
        if turn.crisis_shown:
            return
        turn.crisis_shown = True
        s = turn.state
        if s.flow and s.step and s.flow != "crisis":
            s.paused = {"flow": s.flow, "step": s.step}
        turn.prefix.clear()
        show(turn, book().node("crisis", "danger" if kind == "danger" else "start"))

    def _assess(self, turn: Turn, text: str) -> None:
        """Assess an SMS: risk, the exact offending phrases and why, what to do; offer to log it."""
        s = turn.state
        node = current_node(turn)
        if node is not None and node.flow != "check" and node.ask:
            s.paused = {"flow": node.flow, "step": node.name}
        received_at = turn.incoming.received_at
        assessment, truncated = run_assessment(text, received_at, self.cfg.assess.timezone, turn.locale)
        s.pending_sms = {
            "text": text[:MAX_EVIDENCE_CHARS],
            "meta": assessment_meta(assessment),
            "at": received_at.isoformat(),
        }
        parts = [*turn.prefix, render_assessment(turn.locale, assessment, truncated), *place_notice(turn)]
        turn.prefix.clear()
        boiler = _boilerplate_notes(turn.locale)
        notes = [n for n in getattr(assessment, "notes", []) if n not in boiler]
        if notes:
            parts.append(turn.t("sms.notes") + "\n" + "\n".join(f"• {n}" for n in notes))
        if not s.lawyer_note:
            parts.append(turn.t("common.lawyer_note"))
            s.lawyer_note = True
        options = ["sms:save"]
        if "false_legal_threat" in assessment.categories or "impersonation" in assessment.categories:
            options.append("ft:list")
        if "third_party_contact" in assessment.categories:
            options.append("flow:contacts")
        options += ["flow:complain", "sms:again"]
        if s.paused:
            options.append("resume")
        options.append("menu")
        s.leave_flow()
        s.topic = "check"
        turn.reply("\n\n".join(parts), options)

    def _image(self, turn: Turn) -> None:
        """Read a screenshot's text, say what was read, then assess it."""
        image = turn.incoming.image or b""
        if self.ocr is None:
            turn.state.topic = "check"
            turn.reply(turn.t("image.no_ocr"), ["flow:check", "menu"])
            return
        loop = asyncio.get_running_loop()
        try:
            read = wait_for(loop.run_in_executor(None, self.ocr, image))
        except Exception as exc:  # a broken image must not break the chat
            log.warning("OCR failed: %s", type(exc).__name__)
            read = ""
        read = (read or "").strip()
        if not read:
            turn.state.topic = "check"
            turn.reply(turn.t("image.unreadable"), ["flow:check", "menu"])
            return
        shown = read if len(read) <= MAX_OCR_ECHO else read[:MAX_OCR_ECHO] + "…"
        turn.prefix.append(turn.t("image.read", text=shown))
        remember_place(turn, read)
        hit = _crisis_scan(read)
        if hit is not None:
            echo = turn.prefix.pop()
            self._crisis(turn, hit.kind)
            turn.prefix.append(echo)
        self._assess(turn, read)
        self._screenshot_details(turn, read)

    def _screenshot_details(self, turn: Turn, read: str) -> None:
        """Keep the sender number and the time a screenshot shows (its first lines) with the SMS to be saved."""
        from bot.evidence.parse import find_numbers, find_time

        pending = turn.state.pending_sms
        if not pending:
            return
        header = "\n".join(read.splitlines()[:3])
        numbers = find_numbers(header) or find_numbers(read)
        tz = local_time(turn.incoming.received_at, self.cfg.assess.timezone).tzinfo or timezone.utc
        when, _ = find_time(header, turn.incoming.received_at, tz)
        meta = pending.setdefault("meta", {})
        if numbers:
            meta["numbers"] = numbers[:3]
        if when is not None:
            pending["at"] = when.at.isoformat()
            meta["precision"], meta["time_words"] = when.precision, when.words

    # -- buttons, commands, empty messages ----------------------------------------------------------------

    def _press(self, turn: Turn, option_id: str) -> None:
        """Do what a pressed button means: answer the current question, go to a step, or run an action."""
        node = waiting_node(turn)
        b = book()
        if node is not None and option_id in node.choices:
            advance(turn, node, node.choices[option_id])
        elif option_id in b.choices and b.choices[option_id][0].revisit:
            owner, value = b.choices[option_id]
            advance(turn, owner, value)
        elif option_id in b.options:
            action = b.options[option_id]
            if action.goto:
                if "." in action.goto:
                    show(turn, b.target(action.goto))
                else:
                    enter(turn, action.goto)
            elif action.do:
                ACTIONS[action.do](turn, action.arg)
        else:
            self._stale(turn)

    def _stale(self, turn: Turn) -> None:
        """A button from an older question: say so and ask the current question again (or show the menu)."""
        turn.prefix.append(turn.t("common.stale"))
        node = waiting_node(turn)
        if node is not None:
            show(turn, node)
        else:
            menu(turn, key="common.menu_short")

    def _command(self, turn: Turn, name: str, payload: str) -> None:
        """Run a slash command."""
        if name == "start":
            turn.state.lawyer_note = False
            turn.state.paused = None
            flow = actions.START_PAYLOADS.get(payload.lower())
            if flow:
                enter(turn, flow)
            else:
                menu(turn, key="common.welcome")
                turn.state.topic = "greet"
        elif name == "help":
            actions.help_text(turn)
        elif name == "check":
            enter(turn, "check")
        elif name == "evidence":
            show(turn, book().node("gather_evidence", "view"))
        elif name == "export":
            actions.export_pdf(turn)
        elif name == "complain":
            enter(turn, "report_complaint")
        elif name == "plan":
            enter(turn, "repayment_plan")
        elif name == "language":
            actions.language_ask(turn)
        elif name == "privacy":
            actions.privacy(turn)
        elif name == "delete":
            actions.delete_ask(turn)
        elif name == "cancel":
            actions.cancel(turn)
        else:
            turn.prefix.append(turn.t("common.unknown_command"))
            actions.help_text(turn)

    def _empty(self, turn: Turn) -> None:
        """An empty message: say so kindly and repeat the question (or the menu)."""
        node = waiting_node(turn)
        if node is not None:
            reask(turn, node, "answers.empty")
        else:
            menu(turn, key="common.empty")
