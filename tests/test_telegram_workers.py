"""Several webhook workers on one PostgreSQL store: each user's replies complete, in order, never twice."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.store import SEND_LEASE_S, PostgresStore
from tests._pg import wait_until_blocked
from tests._workers import SMS, Worker, free_port, post
from tests.fake_bot_api import FakeBotApi

USERS = 200
UPDATES_PER_USER = 20
SAVED = re.compile(r"已存入证据记录，现在一共有 (\d+) 条")
ASSESSED = "风险："  # the first line of every SMS assessment


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    api = FakeBotApi().start()
    yield api
    api.stop()


@pytest.fixture
def workers(tmp_path: Path, pg_url: str, fake: FakeBotApi) -> Iterator[list[Worker]]:
    key = Fernet.generate_key().decode()
    nlu_down = f"http://127.0.0.1:{free_port()}"  # commands, buttons and SMS need no model
    started = [
        Worker(tmp_path, f"w{i}", f"http://127.0.0.1:{fake.port}", pg_url, key, nlu_down).start() for i in range(3)
    ]
    try:
        for w in started:
            w.wait_healthy()
        yield started
    finally:
        for w in started:
            w.kill()


def script(fake: FakeBotApi, chat_id: int) -> list[dict[str, Any]]:
    """A user forwards a collection SMS and saves it, ten times: every save answers with the running count."""
    out = []
    for k in range(UPDATES_PER_USER):
        upd = (
            fake.forwarded_update(chat_id, f"{SMS}（第{k}条）")
            if k % 2 == 0
            else fake.callback_update(chat_id, "sms:save")
        )
        out.append(upd)
    return out


def check_chat(texts: list[str], updates: int = UPDATES_PER_USER) -> str | None:
    """None when the chat shows assessment, save 1, assessment, save 2, … exactly; else what is wrong."""
    saves = [int(m.group(1)) for t in texts if (m := SAVED.search(t))]
    expected = list(range(1, updates // 2 + 1))
    if saves != expected:
        return f"saves {saves}"
    shape = "".join("S" if SAVED.search(t) else "A" if ASSESSED in t else "" for t in texts)
    if shape != "AS" * (updates // 2):
        return f"order {shape}"
    return None


def test_three_workers_answer_200_users_in_order_once(workers: list[Worker], fake: FakeBotApi, pg_url: str) -> None:
    rng = random.Random(15)
    chats = [800_000 + n for n in range(USERS)]
    ids = itertools.count(1)
    plans = {c: [{"update_id": next(ids), **u} for u in script(fake, c)] for c in chats}
    turn = itertools.count()
    urls = [w.url for w in workers]

    def round_robin() -> str:
        return urls[next(turn) % len(urls)]

    redelivered = 0

    async def user(session: aiohttp.ClientSession, chat: int, gate: asyncio.Semaphore) -> None:
        nonlocal redelivered
        for upd in plans[chat]:
            async with gate:
                roll = rng.random()
                if roll < 0.05:  # delivered twice at once (a timed-out delivery tried again), to two workers
                    codes = await asyncio.gather(post(session, round_robin, upd), post(session, round_robin, upd))
                    redelivered += 1
                else:
                    codes = [await post(session, round_robin, upd)]
                if 0.05 <= roll < 0.15:  # delivered again later, to another worker
                    codes.append(await post(session, round_robin, upd))
                    redelivered += 1
                assert all(c == 200 for c in codes), codes

    async def drive() -> None:
        gate = asyncio.Semaphore(48)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(user(session, c, gate) for c in chats))

    asyncio.run(drive())
    fake.wait_quiet(quiet=0.5, timeout=30)
    assert redelivered > USERS * UPDATES_PER_USER * 0.1
    sent: dict[int, list[str]] = {c: [] for c in chats}
    for call in fake.calls_of("sendMessage"):
        if call.chat_id in sent:
            sent[call.chat_id].append(call.text)
    problems = {c: p for c in chats if (p := check_chat(sent[c]))}
    assert not problems, f"{len(problems)} chats wrong, e.g. {list(problems.items())[:3]}"
    with PostgresStore(pg_url, _key(workers), pool_size=2) as store:
        counts = {len(store.list_evidence(f"tg:{c}")) for c in chats}
    assert counts == {UPDATES_PER_USER // 2}  # zero lost, zero doubled evidence


def deliver(worker: Worker, upd: dict[str, Any]) -> int:
    """Deliver one update to one worker as Telegram would (retrying while it restarts); the HTTP status."""

    async def one() -> int:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            return await post(session, lambda: worker.url, upd, retry_s=5)

    return asyncio.run(one())


def _key(workers: list[Worker]) -> bytes:
    return workers[0].env["BOT_DATA_KEY"].encode()


def test_a_worker_killed_while_saving_evidence_loses_nothing_and_the_flow_resumes(
    tmp_path: Path, pg_url: str, fake: FakeBotApi
) -> None:
    import threading

    import psycopg

    key = Fernet.generate_key().decode()
    nlu_down = f"http://127.0.0.1:{free_port()}"
    a, b = (Worker(tmp_path, n, f"http://127.0.0.1:{fake.port}", pg_url, key, nlu_down).start() for n in "ab")
    chat = 900_001
    ids = itertools.count(1)

    def saves() -> list[str]:
        return [c.text for c in fake.calls_of("sendMessage", chat) if SAVED.search(c.text)]

    try:
        a.wait_healthy()
        b.wait_healthy()
        assert deliver(a, {"update_id": next(ids), **fake.forwarded_update(chat, SMS)}) == 200
        save = {"update_id": next(ids), **fake.callback_update(chat, "sms:save")}
        with psycopg.connect(pg_url) as blocker, psycopg.connect(pg_url, autocommit=True) as watcher:
            # hold the turn just before it commits
            blocker.execute("LOCK TABLE handled IN EXCLUSIVE MODE")
            codes: list[int] = []
            sender = threading.Thread(target=lambda: codes.append(deliver(a, save)))
            sender.start()
            wait_until_blocked(watcher, "handled", "the save never reached the database")
            a.kill()  # kill -9 with the evidence written but not committed
        sender.join(30)
        assert codes != [200]  # Telegram was never told the update was handled...
        with PostgresStore(pg_url, key.encode(), pool_size=1) as store:
            assert store.list_evidence(f"tg:{chat}") == []  # ...and nothing half-saved remains
        assert deliver(b, save) == 200  # so it delivers the update again, here to the other worker
        assert [SAVED.search(t).group(1) for t in saves()] == ["1"]  # type: ignore[union-attr]
        a.start().wait_healthy()  # restarted; the flow goes on wherever the next update lands
        assert deliver(a, {"update_id": next(ids), **fake.forwarded_update(chat, SMS)}) == 200
        assert deliver(b, {"update_id": next(ids), **fake.callback_update(chat, "sms:save")}) == 200
        assert deliver(a, save) == 200  # a late re-delivery of the first save changes nothing
        assert [SAVED.search(t).group(1) for t in saves()] == ["1", "2"]  # type: ignore[union-attr]
        with PostgresStore(pg_url, key.encode(), pool_size=1) as store:
            assert len(store.list_evidence(f"tg:{chat}")) == 2
        assert b.stop() == 0  # SIGTERM: a clean exit
    finally:
        a.kill()
        b.kill()


def test_a_worker_killed_after_committing_and_before_sending_still_gets_the_answer_out_once(
    tmp_path: Path, pg_url: str, fake: FakeBotApi
) -> None:
    import threading

    key = Fernet.generate_key().decode()
    nlu_down = f"http://127.0.0.1:{free_port()}"
    lease = {"send_lease_s": 1.0}  # how long a re-delivery waits for a worker that may still be sending
    a, b = (
        Worker(tmp_path, n, f"http://127.0.0.1:{fake.port}", pg_url, key, nlu_down, store_settings=lease).start()
        for n in "ab"
    )
    chat = 900_002

    def saves() -> list[str]:
        return [m.group(1) for c in fake.calls_of("sendMessage", chat) if (m := SAVED.search(c.text))]

    try:
        a.wait_healthy()
        b.wait_healthy()
        assert deliver(a, {"update_id": 1, **fake.forwarded_update(chat, SMS)}) == 200
        save = {"update_id": 2, **fake.callback_update(chat, "sms:save")}
        held = fake.hold("sendMessage", chat)  # the answer leaves the worker but never reaches Telegram...
        codes: list[int] = []
        sender = threading.Thread(target=lambda: codes.append(deliver(a, save)))
        sender.start()
        assert held.arrived.wait(30), "the save was never answered"
        with PostgresStore(pg_url, key.encode(), pool_size=1) as store:  # ...after the turn was committed
            assert store.handled("tg:2") and len(store.list_evidence(f"tg:{chat}")) == 1
        a.kill()  # kill -9 between the commit and the send
        held.released.set()
        sender.join(30)
        assert codes != [200] and saves() == []  # Telegram was not told it was handled; the user has no answer
        assert deliver(b, save) == 200  # delivered again, to the other worker: the answer comes from the outbox
        assert saves() == ["1"]  # once, and the save itself was not run again
        with PostgresStore(pg_url, key.encode(), pool_size=1) as store:
            assert len(store.list_evidence(f"tg:{chat}")) == 1
            deadline = time.monotonic() + 10
            while store.take_unsent("tg:2", take_over=True) is not None:  # a sent answer is not kept
                assert time.monotonic() < deadline, "the sent answer stayed in the outbox"
                time.sleep(0.05)
        assert deliver(b, save) == 200 and saves() == ["1"]  # later deliveries change nothing
    finally:
        a.kill()
        b.kill()


def test_postgresql_restarted_under_load_loses_no_accepted_update(
    workers: list[Worker], fake: FakeBotApi, pg_url: str, pg_server: Any
) -> None:
    users, per_user = 60, 10
    chats = [950_000 + n for n in range(users)]
    ids = itertools.count(500_000)
    plans = {
        c: [
            {
                "update_id": next(ids),
                **(fake.forwarded_update(c, f"{SMS}（{k}）") if k % 2 == 0 else fake.callback_update(c, "sms:save")),
            }
            for k in range(per_user)
        ]
        for c in chats
    }
    turn = itertools.count()
    urls = [w.url for w in workers]
    accepted: list[int] = []
    refused: list[int] = []  # answered 503 at least once: the store was down, Telegram delivers again

    async def user(session: aiohttp.ClientSession, chat: int) -> None:
        for upd in plans[chat]:
            # Telegram delivers again, after a pause, until it gets 200, for longer than a send lease: a worker that
            # lost the store between its commit and the send keeps the lease until it runs out
            give_up = time.monotonic() + SEND_LEASE_S + 30
            while time.monotonic() < give_up:
                code = await post(session, lambda: urls[next(turn) % len(urls)], upd, retry_s=0)
                if code == 200:
                    accepted.append(upd["update_id"])
                    break
                refused.append(upd["update_id"])
                await asyncio.sleep(0.2)
            else:
                return  # this user's later updates would only queue behind the stuck one

    async def restart_twice() -> None:
        loop = asyncio.get_running_loop()
        for share in (0.25, 0.6):  # once a quarter of the updates are in, and again past half
            while len(accepted) < share * users * per_user:
                await asyncio.sleep(0.02)
            await loop.run_in_executor(None, pg_server.restart)

    async def drive() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(restart_twice(), *(user(session, c) for c in chats))

    asyncio.run(drive())
    fake.wait_quiet(quiet=0.5, timeout=30)
    assert refused, "the restarts never reached a worker in the middle of a turn"
    assert sorted(accepted) == sorted(u["update_id"] for p in plans.values() for u in p)
    sent: dict[int, list[str]] = {c: [] for c in chats}
    for call in fake.calls_of("sendMessage"):
        if call.chat_id in sent:
            sent[call.chat_id].append(call.text)
    problems = {c: p for c in chats if (p := check_chat(sent[c], per_user))}
    assert not problems, f"{len(problems)} chats wrong, e.g. {list(problems.items())[:3]}"
    with PostgresStore(pg_url, _key(workers), pool_size=2) as store:
        assert {len(store.list_evidence(f"tg:{c}")) for c in chats} == {per_user // 2}
    assert all(w.health().get("ok") for w in workers)  # every worker reconnected by itself
