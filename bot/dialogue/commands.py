"""The one table of slash commands: the Telegram menu and /help are both built from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dialogue.content import t

MAX_DESCRIPTION_CHARS = 256
"""Telegram's limit for a command description (telegram.constants.BotCommandLimit.MAX_DESCRIPTION)."""

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Command:
    """A slash command: its name (without "/") and the key of its short description in responses."""

    name: str
    key: str


COMMANDS: list[Command] = [
    Command("start", "commands.start"),
    Command("help", "commands.help"),
    Command("check", "commands.check"),
    Command("evidence", "commands.evidence"),
    Command("export", "commands.export"),
    Command("complain", "commands.complain"),
    Command("plan", "commands.plan"),
    Command("language", "commands.language"),
    Command("privacy", "commands.privacy"),
    Command("delete", "commands.delete"),
    Command("cancel", "commands.cancel"),
]
NAMES = frozenset(c.name for c in COMMANDS)


def command_menu(locale: str) -> list[tuple[str, str]]:
    """Return (command, short description) pairs in the given locale, in menu order."""
    return [(c.name, t(locale, c.key)[:MAX_DESCRIPTION_CHARS]) for c in COMMANDS]


def parse_command(text: str) -> tuple[str, str] | None:
    """Split "/start payload" (or "/help@SomeBot") into (name, payload); None if text is not a command."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()
