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
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
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


def _start_unreachable(tmp_path: Path, api_url: str) -> subprocess.Popen[str]:
    """`python -m bot run` with a Telegram token and a Bot API nobody answers at (NLU off: nothing to load)."""
    from tests.fake_bot_api import TOKEN

    config = private_config(
        tmp_path, f"nlu:\n  backend: http\n  server_url: {api_url}\ntelegram:\n  api_url: {api_url}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_", "BOT_"))}
    env.update(BOT_CONFIG=str(config), TELEGRAM_BOT_TOKEN=TOKEN)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _lines_until(proc: subprocess.Popen[str], wanted: str, limit: int = 20) -> list[str]:
    """Read the process's output line by line until a line contains `wanted` (or it ends, or `limit` lines)."""
    assert proc.stdout is not None
    lines: list[str] = []
    while len(lines) < limit:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if wanted in line:
            break
    return lines


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("where", "reason"),
    [("closed port", "refused the connection"), ("unresolvable host", "cannot be resolved")],
)
def test_telegram_unreachable_at_start_says_why_and_how_retries_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, where: str, reason: str
) -> None:
    import signal

    api_url = f"http://127.0.0.1:{_closed_port()}" if where == "closed port" else "http://api.invalid"
    proc = _start_unreachable(tmp_path, api_url)
    try:
        lines = _lines_until(proc, "attempt 3")
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    out = lines + rest.splitlines()
    first = out[0]
    assert "Telegram unreachable" in first and reason in first, out
    assert "HTTPS_PROXY" in first and "network" in first
    assert any("still unreachable (attempt 2)" in line for line in out)  # it tries again by itself…
    assert any("still unreachable (attempt 3)" in line for line in out)
    assert "Traceback" not in "\n".join(out) and "Unclosed" not in "\n".join(out)
    assert len(out) <= 5, out  # one line per attempt and one on stopping: no tracebacks, no noise
    assert proc.returncode in (0, 130), out  # …and Ctrl-C ends it cleanly


def test_the_bot_connects_by_itself_once_telegram_becomes_reachable(tmp_path: Path) -> None:
    import signal

    from tests.fake_bot_api import FakeBotApi

    port = _closed_port()
    proc = _start_unreachable(tmp_path, f"http://127.0.0.1:{port}")
    fake = FakeBotApi()
    try:
        assert "Telegram unreachable" in _lines_until(proc, "unreachable")[-1]
        fake.start(port)  # the network comes back (a proxy was set up, the firewall opened…)
        assert "reached the Bot API" in _lines_until(proc, "reached the Bot API")[-1]
        fake.wait_for("getUpdates", timeout=30)  # polling
        chat = 4242
        fake.push_update(fake.text_update(chat, "/start"))
        fake.wait_for("sendMessage", lambda c: c.chat_id == chat, timeout=30)  # and answering
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
        fake.stop()
    assert proc.returncode in (0, 130) and "Traceback" not in rest, rest


def test_a_token_the_bot_api_rejects_is_a_config_error_in_one_line(tmp_path: Path) -> None:
    from tests.fake_bot_api import FakeBotApi

    with FakeBotApi() as fake:
        config = private_config(
            tmp_path,
            f"nlu:\n  backend: http\n  server_url: http://127.0.0.1:9\n"
            f"telegram:\n  api_url: http://127.0.0.1:{fake.port}\n",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_", "BOT_"))}
        env.update(BOT_CONFIG=str(config), TELEGRAM_BOT_TOKEN="999:not-the-bots-token")
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "config error: TELEGRAM_BOT_TOKEN was rejected by the Bot API: copy the token again from @BotFather"
    ]


@pytest.mark.parametrize(
    ("level", "interactive", "expected"),
    [("DEBUG", False, "DEBUG"), ("ERROR", False, "ERROR"), ("INFO", True, "WARNING"), ("ERROR", True, "ERROR")],
)
def test_the_configured_log_level_reaches_the_bot_but_never_clutters_the_terminal_chat(
    tmp_path: Path, level: str, interactive: bool, expected: str
) -> None:
    import logging

    from bot.__main__ import apply_logging
    from bot.config import load_config

    path = private_config(tmp_path, extra=f"logging:\n  level: {level}\n")
    logger = logging.getLogger("bot")
    before = logger.level
    try:
        apply_logging(load_config(path), interactive=interactive)
        assert logging.getLevelName(logger.getEffectiveLevel()) == expected
    finally:
        logger.setLevel(before)
