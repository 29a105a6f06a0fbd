"""The intent model's data: the blind and dev sets stay out of training, also as near-duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluate import (
    BLIND_SETS,
    CRISIS_SETS,
    DEV_SET,
    leak_key,
    load_examples,
    near_duplicates,
)
from bot.nlu_types import INTENTS
from bot.train import PROJECT


def _training_texts() -> list[str]:
    """Every training example of the Rasa project."""
    return [e.text for path in sorted((PROJECT / "data" / "nlu").glob("*.yml")) for e in load_examples(path)]


def test_no_training_example_is_a_near_duplicate_of_a_blind_or_dev_message() -> None:
    sets = (*BLIND_SETS, *CRISIS_SETS, DEV_SET)
    references = [e.text for path in sets for e in load_examples(path)]
    leaks = near_duplicates(_training_texts(), references)
    assert not leaks, leaks[:10]


def test_the_near_duplicate_check_sees_through_case_punctuation_script_and_small_edits() -> None:
    refs = ["later", "催收说要起诉我怎么办", "他們說要去我公司鬧"]
    found = near_duplicates(["Later!", "won't", "催收說要起訴我，怎麼辦？", "他们说要去我公司闹啊"], refs)
    assert [t for t, _ in found] == ["Later!", "催收說要起訴我，怎麼辦？", "他们说要去我公司闹啊"]
    assert leak_key("won't") == leak_key("wont")


@pytest.mark.parametrize("path", BLIND_SETS, ids=[f"blind {n}" for n in range(1, len(BLIND_SETS) + 1)])
def test_each_blind_set_covers_every_intent_in_every_script(path: Path) -> None:
    blind = load_examples(path)
    assert len(blind) >= 420
    for intent in INTENTS:
        assert sum(e.intent == intent for e in blind) >= 25, intent
    for script in ("zh-Hans", "zh-Hant", "en"):
        assert sum(e.script == script for e in blind) >= 100, script
