"""The aiohttp transport under python-telegram-bot: real HTTP to the fake Bot API and to broken servers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bot.channels.telegram_http import AiohttpRequest, describe
from tests.fake_bot_api import TOKEN, FakeBotApi


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


def bot_on(url: str, request: AiohttpRequest) -> Bot:
    """A PTB Bot that talks to `url` through `request`."""
    return Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot", request=request)


def test_messages_with_chinese_text_and_buttons_arrive_as_sent(fake: FakeBotApi) -> None:
    async def go() -> None:
        async with bot_on(f"http://127.0.0.1:{fake.port}", AiohttpRequest()) as bot:
            assert bot.username == fake.username  # getMe answered during initialize
            menu = InlineKeyboardMarkup([[InlineKeyboardButton("菜单", callback_data="menu")]])
            sent = await bot.send_message(42, "催收说要起诉我 & <你>", reply_markup=menu)
            assert sent.text == "催收说要起诉我 & <你>"

    asyncio.run(go())
    call = fake.wait_for("sendMessage")
    assert call.params["text"] == "催收说要起诉我 & <你>"
    assert call.buttons == [("菜单", "menu")]


def test_a_file_upload_and_a_download_carry_every_byte(fake: FakeBotApi) -> None:
    payload = bytes(range(256)) * 300  # binary, with every byte value
    file_id = fake.add_file(payload)

    async def go() -> bytes:
        async with bot_on(f"http://127.0.0.1:{fake.port}", AiohttpRequest()) as bot:
            await bot.send_document(42, b"%PDF-1.4 complaint pack", filename="投诉材料.pdf", caption="材料")
            tg_file = await bot.get_file(file_id)
            return bytes(await tg_file.download_as_bytearray())

    assert asyncio.run(go()) == payload
    call = fake.wait_for("sendDocument")
    assert call.params["caption"] == "材料"
    assert call.params["document"]["filename"] == "投诉材料.pdf"
    assert call.params["document"]["data"] == b"%PDF-1.4 complaint pack"


def test_many_messages_at_once_all_arrive(fake: FakeBotApi) -> None:
    async def go() -> None:
        async with bot_on(f"http://127.0.0.1:{fake.port}", AiohttpRequest(connections=4)) as bot:
            await asyncio.gather(*(bot.send_message(1000 + i, f"第{i}条") for i in range(60)))

    asyncio.run(go())
    texts = sorted(c.text for c in fake.calls_of("sendMessage"))
    assert texts == sorted(f"第{i}条" for i in range(60))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_bot_api_that_does_not_answer_is_a_timeout_not_a_hang(silent_server: str) -> None:
    async def go() -> None:
        request = AiohttpRequest(read_timeout=0.3)
        await request.initialize()
        try:
            with pytest.raises(TimedOut):
                await bot_on(silent_server, request).send_message(1, "x")
        finally:
            await request.shutdown()

    asyncio.run(asyncio.wait_for(go(), timeout=10))


def test_a_bot_api_that_is_down_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def go() -> None:
        request = AiohttpRequest()
        await request.initialize()
        try:
            with pytest.raises(NetworkError):
                await bot_on(f"http://127.0.0.1:{port}", request).send_message(1, "x")
        finally:
            await request.shutdown()

    asyncio.run(go())


def test_a_request_before_initialize_says_what_to_do() -> None:
    async def go() -> None:
        with pytest.raises(RuntimeError, match="initialize"):
            await AiohttpRequest().do_request("http://127.0.0.1:9/bot/getMe", "POST")

    asyncio.run(go())


def test_the_transport_can_be_shut_down_and_started_again(fake: FakeBotApi) -> None:
    request = AiohttpRequest()

    async def once() -> int:
        await request.initialize()
        try:
            status, body = await request.do_request(f"http://127.0.0.1:{fake.port}/bot{TOKEN}/getMe", "POST")
        finally:
            await request.shutdown()
        assert json.loads(body)["result"]["is_bot"] is True
        return status

    assert asyncio.run(once()) == 200
    assert asyncio.run(once()) == 200  # a new event loop, a new session


def test_an_error_that_quotes_the_url_never_carries_the_bot_token() -> None:
    from aiohttp import RequestInfo, TooManyRedirects
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    url = URL(f"https://api.telegram.org/bot{TOKEN}/sendMessage")
    info = RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
    text = describe(TooManyRedirects(info, (), status=302, message="Found"))
    assert "TooManyRedirects" in text and "api.telegram.org/bot<token>/sendMessage" in text
    assert TOKEN.split(":")[1] not in text


def test_the_bot_api_is_reached_through_the_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)  # a proxy gets the absolute URL
            body = json.dumps({"ok": True, "result": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet."""

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    target = f"http://api.telegram.invalid/bot{TOKEN}/deleteWebhook"

    async def go() -> int:
        request = AiohttpRequest()
        await request.initialize()
        try:
            status, _ = await request.do_request(target, "POST")
        finally:
            await request.shutdown()
        return status

    try:
        assert asyncio.run(go()) == 200
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert seen == [target]
