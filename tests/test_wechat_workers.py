"""Several WeChat worker processes on one PostgreSQL store behind a round-robin: a message, the next numbered
choice, "more" and a download link may each reach another worker, and a worker may die mid-answer."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.channels.wechat import USER_PREFIX
from bot.dialogue.content import t
from bot.store import USER_TABLES, PostgresStore
from tests._pg import wait_until_blocked
from tests._workers import SMS, Worker, free_port
from tests.fake_wechat import Delivery, FakeWechat

SAVED = re.compile(r"已存入证据记录，现在一共有 (\d+) 条")
PUBLIC_URL = "https://bot.example.org"
HIGH_RISK_SMS = (
    "【速贷金融】刘*强你已严重逾期，再不还款我们明天就派人上门，到你单位找你领导，"
    "并把你欠钱不还的事发到你所有通讯录好友和家人群里，让你社会性死亡！法院传票已经下发，今天下午5点前不还就抓人。"
)
_users = (f"oWorker{i:06d}-abcdefghijklmn" for i in itertools.count())


@pytest.fixture
def fake() -> Iterator[FakeWechat]:
    platform = FakeWechat(timeout_s=5.0).start()  # the platform's own 5 s per delivery
    yield platform
    platform.stop()


def start_workers(tmp_path: Path, pg_url: str, names: str, **wechat: object) -> list[Worker]:
    """Passive-only WeChat workers (no app secret) on one store; the model is away (numbers and SMS need none)."""
    key = Fernet.generate_key().decode()
    nlu_down = f"http://127.0.0.1:{free_port()}"
    workers = [Worker(tmp_path, n, "http://127.0.0.1:9", pg_url, key, nlu_down, wechat=dict(wechat)) for n in names]
    for w in workers:
        w.start()
    for w in workers:
        w.wait_healthy()
    return workers


def round_robin(workers: list[Worker]) -> Callable[[], str]:
    """The proxy in front: each request to the next worker that runs (its health check drops a dead one)."""
    turn = itertools.count()

    def pick() -> str:
        for _ in range(len(workers)):
            w = workers[next(turn) % len(workers)]
            if w.alive:
                return w.url
        raise AssertionError("no worker runs")

    return pick


def replies(got: list[Delivery]) -> list[str]:
    """The passive replies of a message's deliveries."""
    return [d.reply for d in got if d.reply]


def say(fake: FakeWechat, pick: Callable[[], str], open_id: str, text: str) -> str:
    """Send a text; the one passive reply it gets (a second one would be a duplicate)."""
    got = replies(fake.deliver_to(fake.fields(open_id, "text", Content=text), pick))
    assert len(got) == 1, got
    return got[0]


def whole(fake: FakeWechat, pick: Callable[[], str], open_id: str, text: str) -> str:
    """Send a text and read the whole answer, asking for "more" while a part says there is more."""
    parts = [say(fake, pick, open_id, text)]
    while t("zh-Hans", "wechat.more") in parts[-1]:
        assert len(parts) < 20
        parts.append(say(fake, pick, open_id, t("zh-Hans", "wechat.more_word")))
    return "\n\n".join(parts)


def number_of(reply: str, label_part: str) -> str:
    """The number the reply shows before the option whose label contains label_part."""
    return next(m.group(1) for m in re.finditer(r"^(\d+)\) (.*)$", reply, re.M) if label_part in m.group(2))


def key_of(worker: Worker) -> bytes:
    return worker.env["BOT_DATA_KEY"].encode()


def _kill_a_while_blocked(
    tmp_path: Path, pg_url: str, fake: FakeWechat, table: str, what: str, committed: bool
) -> None:
    """Save evidence on worker a, hold a where it inserts into `table`, kill -9 it; the retries reach b."""
    import psycopg

    a, b = start_workers(tmp_path, pg_url, "ab")
    user = next(_users)
    try:
        first = whole(fake, lambda: a.url, user, SMS)
        save = fake.fields(user, "text", Content=number_of(first, "存入证据记录"))
        got: list[Delivery] = []
        with psycopg.connect(pg_url) as blocker, psycopg.connect(pg_url, autocommit=True) as watcher:
            blocker.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            targets = iter([a.url, b.url, b.url])  # the first delivery to a, the platform's retries to b
            sender = threading.Thread(target=lambda: got.extend(fake.deliver_to(save, lambda: next(targets))))
            sender.start()
            wait_until_blocked(watcher, table, what)
            with PostgresStore(pg_url, key_of(a), pool_size=1) as store:  # committed or not when a dies
                assert len(store.list_evidence(f"{USER_PREFIX}{user}")) == (1 if committed else 0)
            a.kill()
        sender.join(30)
        assert got[0].status is None  # the first delivery got no answer, so the platform delivered again
        assert [SAVED.search(r).group(1) for r in replies(got)] == ["1"]  # type: ignore[union-attr]
        again = fake.deliver_to(save, lambda: b.url)  # a late re-delivery changes nothing
        assert again[-1].status == 200 and replies(again) == []
        with PostgresStore(pg_url, key_of(a), pool_size=1) as store:
            assert len(store.list_evidence(f"{USER_PREFIX}{user}")) == 1  # saved once, never run again
    finally:
        a.kill()
        b.kill()


def test_a_worker_killed_while_answering_is_replaced_and_the_answer_comes_once(
    tmp_path: Path, pg_url: str, fake: FakeWechat
) -> None:
    # kill -9 in the middle of the answer: its evidence written but not committed
    _kill_a_while_blocked(tmp_path, pg_url, fake, "handled", "the save never reached the database", committed=False)


