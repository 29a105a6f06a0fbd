"""The WeChat channel, end to end: the fake platform posts signed (and encrypted) XML over real HTTP to the
channel's aiohttp server, which talks to the real dialogue core and model, and back to the fake platform's API.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.channels import console
from bot.channels.wechat import (
    DOWNLOAD_GRACE_S,
    MAX_BODY_BYTES,
    MAX_FILES_PER_USER,
    MAX_TEXT_BYTES,
    MENU_KEY_PREFIX,
    USER_PREFIX,
    ApiClient,
    FileShelf,
    RateLimiter,
    WechatChannel,
    content_disposition,
    create_menu,
    menu_definition,
    render,
    serve,
    split_text,
    utf8_len,
)
from bot.config import Config, ConfigError, Secrets
from bot.dialogue.commands import NAMES as COMMAND_NAMES
from bot.dialogue.content import t
from bot.dialogue.types import Attachment, Incoming, Option, Reply
from bot.store import Store
from tests.fake_bot_api import render_screenshot
from tests.fake_wechat import AES_KEY, APP_ID, APP_SECRET, TOKEN, Download, FakeWechat, message_xml

HIGH_RISK_SMS = (
    "【速贷金融】刘*强你已严重逾期，再不还款我们明天就派人上门，到你单位找你领导，"
    "并把你欠钱不还的事发到你所有通讯录好友和家人群里，让你社会性死亡！法院传票已经下发，今天下午5点前不还就抓人。"
)
PLATFORM_TIMEOUT = 1.5
"""The fake platform waits this long per delivery (the real one: 5 s); the channel is told the same."""
WINDOW = 0.8


class ObservedDialogue:
    """The real Dialogue, plus a record of what it was asked; some texts make it slow, long or fail."""

    SLOW = "/__slow__"
    LONG = "/__long__"
    BOOM = "/__boom__"

    def __init__(self, real: Any, slow_s: float = 2.0) -> None:
        self.real = real
        self.slow_s = slow_s
        self.seen: list[Incoming] = []
        self.answered: list[tuple[Incoming, list[Reply]]] = []
        self.lock = threading.Lock()

    async def handle(self, incoming: Incoming, send: Any = None, **kw: Any) -> list[Reply]:
        with self.lock:
            self.seen.append(incoming)
        replies: list[Reply] = []
        try:
            if incoming.text.startswith(self.SLOW):
                await asyncio.sleep(self.slow_s)
                replies = [Reply(f"慢回答 {incoming.text[len(self.SLOW):].strip()}")]
            elif incoming.text == self.LONG:
                paragraphs = [f"第{i}段：" + "保留证据，冷静应对。" * 40 for i in range(8)]
                replies = [Reply("\n\n".join(paragraphs), (Option("menu", "菜单"),))]
            elif incoming.text.startswith(self.BOOM):
                raise RuntimeError(f"core failed on {incoming.text!r}")
            else:
                replies = list(await self.real.handle(incoming, send, **kw))
            return replies
        finally:
            with self.lock:
                self.answered.append((incoming, replies))

    def _settled(self, user: str, timeout: float = 10.0) -> None:
        """Wait until every message of user has been handled: a reply sent while the core still runs (a late answer
        by customer-service message) can reach the user before the call returns and is recorded here."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                seen = sum(1 for i in self.seen if i.user_id == user)
                done = sum(1 for i, _ in self.answered if i.user_id == user)
            if done >= seen:
                return
            time.sleep(0.02)

    async def flush_sent(self) -> None:
        await self.real.flush_sent()

    def files(self, user: str) -> list[Attachment]:
        """The files the core attached to its replies to user, in order."""
        self._settled(user)
        with self.lock:
            return [f for i, rs in self.answered if i.user_id == user for r in rs for f in r.attachments]

    def last_options(self, user: str) -> list[Option]:
        """The options the core offered user last (the ones the numbers refer to)."""
        self._settled(user)
        with self.lock:
            return next(
                list(r.options)
                for i, rs in reversed(self.answered)
                if i.user_id == user
                for r in reversed(rs)
                if r.options
            )

    def count(self, user: str) -> int:
        with self.lock:
            return sum(1 for i in self.seen if i.user_id == user)


class RunningChannel:
    """The channel's HTTP server in a thread with its own event loop, as `python -m bot wechat` runs it."""

    def __init__(self, channel: WechatChannel) -> None:
        self.channel = channel
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)

            async def run() -> None:
                self.stop_event = asyncio.Event()
                self.loop.call_soon(ready.set)
                await serve(channel, "127.0.0.1", self.port, self.stop_event)

            self.loop.run_until_complete(run())

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.channel.cfg.wechat.path}"

    def stop(self) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)


