"""Which labelled SMS files exist for what: training, spent blind sets, the judged blind set (tests/data)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "tests" / "data"
_SPENT = (*range(1, 60), *range(61, 66), *range(68, 76))
_JUDGED = 60


def blind_path(n: int) -> Path:
    """Return the file of blind set n (set 1 is sms_blind.jsonl)."""
    return DATA_DIR / f"sms_blind{'' if n == 1 else f'_{n}'}.jsonl"


def blind_number(path: Path) -> int:
    """Return the number a blind set is known by (sms_blind.jsonl is 1, sms_blind_7.jsonl is 7)."""
    return 1 if path.stem == "sms_blind" else int(path.stem.rsplit("_", 1)[1])


SMS_BLIND_SETS: tuple[Path, ...] = tuple(blind_path(n) for n in (*_SPENT, _JUDGED))
"""The blind SMS sets in the order they were reported, each written by people who never saw the patterns or the data.

Every one but the last is spent: it was reported, its misses may be read, it is tuned on and the learned layer
trains on it. The last is the one the targets are judged on: chosen before any set of its round was scored, never
read, never tuned or trained on, scored only by the benchmark. A blind set not listed is still blind (frozen for a
later round) and is neither scored nor trained on."""
JUDGED_SMS_SET = SMS_BLIND_SETS[-1]
SPENT_SMS_SETS = SMS_BLIND_SETS[:-1]
