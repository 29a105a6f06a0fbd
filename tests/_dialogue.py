"""The one way tests put a dialogue core together: bot/app.py's build_dialogue, with test parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from bot.app import build_dialogue
from bot.config import Config
from bot.dialogue import Dialogue
from bot.store import Store


def text_ocr(image: bytes) -> str:
    """A screenshot reader for tests: the "image" is the UTF-8 text it shows."""
    return image.decode("utf-8")


def make_dialogue(
    cfg: Config,
    parser: Any,
    store: Store,
    ocr: Callable[[bytes], str] | None | Literal["installed"] = text_ocr,
) -> Dialogue:
    """Wire the core as bot/app.py does, with this parser, store and screenshot reader ("installed": the real one)."""
    return build_dialogue(cfg, parser=parser, store=store, ocr=ocr)


def words_in_logs(records: list[Any], words: list[str]) -> list[tuple[str, str]]:
    """(logger, word) for every captured log record whose message, arguments or traceback holds one of the words."""
    found = []
    for record in records:
        parts = [record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info or "")]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(str(record.exc_info[1]))
        blob = "\n".join(parts)
        found += [(record.name, w) for w in words if w in blob]
    return found