def wx_cfg(cfg: Config, *, aes: bool = False, api: bool = True, public_url: str = "") -> Config:
    secrets = Secrets(
        wechat_token=TOKEN,
        wechat_aes_key=AES_KEY if aes else None,
        wechat_app_id=APP_ID if (api or aes) else None,
        wechat_app_secret=APP_SECRET if api else None,
    )
    return replace(cfg, secrets=secrets, wechat=replace(cfg.wechat, reply_window_s=WINDOW, public_url=public_url))


# ── fixtures ─────────────────────────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("wechat") / "bot.sqlite3", Fernet.generate_key())
    yield s
    s.close()


@pytest.fixture(scope="module")
def dialogue(cfg: Config, parser: Any, store: Store) -> ObservedDialogue:
    from bot.app import load_ocr
    from bot.dialogue import Dialogue

    return ObservedDialogue(Dialogue(cfg, parser, store, ocr=load_ocr()))


def start(
    cfg: Config, dialogue: Any, store: Store, *, aes: bool = False, api: bool = True, public_url: str = ""
) -> tuple[FakeWechat, RunningChannel]:
    fake = FakeWechat(aes_key=AES_KEY if aes else None, timeout_s=PLATFORM_TIMEOUT).start()
    c = wx_cfg(cfg, aes=aes, api=api, public_url=public_url)
    client = ApiClient(APP_ID, APP_SECRET, store, fake.base_url) if api else None
    channel = WechatChannel(c, dialogue, store, client, platform_timeout_s=PLATFORM_TIMEOUT)
    running = RunningChannel(channel)
    fake.bot_url = running.url
    return fake, running


@pytest.fixture(scope="module")
def platform(cfg: Config, dialogue: ObservedDialogue, store: Store) -> Iterator[FakeWechat]:
    """A verified service account: passive replies plus the customer-service API."""
    fake, running = start(cfg, dialogue, store)
    yield fake
    running.stop()
    fake.stop()


@pytest.fixture(scope="module")
def passive_only(cfg: Config, dialogue: ObservedDialogue, store: Store) -> Iterator[FakeWechat]:
    """An unverified account (or a test account without app secret): passive replies only."""
    fake, running = start(cfg, dialogue, store, api=False)
    yield fake
    running.stop()
    fake.stop()


@pytest.fixture(scope="module")
def safe_mode(cfg: Config, dialogue: ObservedDialogue, store: Store) -> Iterator[FakeWechat]:
    """Safe mode: every callback body and reply encrypted."""
    fake, running = start(cfg, dialogue, store, aes=True)
    yield fake
    running.stop()
    fake.stop()


PUBLIC_URL = "https://bot.example.org"
"""The public base URL the links carry; the tests reach the same server directly, as the HTTPS proxy would."""


class Clock:
    """A clock the test moves forward, for the file links' lifetimes."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Links:
    """A channel that offers files as download links, its server and the clock of its links."""

    fake: FakeWechat
    running: RunningChannel
    clock: Clock

    def local(self, url: str) -> str:
        """The link as the proxy forwards it to the channel's own server."""
        assert url.startswith(PUBLIC_URL + "/")
        return f"http://127.0.0.1:{self.running.port}{url[len(PUBLIC_URL):]}"

    def open(self, url: str, **headers: str) -> Download:
        return self.fake.open_link(self.local(url), headers)


@pytest.fixture(scope="module")
def links(cfg: Config, dialogue: ObservedDialogue, store: Store) -> Iterator[Links]:
    """A service account with wechat.public_url set: files become links served by the channel."""
    fake, running = start(cfg, dialogue, store, public_url=PUBLIC_URL + "/")
    clock = Clock()
    assert running.channel.files is not None
    running.channel.files.clock = clock
    yield Links(fake, running, clock)
    running.stop()
    fake.stop()


_users = (f"oUser{i:06d}-abcdefghijklmn" for i in range(1_000_000))


@pytest.fixture
def user() -> str:
    return next(_users)


def say(fake: FakeWechat, open_id: str, text: str) -> str | None:
    got = fake.deliver(fake.fields(open_id, "text", Content=text))
    assert got[-1].status == 200
    return got[-1].reply


