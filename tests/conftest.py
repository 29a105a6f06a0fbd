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
