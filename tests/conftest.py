"""Shared fixtures: the real trained Rasa model, loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

for _k, _v in {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
               "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}.items():
    os.environ.setdefault(_k, _v)

from bot.config import Config, load_config  # noqa: E402

if TYPE_CHECKING:
    from bot.nlu import InProcessParser


@pytest.fixture(scope="session")
def cfg() -> Config:
    """The project's config.yaml, as the bot loads it."""
    return load_config(env={})


@pytest.fixture(scope="session")
def parser(cfg: Config) -> Iterator[InProcessParser]:
    """The real in-process Rasa parser with the trained model (trained first if it is missing or stale)."""
    from bot.nlu import InProcessParser
    from bot.train import train

    train()
    p = InProcessParser.from_config(cfg).load()
    yield p


def in_ci() -> bool:
    """Whether the suite runs in CI (CI=true), where a missing capability is an error, never a skip."""
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_capabilities() -> list[str]:
    """Capabilities some tests need that this machine lacks, each with how to get it."""
    from tests.fake_bot_api import find_cjk_font

    missing = []
    if find_cjk_font() is None:
        missing.append("a Chinese font (scripts/install-font.sh, or apt-get install fonts-wqy-microhei)")
    try:
        import bot.ocr  # noqa: F401
    except ImportError as exc:
        missing.append(f"the screenshot reader bot.ocr ({exc}; reinstall requirements.txt)")
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI=true, stop at once with a clear error when a required capability is missing."""
    if in_ci():
        missing = missing_capabilities()
        if missing:
            raise pytest.UsageError("CI=true but this machine lacks: " + "; ".join(missing))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped test fails: CI must not be green without the path it skipped."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under CI=true, which must run every test: {reason}"
