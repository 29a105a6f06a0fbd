"""Score the intent model on the held-back dev set: macro-F1, crisis recall, accuracy per script."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.config import ROOT
from bot.nlu_types import INTENTS, Parse
from bot.textnorm import to_simplified

DEV_SET = ROOT / "rasa_project" / "tests" / "dev_nlu.yml"
_TESTS = ROOT / "rasa_project" / "tests"
BLIND_SETS: tuple[Path, ...] = tuple(_TESTS / f"blind_nlu{'' if n == 1 else f'_{n}'}.yml" for n in range(1, 11))
"""The blind sets in the order they were written, each after the one before had been used: the first chose the
pipeline, the errors of the second to the ninth were read once; the last is the one reported."""
CRISIS_SETS: tuple[Path, ...] = tuple(_TESTS / f"blind_crisis{'' if n == 1 else f'_{n}'}.yml" for n in range(1, 9))
"""The blind crisis sets (crisis messages and hard non-crisis ones) in the order written; the errors of all but the
last were read once; the last is the one reported."""
REPORTED_BLIND = BLIND_SETS[-1]
REPORTED_CRISIS = CRISIS_SETS[-1]
_ANNOTATION = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)|\[([^\]]+)\]\{[^}]*\}")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Example:
    """One dev-set sentence with its gold intent and script."""

    text: str
    intent: str
    script: str


@dataclass
class Report:
    """Dev-set scores."""

    n: int
    accuracy: float
    macro_f1: float
    crisis_recall: float
    per_intent_f1: dict[str, float]
    accuracy_by_script: dict[str, float]
    errors: list[tuple[str, str, str, float]] = field(default_factory=list)


def script_of(text: str) -> str:
    """Tell the script of a sentence: zh-Hant if OpenCC changes it, zh-Hans if it has CJK, else en."""
    if not _CJK.search(text):
        return "en"
    return "zh-Hant" if to_simplified(text) != text else "zh-Hans"


def strip_annotations(text: str) -> str:
    """Remove Rasa entity markup, keeping the entity text."""
    return _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), text)


def load_examples(path: Path = DEV_SET) -> list[Example]:
    """Read a Rasa NLU yaml file into examples."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for item in data.get("nlu") or []:
        if "intent" not in item:
            continue
        for line in str(item.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                text = strip_annotations(line[2:].strip())
                out.append(Example(text, item["intent"], script_of(text)))
    return out


def score(examples: list[Example], parse: Callable[[str], Parse]) -> Report:
    """Parse every example and compute the scores."""
    tp = dict.fromkeys(INTENTS, 0)
    fp = dict.fromkeys(INTENTS, 0)
    fn = dict.fromkeys(INTENTS, 0)
    by_script: dict[str, list[int]] = {}
    errors = []
    correct = 0
    for ex in examples:
        p = parse(ex.text)
        ok = p.intent == ex.intent
        correct += ok
        by_script.setdefault(ex.script, []).append(int(ok))
        if ok:
            tp[ex.intent] += 1
        else:
            fn[ex.intent] += 1
            fp[p.intent] = fp.get(p.intent, 0) + 1
            errors.append((ex.text, ex.intent, p.intent, p.confidence))
    f1 = {}
    for intent in INTENTS:
        denom = 2 * tp[intent] + fp[intent] + fn[intent]
        if denom:
            f1[intent] = 2 * tp[intent] / denom
    crisis_total = tp["crisis"] + fn["crisis"]
    return Report(
        n=len(examples),
        accuracy=correct / len(examples),
        macro_f1=sum(f1.values()) / len(f1),
        crisis_recall=tp["crisis"] / crisis_total if crisis_total else 1.0,
        per_intent_f1=f1,
        accuracy_by_script={k: sum(v) / len(v) for k, v in sorted(by_script.items())},
        errors=errors,
    )


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
NEAR_DUPLICATE_JACCARD = 0.8
"""Two messages whose character-trigram sets overlap this much are the same message for a leak check."""


def leak_key(text: str) -> str:
    """Normalise a message for leak checks: Simplified, lower case, no punctuation, spaces or emoji."""
    simplified = to_simplified(text).lower().replace("'", "").replace("’", "")
    return _PUNCT.sub("", simplified)


def _trigrams(key: str) -> set[str]:
    """Character trigrams of a leak key."""
    return {key[i : i + 3] for i in range(len(key) - 2)} if len(key) >= 3 else {key}


def near_duplicates(texts: list[str], references: list[str]) -> list[tuple[str, str]]:
    """Return (text, reference) pairs that are the same message up to case, script, punctuation or small edits."""
    ref_keys = {leak_key(r): r for r in references}
    index: dict[str, set[str]] = {}
    grams = {k: _trigrams(k) for k in ref_keys if k}
    for key, gs in grams.items():
        for g in gs:
            index.setdefault(g, set()).add(key)
    pairs = []
    for text in texts:
        key = leak_key(text)
        if not key:
            continue
        if key in ref_keys:
            pairs.append((text, ref_keys[key]))
            continue
        mine = _trigrams(key)
        if len(mine) < 4:
            continue
        candidates: dict[str, int] = {}
        for g in mine:
            for other in index.get(g, ()):
                candidates[other] = candidates.get(other, 0) + 1
        for other, shared in candidates.items():
            if shared / len(mine | grams[other]) >= NEAR_DUPLICATE_JACCARD:
                pairs.append((text, ref_keys[other]))
                break
    return pairs


def score_acted(examples: list[Example], decide_on: Callable[[str], tuple[str, str | None]]) -> Report:
    """Score what the bot acts on: decide_on(text) gives (intent acted on, then-intent of a soft crisis or None).

    A soft crisis shows the crisis reply and then answers the next intent X; it counts as right when the message
    is a crisis or is about X (the user got both), and as X otherwise. A "did you mean …?" counts as its first
    guess.
    """
    predicted = []
    for e in examples:
        intent, then = decide_on(e.text)
        if then is not None:
            predicted.append(e.intent if e.intent in ("crisis", then) else then)
        else:
            predicted.append(intent)
    answers = iter(predicted)
    return score(examples, lambda text: Parse(next(answers), 1.0))


def acted_on(parse: Callable[[str], Parse], threshold: float) -> Callable[[str], tuple[str, str | None]]:
    """What the bot acts on for a text (bot/understand.py): (intent, then-intent of a soft crisis or None)."""
    from bot.understand import decide

    def decide_on(text: str) -> tuple[str, str | None]:
        d = decide(parse(text), text, threshold)
        if d.action == "crisis_soft" and d.then is not None:
            return "crisis", d.then.intent
        return d.intent, None

    return decide_on