# ── server verification and refusals ───────────────────────────────────────────────────────────────────
def test_server_verification_echoes_echostr_only_when_signed(platform: FakeWechat) -> None:
    query, _ = platform.signed_query(echostr="1234567890123")
    with urllib.request.urlopen(f"{platform.bot_url}?{urllib.parse.urlencode(query)}") as res:
        assert res.read().decode() == "1234567890123"
    query["signature"] = "0" * 40
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{platform.bot_url}?{urllib.parse.urlencode(query)}")
    assert err.value.code == 403


@pytest.mark.parametrize("case", ["wrong", "missing", "old_timestamp", "other_token"])
def test_a_badly_signed_post_is_refused_and_nothing_is_processed(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str, case: str
) -> None:
    body = message_xml(platform.fields(user, "text", Content="你好")).encode()
    if case == "old_timestamp":
        query, _ = platform.signed_query(timestamp=str(int(time.time()) - 3600))
    else:
        query, _ = platform.signed_query()
    if case == "wrong":
        query["signature"] = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    elif case == "missing":
        del query["signature"]
    elif case == "other_token":
        query["signature"] = FakeWechat(token="another").signed_query(
            timestamp=query["timestamp"], nonce=query["nonce"]
        )[0]["signature"]
    assert platform.post_raw(body, query).status == 403
    time.sleep(0.2)
    assert dialogue.count(f"{USER_PREFIX}{user}") == 0


def test_a_reused_nonce_with_another_body_is_refused(platform: FakeWechat, user: str) -> None:
    query, _ = platform.signed_query()
    first = message_xml(platform.fields(user, "text", Content="/help")).encode()
    assert platform.post_raw(first, query).status == 200
    other = message_xml(platform.fields(user, "text", Content="/privacy")).encode()
    assert platform.post_raw(other, query).status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"this is not xml",
        b"<xml><ToUserName>unterminated",
        b'{"json": "not xml"}',
        b"",
        b"<xml><MsgType><![CDATA[text]]></MsgType></xml>",  # no sender
    ],
)
def test_malformed_bodies_are_refused_and_the_bot_keeps_serving(platform: FakeWechat, user: str, body: bytes) -> None:
    query, _ = platform.signed_query()
    assert platform.post_raw(body, query).status == 400
    assert say(platform, user, "/help")


@pytest.mark.parametrize("kind", ["billion_laughs", "external_entity", "doctype_only"])
def test_xml_with_a_doctype_or_entities_is_refused_before_parsing(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str, kind: str
) -> None:
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
    dtd = {
        "billion_laughs": f'<!DOCTYPE xml [<!ENTITY e0 "lol">{entities}]>',
        "external_entity": '<!DOCTYPE xml [<!ENTITY e9 SYSTEM "file:///etc/passwd">]>',
        "doctype_only": "<!DOCTYPE xml>",
    }[kind]
    xml = message_xml(platform.fields(user, "text", Content="x")).replace("x]]>", "]]>&e9;")
    body = f'<?xml version="1.0"?>{dtd}{xml}'.encode()
    query, _ = platform.signed_query()
    assert platform.post_raw(body, query).status == 400
    assert dialogue.count(f"{USER_PREFIX}{user}") == 0


def test_a_one_megabyte_body_is_refused(platform: FakeWechat, user: str) -> None:
    body = message_xml(platform.fields(user, "text", Content="催" * 350_000)).encode()
    assert len(body) > MAX_BODY_BYTES
    query, _ = platform.signed_query()
    assert platform.post_raw(body, query).status == 413
    assert say(platform, user, "/help")


