"""WeChat Official Account (公众号) channel: the platform's signed XML callbacks wired to the dialogue core.

A thin channel on wechatpy (signature, AES safe mode, message parsing, reply XML, the platform API client) and
aiohttp (the callback server). It turns platform messages into `Incoming`, hands them to the dialogue core and
renders the core's `Reply` objects as plain text with numbered options. Its own sentences live in
responses/<locale>/wechat.yml. It never logs what users write, their OpenIDs or the access_token.

Platform rules this module relies on (developers.weixin.qq.com, "Passive user reply message", "Receiving
standard messages / event pushes", "Message encryption", "Customer service messages", "Get access token"):

- Every callback carries `signature` = SHA1 of the sorted token, timestamp and nonce; the GET that verifies the
  server URL also carries `echostr`, which is echoed back. In safe mode the body is `<xml><Encrypt>…` with a
  separate `msg_signature` over token, timestamp, nonce and the ciphertext.
- The platform waits 5 seconds for the answer to a callback, then drops the connection and sends the same
  message again, three deliveries in all. The literal body `success` acknowledges without a reply (no retry).
- Re-deliveries are recognised by MsgId for messages and by FromUserName + CreateTime for events.
  Several workers may serve one account behind a round-robin proxy, so a re-delivery may reach another worker
  than the first delivery did. Each message goes to the core as update "wx:<message key>", so the store's
  outbox answers it once (a re-run turn if nothing was committed, else the committed replies not yet out);
  the core counts the replies as out only once the channel has delivered them or kept them for the user.
  Which worker answers is decided by a short claim in the store (CLAIM_LEASE_S, renewed while the answer is
  being computed): shorter than the platform's 5-second retry, so a re-delivery after a worker died is
  answered by another one, while a re-delivery during a live worker's work waits and answers nothing twice.
  The channel's memory of a user (numbered options, the rest of a long reply, a late answer) and the files
  offered as links are kept in the store too, so the user's next message may reach any worker.
- A verified account may also send messages within 48 h of the user's last message (customer-service API);
  that is how answers that miss the 5-second window still arrive.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from ipaddress import ip_address
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException, WeChatClientException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from bot.channels.textsplit import split_by
from bot.config import LOCALES, Config, ConfigError
from bot.dialogue import content
from bot.dialogue.commands import NAMES as COMMAND_NAMES
from bot.dialogue.locale import detect_script
from bot.dialogue.state import State
from bot.dialogue.types import Attachment, Incoming, Option, Reply
from bot.store import BaseStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

USER_PREFIX = "wx:"
"""Dialogue-core user ids of WeChat users are "wx:<OpenID>" (the OpenID is per user and per account)."""
UPDATE_PREFIX = "wx:"
"""Dialogue-core update ids of WeChat messages are "wx:<message key>" (see WechatChannel.message_key)."""
T = TypeVar("T")
API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
PLATFORM_TIMEOUT_S = 5.0
"""The platform drops a callback connection after 5 s and re-delivers the message ("Passive user reply")."""
PLATFORM_DELIVERIES = 3
"""The platform delivers an unanswered message three times in all, then gives up."""
ACK = "success"
"""The body that acknowledges a callback without replying: the platform neither retries nor shows anything."""
MAX_TEXT_BYTES = 2000
"""Text message budget. The platform publishes no number for passive or customer-service text; over-long texts
fail (passive: the user sees "service unavailable"; customer service: errcode 45002). Developers measure the cap
at about 2048 bytes of UTF-8, so replies are split into parts of at most 2000 bytes."""
MAX_BODY_BYTES = 64 * 1024
"""Largest callback body accepted. A text message's Content is itself capped by the client, and safe mode's
"compatible" variant carries it twice plus base64 — far below this; anything larger is refused unread."""
MAX_CLOCK_SKEW_S = 300
"""A callback whose timestamp is further than this from our clock is refused (an old request replayed)."""
CLAIM_LEASE_S = 3.0
"""How long a worker's claim on a message lasts unless renewed: shorter than the platform's 5-second retry
interval, so a message whose worker died is free again when the platform delivers it the next time."""
CLAIM_RENEW_S = 1.0
"""The claim is renewed this often while the answer is being computed."""
CLAIM_POLL_S = 0.1
"""How often a delivery whose message another worker has claimed looks whether the claim is free again."""
HANDOVER_WAIT_S = 2.0
"""Longest wait for a delivery that is waiting for an answer to take it (it does so at once)."""
JOB_KEEP_S = 60
"""How long a handled message's result stays in memory for its retries."""
MAX_IMAGE_BYTES = 10_000_000
"""Screenshots up to 10 MB are downloaded (the platform's own image upload limit is 2-10 MB)."""
HTTP_TIMEOUT_S = 10.0
"""Timeout of each call to the platform API."""
TOKEN_REFRESH_BEFORE_S = 300
"""Fetch a new access_token this long before the old one expires (the platform keeps the old one valid for
5 minutes after a new one is issued, so workers holding it keep working)."""
_CONTROL_CHARS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters XML 1.0 forbids; a user's text can carry them and would make the platform's XML unparsable."""
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

MENU_LAYOUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("check", ()),
    ("guides", ("evidence", "complain", "plan", "start")),
    ("more", ("help", "language", "privacy", "delete")),
)
"""The custom menu: top-level buttons (a command, or a group of commands). Names are commands of the
dialogue's command table (the one Telegram's command list is built from). The platform allows 1-3 top-level
buttons with 1-5 sub-buttons each; a name is at most 16 bytes at the top and 60 bytes below ("Custom menu")."""
FILE_ROUTE = "/file/"
"""Files are served at <wechat.path>/file/<token> on the callback server."""
DOWNLOAD_GRACE_S = 60.0
"""After the first complete download a link works this much longer (a browser may fetch twice: preview, save)."""
MAX_FILES_PER_USER = 5
"""Links kept per user; making a sixth retires the oldest."""
MAX_KEPT_BYTES = 64 * 1024 * 1024
"""All kept files together stay under this; the oldest are dropped first (a 200-entry PDF is well under 1 MB)."""
DOWNLOADS_PER_MINUTE = 20
"""File requests one address may make per minute (hits and misses alike); more get 429."""
MAX_LIMITED_ADDRESSES = 4096
"""The rate limiter remembers this many addresses (least recently seen forgotten first), so it stays small."""
MENU_KEY_PREFIX = "cmd:"
MENU_TOP_NAME_BYTES = 16
MENU_SUB_NAME_BYTES = 60


# ── signatures and text ──────────────────────────────────────────────────────────────────────────────────
def sign(*parts: str) -> str:
    """The platform's signature: SHA1 hex of the parts sorted and joined without a separator."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes, as the platform counts text."""
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split a plain text into message-sized parts (UTF-8 bytes), on paragraph boundaries where possible."""
    return split_by(text, limit, utf8_len)


def cdata_safe(text: str) -> str:
    """Make text safe inside the CDATA section wechatpy writes (it does not escape "]]>")."""
    return text.replace("]]>", "]] >")


def render(
    replies: Sequence[Reply], locale: str, offer: Callable[[Attachment], str] | None = None
) -> tuple[str, list[Option]]:
    """Replies as one plain text with numbered options ("1) label"), numbered exactly as the console does.

    A file becomes the line offer(file) returns (a download link), or without offer the note that an Official
    Account cannot send files.
    """
    out: list[str] = []
    options: list[Option] = []
    for reply in replies:
        if reply.text:
            out.append(reply.text)
        for file in reply.attachments:
            out.append(offer(file) if offer is not None else _attachment_note(file, locale))
        if reply.options:
            options = list(reply.options)
    if options:
        out.append(content.t(locale, "wechat.choose"))
        out.append("\n".join(f"{n}) {o.label}" for n, o in enumerate(options, start=1)))
    return "\n\n".join(out), options


def _attachment_note(file: Attachment, locale: str) -> str:
    """What the user reads instead of a file: an Official Account cannot send documents."""
    return content.t(locale, "wechat.attachment", filename=file.filename)


def _cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of text within limit UTF-8 bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def menu_definition(locale: str) -> dict[str, Any]:
    """The custom menu for the platform's menu/create API, built from MENU_LAYOUT and the command table."""
    buttons: list[dict[str, Any]] = []
    for top, subs in MENU_LAYOUT:
        name = _cut_bytes(content.t(locale, f"wechat.menu.{top}"), MENU_TOP_NAME_BYTES)
        if not subs:
            assert top in COMMAND_NAMES, top
            buttons.append({"type": "click", "name": name, "key": f"{MENU_KEY_PREFIX}{top}"})
            continue
        sub_buttons = []
        for command in subs:
            assert command in COMMAND_NAMES, command
            label = _cut_bytes(content.t(locale, f"wechat.menu.{command}"), MENU_SUB_NAME_BYTES)
            sub_buttons.append({"type": "click", "name": label, "key": f"{MENU_KEY_PREFIX}{command}"})
        buttons.append({"name": name, "sub_button": sub_buttons})
    return {"button": buttons}


