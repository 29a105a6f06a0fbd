"""Evidence: the hash chain, parsing of incidents, the harassment pattern and the files built from the log.

Submodules are imported where they are used (bot.store imports bot.evidence.chain, which must not pull in the
pack builders that themselves import bot.store). Of the dialogue, only its texts (bot.dialogue.content) and
the attachment type (bot.dialogue.types) may be used; never the core or a channel (tests/test_architecture.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_complaint_pack", "export_evidence_log"]


def __getattr__(name: str) -> Any:
    """Load the pack builders on first use."""
    if name in __all__:
        from bot.evidence import pack

        return getattr(pack, name)
    raise AttributeError(name)
