"""Terminal chat: type messages, see replies; buttons are numbered and a number presses one.

`--script FILE` replays the lines of FILE (each echoed as "> line") for demos and tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TextIO

from bot.config import ROOT
from bot.dialogue import content
from bot.dialogue.locale import detect_script
from bot.dialogue.types import Incoming, Option, Reply

QUIT = "/quit"
DEFAULT_EXPORT_DIR = ROOT / "data" / "exports"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class Handler(Protocol):
    """Anything with the dialogue core's handle method."""

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one message."""
        ...


def _lines(stdin: TextIO, script: Path | None) -> Iterator[str | None]:
    """Yield input lines (without the newline) from the script file or stdin; None at the end."""
    if script is not None:
        for line in script.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield line
        yield None
        return
    while True:
        line = stdin.readline()
        if not line:
            yield None
            return
        yield line.rstrip("\r\n")


def _locale_of(replies: list[Reply], fallback: str) -> str:
    """Guess the locale the bot answered in, for the console's own few words."""
    for reply in replies:
        found = detect_script(reply.text)
        if found:
            return found
    return fallback


def _save(attachment_name: str, data: bytes, directory: Path) -> Path:
    """Write an attachment under directory with a safe file name and return its path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / (_SAFE_NAME.sub("_", attachment_name) or "file")
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def render(replies: list[Reply], locale: str, export_dir: Path) -> tuple[str, list[Option]]:
    """Format replies for the terminal: text, attachments saved to files, buttons as "1) label"."""
    out: list[str] = []
    options: list[Option] = []
    for reply in replies:
        out.append(reply.text)
        for file in reply.attachments:
            path = _save(file.filename, file.data, export_dir)
            out.append(content.t(locale, "console.attachment", filename=file.filename, size=len(file.data), path=path))
        if reply.options:
            options = list(reply.options)
    if options:
        out.extend(f"{n}) {o.label}" for n, o in enumerate(options, start=1))
    return "\n".join(out), options


async def run_console(
    dialogue: Handler,
    stdin: TextIO,
    stdout: TextIO,
    script: Path | None = None,
    user_id: str = "console",
    export_dir: Path | None = None,
    locale: str = "zh-Hans",
) -> int:
    """Chat in the terminal until "/quit" or end of input; return the exit status."""
    export_dir = export_dir or DEFAULT_EXPORT_DIR
    loop = asyncio.get_running_loop()
    stdout.write(content.t(locale, "console.hint") + "\n")
    stdout.flush()
    options: list[Option] = []
    lines = _lines(stdin, script)
    while True:
        line = await loop.run_in_executor(None, next, lines) if script is None else next(lines)
        if line is None:
            break
        if script is not None:
            stdout.write(f"> {line}\n")
        text = line.strip()
        if text == QUIT:
            break
        if text.isdigit() and options and 1 <= int(text) <= len(options):
            chosen = options[int(text) - 1]
            incoming = Incoming(user_id, text=chosen.label, option_id=chosen.id)
        else:
            incoming = Incoming(user_id, text=line)
        replies = await dialogue.handle(incoming)
        locale = _locale_of(replies, locale)
        shown, new_options = render(replies, locale, export_dir)
        options = new_options
        stdout.write(shown + "\n\n")
        stdout.flush()
    stdout.write(content.t(locale, "console.bye") + "\n")
    stdout.flush()
    return 0