# ── the platform API: access_token in the store, shared by workers ────────────────────────────────────
class ApiClient(WeChatClient):
    """wechatpy's client whose access_token lives in the store: fetched once, shared, refreshed before expiry.

    wechatpy keeps the token's expiry in the client object, so a second worker would never refresh a token
    it did not fetch; here the expiry is stored with the token, and one refresher at a time (a lock in the
    process, a claim in the store across processes) fetches a new one. The token is never logged.
    """

    def __init__(self, app_id: str, secret: str, store: BaseStore, base_url: str = API_BASE_URL) -> None:
        """A client for the account app_id, keeping its token in store."""
        super().__init__(app_id, secret, timeout=HTTP_TIMEOUT_S)
        quiet_logs()
        self.API_BASE_URL = base_url.rstrip("/") + "/"
        self.store = store
        self.token_name = f"wechat.access_token:{app_id}"
        self._lock = threading.Lock()
        self.session = _StoreSession(self)

    def cached_token(self) -> tuple[str, float] | None:
        """The stored token and its seconds left, if any."""
        got = self.store.get_shared(self.token_name)
        return (got[0].decode("utf-8"), got[1]) if got and got[0] else None

    @property
    def access_token(self) -> str:
        """A token valid for a while yet: the stored one, or a freshly fetched one."""
        cached = self.cached_token()
        if cached and cached[1] > TOKEN_REFRESH_BEFORE_S:
            return cached[0]
        with self._lock:
            cached = self.cached_token()  # another thread may have refreshed it meanwhile
            if cached and cached[1] > TOKEN_REFRESH_BEFORE_S:
                return cached[0]
            if not self.store.claim(f"{self.token_name}:refreshing", HTTP_TIMEOUT_S):
                deadline = time.monotonic() + HTTP_TIMEOUT_S  # another worker is fetching: wait for it
                while time.monotonic() < deadline:
                    time.sleep(0.1)
                    cached = self.cached_token()
                    if cached and cached[1] > TOKEN_REFRESH_BEFORE_S:
                        return cached[0]
            self.fetch_access_token()
            cached = self.cached_token()
        if cached is None:
            raise WeChatClientException(None, "no access_token")
        return cached[0]

    def fetch_access_token(self) -> dict[str, Any]:
        """GET token (client_credential) and store it with its lifetime (wechatpy's own fetch has no timeout)."""
        res = self._http.get(
            self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=HTTP_TIMEOUT_S,
        )
        try:
            result = res.json()
        except ValueError:
            raise WeChatClientException(None, f"token: HTTP {res.status_code}") from None
        if not isinstance(result, dict) or not result.get("access_token"):
            code = result.get("errcode") if isinstance(result, dict) else None
            raise WeChatClientException(code, "token: no access_token")  # 40164: IP not whitelisted
        ttl = float(result.get("expires_in") or 7200)
        self.store.put_shared(self.token_name, str(result["access_token"]).encode("utf-8"), ttl)
        return {"expires_in": ttl}

    def send_text(self, open_id: str, text: str) -> None:
        """Send one customer-service text message."""
        self.message.send_text(open_id, text)

    def download_media(self, media_id: str) -> bytes:
        """Download a user's temporary media (media/get); raises WeChatClientException on an error answer."""
        res = self.get("media/get", params={"media_id": media_id})
        if isinstance(res, dict):
            raise WeChatClientException(res.get("errcode"), "media/get returned JSON")
        data: bytes = res.content
        return data

    def create_menu(self, menu: dict[str, Any]) -> None:
        """Create the custom menu."""
        self.menu.create(menu)


