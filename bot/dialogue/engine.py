"""Run flow steps: show a step (text, the one-time legal note, buttons), take an answer, re-ask kindly."""

from __future__ import annotations

from bot.dialogue.answers import Answer, parse_answer
from bot.dialogue.flows import Node, book
from bot.dialogue.hooks import AFTER, HOOKS, HookOut
from bot.dialogue.place import place_notice
from bot.dialogue.turn import Turn

MAX_REDIRECTS = 3
STUCK_AFTER = 3
"""After this many answers in a row that did not fit, the re-asked question also offers a way out."""


def show(turn: Turn, node: Node, _depth: int = 0) -> None:
    """Show a step: any pending prefix, its texts and computed part, the legal note once, its buttons."""
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


def reask(turn: Turn, node: Node, key: str) -> None:
    """Say kindly why the answer did not fit and ask the same question again (answers so far are kept)."""
    retries = turn.state.retries + 1
    turn.prefix.insert(0, turn.t(key))
    if retries >= STUCK_AFTER:
        turn.prefix.insert(1, turn.t("answers.stuck"))
    show(turn, node)
    turn.state.retries = retries
