"""The command line as a user runs it: `python -m bot …` in a subprocess, exit codes and what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ROOT

pytestmark = pytest.mark.usefixtures("parser")  # the trained model exists before any command looks for it


def run_bot(
    *args: str, config: Path | None = None, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` from the repository, without any channel token in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_", "BOT_"))}
    if config is not None:
        env["BOT_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
        timeout=timeout,
    )


def private_config(tmp_path: Path, extra: str = "", model_dir: Path | None = None) -> Path:
    """A config file whose store lives in tmp_path (and whose model, if given, too)."""
    lines = [f"store:\n  url: sqlite:///{tmp_path / 'bot.sqlite3'}\n  key_file: {tmp_path / 'secret.key'}\n"]
    if model_dir is not None:
        lines.append(f"nlu:\n  model_dir: {model_dir}\n")
    path = tmp_path / "config.yaml"
    path.write_text("".join(lines) + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["run", "shell"])
def test_a_mistyped_bot_config_path_is_an_error_not_the_defaults(tmp_path: Path, command: str) -> None:
    done = run_bot(command, config=tmp_path / "confg.yaml")
    assert done.returncode == 2, done.stderr
    assert "config error: BOT_CONFIG" in done.stderr and "confg.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_setting_names_the_key_and_exits_2(tmp_path: Path) -> None:
    config = private_config(tmp_path, "locale:\n  default: fr\n")
    done = run_bot("run", config=config)
    assert done.returncode == 2
    assert "config error: locale.default: 'fr' is not allowed" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_model_says_how_to_train_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    done = run_bot("shell", config=private_config(tmp_path, model_dir=tmp_path / "models"), stdin="你好\n")
    assert done.returncode == 2
    assert "no trained model" in done.stderr and "make train" in done.stderr and "Traceback" not in done.stderr


def test_a_broken_model_says_so_and_exits_2(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "nlu.tar.gz").write_bytes(b"not a model at all")
    done = run_bot("shell", config=private_config(tmp_path, model_dir=models), stdin="你好\n")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "could not load the model" in done.stderr and "make train FORCE=1" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_without_tokens_opens_the_terminal_chat_on_the_real_model(tmp_path: Path) -> None:
    from bot.dialogue import content

    script = tmp_path / "demo.txt"
    script.write_text("他们说我再不还钱就要坐牢，是真的吗\n/quit\n", encoding="utf-8")
    done = run_bot("run", "--script", str(script), config=private_config(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "starting the terminal chat" in done.stdout
    assert content.t("zh-Hans", "false_threat.jail").splitlines()[0] in done.stdout  # the model understood


def test_train_skips_an_up_to_date_model_and_validate_passes() -> None:
    done = run_bot("train")
    assert done.returncode == 0 and "up to date" in done.stdout
    done = run_bot("validate")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
