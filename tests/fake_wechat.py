"""A local fake WeChat Official Account platform: real HTTP on 127.0.0.1, both directions.

- As the platform's API (what the bot calls): `GET /cgi-bin/token`, `POST /cgi-bin/message/custom/send`,
  `GET /cgi-bin/media/get`, `POST /cgi-bin/menu/create`, and picture links `GET /pic/<media_id>`. It issues
  access tokens with a lifetime, rejects stale ones (40001) and over-long texts (45002), and records every call.
- As the platform's callback sender (what calls the bot): it builds message XML, signs it (and in safe mode
  encrypts it with its own AES code, independent of wechatpy), posts it, and, like the platform, drops a
  delivery after a timeout and delivers the same message again, three deliveries in all.
- As the user's in-app browser: it finds the links in a reply and opens them (`links`, `open_link`).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import json
import os
import re
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "fake-callback-token"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"
MAX_KF_TEXT_BYTES = 2048


def sign(*parts: str) -> str:
    """SHA1 hex of the sorted parts, as the platform signs."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def cdata(value: object) -> str:
    """An XML element value as the platform writes it."""
    return str(value) if isinstance(value, int) else f"<![CDATA[{value}]]>"


def message_xml(fields: dict[str, object]) -> str:
    """The platform's message XML for these fields."""
    return "<xml>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"


