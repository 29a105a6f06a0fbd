"""A throwaway PostgreSQL server for the tests (scripts/pg-test-server.sh), and fresh schemas in it."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pg-test-server.sh"
NOT_AVAILABLE = 3
SKIP_REASON = "skipped: PostgreSQL not available (install the postgresql package, or set BOT_TEST_PG_URL)"


def available() -> bool:
    """Whether the tests can have a PostgreSQL server (an installed one, or BOT_TEST_PG_URL)."""
    if os.environ.get("BOT_TEST_PG_URL"):
        return True
    done = subprocess.run(["bash", str(SCRIPT), "check"], capture_output=True, check=False)
    return done.returncode == 0


def in_ci() -> bool:
    """Whether this run is CI's (which must not skip the PostgreSQL tests)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class PgServer:
    """One cluster started for the test session (or an existing server named by BOT_TEST_PG_URL)."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.url = os.environ.get("BOT_TEST_PG_URL", "")

    def start(self) -> bool:
        """Start the cluster; False when PostgreSQL is not installed."""
        if self.url:
            return True
        self.dir = tempfile.mkdtemp(prefix="bot-pg-")
        done = subprocess.run(["bash", str(SCRIPT), "start", self.dir], capture_output=True, text=True, check=False)
        if done.returncode == NOT_AVAILABLE:
            os.rmdir(self.dir)
            self.dir = None
            return False
        if done.returncode != 0:
            raise RuntimeError(f"could not start the test PostgreSQL server:\n{done.stderr[-2000:]}")
        self.url = done.stdout.strip().splitlines()[-1]
        return True

    def restart(self) -> None:
        """Restart the server at once (connections are cut, as in a crash)."""
        assert self.dir is not None
        subprocess.run(["bash", str(SCRIPT), "restart", self.dir], check=True, capture_output=True)

    def stop(self) -> None:
        """Stop the cluster and remove its folder."""
        if self.dir is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", self.dir], check=False, capture_output=True)
            self.dir = None

    def new_schema(self) -> str:
        """Create an empty schema and return a URL whose connections use it."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options={quote(f'-csearch_path={name}')}"

    def drop_schema(self, url: str) -> None:
        """Drop the schema a URL from new_schema uses."""
        import psycopg

        name = url.rsplit("%3D", 1)[-1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def wait_until_blocked(watcher: Any, table: str, what: str, timeout_s: float = 20) -> None:
    """Wait until a session waits on a lock to insert into `table` (a worker held just there); fail with `what`."""
    deadline = time.monotonic() + timeout_s
    while not watcher.execute(
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        (f"%INSERT INTO {table}%",),
    ).fetchone():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
