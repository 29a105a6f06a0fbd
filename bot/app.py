"""Composition root: settings → intent parser → store → dialogue core (used by every channel)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Literal

from bot.config import Config
from bot.dialogue import Dialogue
from bot.nlu import InProcessParser, build_parser, quiet_rasa
from bot.nlu_types import Parser
from bot.offload import run_bridged
from bot.store import BaseStore, StoreError

log = logging.getLogger(__name__)


def load_ocr() -> Callable[[bytes], str] | None:
    """Return the screenshot reader, or None when OCR is not installed."""
    try:
        from bot.ocr import read_text
    except ImportError:
        log.warning("OCR is not available: screenshots will be refused politely")
        return None
    return read_text


def build_dialogue(
    cfg: Config,
    wait_for_model: bool = False,
    *,
    parser: Parser | None = None,
    store: BaseStore | None = None,
    ocr: Callable[[bytes], str] | None | Literal["installed"] = "installed",
) -> Dialogue:
    """Wire the dialogue core; the model loads in the background unless wait_for_model is set.

    The parser, the store and the screenshot reader come from the settings unless given (tests give them);
    a parser given is used as it is (loaded or not).
    """
    quiet_rasa()
    if parser is None:
        built = build_parser(cfg)
        if isinstance(built, InProcessParser):
            if wait_for_model:
                started = time.monotonic()
                print("正在加载模型 / loading the language model…", file=sys.stderr, flush=True)
                built.load()
                print(f"(ready in {time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
            else:
                built.start_loading()
        parser = built
    reader = load_ocr() if ocr == "installed" else ocr
    return Dialogue(cfg, parser, store if store is not None else BaseStore.from_config(cfg), ocr=reader)


async def health_report(dialogue: Dialogue) -> dict[str, object]:
    """What GET /health answers: healthy while the store answers (the bot works without the NLU model)."""
    report: dict[str, object] = {"ok": True, "store": "ok", "nlu": "ready" if dialogue.parser.ready else "loading"}
    try:
        await run_bridged(dialogue.store.ping)
    except StoreError as exc:
        log.warning("health check: %s", exc)
        report.update(ok=False, store="unreachable")
    return report