class Aes:
    """The platform's message encryption (AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes, app id appended)."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.app_id = app_id.encode()

    def encrypt(self, text: str) -> str:
        body = text.encode("utf-8")
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + self.app_id
        pad = 32 - len(plain) % 32
        plain += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def decrypt(self, b64: str) -> tuple[str, bytes]:
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = dec.update(base64.b64decode(b64)) + dec.finalize()
        plain = plain[: -plain[-1]]
        size = struct.unpack(">I", plain[16:20])[0]
        return plain[20 : 20 + size].decode("utf-8"), plain[20 + size :]


@dataclass
class ApiCall:
    """One API request the bot made."""

    path: str
    params: dict[str, str]
    body: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Delivery:
    """One callback delivery: the HTTP status (None when the platform gave up waiting) and what came back."""

    status: int | None
    body: str = ""
    reply: str | None = None
    seconds: float = 0.0


@dataclass
class Download:
    """What the user's browser got for a link: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class FakeWechat:
    """The fake platform: API server plus callback sender."""

    def __init__(
        self,
        token: str = TOKEN,
        aes_key: str | None = None,
        timeout_s: float = 5.0,
        deliveries: int = 3,
        token_lifetime_s: int = 7200,
    ) -> None:
        self.token = token
        self.aes = Aes(aes_key, APP_ID) if aes_key else None
        self.timeout_s = timeout_s
        self.deliveries = deliveries
        self.token_lifetime_s = token_lifetime_s
        self.bot_url = ""
        self.calls: list[ApiCall] = []
        self.media: dict[str, bytes] = {}
        self.valid_tokens: dict[str, float] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(10_000_000_000 + int.from_bytes(os.urandom(4), "big") * 1000)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/cgi-bin/"

    def pic_url(self, media_id: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/pic/{media_id}"

    def start(self) -> FakeWechat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what the bot sent -------------------------------------------------------------------------------
    def calls_to(self, path: str) -> list[ApiCall]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def kf_texts(self, open_id: str) -> list[str]:
        """Customer-service texts the bot sent to this user, in order."""
        return [
            c.body["text"]["content"]
            for c in self.calls_to("message/custom/send")
            if isinstance(c.body, dict) and c.body.get("touser") == open_id and "error" not in c.params
        ]

    def wait_kf(self, open_id: str, count: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.kf_texts(open_id)
            if len(texts) >= count:
                return texts
            time.sleep(0.02)
        raise AssertionError(f"expected {count} customer-service texts, got {len(self.kf_texts(open_id))}")

    # -- the API server ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, obj: dict[str, Any]) -> None:
                self._send(200, json.dumps(obj, ensure_ascii=False).encode())

            def do_GET(self) -> None:
                fake._route(self, "GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake._route(self, "POST", self.rfile.read(length))

        return Handler

    def _route(self, h: Any, method: str, raw: bytes) -> None:
        url = urllib.parse.urlsplit(h.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        if url.path.startswith("/pic/"):
            data = self.media.get(url.path[len("/pic/") :])
            self._record(ApiCall("pic", params))
            h._send(200, data, "image/jpeg") if data else h._send(404, b"not found", "text/plain")
            return
        path = url.path[len("/cgi-bin/") :]
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                h._json({"errcode": 47001, "errmsg": "data format error"})
                return
        call = ApiCall(path, params, body)
        self._record(call)
        if path == "token":
            if params.get("appid") != APP_ID or params.get("secret") != APP_SECRET:
                h._json({"errcode": 40013, "errmsg": "invalid appid"})
                return
            token = f"TOKEN-{next(self._ids)}-" + "x" * 100
            with self.lock:
                self.valid_tokens[token] = time.time() + self.token_lifetime_s
            h._json({"access_token": token, "expires_in": self.token_lifetime_s})
            return
        expires = self.valid_tokens.get(params.get("access_token", ""))
        if expires is None or expires < time.time():
            call.params["error"] = "40001"
            h._json({"errcode": 40001, "errmsg": "invalid credential"})
            return
        if path == "message/custom/send" and method == "POST":
            text = (body or {}).get("text", {}).get("content", "")
            if len(text.encode("utf-8")) > MAX_KF_TEXT_BYTES:
                call.params["error"] = "45002"
                h._json({"errcode": 45002, "errmsg": "content size out of limit"})
                return
            h._json({"errcode": 0, "errmsg": "ok"})
        elif path == "media/get":
            data = self.media.get(params.get("media_id", ""))
            if data is None:
                h._json({"errcode": 40007, "errmsg": "invalid media_id"})
            else:
                h._send(200, data, "image/jpeg")
        elif path == "menu/create" and method == "POST":
            h._json({"errcode": 0, "errmsg": "ok"})
        else:
            h._json({"errcode": 48001, "errmsg": "api unauthorized"})

    def _record(self, call: ApiCall) -> None:
        with self.lock:
            self.calls.append(call)

    # -- the user's in-app browser ------------------------------------------------------------------------
    @staticmethod
    def links(text: str) -> list[str]:
        """The web links in a text, as the WeChat client makes them tappable."""
        return re.findall(r"https?://[^\s，。）」]+", text)

    @staticmethod
    def open_link(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Download:
        """Open a link as the user's browser does: status, headers and body (an error status is not raised)."""
        req = urllib.request.Request(url, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return Download(res.status, dict(res.headers.items()), res.read())
        except urllib.error.HTTPError as err:
            return Download(err.code, dict(err.headers.items()), err.read())

    # -- the callback sender -----------------------------------------------------------------------------
    def fields(self, open_id: str, msg_type: str, msg_id: int | None = None, **extra: object) -> dict[str, object]:
        """A message's fields; events have no MsgId."""
        f: dict[str, object] = {
            "ToUserName": ACCOUNT,
            "FromUserName": open_id,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **extra,
        }
        if msg_type != "event":
            f["MsgId"] = msg_id if msg_id is not None else next(self._ids)
        return f

    def signed_query(
        self, body: str | None = None, timestamp: str | None = None, nonce: str | None = None, **extra: str
    ) -> tuple[dict[str, str], str | None]:
        """The query the platform adds (and the encrypted body in safe mode)."""
        ts = timestamp or str(int(time.time()))
        nc = nonce or os.urandom(6).hex()
        query = {"signature": sign(self.token, ts, nc), "timestamp": ts, "nonce": nc, "openid": "o-hidden"}
        if self.aes is not None and body is not None:
            enc = self.aes.encrypt(body)
            body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
            query.update(encrypt_type="aes", msg_signature=sign(self.token, ts, nc, enc))
        query.update(extra)
        return query, body

    def post_raw(
        self, body: bytes, query: dict[str, str], timeout: float | None = None, bot_url: str | None = None
    ) -> Delivery:
        """One HTTP delivery to the bot (at bot_url, else the bot's one address)."""
        url = f"{bot_url or self.bot_url}?{urllib.parse.urlencode(query)}"
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"}, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout_s) as res:
                text = res.read().decode("utf-8")
                status = res.status
        except urllib.error.HTTPError as err:
            return Delivery(err.code, err.read().decode("utf-8", "replace"), None, time.monotonic() - started)
        except (TimeoutError, urllib.error.URLError) as err:
            if isinstance(err, urllib.error.URLError) and not isinstance(err.reason, TimeoutError):
                raise
            return Delivery(None, "", None, time.monotonic() - started)
        return Delivery(status, text, self.reply_text(text, query), time.monotonic() - started)

    def deliver(self, fields: dict[str, object], same_query: bool = False) -> list[Delivery]:
        """Deliver a message as the platform does: up to three times while the bot does not answer in time."""
        xml = message_xml(fields)
        out: list[Delivery] = []
        query, body = self.signed_query(xml)
        for _ in range(self.deliveries):
            if not same_query:
                query, body = self.signed_query(xml)
            assert body is not None
            got = self.post_raw(body.encode("utf-8"), query)
            out.append(got)
            if got.status is not None:
                break
        return out

    def deliver_to(self, fields: dict[str, object], pick: Callable[[], str]) -> list[Delivery]:
        """Deliver as the platform does to several workers behind a round-robin: each try to pick()'s worker.

        A worker that drops the connection (it died) has not answered: the platform delivers again.
        """
        xml = message_xml(fields)
        out: list[Delivery] = []
        for _ in range(self.deliveries):
            query, body = self.signed_query(xml)
            assert body is not None
            started = time.monotonic()
            try:
                got = self.post_raw(body.encode("utf-8"), query, bot_url=pick())
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                got = Delivery(None, "", None, time.monotonic() - started)
            out.append(got)
            if got.status is not None:
                break
        return out

    def reply_text(self, text: str, query: dict[str, str]) -> str | None:
        """The Content of a passive reply (decrypted and its signature checked in safe mode); None for success."""
        if text in ("", "success"):
            return None
        root = ET.fromstring(text)
        if self.aes is not None:
            enc = root.findtext("Encrypt") or ""
            assert root.findtext("MsgSignature") == sign(
                self.token, root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", enc
            ), "bad reply signature"
            inner, app_id = self.aes.decrypt(enc)
            assert app_id == APP_ID.encode()
            root = ET.fromstring(inner)
        assert root.findtext("MsgType") == "text"
        assert root.findtext("ToUserName") and root.findtext("FromUserName") == ACCOUNT
        return root.findtext("Content")
