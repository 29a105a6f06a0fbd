"""Result types of the intent model, shared by the NLU backends and the dialogue core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

INTENTS = (
    "greet",
    "goodbye",
    "thanks",
    "help",
    "stay_calm",
    "false_threat",
    "gather_evidence",
    "report_complaint",
    "repayment_plan",
    "contacts_harassed",
    "know_rights",
    "assess_sms",
    "crisis",
    "out_of_scope",
)


@dataclass(frozen=True)
class Entity:
    """One extracted entity, with offsets into the normalised text."""

    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Parse:
    """What the model understood: the intent, its confidence, entities and the full ranking."""

    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    text: str = ""
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """Return the JSON shape of the `nlu --jsonl` contract."""
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [e.__dict__ for e in self.entities],
            "ranking": [{"intent": i, "confidence": round(c, 4)} for i, c in self.ranking],
            "text": self.text,
            "notes": list(self.notes),
        }


class Parser(Protocol):
    """Anything that turns a user's text into a Parse (in-process Rasa, a Rasa server, a test double)."""

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and can answer now."""
        ...

    async def parse(self, text: str, screened: bool = False) -> Parse:
        """Classify one message; screened: the caller ran the crisis safeguard on this text and it found nothing."""
        ...


REPORTED_NOTE = "crisis sign reported"
"""The note on a parse whose crisis sign lies only in someone else's words or a finished event (bot/safety.py)."""
