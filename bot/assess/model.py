"""The assessment result: risk, categories, findings with spans, advice and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "false_legal_threat",
    "impersonation",
    "third_party_contact",
    "insult_or_intimidation",
    "privacy_exposure",
    "scam_payment",
)
RISKS: tuple[str, ...] = ("low", "medium", "high")
LOCALES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "en")
# Any of these makes a message high risk on its own.
HIGH_CATEGORIES = frozenset({"impersonation", "insult_or_intimidation", "privacy_exposure", "scam_payment"})


@dataclass(frozen=True)
class Finding:
    """One offending passage: its category, exact span of the original text, why, and the rule it breaks."""

    category: str
    start: int
    end: int
    text: str
    explanation: str
    legal_basis: str | None
    rule: str  # the pattern id in bot/assess/patterns/<category>.yml (or "model:<category>")
    violent: bool = False
    source: str = "rule"  # "rule": a pattern matched (certain span); "model": only the classifier fired (likely)
    score: float | None = None  # the classifier's probability when source == "model"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form used by `python -m bot assess --jsonl`."""
        return {
            "category": self.category,
            "span": {"start": self.start, "end": self.end, "text": self.text},
            "explanation": self.explanation,
            "legal_basis": self.legal_basis,
            "rule": self.rule,
            "source": self.source,
            **({"score": round(self.score, 3)} if self.score is not None else {}),
        }


@dataclass(frozen=True)
class Advice:
    """One next step, by key (stable) and text (in the user's locale)."""

    key: str
    text: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON-ready form."""
        return {"key": self.key, "text": self.text}


@dataclass
class Assessment:
    """The answer to "is this SMS real, should I be scared?"."""

    risk: str
    categories: list[str]
    findings: list[Finding] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    off_hours: bool = False
    notes: list[str] = field(default_factory=list)
    locale: str = "zh-Hans"
    court_notice: bool = False  # the SMS speaks as a court, arbitration body or court mediator
    verify: bool = False  # ... and shows no scam sign: it may be real, the report says how to check it

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict (the `assess --jsonl` contract)."""
        return {
            "risk": self.risk,
            "categories": list(self.categories),
            "findings": [f.to_dict() for f in self.findings],
            "advice": [a.to_dict() for a in self.advice],
            "off_hours": self.off_hours,
            "notes": list(self.notes),
            "locale": self.locale,
            "court_notice": self.court_notice,
            "verify": self.verify,
        }


def risk_for(categories: list[str] | set[str], violent: bool = False) -> str:
    """Apply the risk rule: none → low; only legal threats / third parties → medium; else high."""
    cats = set(categories)
    if not cats:
        return "low"
    if violent or cats & HIGH_CATEGORIES or len(cats) >= 3:
        return "high"
    return "medium"
