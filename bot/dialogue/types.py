"""Channel-agnostic message types shared by the dialogue core and the channels."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Option:
    """A quick-reply button: a short id (≤ 40 ASCII chars) the channel sends back, and its label."""

    id: str
    label: str


@dataclass(frozen=True)
class Attachment:
    """A file the channel sends with a reply (e.g. the complaint pack)."""

    filename: str
    data: bytes
    mime_type: str = "text/plain"


@dataclass(frozen=True)
class Incoming:
    """One message from a user, as any channel hands it to the dialogue core."""

    user_id: str
    text: str = ""
    forwarded: bool = False
    image: bytes | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    locale_hint: str | None = None
    option_id: str | None = None
    update_id: str | None = None
    """The platform's id of this delivery ("tg:<update_id>", "wx:<MsgId>"): a re-delivery is answered once."""


@dataclass(frozen=True)
class Reply:
    """One message the bot sends back: text, optional buttons and optional attachments."""

    text: str
    options: tuple[Option, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The reply as JSON values, to keep it in the store's outbox until it is sent."""
        out: dict[str, Any] = {"text": self.text}
        if self.options:
            out["options"] = [[o.id, o.label] for o in self.options]
        if self.attachments:
            out["attachments"] = [
                {"filename": a.filename, "mime_type": a.mime_type, "data": base64.b64encode(a.data).decode("ascii")}
                for a in self.attachments
            ]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """The reply that to_json gave these values for."""
        return cls(
            str(data.get("text", "")),
            tuple(Option(str(i), str(label)) for i, label in data.get("options", ())),
            tuple(
                Attachment(str(a["filename"]), base64.b64decode(a["data"]), str(a["mime_type"]))
                for a in data.get("attachments", ())
            ),
        )
