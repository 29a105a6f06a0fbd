"""The texts the rule tests run every pattern over, and which rules and lawful phrases match each (computed once)."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

from bot.assess.engine import _rule_index
from bot.assess.normalize import normalise
from bot.assess.rules import get_rules

DATA = Path(__file__).parent / "data"
# texts where engines and folds could disagree: full-width letters, letters Python folds with ASCII ones, a space only
# Python's \s knows, a letter newer than Hyperscan's Unicode tables beside English words, digits of other scripts
TRICKY = (
    "ＰＡＹ ＹＯＵＲ ＤＥＢＴ",
    "ÖFFNEN İstanbul",
    "ſcam ſafe account, KILL YOU, İ WILL FIND YOU",
    "we will\x1ccontact\x1cyour\x1cfamily",
    "\U0001e900jail\U0001e900 police\U0001e922 are coming",
    "转账到٣٤٥٦٧٨٩٠١٢账户",
    "ΣΑΣ ΘΑ ΒΡΟΥΜΕ 你全家",
)


@functools.cache
def every_text() -> tuple[str, ...]:
    """Every labelled SMS, every rule's example and counter-example, lawful examples, shuffled and tricky texts."""
    rules = get_rules()
    texts = [
        json.loads(line)["text"]
        for path in sorted(DATA.glob("sms_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts += [r.example for r in rules.rules()] + [c for r in rules.rules() for c in r.counter_examples]
    texts += [lw.example for lw in rules.lawful]
    rng = random.Random(11)
    pool = "".join(texts[:400])
    texts += ["".join(rng.choice(pool) for _ in range(300)) for _ in range(50)]  # shuffled characters
    return (*texts, *TRICKY)


@functools.cache
def matches() -> tuple[tuple[str, str, frozenset[int], frozenset[int]], ...]:
    """(text, normalised text, positions of the rules and of the lawful phrases whose regex finds a match in it)."""
    rules = get_rules()
    flat = _rule_index(rules).rules
    out = []
    for t in every_text():
        norm = normalise(t).text
        hit_rules = frozenset(i for i, rule in enumerate(flat) if rule.regex.search(norm))
        hit_lawful = frozenset(i for i, lw in enumerate(rules.lawful) if lw.regex.search(norm))
        out.append((t, norm, hit_rules, hit_lawful))
    return tuple(out)
