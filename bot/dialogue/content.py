"""User-facing texts: responses/<locale>/*.yml by dotted key, and the flow shapes in responses/flows.yml."""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import LOCALES, ROOT

RESPONSES_DIR = ROOT / "responses"
FLOWS_FILE = RESPONSES_DIR / "flows.yml"

_trace: ContextVar[list[str] | None] = ContextVar("content_trace", default=None)


class ContentError(KeyError):
    """A text key is missing from a locale, or a text needs a placeholder that was not given."""


def _flatten(prefix: str, data: Any, out: dict[str, str]) -> None:
    """Flatten nested mappings (and lists, by index) into dotted keys."""
    if isinstance(data, dict):
        for key, value in data.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _flatten(f"{prefix}.{index}", value, out)
    elif data is not None:
        out[prefix] = str(data)


def load_locale_dir(directory: Path) -> dict[str, str]:
    """Read every *.yml in a locale directory into one map of "<file stem>.<dotted key>" → text."""
    texts: dict[str, str] = {}
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _flatten(path.stem, data, texts)
    return texts


@lru_cache(maxsize=len(LOCALES))
def texts(locale: str) -> dict[str, str]:
    """Return all texts of one locale (loaded once)."""
    if locale not in LOCALES:
        raise ContentError(f"unknown locale {locale!r}")
    return load_locale_dir(RESPONSES_DIR / locale)


@lru_cache(maxsize=1)
def flows() -> dict[str, Any]:
    """Return the flow shapes from responses/flows.yml (loaded once)."""
    data = yaml.safe_load(FLOWS_FILE.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ContentError(f"{FLOWS_FILE}: expected a mapping")
    return data


def placeholders(text: str) -> set[str]:
    """Return the {placeholder} names a text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def has(locale: str, key: str) -> bool:
    """Whether a key exists in a locale."""
    return key in texts(locale)


def t(locale: str, key: str, **values: object) -> str:
    """Return the text for key in locale, with its {placeholders} filled from values."""
    trace = _trace.get()
    if trace is not None:
        trace.append(key)
    try:
        raw = texts(locale)[key]
    except KeyError:
        raise ContentError(f"no text {key!r} in responses/{locale}") from None
    if not values and "{" not in raw:
        return raw.strip()
    try:
        return raw.format_map(values).strip()
    except KeyError as exc:
        raise ContentError(f"text {key!r} ({locale}) needs the placeholder {exc}") from None


def label(locale: str, option_id: str) -> str:
    """Return a button's label (buttons.<option id>)."""
    return t(locale, f"buttons.{option_id}")


@contextmanager
def trace() -> Iterator[list[str]]:
    """Collect the keys of every text looked up inside the block (for tests and debugging)."""
    keys: list[str] = []
    token = _trace.set(keys)
    try:
        yield keys
    finally:
        _trace.reset(token)