class _StoreSession:
    """The session object wechatpy writes a fetched token to: it goes to the store with its lifetime."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def get(self, key: str, default: Any = None) -> Any:
        """The stored token (wechatpy reads it after a forced refresh)."""
        cached = self.client.cached_token()
        return cached[0] if cached else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store the token for its lifetime."""
        self.client.store.put_shared(self.client.token_name, str(value).encode("utf-8"), float(ttl or 7200))

    def delete(self, key: str) -> None:
        """Forget the token."""
        self.client.store.put_shared(self.client.token_name, b"", 0.001)


# ── files offered as links ───────────────────────────────────────────────────────────────────────────
class FileShelf:
    """Files offered as one-off links under unguessable tokens, kept in the store so any worker serves them.

    The file is a rendering of the user's evidence, so it is kept as the evidence is: encrypted with the data
    key, and gone when its link expires, shortly after its first complete download, or with the user's data
    (/delete). Tokens are secrets.token_urlsafe(32) (256 random bits); only their SHA-256 is stored, so the
    links cannot be read back from the database. Times are wall-clock seconds (the workers share them).
    Nothing here is logged.
    """

    def __init__(self, store: BaseStore, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        """A shelf in store whose links work for ttl_s seconds (measured with clock)."""
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock

    @staticmethod
    def _key(token: str) -> str:
        """What a token is kept under (its hash: the token itself is not stored)."""
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def put(self, user: str, file: Attachment) -> str:
        """Keep file for user and return the new token of its link."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        meta = {"filename": file.filename, "mime_type": file.mime_type}
        self.store.put_file(
            self._key(token), user, file.data, meta, now + self.ttl_s, now, MAX_FILES_PER_USER, MAX_KEPT_BYTES
        )
        return token

    def get(self, token: str) -> Attachment | None:
        """The file behind a token, or None when it is unknown or its link has expired."""
        got = self.store.get_file(self._key(token), self.clock())
        if got is None:
            return None
        data, meta = got
        return Attachment(str(meta.get("filename", "file")), data, str(meta.get("mime_type", "text/plain")))

    def downloaded(self, token: str) -> None:
        """A complete download happened: the link works for the grace period at most."""
        self.store.shorten_file(self._key(token), self.clock() + DOWNLOAD_GRACE_S)

    def drop_user(self, user: str) -> int:
        """Forget every file of user (their data was deleted); return how many there were."""
        return self.store.drop_files(user)

    def pending(self, user: str) -> int:
        """How many links of user still work."""
        return self.store.count_files(user, self.clock())

    def purge(self) -> None:
        """Drop the files whose links have expired."""
        self.store.purge_files(self.clock())

    def kept_bytes(self) -> int:
        """Bytes of all files kept."""
        return self.store.files_size()


class RateLimiter:
    """At most `limit` requests per address per `window_s`; remembers a bounded number of addresses."""

    def __init__(
        self,
        limit: int = DOWNLOADS_PER_MINUTE,
        window_s: float = 60.0,
        size: int = MAX_LIMITED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A fixed-window limiter keeping at most size addresses."""
        self.limit = limit
        self.window_s = window_s
        self.size = size
        self.clock = clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, address: str) -> bool:
        """Count one request from address; False when it is over the limit in the current window."""
        now = self.clock()
        started, count = self._seen.pop(address, (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        self._seen[address] = (started, count + 1)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return count < self.limit


def client_address(request: web.Request) -> str:
    """The requester's address; behind a local reverse proxy, the last one it added to X-Forwarded-For."""
    peer = request.remote or ""
    try:
        local = ip_address(peer).is_loopback or ip_address(peer).is_private
    except ValueError:
        local = False
    forwarded = request.headers.get("X-Forwarded-For", "")
    if local and forwarded:
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


def content_type(mime_type: str) -> str:
    """The Content-Type of a file: text files are UTF-8 and say so (phones guess wrong for Chinese otherwise)."""
    if mime_type.startswith("text/") and "charset" not in mime_type:
        return f"{mime_type}; charset=utf-8"
    return mime_type


def content_disposition(filename: str) -> str:
    """An attachment header that names the file (RFC 6266: an ASCII fallback and the UTF-8 name)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# ── the channel ──────────────────────────────────────────────────────────────────────────────────────────
NOT_OURS = None
"""What a job gives when this worker did not answer the message (another worker has it, or the store is down)."""


@dataclass
class _Job:
    """One message being answered by this worker: its result, and whether it has reached the user yet.

    ready gives the message-sized parts of the answer, or NOT_OURS; written is set once a delivery of this worker
    has taken them for its passive reply. waiting counts this worker's deliveries of the message that wait for
    the answer within their reply window (one of them carries it passively).
    """

    user: str
    key: str
    task: asyncio.Task[None] = field(init=False)
    ready: asyncio.Future[list[str] | None] = field(init=False)
    written: asyncio.Future[None] = field(init=False)
    deliveries: int = 1
    delivered: bool = False
    waiting: int = 0


@dataclass
class _Handover:
    """Between the core and the channel for one message: the core counts the replies as sent once gate is set."""

    gate: asyncio.Future[None]
    turn: asyncio.Future[list[Reply]] | None = None
    """The core's handling of the message (it ends once the gate is set)."""

    def release(self) -> None:
        """The replies are out (or kept for the user): the core may count them as sent."""
        if not self.gate.done():
            self.gate.set_result(None)


@dataclass
class _UserMemory:
    """What the channel remembers about a user between messages (kept in the store, shared by the workers)."""

    options: list[Option] = field(default_factory=list)
    more: deque[str] = field(default_factory=deque)
    late: list[str] = field(default_factory=list)
    deleted: bool = False
    """The user's data was deleted in this turn: nothing of them is written back."""
    kept: bool = False
    """The store held this memory (every answer the core gave this user left one)."""
    handover: _Handover | None = None
    """The message being answered (not kept)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _UserMemory:
        """The memory as the store keeps it (unknown or malformed entries are dropped)."""
        options = [Option(str(o[0]), str(o[1])) for o in data.get("options", []) if isinstance(o, list) and len(o) == 2]
        more = deque(str(p) for p in data.get("more", []))
        return cls(options, more, [str(p) for p in data.get("late", [])], kept=bool(data))

    def to_dict(self) -> dict[str, Any]:
        """The memory as JSON values."""
        return {"options": [[o.id, o.label] for o in self.options], "more": list(self.more), "late": self.late}


class WechatChannel:
    """Callback handlers: platform XML → Incoming → dialogue core → a passive reply or customer-service texts."""

    def __init__(
        self,
        cfg: Config,
        dialogue: Any,
        store: BaseStore,
        api: ApiClient | None = None,
        *,
        platform_timeout_s: float = PLATFORM_TIMEOUT_S,
        media_fetch: Callable[[str], Awaitable[bytes]] | None = None,
    ) -> None:
        """Serve dialogue; with api set, late answers and long replies go through the customer-service API."""
        token = cfg.secrets.wechat_token
        if not token:
            raise ConfigError("WECHAT_TOKEN is not set: the WeChat channel needs the token set on the platform")
        self.cfg = cfg
        self.token = token
        self.dialogue = dialogue
        self.store = store
        self.api = api
        self.window_s = min(cfg.wechat.reply_window_s, platform_timeout_s)
        self.platform_timeout_s = platform_timeout_s
        self.crypto = self._crypto(cfg)
        self._media_fetch = media_fetch
        self._jobs: dict[str, _Job] = {}
        self._nonces: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._send_locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.more_words = {content.t(loc, "wechat.more_word").casefold() for loc in LOCALES}
        self.public_url = cfg.wechat.public_url.rstrip("/")
        self.files = FileShelf(store, cfg.wechat.file_ttl_s) if self.public_url else None
        self.limiter = RateLimiter()

    @staticmethod
    def _crypto(cfg: Config) -> WeChatCrypto | None:
        """The safe-mode cipher when WECHAT_AES_KEY is set (it needs the app id, which the ciphertext carries)."""
        key = cfg.secrets.wechat_aes_key
        if not key:
            return None
        if len(key) != 43:
            raise ConfigError("WECHAT_AES_KEY: the EncodingAESKey is 43 characters (as shown on the platform)")
        if not cfg.secrets.wechat_app_id:
            raise ConfigError("WECHAT_AES_KEY is set but WECHAT_APP_ID is not: safe mode needs the app id")
        try:
            return WeChatCrypto(cfg.secrets.wechat_token, key, cfg.secrets.wechat_app_id)
        except Exception as exc:  # a malformed key
            raise ConfigError(f"WECHAT_AES_KEY: not a valid EncodingAESKey ({type(exc).__name__})") from None

    # -- HTTP ------------------------------------------------------------------------------------------------
    def application(self) -> web.Application:
        """The aiohttp application serving the callback path."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get(self.cfg.wechat.path, self.on_get)
        app.router.add_post(self.cfg.wechat.path, self.on_post)
        app.router.add_get(self.file_path("{token}"), self.on_file)
        return app

    def file_path(self, token: str) -> str:
        """The path a file's link points to."""
        return f"{self.cfg.wechat.path.rstrip('/')}{FILE_ROUTE}{token}"

    async def on_file(self, request: web.Request) -> web.StreamResponse:
        """A download link: the file while its link works, else 404 (no signature: the token is the secret)."""
        if not self.limiter.allow(client_address(request)):
            return web.Response(status=429, text="too many requests", headers={"Retry-After": "60"})
        token = request.match_info.get("token", "")
        files = self.files
        file = await _off_loop(files.get, token) if files is not None else None
        if file is None:
            return web.Response(status=404, text="not found", headers={"Cache-Control": "no-store"})
        res = web.StreamResponse(
            headers={
                "Content-Type": content_type(file.mime_type),
                "Content-Disposition": content_disposition(file.filename),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "X-Robots-Tag": "noindex",
            }
        )
        res.content_length = len(file.data)
        await res.prepare(request)
        if request.method != "GET":
            return res  # HEAD: the headers only, and the link stays as it was
        await res.write(file.data)
        await res.write_eof()
        if files is not None:
            await _off_loop(files.downloaded, token)
        return res

    def _signed(self, query: Any) -> bool:
        """Whether the URL carries a valid, fresh signature (nothing of the body is looked at)."""
        signature = query.get("signature", "")
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        if not (signature and timestamp and nonce):
            return False
        expected = sign(self.token, timestamp, nonce)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return False
        try:
            return abs(time.time() - int(timestamp)) <= MAX_CLOCK_SKEW_S
        except ValueError:
            return False

    async def on_get(self, request: web.Request) -> web.Response:
        """Server URL verification: echo echostr to a correctly signed request."""
        if not self._signed(request.query):
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")

    def _fresh_nonce(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """False when this timestamp+nonce already came with a different body (a replay with new content)."""
        digest = hashlib.sha256(body).digest()
        key = (timestamp, nonce)
        seen = self._nonces.get(key)
        if seen is not None:
            return hmac.compare_digest(seen, digest)  # the same request again is a retry, answered once
        self._nonces[key] = digest
        while len(self._nonces) > 50_000:
            self._nonces.popitem(last=False)
        return True

    async def on_post(self, request: web.Request) -> web.StreamResponse:
        """A message or event: check, parse, answer (passively when the core is quick enough)."""
        arrived = time.monotonic()
        query = request.query
        if not self._signed(query):
            return web.Response(status=403, text="forbidden")  # before reading a byte of the body
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        if not self._fresh_nonce(query["timestamp"], query["nonce"], body):
            return web.Response(status=403, text="forbidden")
        if _DTD.search(body):
            return web.Response(status=400, text="bad request")  # no DTDs: refused before any parsing
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if self.crypto is not None and not encrypted:
            return web.Response(status=400, text="bad request")  # safe mode: plaintext is not accepted
        try:
            xml = body.decode("utf-8")
            if encrypted:
                if self.crypto is None:
                    return web.Response(status=400, text="bad request")
                xml = self.crypto.decrypt_message(
                    xml, query.get("msg_signature", ""), query["timestamp"], query["nonce"]
                )
            raw = _CONTROL_CHARS.sub(b"", xml.encode("utf-8"))
            if _DTD.search(raw):
                return web.Response(status=400, text="bad request")
            msg = parse_message(raw.decode("utf-8"))
        except (InvalidSignatureException, InvalidAppIdException):
            return web.Response(status=403, text="forbidden")
        except Exception as exc:  # not XML, not the platform's XML, bad ciphertext
            log.warning("refused an unreadable callback body (%s)", type(exc).__name__)
            return web.Response(status=400, text="bad request")
        if msg is None or not msg.source:
            return web.Response(status=400, text="bad request")
        try:
            text = await self._dispatch(msg, arrived)
        except Exception as exc:
            log.error("WeChat callback failed: %s\n%s", type(exc).__name__, _frames(exc))
            text = None
        return self._respond(msg, text, query)

    def _respond(self, msg: BaseMessage, text: str | None, query: Any) -> web.Response:
        """The callback's answer: a passive text reply (encrypted in safe mode), or "success"."""
        if text is None:
            return web.Response(text=ACK, content_type="text/plain")
        xml = TextReply(message=msg, content=cdata_safe(text)).render()
        if self.crypto is not None:
            xml = self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
        return web.Response(text=xml, content_type="application/xml")

    async def drain(self) -> None:
        """Let customer-service sends in progress finish, and note the replies that are out (server stopping)."""
        if self._background:
            await asyncio.wait(self._background, timeout=HTTP_TIMEOUT_S)
        flush = getattr(self.dialogue, "flush_sent", None)
        if flush is not None:
            await flush()
            await asyncio.sleep(0)  # let the core's cancelled flush timer end before the loop does

    # -- deduplication and the reply window --------------------------------------------------------------
    @staticmethod
    def message_key(msg: BaseMessage) -> str:
        """What identifies one message across the platform's re-deliveries (hashed: it holds the OpenID)."""
        if msg.type != "event" and msg.id:
            raw = f"m:{msg.target}:{msg.id}"
        else:
            # The platform's rule is sender + CreateTime; the event and its key are added so that two different
            # menu taps within one second are not taken for one re-delivered event.
            raw = f"e:{msg.source}:{msg._data.get('CreateTime')}:{msg._data.get('Event')}:{msg._data.get('EventKey')}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]

    async def _dispatch(self, msg: BaseMessage, arrived: float) -> str | None:
        """Answer a delivery: start the work once per message, then wait for it within the reply window."""
        key = self.message_key(msg)
        job = self._jobs.get(key)
        if job is None:
            user = f"{USER_PREFIX}{msg.source}"
            job = _Job(user, key)
            loop = asyncio.get_running_loop()
            job.ready, job.written = loop.create_future(), loop.create_future()
            job.task = asyncio.create_task(self._run(job, msg, arrived))
            self._background.add(job.task)  # a stopping server lets it finish (drain)
            job.task.add_done_callback(self._background.discard)
            self._jobs[key] = job
            asyncio.get_running_loop().call_later(JOB_KEEP_S, self._forget, job)
        else:
            job.deliveries += 1
        left = self.window_s - (time.monotonic() - arrived)
        job.waiting += 1
        try:
            done = await _finished(job.ready, left)
        finally:
            job.waiting -= 1
        if done and job.ready.result() is not NOT_OURS:
            return self._take_passive(job)
        if done:  # another worker answers it (or the store is down): no answer from here, and no "success"
            await self._let_time_out(arrived)
            return None
        if self.api is not None:
            return None  # the answer goes by the customer-service API when ready
        # No customer-service API: let this delivery time out, so the platform re-sends the message and a later
        # delivery (on any worker) carries the answer passively, from the user's memory if it is ready by then.
        await self._let_time_out(arrived)
        return None

    async def _let_time_out(self, arrived: float) -> None:
        """Hold a delivery until the platform gives up on it (it then delivers the message again)."""
        left = self.platform_timeout_s + 0.5 - (time.monotonic() - arrived)
        if left > 0:
            await asyncio.sleep(left)

    def _forget(self, job: _Job) -> None:
        """Drop a job from the map (if it is still the one kept under its key)."""
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]

    async def _run(self, job: _Job, msg: BaseMessage, arrived: float) -> None:
        """Claim the message for this worker (waiting within the reply window), answer and deliver it.

        NOT_OURS when the claim stayed with another worker for the whole window: that worker is alive and
        answering, and this job is dropped so that a later delivery here asks again. The claim is kept alive
        until the answer is out, and the core counts its replies as sent only then (the handover's gate): a
        worker killed before that leaves them in the outbox for the re-delivery, on whichever worker.
        """
        claim = f"wechat.seen:{job.key}"
        deadline = arrived + self.window_s
        try:
            while not await _off_loop(self.store.claim, claim, CLAIM_LEASE_S):
                if time.monotonic() >= deadline:
                    self._forget(job)
                    job.ready.set_result(NOT_OURS)
                    return
                await asyncio.sleep(CLAIM_POLL_S)
        except StoreError as exc:  # nothing done yet: the platform's re-delivery is answered later
            log.warning("WeChat message not answered now: %s", exc)
            self._forget(job)
            job.ready.set_result(NOT_OURS)
            return
        renew = asyncio.ensure_future(self._renew(claim))
        handover = _Handover(asyncio.get_running_loop().create_future())
        try:
            parts = await self._answer(msg, job.user, handover)
            job.ready.set_result(parts)
            if parts is NOT_OURS:  # the store is down: nothing was committed; a re-delivery may be answered
                self._forget(job)
                await self._release(claim)
                return
            await self._deliver(job, parts, claim, handover)
        finally:
            if not job.ready.done():
                job.ready.set_result(NOT_OURS)
            handover.release()
            renew.cancel()

    async def _deliver(self, job: _Job, parts: list[str], claim: str, handover: _Handover) -> None:
        """Get the answer out: passively by a waiting delivery, else by customer service, else kept for later."""
        if job.waiting:  # a delivery of this worker carries the first part (it takes it at once)
            try:
                await asyncio.wait_for(asyncio.shield(job.written), HANDOVER_WAIT_S)
            except asyncio.TimeoutError:
                log.warning("a waiting delivery did not take its answer")
            if len(parts) > 1:
                await self._send_rest(job.user, parts[1:])
            return
        job.delivered = True
        if self.api is not None:
            await self._send(job.user, parts)
        elif parts:
            self._forget(job)  # a re-delivery (here or elsewhere) or the next message takes it from memory
            try:
                await self._keep_late(job.user, parts)
            except StoreError as exc:
                log.warning("a late answer could not be kept: %s", type(exc).__name__)
            handover.release()
            if handover.turn is not None:  # the core notes the replies as sent...
                await asyncio.wait({handover.turn})
            flush = getattr(self.dialogue, "flush_sent", None)
            if flush is not None:  # ...and the outbox forgets them, before a re-delivery may ask it for them
                await flush()
            await self._release(claim)

    async def _release(self, claim: str) -> None:
        """Give a message's claim up at once (its answer is in the store for whichever delivery comes next)."""
        try:
            await _off_loop(self.store.put_shared, claim, b"", 0.0)
        except StoreError as exc:  # it lapses by itself
            log.warning("could not release a message claim: %s", type(exc).__name__)

    async def _renew(self, claim: str) -> None:
        """Keep the claim on a message while its answer is being computed."""
        while True:
            await asyncio.sleep(CLAIM_RENEW_S)
            try:
                await _off_loop(self.store.put_shared, claim, b"", CLAIM_LEASE_S)
            except Exception as exc:  # the store is down: the turn fails too, and the claim lapses
                log.warning("could not renew a message claim: %s", type(exc).__name__)

    def _take_passive(self, job: _Job) -> str | None:
        """The first part of a finished job's answer for the passive reply; the rest goes on separately."""
        if job.delivered:
            return None
        job.delivered = True
        if not job.written.done():
            job.written.set_result(None)
        parts = job.ready.result()
        return parts[0] if parts else None

    async def _keep_late(self, user: str, parts: list[str]) -> None:
        """No API and no delivery waiting: keep the answer for the message's re-delivery or the user's next one."""
        mem = await self._memory(user)
        mem.late.extend(parts)
        await self._remember(user, mem)

    async def _send_rest(self, user: str, parts: list[str]) -> None:
        """Parts after the passive reply: customer-service messages, else kept for "more"."""
        if self.api is not None:
            await self._send(user, parts)
        else:
            mem = await self._memory(user)
            mem.more.extend(parts)
            await self._remember(user, mem)

    async def _send(self, user: str, parts: Sequence[str]) -> None:
        """Send texts in order through the customer-service API (one user's sends never interleave)."""
        assert self.api is not None
        api = self.api
        lock = self._send_locks.setdefault(user, asyncio.Lock())
        open_id = user[len(USER_PREFIX) :]
        loop = asyncio.get_running_loop()
        async with lock:
            for part in parts:
                try:
                    await loop.run_in_executor(None, api.send_text, open_id, cdata_safe(part))
                except WeChatClientException as exc:  # 45015: outside the 48 h window; 48001: not allowed
                    log.warning("customer-service message not sent: errcode %s", exc.errcode)
                    return
                except Exception as exc:
                    log.warning("customer-service message not sent: %s", type(exc).__name__)
                    return

    # -- per-user memory ---------------------------------------------------------------------------------
    async def _memory(self, user: str) -> _UserMemory:
        """This user's channel memory, as the store keeps it for every worker."""
        return _UserMemory.from_dict(await _off_loop(self.store.get_memory, user))

    async def _remember(self, user: str, mem: _UserMemory) -> None:
        """Write the user's channel memory back (not after their data was deleted)."""
        if not mem.deleted:
            await _off_loop(self.store.put_memory, user, mem.to_dict())

    def _locale(self, user: str, replies: Sequence[Reply] = (), state: dict[str, Any] | None = None) -> str:
        """The locale of the channel's own words: the user's (as the core keeps it), else the reply's script."""
        stored = State.from_dict(self.store.get_state(user) if state is None else state).locale
        if stored:
            return stored
        for reply in replies:
            found = detect_script(reply.text)
            if found in LOCALES:
                return str(found)
        return self.cfg.locale.default

    # -- turning a platform message into replies --------------------------------------------------------------
    async def _answer(self, msg: BaseMessage, user: str, handover: _Handover | None = None) -> list[str] | None:
        """The message-sized texts that answer msg, after any answer kept for the user; NOT_OURS: store down.

        Never raises: a failure becomes the kind error text; an unreachable store gives NOT_OURS (nothing was
        committed, so the platform's re-delivery is answered once the store is back).
        """
        try:
            mem = await self._memory(user)
            mem.handover = handover
            late, mem.late = mem.late, []
            try:
                parts = await self._answer_parts(msg, user, mem)
            except StoreUnavailable:
                raise
            except Exception as exc:
                log.error("WeChat message failed: %s\n%s", type(exc).__name__, _frames(exc))
                parts = [content.t(self._locale(user), "wechat.error")]
        except StoreUnavailable as exc:
            log.warning("WeChat message not answered now: %s", exc)
            return NOT_OURS
        parts = late + parts
        if self.api is None and len(parts) > 1:  # kept before the first part goes out: "more" may come at once
            mem.more.extendleft(reversed(parts[1:]))
            parts = parts[:1]
        try:
            await self._remember(user, mem)
        except StoreError as exc:  # the answer stands; only the numbers of its options are not remembered
            log.warning("could not keep the channel memory: %s", type(exc).__name__)
        return parts

    async def _answer_parts(self, msg: BaseMessage, user: str, mem: _UserMemory) -> list[str]:
        """Route by message type; events and messages the bot cannot read get the channel's own words."""
        update = f"{UPDATE_PREFIX}{self.message_key(msg)}"
        kind = msg.type
        created = str(msg._data.get("CreateTime") or "")
        received = datetime.fromtimestamp(int(created) if created.isdigit() else time.time(), tz=timezone.utc)
        if kind == "text":
            text = msg.content or ""
            if text.strip().casefold() in self.more_words and mem.more:
                return [self._with_more_hint(mem, mem.more.popleft(), user)]
            return await self._core(user, self._typed(mem, user, text, received), mem, update)
        mem.more.clear()
        if kind == "voice":
            recognised = (msg.recognition or "").strip()
            if recognised:
                return await self._core(user, self._typed(mem, user, recognised, received), mem, update)
            return self._own(user, "voice_unrecognised")
        if kind == "image":
            return await self._image(msg, user, received, mem, update)
        if kind == "event":
            return await self._event(msg, user, received, mem, update)
        return self._own(user, "unsupported")

    @staticmethod
    def _typed(mem: _UserMemory, user: str, text: str, received: datetime) -> Incoming:
        """An Incoming for typed text; a number picks one of the options shown last (as in the console)."""
        mem.more.clear()
        number = text.strip()
        if number.isdigit() and mem.options and 1 <= int(number) <= len(mem.options):
            chosen = mem.options[int(number) - 1]
            return Incoming(user, text=chosen.label, option_id=chosen.id, received_at=received)
        return Incoming(user, text=text, received_at=received)

    async def _event(self, msg: BaseMessage, user: str, received: datetime, mem: _UserMemory, update: str) -> list[str]:
        """Follow → welcome and menu; a menu click → its command; other events need no answer."""
        event = (getattr(msg, "event", "") or "").lower()
        key = str(msg._data.get("EventKey") or "")
        if event == "subscribe":
            scene = key[len("qrscene_") :] if key.startswith("qrscene_") else ""
            command = f"/start {scene}".strip() if re.fullmatch(r"[A-Za-z0-9_]{0,32}", scene) else "/start"
            return await self._core(user, Incoming(user, text=command, received_at=received), mem, update)
        if event == "click":
            name = key[len(MENU_KEY_PREFIX) :] if key.startswith(MENU_KEY_PREFIX) else ""
            command = f"/{name}" if name in COMMAND_NAMES else "/start"
            return await self._core(user, Incoming(user, text=command, received_at=received), mem, update)
        return []  # unsubscribe, VIEW (a link opened), location reports…: nothing to say

    async def _image(self, msg: BaseMessage, user: str, received: datetime, mem: _UserMemory, update: str) -> list[str]:
        """Download a screenshot and give it to the core (OCR, then the assessment)."""
        try:
            data = await self._download(msg)
        except Exception as exc:  # the media API or the picture link failed
            log.warning("could not download an image: %s", type(exc).__name__)
            return self._own(user, "image_failed")
        if not data:
            return self._own(user, "image_failed")
        if len(data) > MAX_IMAGE_BYTES:
            return self._own(user, "image_too_large", max_mb=MAX_IMAGE_BYTES // 1_000_000)
        return await self._core(user, Incoming(user, image=data, received_at=received), mem, update)

    async def _download(self, msg: BaseMessage) -> bytes:
        """The original image through the media API when we have one, else the picture link the platform sent."""
        if self._media_fetch is not None:
            return await self._media_fetch(msg.media_id)
        if self.api is not None and msg.media_id:
            api = self.api
            return await asyncio.get_running_loop().run_in_executor(None, api.download_media, msg.media_id)
        url = msg.image or ""
        if not url.startswith(("http://", "https://")):
            raise ValueError("no picture link")
        async with ClientSession(timeout=ClientTimeout(total=HTTP_TIMEOUT_S)) as http:
            async with http.get(url) as res:
                if res.status != 200:
                    raise ClientError(f"status {res.status}")
                data = await res.content.read(MAX_IMAGE_BYTES + 1)
        return bytes(data)

    async def _core(self, user: str, incoming: Incoming, mem: _UserMemory, update: str) -> list[str]:
        """Ask the dialogue core and render its replies; remember the numbered options.

        The message goes to the core as update `update`: the core commits the turn with its replies (the
        outbox) and hands them over once; a re-delivery gets those not handed over, or nothing. take_over: a
        message reaches the core only on the worker holding its claim, so no other worker is sending them.
        """
        replies = await self._ask_core(replace(incoming, update_id=update), mem.handover)
        stored = await _off_loop(self.store.get_state, user)
        mem.deleted = mem.kept and not stored  # a known user without a state: this turn deleted their data
        locale = self._locale(user, replies, stored)
        text, options = render(replies, locale, await self._offer(user, locale, replies))
        mem.options = options if options else mem.options
        return self._parts(user, text, mem, locale)

    async def _ask_core(self, incoming: Incoming, handover: _Handover | None) -> list[Reply]:
        """The core's replies to incoming; with a handover, the core counts them as sent only when its gate opens.

        The core hands the replies over (send_all) and waits at the gate while the channel renders, remembers
        and delivers them; a re-delivery that finds everything sent gets no replies.
        """
        handed: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()

        async def send_all(replies: list[Reply]) -> None:
            if not handed.done():
                handed.set_result(list(replies))
            if handover is not None:
                await handover.gate

        turn = asyncio.ensure_future(self.dialogue.handle(incoming, take_over=True, send_all=send_all))
        turn.add_done_callback(_retrieved)
        if handover is not None:
            handover.turn = turn
        await asyncio.wait({turn, handed}, return_when=asyncio.FIRST_COMPLETED)
        return handed.result() if handed.done() else turn.result()

    async def _offer(self, user: str, locale: str, replies: Sequence[Reply]) -> Callable[[Attachment], str] | None:
        """How a file in a reply to user is offered: a download link when public_url is set, else None."""
        files = self.files
        if files is None:
            return None
        minutes = max(1, round(files.ttl_s / 60))
        urls: dict[int, str] = {}
        for reply in replies:
            for file in reply.attachments:
                urls[id(file)] = f"{self.public_url}{self.file_path(await _off_loop(files.put, user, file))}"
        if urls:
            loop = asyncio.get_running_loop()
            loop.call_later(files.ttl_s + 1, lambda: loop.run_in_executor(None, files.purge))  # freed, asked or not

        def offer(file: Attachment) -> str:
            return content.t(locale, "wechat.download", filename=file.filename, url=urls[id(file)], minutes=minutes)

        return offer

    def _own(self, user: str, key: str, **values: object) -> list[str]:
        """One of the channel's own sentences, in the user's language."""
        return [content.t(self._locale(user), f"wechat.{key}", **values)]

    def _parts(self, user: str, text: str, mem: _UserMemory, locale: str) -> list[str]:
        """Split a rendered answer; without the API, leave room for the "reply more" hint on each part."""
        if self.api is not None:
            return split_text(text)
        hint = content.t(locale, "wechat.more")
        parts = split_text(text, MAX_TEXT_BYTES - utf8_len(hint) - 2)
        if len(parts) > 1:
            parts = [f"{parts[0]}\n\n{hint}", *parts[1:]]
        return parts

    def _with_more_hint(self, mem: _UserMemory, part: str, user: str) -> str:
        """A part sent on "more", with the hint again while parts remain."""
        if mem.more:
            return f"{part}\n\n{content.t(self._locale(user), 'wechat.more')}"
        return part


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Look at a background task's failure (the channel has seen it already, or it needs no answer)."""
    if not task.cancelled():
        task.exception()


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (the store's) in a thread, so the event loop serves other deliveries meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


async def _finished(task: asyncio.Future[Any], timeout: float) -> bool:
    """Wait up to timeout for task (without cancelling it); True when it is done."""
    if not task.done() and timeout > 0:
        await asyncio.wait({task}, timeout=timeout)
    return task.done()


def _frames(err: BaseException) -> str:
    """The traceback's code frames, without the exception's message (which may quote a user's text)."""
    return "".join(traceback.format_tb(err.__traceback__)).rstrip()


# ── composition ──────────────────────────────────────────────────────────────────────────────────────────
def build_api(cfg: Config, store: BaseStore, base_url: str = API_BASE_URL) -> ApiClient | None:
    """The platform API client when WECHAT_APP_ID and WECHAT_APP_SECRET are set, else None."""
    if cfg.secrets.wechat_app_id and cfg.secrets.wechat_app_secret:
        return ApiClient(cfg.secrets.wechat_app_id, cfg.secrets.wechat_app_secret, store, base_url)
    return None


def quiet_logs() -> None:
    """Keep tokens, OpenIDs and texts out of the logs (HTTP clients log URLs with the access_token)."""
    for name in ("urllib3", "requests", "wechatpy", "aiohttp.access"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # its own level, so that a DEBUG root cannot turn it back on
            logger.setLevel(logging.WARNING)


async def serve(channel: WechatChannel, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve the callback path until stop is set (no access log: callback URLs carry the OpenID)."""
    runner = web.AppRunner(channel.application(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("WeChat: listening on %s:%d%s", host, port, channel.cfg.wechat.path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await channel.drain()


def run_wechat(cfg: Config, dialogue: Any, store: BaseStore, port: int | None = None) -> None:
    """Run the WeChat callback server until interrupted."""
    quiet_logs()
    channel = WechatChannel(cfg, dialogue, store, build_api(cfg, store))
    if channel.api is None:
        log.warning("WECHAT_APP_ID/WECHAT_APP_SECRET not set: passive replies only (see README, WeChat)")

    async def main() -> None:
        await serve(channel, cfg.wechat.listen, port or cfg.wechat.port, asyncio.Event())

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def create_menu(cfg: Config, store: BaseStore, base_url: str = API_BASE_URL) -> dict[str, Any]:
    """Create the custom menu on the platform (in the default locale) and return what was sent."""
    api = build_api(cfg, store, base_url)
    if api is None:
        raise ConfigError("the custom menu needs WECHAT_APP_ID and WECHAT_APP_SECRET")
    quiet_logs()
    menu = menu_definition(cfg.locale.default)
    api.create_menu(menu)
    return menu
