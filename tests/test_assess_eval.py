"""scripts/eval_sms.py: the per-file evaluation scores tuning files and refuses blind sets still blind."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    """Import scripts/eval_sms.py as a module."""
    spec = importlib.util.spec_from_file_location("eval_sms", ROOT / "scripts" / "eval_sms.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "path",
    [
        "tests/data/sms_blind_60.jsonl",
        "tests/data/../data/sms_blind_60.jsonl",
        "tests/data/sms_blind_66.jsonl",
        "tests/data/sms_blind_67.jsonl",
        "elsewhere/SMS_BLIND_60.jsonl",
        "copies/blind60/sms.jsonl",
        "elsewhere/sms_blind_2.jsonl",
    ],
)
def test_blind_sets_still_blind_are_refused(path: str) -> None:
    """Asking for the judged blind set (or a later one, or a copy elsewhere) stops before the file is opened."""
    mod = _load()
    with pytest.raises(SystemExit) as exc:
        mod.refuse_blind(Path(path))
    assert "not evaluated" in str(exc.value)


@pytest.mark.parametrize(
    "path",
    [
        "tests/data/sms_blind.jsonl",
        "tests/data/sms_blind_2.jsonl",
        "tests/data/sms_blind_3.jsonl",
        "tests/data/sms_blind_17.jsonl",
        "tests/data/sms_blind_20.jsonl",
        "tests/data/sms_blind_23.jsonl",
        "tests/data/sms_blind_26.jsonl",
        "tests/data/sms_blind_28.jsonl",
        "tests/data/sms_blind_29.jsonl",
        "tests/data/sms_blind_31.jsonl",
        "tests/data/sms_blind_34.jsonl",
        "tests/data/sms_blind_45.jsonl",
        "tests/data/sms_blind_32.jsonl",
        "tests/data/sms_blind_51.jsonl",
        "tests/data/sms_blind_33.jsonl",
        "tests/data/sms_blind_59.jsonl",
        "tests/data/sms_voices.jsonl",
    ],
)
def test_spent_blind_sets_and_tuning_files_are_allowed(path: str) -> None:
    """The blind sets before the judged one have been reported and are tuning material now, like the voices files."""
    mod = _load()
    mod.refuse_blind(ROOT / path)
