"""Import rules between the parts of the bot: the dialogue core knows no channel; the layers below know no dialogue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
CHANNEL_LIBS = ("telegram", "wechatpy", "aiohttp")
LOWER_LAYERS = (
    "assess",
    "nlu",
    "nlu_types",
    "store",
    "understand",
    "platforms",
    "safety",
    "textnorm",
    "plan",
    "jurisdiction",
    "ocr",
    "offload",
    "config",
)
EVIDENCE_MAY_USE = ("bot.dialogue.content", "bot.dialogue.types")
"""The complaint files need the texts and the attachment type, nothing else of the dialogue."""


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(part: str) -> list[Path]:
    """The Python files of one part of the package (a module or a sub-package)."""
    single = BOT / f"{part}.py"
    return [single] if single.exists() else sorted((BOT / part).rglob("*.py"))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_dialogue_core_never_imports_a_channel_or_a_messaging_library() -> None:
    bad = [
        (str(p.relative_to(BOT)), name)
        for p in _files("dialogue")
        for name in _imports(p)
        if _under(name, "bot.channels") or any(_under(name, lib) for lib in CHANNEL_LIBS)
    ]
    assert not bad, bad


@pytest.mark.parametrize("part", LOWER_LAYERS)
def test_lower_layers_never_import_the_dialogue_or_a_channel(part: str) -> None:
    bad = [
        (str(p.relative_to(BOT)), name)
        for p in _files(part)
        for name in _imports(p)
        if _under(name, "bot.dialogue") or _under(name, "bot.channels") or _under(name, "bot.app")
    ]
    assert not bad, bad


def test_evidence_uses_only_the_texts_and_the_attachment_type_of_the_dialogue() -> None:
    bad = [
        (str(p.relative_to(BOT)), name)
        for p in _files("evidence")
        for name in _imports(p)
        if (_under(name, "bot.dialogue") and name not in EVIDENCE_MAY_USE) or _under(name, "bot.channels")
    ]
    assert not bad, bad


def test_every_module_says_what_it_is() -> None:
    missing = [str(p.relative_to(BOT)) for p in BOT.rglob("*.py") if not ast.get_docstring(ast.parse(p.read_text()))]
    assert not missing, missing
