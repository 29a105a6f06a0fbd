"""Score the assessment against labelled SMS (the contract's JSON lines): the figures README and bench report."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.assess import engine
from bot.assess.datasets import DATA_DIR, JUDGED_SMS_SET, SMS_BLIND_SETS, SPENT_SMS_SETS, blind_number
from bot.assess.engine import assess
from bot.assess.learned import Classifier
from bot.assess.model import CATEGORIES

__all__ = [
    "DATA_DIR",
    "JUDGED_SMS_SET",
    "SMS_BLIND_SETS",
    "SPENT_SMS_SETS",
    "Scores",
    "blind_number",
    "evaluate",
    "load_jsonl",
    "using_classifier",
]


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read one labelled SMS per line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class Scores:
    """What the labelled set says about the assessment."""

    n: int = 0
    binary_correct: int = 0  # malicious (medium/high) vs lawful (low) agrees
    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_cat_tp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    per_cat_gold: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    per_cat_pred: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    lawful_rated_high: list[str] = field(default_factory=list)
    lawful_rated_not_low: list[str] = field(default_factory=list)  # medium or high
    high_rated_low: list[str] = field(default_factory=list)
    court_genuine: int = 0
    court_called_false: list[str] = field(default_factory=list)  # genuine court notice called a false threat
    court_not_verified: list[str] = field(default_factory=list)  # genuine court notice without verify advice
    wrong: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def binary_accuracy(self) -> float:
        """Share of SMS whose lawful/malicious call is right."""
        return self.binary_correct / self.n if self.n else 1.0

    @property
    def micro_p(self) -> float:
        """Category micro precision."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def micro_r(self) -> float:
        """Category micro recall."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def micro_f1(self) -> float:
        """Category micro F1."""
        p, r = self.micro_p, self.micro_r
        return 2 * p * r / (p + r) if p + r else 0.0

    def recall(self, cat: str) -> float | None:
        """Recall of one category (None when the set has no SMS of it)."""
        gold = self.per_cat_gold[cat]
        return self.per_cat_tp[cat] / gold if gold else None

    def precision(self, cat: str) -> float | None:
        """Precision of one category (None when it was never predicted)."""
        pred = self.per_cat_pred[cat]
        return self.per_cat_tp[cat] / pred if pred else None

    def summary(self) -> str:
        """One line for assertion messages."""
        return (
            f"n={self.n} binary_acc={self.binary_accuracy:.3f} P={self.micro_p:.3f} R={self.micro_r:.3f} "
            f"F1={self.micro_f1:.3f} lawful->high={self.lawful_rated_high} high->low={self.high_rated_low} "
            f"court_false={self.court_called_false} wrong={self.wrong[:20]}"
        )


def evaluate(rows: Iterable[dict[str, Any]]) -> Scores:
    """Assess every labelled SMS and compare with its labels."""
    s = Scores()
    for r in rows:
        a = assess(r["text"], locale=r.get("lang") or "auto")
        gold, pred = set(r["categories"]), set(a.categories)
        rid = str(r.get("id", s.n))
        s.n += 1
        s.tp += len(gold & pred)
        s.fp += len(pred - gold)
        s.fn += len(gold - pred)
        for c in gold:
            s.per_cat_gold[c] += 1
            s.per_cat_tp[c] += c in pred
        for c in pred:
            s.per_cat_pred[c] += 1
        s.binary_correct += (r["risk"] == "low") == (a.risk == "low")
        if r["risk"] == "low" and a.risk != "low":
            s.lawful_rated_not_low.append(rid)
        if r["risk"] == "low" and a.risk == "high":
            s.lawful_rated_high.append(rid)
        if r["risk"] == "high" and a.risk == "low":
            s.high_rated_low.append(rid)
        if r.get("kind") == "court_genuine":
            s.court_genuine += 1
            if pred & {"false_legal_threat", "impersonation"}:
                s.court_called_false.append(rid)
            if not a.verify:
                s.court_not_verified.append(rid)
        if gold != pred:
            s.wrong.append((rid, sorted(gold - pred), sorted(pred - gold)))
    return s


@contextmanager
def using_classifier(clf: Classifier | None) -> Iterator[None]:
    """Assess with the given classifier (None: the rules alone) instead of the trained one, for evaluation."""
    saved = engine.get_classifier
    setattr(engine, "get_classifier", lambda: clf)  # noqa: B010 (mypy refuses assigning to a function)
    try:
        yield
    finally:
        setattr(engine, "get_classifier", saved)  # noqa: B010
