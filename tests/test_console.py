"""The terminal chat: replies printed, buttons numbered, a number presses one, scripts replay, files saved."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bot.channels.console import run_console
from bot.config import Config
from bot.dialogue import Dialogue, content
from bot.store import Store
from tests._dialogue import make_dialogue
from tests._fake_parser import FakeParser


def _dialogue(cfg: Config, tmp_path: Path, parser: Any = None) -> Dialogue:
    return make_dialogue(cfg, parser or FakeParser(), Store(tmp_path / "bot.sqlite3", Fernet.generate_key()))


def _run(dialogue: Dialogue, stdin: str = "", script: Path | None = None, export_dir: Path | None = None) -> str:
    out = io.StringIO()
    code = asyncio.run(run_console(dialogue, io.StringIO(stdin), out, script=script, export_dir=export_dir))
    assert code == 0
    return out.getvalue()


def test_a_script_is_replayed_with_echo_and_numbers_press_buttons(cfg: Config, tmp_path: Path) -> None:
    script = tmp_path / "demo.txt"
    script.write_text("# a comment line is skipped\n你好\n2\n1\n/quit\n这一行不会被发送\n", encoding="utf-8")
    out = _run(_dialogue(cfg, tmp_path), script=script)
    assert "> 你好" in out and "> 2" in out and "> 1" in out and "这一行" not in out
    assert f"1) {content.label('zh-Hans', 'flow:stay_calm')}" in out
    assert content.t("zh-Hans", "false_threat.choose") in out  # "2" pressed the second menu button
    assert content.t("zh-Hans", "false_threat.jail").splitlines()[0] in out  # then "1" picked the first threat
    assert out.rstrip().endswith(content.t("zh-Hans", "console.bye"))


def test_end_of_input_ends_the_chat(cfg: Config, tmp_path: Path) -> None:
    out = _run(_dialogue(cfg, tmp_path), stdin="hello there\n")
    assert content.t("en", "common.greet") in out
    assert out.rstrip().endswith(content.t("en", "console.bye"))


def test_a_number_without_buttons_is_sent_as_text(cfg: Config, tmp_path: Path) -> None:
    out = _run(_dialogue(cfg, tmp_path), stdin="/plan\n某银行\n3\n12000\n")
    assert content.t("zh-Hans", "plan.ask_rate") in out  # "3" chose a kind, "12000" was the amount


def test_attachments_are_saved_to_files(cfg: Config, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    # the SMS is assessed; 1) saves it to the log; 2) makes the complaint pack
    out = _run(_dialogue(cfg, tmp_path), stdin="【XX】您已逾期，将通知您的家人，退订回T\n1\n2\n", export_dir=exports)
    files = list(exports.glob("complaint-pack-*.md"))
    assert len(files) == 1 and str(files[0]) in out
    assert files[0].stat().st_mode & 0o077 == 0


def test_export_saves_the_pdf_and_prints_its_path_but_not_for_an_empty_log(cfg: Config, tmp_path: Path) -> None:
    from bot.evidence.pdf import find_cjk_font

    exports = tmp_path / "exports"
    dialogue = _dialogue(cfg, tmp_path)
    out = _run(dialogue, stdin="/export\n", export_dir=exports)
    assert content.t("zh-Hans", "evidence.empty") in out and not exports.exists()
    out = _run(dialogue, stdin="【XX】您已逾期，将通知您的家人，退订回T\n1\n/export\n", export_dir=exports)
    files = list(exports.glob("complaint-file-*.pdf" if find_cjk_font() else "complaint-pack-*.md"))
    assert len(files) == 1 and str(files[0]) in out
    assert files[0].read_bytes().startswith(b"%PDF" if find_cjk_font() else b"#")
