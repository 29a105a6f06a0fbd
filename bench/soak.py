"""A bounded soak: 100 users talk to a webhook worker for 10 minutes; memory growth after warm-up and errors.

The worker is `python -m bot run` (webhook mode, the real model loaded in-process) on PostgreSQL when it is
installed (a throwaway cluster), else on SQLite, replying to a fake Bot API in its own process, all on
127.0.0.1. Each user behaves like a person: a question, a forwarded collection SMS, a button to save it as
evidence, the menu, sometimes /delete (which keeps the database from growing without end), with a pause of
0.5-3 s between messages. Every 10 s the worker's resident memory is sampled. Warm-up is the first fifth of
the run (at least one minute when the run is long enough): the model, the caches and the connection pools
fill then. Growth is the last minute's mean against the mean of the minute after warm-up.

Errors are deliveries not answered 200, updates that got no message back, and ERROR lines or tracebacks in
the worker's log. Exit status 1 when growth is over 5 % or there was any error.

Run: .venv/bin/python bench/soak.py [--minutes 10] [--users 100] [--store postgres|sqlite]
Not part of `make bench` (which runs bench/bench_*.py): it takes as long as it is told to.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

import aiohttp  # noqa: E402
from bench_telegram import QUESTIONS  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from tests._pg import PgServer  # noqa: E402
from tests._workers import SECRET, SMS, Worker  # noqa: E402
from tests.fake_bot_api import FakeBotApi, FakeBotApiProcess  # noqa: E402

GROWTH_LIMIT = 0.05
SAMPLE_EVERY_S = 10.0


def note(message: str) -> None:
    """Progress on stderr (the summary goes to stdout)."""
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (nan when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Users:
    """What each user sends next: a small life-like script, repeated with variations."""

    def __init__(self, seed: int) -> None:
        self.factory = FakeBotApi()  # not started: only builds update dicts
        self.rng = random.Random(seed)
        self.ids = itertools.count(1)

    def script(self, chat: int) -> list[dict[str, Any]]:
        """One round of a user's conversation."""
        f, rng = self.factory, self.rng
        steps = [
            f.text_update(chat, rng.choice(QUESTIONS)),
            f.forwarded_update(chat, f"{SMS}（{rng.randrange(10_000)}）"),
            f.callback_update(chat, "sms:save"),
            f.text_update(chat, rng.choice(QUESTIONS)),
            f.callback_update(chat, "menu"),
        ]
        if rng.random() < 0.2:
            steps.append(f.text_update(chat, "/delete"))
        return [{"update_id": next(self.ids), **s} for s in steps]


async def run_users(worker: Worker, users: int, seconds: float, seed: int) -> dict[str, Any]:
    """Drive the users until the time is up; count deliveries and failures."""
    plan = Users(seed)
    sent: dict[int, int] = {}
    failed = 0
    stop_at = time.monotonic() + seconds

    async def user(chat: int) -> None:
        nonlocal failed
        rng = random.Random(chat)
        await asyncio.sleep(rng.uniform(0, 3))
        while time.monotonic() < stop_at:
            for update in plan.script(chat):
                if time.monotonic() >= stop_at:
                    return
                try:
                    async with session.post(
                        worker.url,
                        data=json.dumps(update),
                        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                    ) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                if ok:
                    sent[update["update_id"]] = chat
                else:
                    failed += 1
                await asyncio.sleep(rng.uniform(0.5, 3.0))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(user(700_000 + u) for u in range(users)))
    return {"delivered": len(sent), "failed": failed, "chats": set(sent.values())}


def main() -> int:
    """Run the soak and print the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the users talk (default 10)")
    ap.add_argument("--users", type=int, default=100, help="how many users talk at once (default 100)")
    ap.add_argument("--store", choices=("postgres", "sqlite"), help="default: postgres when installed")
    args = ap.parse_args()
    seconds = args.minutes * 60
    warm_s = max(min(60.0, seconds / 2), seconds / 5)
    pg = PgServer()
    use_pg = args.store != "sqlite" and pg.start()
    if args.store == "postgres" and not use_pg:
        print("PostgreSQL is not available: install it (scripts/pg-test-server.sh install)", file=sys.stderr)
        return 2
    samples: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp, FakeBotApiProcess(poll_timeout_cap=2.0) as fake:
            folder = Path(tmp)
            store_url = pg.new_schema() if use_pg else f"sqlite:///{folder / 'soak.sqlite3'}"
            worker = Worker(
                folder, "soak", f"http://127.0.0.1:{fake.port}", store_url, Fernet.generate_key().decode(), None
            ).start()
            try:
                worker.wait_healthy(180)
                worker.wait_model(300)
                pid = worker.proc.pid if worker.proc is not None else 0
                note(
                    f"{args.users} users for {args.minutes:g} min on {'PostgreSQL' if use_pg else 'SQLite'}; "
                    f"worker RSS {rss_mb(pid):.0f} MB after start"
                )
                t0 = time.monotonic()

                async def sampled() -> dict[str, Any]:
                    async def sampler() -> None:
                        while time.monotonic() - t0 < seconds:
                            samples.append((time.monotonic() - t0, rss_mb(pid)))
                            await asyncio.sleep(SAMPLE_EVERY_S)
                        samples.append((time.monotonic() - t0, rss_mb(pid)))

                    done, _ = await asyncio.gather(run_users(worker, args.users, seconds, seed=1), sampler())
                    return done

                result = asyncio.run(sampled())
                fake.wait_quiet(1.0, timeout=60)
                answered = {c.chat_id for c in fake.calls_of("sendMessage")}
                messages = len(fake.calls_of("sendMessage"))
            finally:
                worker.stop()
            log = worker.log.read_text(errors="replace")
    finally:
        pg.stop()
    log_errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")]
    silent = result["chats"] - answered
    after_warm = [mb for t, mb in samples if warm_s <= t < warm_s + 60]
    last = [mb for t, mb in samples if t >= seconds - 60]
    base = statistics.mean(after_warm) if after_warm else float("nan")
    end = statistics.mean(last) if last else float("nan")
    growth = (end - base) / base
    print(
        f"\n| soak: {args.users} users, {args.minutes:g} min, {'PostgreSQL' if use_pg else 'SQLite'}, "
        f"{time.strftime('%Y-%m-%d')} | measured |"
    )
    print("|---|---|")
    print(
        f"| updates delivered and answered 200 | {result['delivered']} "
        f"({result['delivered'] / seconds:.1f}/s; {messages} messages sent back) |"
    )
    print(
        f"| errors: deliveries not answered 200 / chats never answered / ERROR lines in the worker's log | "
        f"{result['failed']} / {len(silent)} / {len(log_errors)} |"
    )
    print(
        f"| worker RSS: after warm-up ({warm_s:.0f}-{warm_s + 60:.0f} s) → last minute | "
        f"{base:.0f} MB → {end:.0f} MB |"
    )
    print(f"| memory growth after warm-up (limit {GROWTH_LIMIT:.0%}) | **{growth:+.1%}** |")
    print("| RSS samples (MB, every 10 s) | " + " ".join(f"{mb:.0f}" for _, mb in samples) + " |")
    for line in log_errors[:5]:
        print(f"    {line[:200]}", file=sys.stderr)
    return 0 if growth <= GROWTH_LIMIT and not (result["failed"] or silent or log_errors) else 1


if __name__ == "__main__":
    sys.exit(main())
