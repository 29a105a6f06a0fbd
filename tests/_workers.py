"""Bot worker processes (`python -m bot run`: Telegram webhook mode, or the WeChat callback) for the multi-worker
and fault tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:TEST-fake-token-for-the-local-bot-api"
SECRET = "workers-test-secret"
SMS = (
    "【XX金融】您在我司的借款已逾期90天，已移交法务部。今天不还款，将联系您的单位和通讯录联系人，"
    "并冻结您名下的银行卡。"
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """One `python -m bot run` process serving the Telegram webhook (or, with wechat, the WeChat callback)."""

    def __init__(
        self,
        folder: Path,
        name: str,
        api_url: str,
        store_url: str,
        key: str,
        nlu_url: str | None,
        extra_env: dict[str, str] | None = None,
        store_settings: dict[str, Any] | None = None,
        wechat: dict[str, Any] | None = None,
    ) -> None:
        """A worker asking the NLU server at nlu_url, or loading the model itself when nlu_url is None.

        wechat: settings of the WeChat channel (config.yaml's wechat section); the worker then serves the
        WeChat callback on its port with the fake platform's token, and no Telegram.
        """
        self.folder, self.name, self.port = folder, name, free_port()
        self.wechat = wechat
        self.config = folder / f"{name}.yaml"
        self.log = folder / f"{name}.log"
        nlu = (
            {"backend": "inprocess"}
            if nlu_url is None
            else {"backend": "http", "server_url": nlu_url, "server_timeout_s": 2.0}
        )
        channel: dict[str, Any] = (
            {"wechat": {"listen": "127.0.0.1", "port": self.port, "path": "/wechat", **wechat}}
            if wechat is not None
            else {}
        )
        self.config.write_text(
            yaml.safe_dump(
                {
                    **channel,
                    "nlu": nlu,
                    "store": {"pool_size": 8, "key_file": str(folder / "unused.key"), **(store_settings or {})},
                    "telegram": {
                        "mode": "webhook",
                        "api_url": api_url,
                        "rate_limit": False,
                        "webhook": {
                            "listen": "127.0.0.1",
                            "port": self.port,
                            "url_path": "telegram",
                            "public_url": "https://bot.example.invalid/telegram",
                        },
                    },
                    "logging": {"level": "WARNING"},
                }
            )
        )
        self.env = {
            **os.environ,
            "BOT_CONFIG": str(self.config),
            "BOT_STORE_URL": store_url,
            "BOT_DATA_KEY": key,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "RASA_TELEMETRY_ENABLED": "false",
            **(extra_env or {}),
        }
        for name in ("WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
            if name not in (extra_env or {}):
                self.env.pop(name, None)
        if wechat is not None:
            from tests.fake_wechat import TOKEN as WECHAT_TOKEN

            self.env.pop("TELEGRAM_BOT_TOKEN")
            self.env.pop("TELEGRAM_WEBHOOK_SECRET")
            self.env["WECHAT_TOKEN"] = WECHAT_TOKEN
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where updates (Telegram) or callbacks (WeChat) are posted."""
        return f"http://127.0.0.1:{self.port}/{'wechat' if self.wechat is not None else 'telegram'}"

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Worker:
        """Start the process (returns at once; see wait_healthy)."""
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        return self

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Wait until GET /health answers 200 (WeChat: until a signed server verification is echoed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.tail()}"
            try:
                with urllib.request.urlopen(self._health_url(), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not become healthy:\n{self.tail()}")

    def _health_url(self) -> str:
        """What wait_healthy asks."""
        if self.wechat is None:
            return f"http://127.0.0.1:{self.port}/health"
        from tests.fake_wechat import TOKEN as WECHAT_TOKEN
        from tests.fake_wechat import sign

        stamp, nonce = str(int(time.time())), os.urandom(6).hex()
        query = {"signature": sign(WECHAT_TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, "echostr": "1"}
        return f"{self.url}?{urllib.parse.urlencode(query)}"

    def health(self) -> dict[str, Any]:
        """What GET /health answers now ({} when the worker does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp:
                return dict(json.loads(resp.read()))
        except (OSError, ValueError):
            return {}

    def wait_model(self, timeout: float = 180.0) -> None:
        """Wait until the worker's health report says its NLU model is loaded."""
        deadline = time.monotonic() + timeout
        while self.health().get("nlu") != "ready":
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"{self.name}: model not loaded:\n{self.tail()}"
            time.sleep(0.5)

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a container runtime stops a worker; return the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.tail()}") from None
        return int(self.proc.returncode)

    def tail(self, n: int = 40) -> str:
        """The last lines of the worker's output."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


async def post(session: aiohttp.ClientSession, pick: Any, update: dict[str, Any], retry_s: float = 60.0) -> int:
    """Deliver an update as Telegram does: again (after a pause) while the workers answer an error or are away.

    pick() names the worker for each try (the round-robin in front of the workers).
    """
    deadline = time.monotonic() + retry_s
    pause = 0.05
    while True:
        try:
            async with session.post(
                pick(),
                data=json.dumps(update),
                headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as resp:
                await resp.read()
                if resp.status == 200 or time.monotonic() > deadline:
                    return resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                return 0
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)