# ── conversations ────────────────────────────────────────────────────────────────────────────────────────
def test_follow_shows_the_welcome_and_numbered_menu_and_numbers_drive_a_flow(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    reply = platform.deliver(platform.fields(user, "event", Event="subscribe", EventKey=""))[-1].reply
    assert reply is not None
    assert t("zh-Hans", "wechat.choose") in reply and "\n1) " in reply and "<" not in reply
    assert dialogue.seen[-1].text == "/start"
    lines = [ln for ln in reply.splitlines() if ln[:1].isdigit() and ") " in ln]
    number = next(ln.split(")")[0] for ln in lines if "短信" in ln)
    reply = say(platform, user, number)
    incoming = dialogue.seen[-1]
    assert incoming.option_id is not None and incoming.option_id.startswith("flow:")
    assert reply and "\n1) " in reply


def test_wechat_numbers_mean_what_the_console_numbers_mean(tmp_path: Path) -> None:
    replies = [Reply("甲", (Option("a", "第一"), Option("b", "第二"))), Reply("乙", (Option("c", "第三"),))]
    console_text, console_options = console.render(replies, "zh-Hans", tmp_path)
    wechat_text, wechat_options = render(replies, "zh-Hans")
    assert console_options == wechat_options == [Option("c", "第三")]
    assert "1) 第三" in console_text and "1) 第三" in wechat_text


def test_a_pasted_collection_sms_is_assessed(platform: FakeWechat, user: str) -> None:
    reply = say(platform, user, HIGH_RISK_SMS)
    texts = [reply] if reply is not None else platform.wait_kf(user, 1)  # a cold first assessment can be late
    assert any(t("zh-Hans", "sms.risk.high") in x for x in texts)


def test_a_menu_click_runs_the_same_command_as_typing_it(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    for name in ("privacy", "complain", "check"):
        clicked = platform.deliver(platform.fields(user, "event", Event="CLICK", EventKey=f"cmd:{name}"))
        assert dialogue.seen[-1].text == f"/{name}"
        typed = say(platform, next(_users), f"/{name}")
        assert clicked[-1].reply == typed


def test_the_custom_menu_is_built_from_the_command_table_within_the_platforms_limits(cfg: Config, store: Store) -> None:
    for locale in ("zh-Hans", "zh-Hant", "en"):
        menu = menu_definition(locale)
        assert 1 <= len(menu["button"]) <= 3
        keys = []
        for top in menu["button"]:
            assert 0 < utf8_len(top["name"]) <= 16
            subs = top.get("sub_button", [])
            assert len(subs) <= 5
            keys += [top["key"]] if "key" in top else []
            for sub in subs:
                assert 0 < utf8_len(sub["name"]) <= 60 and sub["type"] == "click"
                keys.append(sub["key"])
        names = {k[len(MENU_KEY_PREFIX) :] for k in keys}
        assert names <= COMMAND_NAMES
        assert {"check", "complain", "plan", "evidence", "language", "privacy", "delete"} <= names
    fake = FakeWechat().start()
    try:
        with pytest.raises(ConfigError):
            create_menu(wx_cfg(cfg, api=False), store, fake.base_url)
        sent = create_menu(wx_cfg(cfg), store, fake.base_url)
        assert fake.calls_to("menu/create")[-1].body == sent
    finally:
        fake.stop()


def test_voice_with_recognition_goes_to_the_core_and_without_it_gets_a_kind_answer(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    got = platform.deliver(
        platform.fields(user, "voice", MediaId="m1", Format="amr", Recognition="催收说要起诉我，是真的吗")
    )
    assert dialogue.seen[-1].text == "催收说要起诉我，是真的吗" and got[-1].reply
    before = dialogue.count(f"{USER_PREFIX}{user}")
    got = platform.deliver(platform.fields(user, "voice", MediaId="m2", Format="amr", Recognition=""))
    assert got[-1].reply == t("zh-Hans", "wechat.voice_unrecognised")
    assert dialogue.count(f"{USER_PREFIX}{user}") == before


@pytest.mark.parametrize(
    "msg_type,extra",
    [
        ("video", {"MediaId": "v", "ThumbMediaId": "t"}),
        ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "20", "Label": "x"}),
        ("link", {"Title": "t", "Description": "d", "Url": "http://example.invalid"}),
        ("brand_new_type", {"Whatever": "1"}),
    ],
)
def test_kinds_the_bot_cannot_read_get_a_pointer_to_text_and_screenshots(
    platform: FakeWechat, user: str, msg_type: str, extra: dict[str, str]
) -> None:
    got = platform.deliver(platform.fields(user, msg_type, **extra))
    assert got[-1].reply == t("zh-Hans", "wechat.unsupported")


def test_an_empty_text_gets_a_kind_answer(platform: FakeWechat, user: str) -> None:
    reply = say(platform, user, "")
    assert reply and t("zh-Hans", "wechat.error") not in reply


def test_a_screenshot_is_downloaded_through_the_media_api_read_and_assessed(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    sms = "Final notice: you are overdue. We will visit your home and call your employer and family today."
    image = render_screenshot(sms, when="23:41")
    platform.media["img-1"] = image
    got = platform.deliver(platform.fields(user, "image", MediaId="img-1", PicUrl=platform.pic_url("img-1")))
    assert got[-1].status == 200
    assert [c.params["media_id"] for c in platform.calls_to("media/get")][-1] == "img-1"
    assert dialogue.seen[-1].image == image
    shown = (got[-1].reply or "") + "".join(platform.wait_kf(user, 0))
    if got[-1].reply is None:  # OCR took longer than the window: the answer came by customer service
        shown = "".join(platform.wait_kf(user, 1))
    assert "visit your home" in shown


def test_an_image_the_media_api_cannot_deliver_gets_a_kind_answer(platform: FakeWechat, user: str) -> None:
    got = platform.deliver(platform.fields(user, "image", MediaId="gone", PicUrl=platform.pic_url("gone")))
    assert got[-1].reply == t("zh-Hans", "wechat.image_failed")
    assert say(platform, user, "/help")


def test_without_the_api_a_screenshot_is_fetched_from_its_picture_link(
    passive_only: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    image = render_screenshot("We will visit your home today.", when="10:00")
    passive_only.media["pic-7"] = image
    passive_only.deliver(passive_only.fields(user, "image", MediaId="pic-7", PicUrl=passive_only.pic_url("pic-7")))
    assert passive_only.calls_to("pic") and not passive_only.calls_to("media/get")
    assert any(i.image == image for i in dialogue.seen if i.user_id == f"{USER_PREFIX}{user}")


# ── the time window, retries and duplicates ─────────────────────────────────────────────────────────────
def test_a_slow_answer_acknowledges_with_success_and_arrives_by_customer_service_once(
    platform: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    got = platform.deliver(platform.fields(user, "text", Content=f"{ObservedDialogue.SLOW} a"))
    assert len(got) == 1 and got[0].status == 200 and got[0].body == "success"
    assert platform.wait_kf(user, 1) == ["慢回答 a"]
    time.sleep(0.5)
    assert platform.kf_texts(user) == ["慢回答 a"]
    assert dialogue.count(f"{USER_PREFIX}{user}") == 1


def test_without_the_api_a_slow_answer_comes_back_on_the_platforms_retry(
    passive_only: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    got = passive_only.deliver(passive_only.fields(user, "text", Content=f"{ObservedDialogue.SLOW} b"))
    assert got[0].status is None  # the first delivery timed out, so the platform delivered again
    assert [d.reply for d in got if d.reply] == ["慢回答 b"]
    assert dialogue.count(f"{USER_PREFIX}{user}") == 1


def test_an_answer_slower_than_every_retry_is_given_with_the_next_message(
    cfg: Config, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    slow = ObservedDialogue(dialogue.real, slow_s=PLATFORM_TIMEOUT * 3.5)
    fake, running = start(cfg, slow, store, api=False)
    try:
        got = fake.deliver(fake.fields(user, "text", Content=f"{ObservedDialogue.SLOW} c"))
        assert all(d.reply is None for d in got)
        time.sleep(PLATFORM_TIMEOUT)
        reply = say(fake, user, "/privacy")
        assert reply and reply.startswith("慢回答 c")
    finally:
        running.stop()
        fake.stop()


def test_a_retry_storm_is_answered_exactly_once(platform: FakeWechat, dialogue: ObservedDialogue, user: str) -> None:
    fields = platform.fields(user, "text", Content=f"{ObservedDialogue.SLOW} storm")
    xml = message_xml(fields)
    results: list[Any] = []

    def post() -> None:
        query, body = platform.signed_query(xml)
        assert body is not None
        results.append(platform.post_raw(body.encode(), query))

    threads = [threading.Thread(target=post) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(r.status == 200 for r in results)
    platform.wait_kf(user, 1)
    time.sleep(0.5)
    passive = [r.reply for r in results if r.reply]
    assert len(passive) + len(platform.kf_texts(user)) == 1
    assert dialogue.count(f"{USER_PREFIX}{user}") == 1


def test_a_repeated_event_is_answered_once(platform: FakeWechat, dialogue: ObservedDialogue, user: str) -> None:
    fields = platform.fields(user, "event", Event="subscribe")
    first = platform.deliver(fields)
    again = platform.deliver(fields)
    assert first[-1].reply and again[-1].reply is None and again[-1].body == "success"
    assert dialogue.count(f"{USER_PREFIX}{user}") == 1


def test_a_long_answer_is_split_within_the_limit_and_the_rest_sent_by_customer_service(
    platform: FakeWechat, user: str
) -> None:
    first = say(platform, user, ObservedDialogue.LONG)
    assert first is not None and utf8_len(first) <= MAX_TEXT_BYTES
    rest = platform.wait_kf(user, 1)
    time.sleep(0.3)
    rest = platform.kf_texts(user)
    parts = [first, *rest]
    assert len(parts) >= 2 and all(utf8_len(p) <= MAX_TEXT_BYTES for p in parts)
    assert all(p.startswith("第") for p in parts)
    assert "1) 菜单" in parts[-1]


def test_without_the_api_a_long_answer_continues_on_more(passive_only: FakeWechat, user: str) -> None:
    first = say(passive_only, user, ObservedDialogue.LONG)
    assert first and t("zh-Hans", "wechat.more") in first and utf8_len(first) <= MAX_TEXT_BYTES
    parts = [first]
    while t("zh-Hans", "wechat.more") in parts[-1]:
        nxt = say(passive_only, user, t("zh-Hans", "wechat.more_word"))
        assert nxt and utf8_len(nxt) <= MAX_TEXT_BYTES
        parts.append(nxt)
        assert len(parts) < 20
    assert "1) 菜单" in parts[-1]


# ── safe mode ────────────────────────────────────────────────────────────────────────────────────────────
def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(
    safe_mode: FakeWechat, dialogue: ObservedDialogue, user: str
) -> None:
    reply = say(safe_mode, user, "/help")
    assert reply and "/start" in reply
    assert dialogue.seen[-1].text == "/help"


def test_safe_mode_refuses_a_wrong_msg_signature_and_plaintext(safe_mode: FakeWechat, user: str) -> None:
    xml = message_xml(safe_mode.fields(user, "text", Content="/help"))
    query, body = safe_mode.signed_query(xml)
    assert body is not None
    query["msg_signature"] = "0" * 40
    assert safe_mode.post_raw(body.encode(), query).status == 403
    plain_query, _ = safe_mode.signed_query()
    assert safe_mode.post_raw(xml.encode(), plain_query).status == 400


def test_safe_mode_needs_the_app_id_and_a_well_formed_key(cfg: Config, store: Store) -> None:
    bad = replace(cfg, secrets=Secrets(wechat_token=TOKEN, wechat_aes_key=AES_KEY))
    with pytest.raises(ConfigError, match="WECHAT_APP_ID"):
        WechatChannel(bad, None, store)
    bad = replace(cfg, secrets=Secrets(wechat_token=TOKEN, wechat_aes_key="short", wechat_app_id=APP_ID))
    with pytest.raises(ConfigError, match="WECHAT_AES_KEY"):
        WechatChannel(bad, None, store)
    with pytest.raises(ConfigError, match="WECHAT_TOKEN"):
        WechatChannel(cfg, None, store)


# ── access_token, privacy ────────────────────────────────────────────────────────────────────────────────
def test_the_access_token_is_fetched_once_shared_through_the_store_and_refreshed_before_expiry(
    tmp_path: Any,
) -> None:
    fake = FakeWechat(token_lifetime_s=7200).start()
    try:
        with Store(tmp_path / "s.sqlite3", Fernet.generate_key()) as shared:
            one = ApiClient(APP_ID, APP_SECRET, shared, fake.base_url)
            two = ApiClient(APP_ID, APP_SECRET, shared, fake.base_url)  # another worker on the same store
            one.send_text("o1", "a")
            two.send_text("o1", "b")
            assert len(fake.calls_to("token")) == 1
            fake.token_lifetime_s = 200  # shorter than the refresh margin: every use refreshes first
            shared.put_shared(one.token_name, b"stale", 100)
            one.send_text("o1", "c")
            assert len(fake.calls_to("token")) == 2
            fake.valid_tokens.clear()  # the platform revoked it: 40001, then one refresh and a retry
            shared.put_shared(one.token_name, b"revoked", 7000)
            two.send_text("o1", "d")
            assert fake.kf_texts("o1") == ["a", "b", "c", "d"]
    finally:
        fake.stop()


def test_logs_carry_neither_texts_nor_openids_nor_the_token(
    platform: FakeWechat, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    private = "身份证号110101199001011234"
    with caplog.at_level(logging.DEBUG):
        say(platform, user, f"{ObservedDialogue.BOOM} {private}")
        say(platform, user, private)
        platform.deliver(platform.fields(user, "image", MediaId="missing"))
    assert private not in caplog.text and "110101199001011234" not in caplog.text
    assert user not in caplog.text
    assert "TOKEN-" not in caplog.text and APP_SECRET not in caplog.text


def test_a_failure_in_the_core_gets_a_calm_answer(platform: FakeWechat, user: str) -> None:
    reply = say(platform, user, f"{ObservedDialogue.BOOM} x")
    assert reply == t("zh-Hans", "wechat.error")
    assert say(platform, user, "/help")


# ── files as download links ──────────────────────────────────────────────────────────────────────────
def log_incident(store: Store, open_id: str) -> None:
    """One logged call in the user's evidence log, so that /export has something to put in the PDF."""
    at = datetime.now(timezone.utc) - timedelta(hours=3)
    store.add_evidence(f"{USER_PREFIX}{open_id}", "call", "13800001111 打了3次，说要去我单位", at=at)


def ask(fake: FakeWechat, open_id: str, text: str) -> str:
    """The whole answer the user sees: the passive reply, or the customer-service texts when it came late."""
    before = len(fake.kf_texts(open_id))
    reply = fake.deliver(fake.fields(open_id, "text", Content=text))[-1].reply
    if reply is not None:
        return reply
    return "\n\n".join(fake.wait_kf(open_id, before + 1)[before:])


def press(fake: FakeWechat, dialogue: ObservedDialogue, open_id: str, option_id: str) -> str:
    """Reply with the number of the option the core offered last under this id."""
    options = dialogue.last_options(f"{USER_PREFIX}{open_id}")
    number = next(n for n, o in enumerate(options, start=1) if o.id == option_id)
    return ask(fake, open_id, str(number))


def export_link(links: Links, dialogue: ObservedDialogue, store: Store, open_id: str) -> tuple[str, Attachment]:
    """Log an incident, send /export, and return the one link in the answer and the PDF the core built."""
    log_incident(store, open_id)
    answer = ask(links.fake, open_id, "/export")
    found = links.fake.links(answer)
    pdfs = [f for f in dialogue.files(f"{USER_PREFIX}{open_id}") if f.filename.endswith(".pdf")]
    assert len(found) == 1 and len(pdfs) == 1
    assert t("zh-Hans", "wechat.download", filename=pdfs[0].filename, url=found[0], minutes=10) in answer
    return found[0], pdfs[0]


def test_export_gives_a_link_that_downloads_the_pdf_the_core_built(
    links: Links, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    url, pdf = export_link(links, dialogue, store, user)
    assert url.startswith(f"{PUBLIC_URL}/wechat/file/") and len(url.rsplit("/", 1)[1]) >= 43
    got = links.open(url)  # no signature: the token in the link is the secret
    assert got.status == 200 and got.body == pdf.data and got.body.startswith(b"%PDF-")
    assert got.headers["Content-Type"] == "application/pdf"
    assert (
        got.headers["Content-Disposition"].startswith("attachment;")
        and pdf.filename in got.headers["Content-Disposition"]
    )
    assert got.headers["Cache-Control"] == "no-store"
    assert links.open(url).body == pdf.data  # a second fetch right after (preview, then save) still works
    links.clock.now += DOWNLOAD_GRACE_S + 1
    assert links.open(url).status == 404  # downloaded: gone after the grace period, long before the 10 minutes


def test_an_expired_link_and_a_wrong_token_get_the_same_plain_404(
    links: Links, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    url, pdf = export_link(links, dialogue, store, user)
    token = url.rsplit("/", 1)[1]
    wrong = links.open(f"{PUBLIC_URL}/wechat/file/{secrets.token_urlsafe(32)}")
    near = links.open(url[:-1] + ("A" if token[-1] != "A" else "B"))
    assert wrong.status == near.status == 404 and wrong.body == near.body
    head = links.fake.open_link(links.local(url), method="HEAD")
    assert head.status == 200 and head.body == b""  # looking does not use the link up
    links.clock.now += 9 * 60
    assert links.open(url).status == 200  # never downloaded: still there within the 10 minutes
    other_url, _ = export_link(links, dialogue, store, next(_users))
    links.clock.now += 10 * 60 + 1
    expired = links.open(other_url)
    assert expired.status == 404 and expired.body == wrong.body
    assert (
        pdf.filename.encode() not in expired.body and expired.headers["Content-Type"] == wrong.headers["Content-Type"]
    )


def test_delete_removes_the_users_pending_links(
    links: Links, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    url, _ = export_link(links, dialogue, store, user)
    ask(links.fake, user, "/delete")
    press(links.fake, dialogue, user, "del:yes")
    assert store.count_evidence(f"{USER_PREFIX}{user}") == 0
    assert links.open(url).status == 404


def test_without_a_public_url_an_export_says_to_use_telegram_or_the_terminal(
    platform: FakeWechat, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    log_incident(store, user)
    answer = ask(platform, user, "/export")
    pdf = next(f for f in dialogue.files(f"{USER_PREFIX}{user}") if f.filename.endswith(".pdf"))
    assert t("zh-Hans", "wechat.attachment", filename=pdf.filename) in answer
    assert platform.links(answer) == []


def test_file_requests_are_rate_limited_per_address(links: Links) -> None:
    channel = links.running.channel
    kept, channel.limiter = channel.limiter, RateLimiter(limit=3)
    try:
        url = f"{PUBLIC_URL}/wechat/file/{secrets.token_urlsafe(32)}"
        statuses = [links.open(url, **{"X-Forwarded-For": "203.0.113.5"}).status for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        assert links.open(url, **{"X-Forwarded-For": "203.0.113.6"}).status == 404  # another address is free
    finally:
        channel.limiter = kept


def test_the_rate_limiter_forgets_old_windows_and_stays_small() -> None:
    clock = Clock()
    limiter = RateLimiter(limit=2, window_s=60, size=2, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    clock.now += 61
    assert limiter.allow("a")
    assert limiter.allow("a") and not limiter.allow("a")
    limiter.allow("b")
    limiter.allow("c")  # "a" is the least recently seen of three: forgotten, so it starts afresh
    assert limiter.allow("a")


def test_links_and_tokens_never_reach_the_logs(
    links: Links, dialogue: ObservedDialogue, store: Store, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        url, _ = export_link(links, dialogue, store, user)
        assert links.open(url).status == 200
    assert url.rsplit("/", 1)[1] not in caplog.text and "/file/" not in caplog.text
    assert user not in caplog.text


def test_a_user_keeps_a_bounded_number_of_links_oldest_retired_first(store: Store) -> None:
    shelf = FileShelf(store, 600, clock=Clock())
    files = [Attachment(f"f{i}.csv", f"{i}".encode(), "text/csv") for i in range(MAX_FILES_PER_USER + 2)]
    tokens = [shelf.put("wx:a", f) for f in files]
    other = shelf.put("wx:b", files[0])
    assert [shelf.get(tok) for tok in tokens[:2]] == [None, None]
    assert [shelf.get(tok) for tok in tokens[2:]] == files[2:]
    assert shelf.get(other) == files[0] and shelf.pending("wx:a") == MAX_FILES_PER_USER
    assert shelf.drop_user("wx:a") == MAX_FILES_PER_USER and shelf.get(tokens[-1]) is None
    assert shelf.get(other) == files[0]


def test_the_csv_and_markdown_files_download_as_utf8_text(
    links: Links, dialogue: ObservedDialogue, store: Store, user: str
) -> None:
    log_incident(store, user)
    answer = ask(links.fake, user, "/export")
    for option in ("ev:view", "ev:pack", "ev:view", "ev:export"):  # the log's view offers the pack and the CSV
        answer += "\n" + press(links.fake, dialogue, user, option)
    files = {f.filename.rsplit(".", 1)[1]: f for f in dialogue.files(f"{USER_PREFIX}{user}")}
    found = {url: links.open(url) for url in links.fake.links(answer)}
    got = {d.headers["Content-Disposition"].split('"')[1].rsplit(".", 1)[1]: d for d in found.values()}
    assert got["md"].body == files["md"].data and got["md"].headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert got["csv"].body == files["csv"].data and got["csv"].headers["Content-Type"] == "text/csv; charset=utf-8"


def test_a_chinese_file_name_survives_the_download_header() -> None:
    header = content_disposition("投诉材料 2026.pdf")
    assert header.startswith('attachment; filename="')
    assert header.encode("latin-1")  # header values must be Latin-1
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == "投诉材料 2026.pdf"


# ── pieces ───────────────────────────────────────────────────────────────────────────────────────────────
def test_split_text_keeps_paragraphs_and_links_whole_within_the_byte_limit() -> None:
    link = "https://www.12315.cn/cuser/portal/complaint"
    text = "\n\n".join([f"第{i}段：" + "冷静。" * 100 + link for i in range(10)])
    parts = split_text(text, 600)
    assert all(utf8_len(p) <= 600 for p in parts)
    assert sum(p.count(link) for p in parts) == 10
    assert split_text("短") == ["短"]
    emoji = "😀" * 20
    assert "".join(split_text(emoji, 10)) == emoji


def test_cdata_terminators_in_replies_do_not_break_the_xml() -> None:
    from bot.channels.wechat import cdata_safe

    assert "]]>" not in cdata_safe("a]]>b")