def test_a_worker_killed_after_committing_and_before_answering_leaves_the_answer_to_the_re_delivery(
    tmp_path: Path, pg_url: str, fake: FakeWechat
) -> None:
    # kill -9 between the commit (saved, answer in the outbox) and the answer
    _kill_a_while_blocked(
        tmp_path, pg_url, fake, "channel_memory", "the answer never reached the channel memory", committed=True
    )


def test_a_re_delivery_to_another_worker_while_the_first_still_works_gets_no_second_answer(
    tmp_path: Path, pg_url: str, fake: FakeWechat
) -> None:
    import psycopg

    a, b = start_workers(tmp_path, pg_url, "ab")
    user = next(_users)
    try:
        first = whole(fake, lambda: a.url, user, SMS)
        save = fake.fields(user, "text", Content=number_of(first, "存入证据记录"))
        got: list[Delivery] = []
        retried = threading.Event()
        targets = iter([a.url, b.url, a.url])

        def pick() -> str:
            url = next(targets)
            if url == b.url:
                retried.set()
            return url

        with psycopg.connect(pg_url) as blocker:
            blocker.execute("LOCK TABLE handled IN EXCLUSIVE MODE")  # a's answer takes longer than a delivery
            sender = threading.Thread(target=lambda: got.extend(fake.deliver_to(save, pick)))
            sender.start()
            assert retried.wait(30), "the platform never delivered the message again"
            time.sleep(1.0)  # b is waiting for a's claim now; a is still at work
        sender.join(30)
        answers = [r for r in replies(got) if SAVED.search(r)]
        if not answers:  # no delivery was left to carry it: it comes with the user's next message
            answers = [r for r in [say(fake, lambda: b.url, user, "/help")] if SAVED.search(r)]
        assert [SAVED.search(r).group(1) for r in answers] == ["1"]  # type: ignore[union-attr]
        assert not SAVED.search(say(fake, lambda: a.url, user, "/help"))  # and never again
        with PostgresStore(pg_url, key_of(a), pool_size=1) as store:
            assert len(store.list_evidence(f"{USER_PREFIX}{user}")) == 1
    finally:
        a.kill()
        b.kill()


def test_a_numbered_choice_and_more_work_on_whichever_worker_they_reach(
    tmp_path: Path, pg_url: str, fake: FakeWechat
) -> None:
    workers = start_workers(tmp_path, pg_url, "xyz")
    pick = round_robin(workers)
    user, other = next(_users), next(_users)
    answered_by: list[str] = []

    def traced() -> str:
        url = pick()
        answered_by.append(url)
        return url

    try:
        welcome = fake.deliver_to(fake.fields(user, "event", Event="subscribe", EventKey=""), traced)
        menu = replies(welcome)[0]
        chosen = say(fake, traced, user, number_of(menu, t("zh-Hans", "buttons.flow:check")))
        assert chosen == say(fake, traced, other, "/check")  # the number meant what the menu showed
        parts = [say(fake, traced, user, HIGH_RISK_SMS)]
        hint = t("zh-Hans", "wechat.more")
        while hint in parts[-1]:
            assert len(parts) < 20
            parts.append(say(fake, traced, user, t("zh-Hans" if len(parts) % 2 else "en", "wechat.more_word")))
        assert len(parts) >= 3 and len(set(parts)) == len(parts)  # a long assessment, each part once
        assert t("zh-Hans", "sms.risk.high") in parts[0] and "存入证据记录" in parts[-1]
        saved = say(fake, traced, user, number_of(parts[-1], "存入证据记录"))
        assert [m.group(1) for m in SAVED.finditer(saved)] == ["1"]
        user_urls = [answered_by[0], *answered_by[1:2], *answered_by[3:]]  # without the other user's /check
        assert all(x != y for x, y in itertools.pairwise(user_urls))  # each step on another worker
    finally:
        for w in workers:
            w.kill()


def test_a_link_made_on_one_worker_downloads_from_another_and_dies_with_delete(
    tmp_path: Path, pg_url: str, fake: FakeWechat
) -> None:
    a, b = start_workers(tmp_path, pg_url, "ab", public_url=PUBLIC_URL)
    user = next(_users)
    wx_user = f"{USER_PREFIX}{user}"

    def local(worker: Worker, url: str) -> str:
        assert url.startswith(f"{PUBLIC_URL}/wechat/file/")
        return f"http://127.0.0.1:{worker.port}{url[len(PUBLIC_URL):]}"

    try:
        with PostgresStore(pg_url, key_of(a), pool_size=1) as store:
            at = datetime.now(timezone.utc) - timedelta(hours=3)
            store.add_evidence(wx_user, "call", "13800001111 打了3次，说要去我单位", at=at)
        exported = say(fake, lambda: a.url, user, "/export")
        [url] = fake.links(exported)
        got = fake.open_link(local(b, url))  # made on a, fetched through b
        assert got.status == 200 and got.body.startswith(b"%PDF-")
        assert got.headers["Content-Disposition"].startswith("attachment;")
        ask = say(fake, lambda: b.url, user, "/delete")
        gone = say(fake, lambda: a.url, user, number_of(ask, t("zh-Hans", "buttons.del:yes")))
        assert t("zh-Hans", "common.deleted") in gone
        assert fake.open_link(local(a, url)).status == 404 and fake.open_link(local(b, url)).status == 404
        with PostgresStore(pg_url, key_of(a), pool_size=1) as store, store._read() as ex:
            count = "SELECT COUNT(*) FROM {} WHERE user_id = ?"
            rows = {table: ex(count.format(table), (wx_user,)).fetchone()[0] for table in USER_TABLES}
        assert rows == dict.fromkeys(USER_TABLES, 0)
    finally:
        a.kill()
        b.kill()
