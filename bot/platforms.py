"""Lender and app names (the `platform` lookup table of the Rasa data) and what kind of lender each is.

Lets a question step take a typed name ("信用飞", "招商银行") as its answer. The names come from
rasa_project/data/nlu/lookups.yml, the same table the intent model's entity extractor uses.
Must not import the dialogue or a channel.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.config import ROOT
from bot.understand import normalise_for_match

LOOKUP_FILE = ROOT / "rasa_project" / "data" / "nlu" / "lookups.yml"
MIN_LATIN_NAME = 4
"""Latin-script names shorter than this ("WeLab" is fine, "Ant" is not) are too ambiguous to match."""

# The kind of a lender by a word in its name, checked in this order; anything else is an online platform.
_KIND_WORDS = (
    ("credit_card", ("信用卡", "credit card")),
    ("bank", ("银行", "bank")),
    ("consumer_finance", ("消费金融", "消金", "consumer finance")),
    ("small_loan", ("小贷", "小额贷款", "microcredit", "small loan")),
)


def kind_of(name: str) -> str:
    """Return the lender kind of a name: credit_card, bank, consumer_finance, small_loan or online_platform."""
    norm = normalise_for_match(name)
    for kind, words in _KIND_WORDS:
        if any(w in norm for w in words):
            return kind
    return "online_platform"


@lru_cache(maxsize=1)
def _names() -> tuple[tuple[str, str], ...]:
    """Return (normalised name, display name) pairs, longest first."""
    try:
        raw = yaml.safe_load(LOOKUP_FILE.read_text(encoding="utf-8")) or {}
    except OSError:
        return ()
    names: dict[str, str] = {}
    for item in raw.get("nlu") or []:
        if item.get("lookup") != "platform":
            continue
        for line in str(item.get("examples", "")).splitlines():
            name = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
            if not name or (name.isascii() and len(name) < MIN_LATIN_NAME):
                continue
            names.setdefault(normalise_for_match(name), name)
    return tuple(sorted(names.items(), key=lambda kv: len(kv[0]), reverse=True))


def find_platform(text: str) -> tuple[str, str] | None:
    """Return (the name as the user wrote it, its kind) for the first lender named in the text, or None."""
    text = text[:2000]
    norm = normalise_for_match(text)
    best: tuple[int, int, str] | None = None  # (start, -length, table name)
    for key, name in _names():
        start = norm.find(key)
        while start != -1:
            end = start + len(key)
            boundary_ok = not key.isascii() or (
                (start == 0 or not norm[start - 1].isalnum()) and (end == len(norm) or not norm[end].isalnum())
            )
            if boundary_ok:
                if best is None or (start, -len(key)) < best[:2]:
                    best = (start, -len(key), name)
                break
            start = norm.find(key, start + 1)
    if best is None:
        return None
    start, neg_len, name = best
    written = text[start : start - neg_len] if len(norm) == len(text) else name
    return written, kind_of(name)
