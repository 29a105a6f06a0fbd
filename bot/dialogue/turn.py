"""One message being answered: who, what they sent, their state and locale, and the replies so far."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.config import Config
from bot.dialogue import content
from bot.dialogue.sms import Signal, sms_signal
from bot.dialogue.state import State
from bot.dialogue.types import Attachment, Incoming, Option, Reply
from bot.store import BaseStore

MAX_TEXT_CHARS = 4096
"""Longest message a channel is asked to send (Telegram's limit, telegram.constants.MessageLimit)."""


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Split text into parts of at most limit characters, at paragraph or line breaks where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return [p for p in parts if p.strip()]


@dataclass
class Turn:
    """The context of answering one message; flows and hooks add replies to it.

    prefix holds text to put before the next step shown (a correction, a confirmation); values holds
    placeholder values an answer produced for the next step's text.
    """

    user_id: str
    incoming: Incoming
    state: State
    locale: str
    store: BaseStore
    cfg: Config
    replies: list[Reply] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)
    deleted: bool = False
    noted: bool = False
    """Figures for later questions were kept from this message (the reply says so)."""
    detected: bool = False
    """This message already answered a later question of the flow waiting for an answer."""
    crisis_shown: bool = False
    """The crisis reply was given for this message (it is given once, whichever check saw the crisis first)."""
    _signal: list[Signal | None] = field(default_factory=list, repr=False)

    def sms_signal(self) -> Signal | None:
        """How much the message looks like a collection SMS (bot.dialogue.sms), worked out once per message."""
        if not self._signal:
            self._signal.append(sms_signal(self.incoming.text or "", self.incoming.forwarded))
        return self._signal[0]

    def t(self, key: str, **values: object) -> str:
        """Return a text in the user's locale."""
        return content.t(self.locale, key, **values)

    def options(self, ids: Iterable[str]) -> tuple[Option, ...]:
        """Build buttons with labels in the user's locale (duplicates dropped, order kept)."""
        return tuple(Option(i, content.label(self.locale, i)) for i in dict.fromkeys(ids))

    def reply(self, text: str, options: Iterable[str] = (), attachments: Iterable[Attachment] = ()) -> None:
        """Add a reply; long text becomes several messages, buttons and files go with the last one."""
        parts = split_text(text.strip()) or [""]
        for part in parts[:-1]:
            self.replies.append(Reply(part))
        self.replies.append(Reply(parts[-1], self.options(options), tuple(attachments)))
