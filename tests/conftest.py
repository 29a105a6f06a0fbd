"""Shared fixtures: the real trained Rasa model, loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

for _k, _v in {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}.items():
    os.environ.setdefault(_k, _v)

from bot.config import Config, load_config  # noqa: E402
from bot.store import BaseStore, PostgresStore, Store  # noqa: E402
from tests._pg import SKIP_REASON, PgServer, available, in_ci  # noqa: E402

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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the session; skipped without PostgreSQL, but never under CI (CI=true fails)."""
    server = PgServer()
    if not server.start():
        if in_ci():
            pytest.fail(
                "PostgreSQL is not available, and CI must run the PostgreSQL tests "
                "(make setup installs it: scripts/pg-test-server.sh install)"
            )
        pytest.skip(SKIP_REASON)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A URL of an empty schema of the session's PostgreSQL server, dropped after the test."""
    url = pg_server.new_schema()
    yield url
    pg_server.drop_schema(url)


StoreFactory = Callable[[bytes], BaseStore]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on each storage engine."""
    return str(request.param)


@pytest.fixture
def open_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Open a store on one database of the test's backend (call again to reopen it, as after a restart)."""
    opened: list[BaseStore] = []
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")

        def factory(key: bytes) -> BaseStore:
            opened.append(PostgresStore(url, key, pool_size=4))
            return opened[-1]
    else:
        path = tmp_path / "data" / "bot.sqlite3"

        def factory(key: bytes) -> BaseStore:
            opened.append(Store(path, key))
            return opened[-1]

    yield factory
    for store in opened:
        store.close()


def _needs_postgres(item: pytest.Item) -> bool:
    """Whether a test runs on PostgreSQL."""
    names = getattr(item, "fixturenames", ())
    callspec = getattr(item, "callspec", None)
    on_pg = callspec is not None and callspec.params.get("backend") == "postgres"
    return on_pg or "pg_server" in names or "pg_url" in names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL (and outside CI), leave its tests out and say so once at the end."""
    wanted = [i for i in items if _needs_postgres(i)]
    if not wanted or in_ci() or available():
        return
    config.hook.pytest_deselected(items=wanted)
    items[:] = [i for i in items if not _needs_postgres(i)]
    config.stash[_PG_LEFT_OUT] = len(wanted)


_PG_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The one line that says the PostgreSQL tests did not run."""
    left_out = config.stash.get(_PG_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{SKIP_REASON} ({left_out} tests)", yellow=True)


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
