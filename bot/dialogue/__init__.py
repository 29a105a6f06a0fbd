"""The conversation core: flows, locale handling and the safety gate; knows nothing about any channel.

`Dialogue` is imported lazily so that `bot.dialogue.types` can be used (e.g. by bot.evidence) without
loading the whole core. Must not import a channel (bot.channels) or a messaging library; the channels
import it (tests/test_architecture.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dialogue.core import Dialogue

__all__ = ["Dialogue"]


def __getattr__(name: str) -> Any:
    """Load Dialogue on first use."""
    if name == "Dialogue":
        from bot.dialogue.core import Dialogue

        return Dialogue
    raise AttributeError(f"module 'bot.dialogue' has no attribute {name!r}")
