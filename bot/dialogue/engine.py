"""Run flow steps: show a step (text, the one-time legal note, buttons), take an answer, re-ask kindly."""

from __future__ import annotations

from bot.dialogue.answers import Answer, Invalid, parse_answer
from bot.dialogue.flows import Node, book
from bot.dialogue.hooks import AFTER, HOOKS, HookOut
from bot.dialogue.place import place_notice
from bot.dialogue.turn import Turn

MAX_REDIRECTS = 3
STUCK_AFTER = 3
"""After this many answers in a row that did not fit, the re-asked question also offers a way out."""


MAX_DETECT_CHARS = 300
"""Longer messages (pasted SMS) are not read for answers to later questions."""
PREFILL = "prefill"
"""Flow data key of answers the user already gave before the flow asked (bot/dialogue/slots.py)."""


def take_prefill(turn: Turn, node: Node) -> str | None:
    """Return (and use up) an answer to this step that the user already gave, if it fits the step."""
    if not node.ask or not node.save:
        return None
    data = turn.state.flow_data(node.flow)
    pre = data.get(PREFILL)
    if not isinstance(pre, dict) or node.save not in pre:
        return None
    value = str(pre.pop(node.save))
    if not pre:
        data.pop(PREFILL, None)
    if node.choices:
        return value if value in node.choices.values() else None
    if node.ask in ("amount", "amount_or_zero", "rate"):
        return value if isinstance(parse_answer(node, value, turn.locale), Answer) else None
    return value


def remember(turn: Turn, flow: str, answers: dict[str, str]) -> None:
    """Keep answers the user gave before the flow asked: saved now, and their questions skipped later."""
    data = turn.state.flow_data(flow)
    pre = data.setdefault(PREFILL, {})
    if isinstance(pre, dict):
        pre.update(answers)
    data.update(answers)


def prefill_detected(turn: Turn, flow: str, text: str, skip: Node | None = None) -> bool:
    """Answer the flow's later option questions marked `detect` from a message that already says it."""
    if not text or text.strip().isdigit() or len(text) > MAX_DETECT_CHARS:
        return False
    found = {}
    for later in book().flows[flow].nodes.values():
        if later is not skip and later.detect and later.save and later.ask == "choice":
            answer = parse_answer(later, text, turn.locale)
            if isinstance(answer, Answer):
                found[later.save] = answer.value
    if found:
        remember(turn, flow, found)
    return bool(found)


def show(turn: Turn, node: Node, _depth: int = 0) -> None:
    """Show a step: any pending prefix, its texts and computed part, the legal note once, its buttons.

    A question the user already answered in an earlier message (a prefilled answer) is not asked again.
    """
    given = take_prefill(turn, node)
    if given is not None:
        advance(turn, node, given)
        return
    out = HOOKS[node.hook](turn, node) if node.hook else HookOut()
    if out.goto and _depth < MAX_REDIRECTS:
        target = book().target(out.goto) if "." in out.goto else book().node(node.flow, out.goto)
        show(turn, target, _depth + 1)
        return
    values = {**turn.values, **out.values}
    parts = [*turn.prefix, *(turn.t(key, **values) for key in node.say), *out.texts]
    turn.prefix.clear()
    if node.legal and not turn.state.lawyer_note:
        parts.append(turn.t("common.lawyer_note"))
        turn.state.lawyer_note = True
    if node.legal:
        parts.extend(place_notice(turn))  # mainland rules: say so when the user seems to be elsewhere
    options = [*node.choices, *(out.options if out.options is not None else node.options)]
    state = turn.state
    state.flow, state.step, state.topic, state.retries = node.flow, node.name, node.flow, 0
    turn.reply("\n\n".join(p for p in parts if p), options, out.attachments)


def enter(turn: Turn, flow: str, text: str = "") -> None:
    """Start a flow; if its first step may be answered by the message that started it, take that answer."""
    node = book().node(flow)
    turn.state.flow_data(flow).pop(PREFILL, None)  # answers given for an earlier visit do not carry over
    prefill_detected(turn, flow, text, skip=node)
    if node.detect and text:
        answer = parse_answer(node, text, turn.locale) if node.ask == "choice" else None
        if isinstance(answer, Answer) and not text.strip().isdigit():
            advance(turn, node, answer.value)
            return
    show(turn, node)


def advance(turn: Turn, node: Node, value: str) -> None:
    """Keep a valid answer and show the step that follows."""
    if node.save:
        turn.state.flow_data(node.flow)[node.save] = value
    if node.after:
        nxt = AFTER[node.after](turn, node, value)
    else:
        nxt = node.next or value
    following = book().node(node.flow, nxt)
    if following.detect and following.ask == "choice" and turn.incoming.text and not turn.incoming.option_id:
        answer = parse_answer(following, turn.incoming.text, turn.locale)
        if isinstance(answer, Answer) and not turn.incoming.text.strip().isdigit():
            advance(turn, following, answer.value)
            return
    show(turn, following)


def reask(turn: Turn, node: Node, key: str | Invalid) -> None:
    """Say kindly why the answer did not fit and ask the same question again (answers so far are kept)."""
    retries = turn.state.retries + 1
    values = dict(key.values) if isinstance(key, Invalid) else {}
    turn.prefix.insert(0, turn.t(key.key if isinstance(key, Invalid) else key, **values))
    if retries >= STUCK_AFTER:
        turn.prefix.insert(1, turn.t("answers.stuck"))
    show(turn, node)
    turn.state.retries = retries
