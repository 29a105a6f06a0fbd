"""A local fake Telegram Bot API server: real HTTP on 127.0.0.1 that python-telegram-bot talks to unmodified.

It answers the methods the bot uses, long-polls getUpdates like Telegram does, serves files for download,
checks the limits Telegram enforces (4096-character messages, 64-byte callback data, well-formed HTML) before
it records a call, so `calls` holds only what Telegram would have accepted (and shown), and `refused` the rest.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import io
import itertools
import json
import pickle
import re
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "123456789:TEST-fake-token-for-the-local-bot-api"
BOT_ID = 123456789
BOT_USERNAME = "weiquan_test_bot"
BOT_NAME = "维权助手 (test)"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA = 64

JSON_FIELDS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "allowed_updates",
    "commands",
    "scope",
    "link_preview_options",
    "reply_parameters",
}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "from_chat_id", "user_id"}
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "blockquote",
    "span",
    "tg-emoji",
}
_TAG = re.compile(r"</?([a-zA-Z-]+)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


@dataclass
class Call:
    """One request the bot made: the method, its decoded parameters and when it arrived."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: Any = None
    error: ApiError | None = None

    @property
    def chat_id(self) -> int | None:
        """The chat the call was for, if any."""
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        """The message text (or caption) as the user sees it: what the Bot API stored for an accepted message."""
        if isinstance(self.result, dict) and isinstance(self.result.get("text"), str):
            return str(self.result["text"])
        raw = self.params.get("text") or self.params.get("caption") or ""
        return visible_text(str(raw)) if self.params.get("parse_mode") == "HTML" else str(raw)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """The inline keyboard as (label, callback_data) pairs, row by row."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class Hold:
    """A call kept waiting by FakeBotApi.hold: `arrived` is set when it comes, `released` lets it fail."""

    method: str
    chat_id: int
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class ApiError(Exception):
    """A Bot API error answer (HTTP status and description)."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def visible_text(text: str) -> str:
    """Return what Telegram shows for an HTML-formatted text."""
    return html.unescape(_TAG.sub("", text))


def check_html(text: str) -> None:
    """Reject text that Telegram's HTML parse mode would refuse (stray '<' or '&', unknown tags)."""
    stripped = _TAG.sub(lambda m: "" if m.group(1).lower() in ALLOWED_TAGS else m.group(0), text)
    if "<" in stripped:
        raise ApiError(400, "Bad Request: can't parse entities: unsupported start tag")
    if "&" in _ENTITY.sub("", stripped):
        raise ApiError(400, "Bad Request: can't parse entities: unexpected '&'")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


class FakeBotApi:
    """The fake server; start() it, point ApplicationBuilder at base_url / base_file_url, stop() it."""

    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME, poll_timeout_cap: float = 2.0) -> None:
        self.token = token
        self.username = username
        self.poll_timeout_cap = poll_timeout_cap
        self.calls: list[Call] = []
        """Accepted calls, in the order they were answered (a refused call is in `refused` instead)."""
        self.refused: list[Call] = []
        """Calls the fake answered with an error (bad HTML, too long, a failure asked for by fail_next)."""
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, list[ApiError]] = {}
        self.holds: list[Hold] = []
        self._updates: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.offered: dict[int, float] = {}
        """update_id → monotonic time it was queued (for latency measurements)."""
        self.webhook: dict[str, Any] = {}

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────────
    def start(self, port: int = 0) -> FakeBotApi:
        """Listen on 127.0.0.1 (an ephemeral port unless one is given) in a background thread."""
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bot-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake every long poll and shut the server down."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What to pass to ApplicationBuilder().base_url()."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass to ApplicationBuilder().base_file_url()."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ── test API ─────────────────────────────────────────────────────────────────────────────────
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (an update_id is added if missing); return its update_id."""
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            self.offered[int(update["update_id"])] = time.monotonic()
            self._cond.notify_all()
        return int(update["update_id"])

    def offer_paced(self, updates: list[dict[str, Any]], rate: float | None) -> list[int]:
        """Queue updates `rate` per second (all at once when None), as users would send them; their ids."""
        start = time.monotonic()
        ids = []
        for i, update in enumerate(updates):
            if rate is not None:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            ids.append(self.push_update(update))
        return ids

    def add_file(self, data: bytes, file_id: str | None = None) -> str:
        """Store a file the bot can getFile and download; return its file_id."""
        file_id = file_id or f"file-{next(self._file_ids)}"
        with self._cond:
            self.files[file_id] = data
        return file_id

    def hold(self, method: str, chat_id: int) -> Hold:
        """Keep the next call of a method to a chat waiting, unrecorded, until the hold is released.

        Released, the call fails with 502 (a request cut off before it reached Telegram): nothing was sent.
        """
        held = Hold(method, chat_id)
        with self._cond:
            self.holds.append(held)
        return held

    def fail_next(self, method: str, code: int, description: str, retry_after: int | None = None) -> None:
        """Make the next call of a method fail with a Bot API error."""
        with self._cond:
            self.failures.setdefault(method, []).append(ApiError(code, description, retry_after))

    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Every recorded call of a method (optionally for one chat), in arrival order."""
        with self._cond:
            return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> Call:
        """Block until a call of `method` (from index `after` on) matches; raise TimeoutError otherwise."""
        return self.wait_for_count(method, 1, predicate, timeout, after)[0]

    def wait_for_count(
        self,
        method: str,
        count: int,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> list[Call]:
        """Block until `count` matching calls of `method` arrived; return them in order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls[after:] if c.method == method and (predicate is None or predicate(c))]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.chat_id) for c in self.calls[after:]][-20:]
                    raise TimeoutError(
                        f"{count} × {method} not seen within {timeout} s (saw {len(found)}; last {seen})"
                    )
                self._cond.wait(left)

    def mark(self) -> int:
        """Return the current call count, to wait only for calls made after this point."""
        with self._cond:
            return len(self.calls)

    def wait_quiet(self, quiet: float = 0.4, timeout: float = 10.0) -> None:
        """Block until no call other than getUpdates arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                busy = [c.at for c in self.calls if c.method != "getUpdates"]
                last = busy[-1] if busy else 0.0
                now = time.monotonic()
                if now - last >= quiet:
                    return
                if now >= deadline:
                    raise TimeoutError("the bot kept sending")
                self._cond.wait(min(quiet - (now - last), deadline - now))

    @property
    def pending_updates(self) -> int:
        """How many queued updates the bot has not confirmed yet."""
        with self._cond:
            return len(self._updates)

    # ── the Bot API ──────────────────────────────────────────────────────────────────────────────
    def handle(self, method: str, params: dict[str, Any]) -> Any:
        """Answer one Bot API call (called from the HTTP handler threads)."""
        if method == "getUpdates":
            return self._get_updates(params)
        call = Call(method, params)
        with self._cond:
            held = next((h for h in self.holds if h.method == method and h.chat_id == call.chat_id), None)
            if held is not None:
                self.holds.remove(held)
        if held is not None:
            held.arrived.set()
            held.released.wait(120)
        try:
            if held is not None:
                raise ApiError(502, "Bad Gateway")
            with self._cond:
                queued = self.failures.get(method)
                if queued:
                    raise queued.pop(0)
            answer = getattr(self, f"_m_{method}", None)
            if answer is None:
                raise ApiError(404, "Not Found")
            call.result = answer(params)  # validates first: a refused call never counts as sent
        except ApiError as err:
            call.error = err
            with self._cond:
                self.refused.append(call)
                self._cond.notify_all()
            raise
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()
        return call.result

    def record(self, method: str, params: dict[str, Any]) -> None:
        """Record a call that is not a Bot API method (e.g. a file download)."""
        with self._cond:
            self.calls.append(Call(method, params))
            self._cond.notify_all()

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long-poll: confirm updates below `offset`, then return queued ones or block until timeout."""
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = min(float(params.get("timeout") or 0), self.poll_timeout_cap)
        deadline = time.monotonic() + timeout
        with self._cond:
            self.calls.append(Call("getUpdates", params))
            self._cond.notify_all()
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self._updates[:limit])

    def _message(self, chat_id: int, **extra: Any) -> dict[str, Any]:
        """A Message object as Telegram returns for something the bot sent."""
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": BOT_NAME, "username": self.username},
            **extra,
        }

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> None:
        """Reject an inline keyboard Telegram would reject."""
        markup = params.get("reply_markup")
        if not markup:
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _check_text(self, text: str, parse_mode: str | None, limit: int) -> None:
        """Reject empty, over-long or badly formatted text."""
        if parse_mode == "HTML":
            check_html(text)
            shown = visible_text(text)
        else:
            shown = text
        if not shown.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(shown) > limit:
            raise ApiError(400, "Bad Request: message is too long")

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_NAME,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        self._check_text(text, params.get("parse_mode"), MAX_TEXT_LENGTH)
        self._check_markup(params)
        extra: dict[str, Any] = {"text": visible_text(text) if params.get("parse_mode") == "HTML" else text}
        if params.get("reply_markup"):
            extra["reply_markup"] = params["reply_markup"]
        return self._message(int(params["chat_id"]), **extra)

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        self._check_text(text, params.get("parse_mode"), MAX_TEXT_LENGTH)
        self._check_markup(params)
        return {
            **self._message(int(params["chat_id"]), text=visible_text(text)),
            "message_id": int(params["message_id"]),
            "edit_date": int(time.time()),
        }

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_markup(params)
        return {**self._message(int(params["chat_id"]), text="…"), "message_id": int(params["message_id"])}

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        for command in params.get("commands") or []:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    def _m_setMyDescription(self, params: dict[str, Any]) -> bool:
        if len(params.get("description") or "") > 512:
            raise ApiError(400, "Bad Request: BOT_DESCRIPTION_INVALID")
        return True

    def _m_setMyShortDescription(self, params: dict[str, Any]) -> bool:
        if len(params.get("short_description") or "") > 120:
            raise ApiError(400, "Bad Request: BOT_SHORT_DESCRIPTION_INVALID")
        return True

    def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        with self._cond:
            data = self.files.get(file_id)
        if data is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(data),
            "file_path": f"photos/{file_id}.jpg",
        }

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = params.get("document")
        if not isinstance(doc, dict) or not doc.get("data"):
            raise ApiError(400, "Bad Request: there is no document in the request")
        if params.get("caption"):
            self._check_text(str(params["caption"]), params.get("parse_mode"), MAX_CAPTION_LENGTH)
        return self._message(
            int(params["chat_id"]),
            document={
                "file_id": self.add_file(doc["data"]),
                "file_unique_id": "doc",
                "file_name": doc.get("filename"),
                "mime_type": doc.get("content_type"),
                "file_size": len(doc["data"]),
            },
        )

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        data = photo.get("data", b"") if isinstance(photo, dict) else b""
        file_id = self.add_file(data) if data else str(photo)
        return self._message(
            int(params["chat_id"]),
            photo=[{"file_id": file_id, "file_unique_id": "p", "width": 1, "height": 1, "file_size": len(data)}],
        )

    def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    # ── update builders ──────────────────────────────────────────────────────────────────────────
    @staticmethod
    def user(user_id: int, language_code: str | None = "zh-hans", first_name: str = "小王") -> dict[str, Any]:
        """A User object."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    @staticmethod
    def chat(chat_id: int) -> dict[str, Any]:
        """A Chat object: private for positive ids, a supergroup for negative ones."""
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "小王"}
        return {"id": chat_id, "type": "supergroup", "title": "测试群"}

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        language_code: str | None = "zh-hans",
        **extra: Any,
    ) -> dict[str, Any]:
        """A Message object from a user (command entities are added for a leading "/")."""
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.user(user_id or abs(chat_id), language_code),
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        msg.update(extra)
        return msg

    def text_update(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        """An update carrying a text message."""
        return {"message": self.message(chat_id, text, **kw)}

    def forwarded_update(self, chat_id: int, text: str, sender_name: str = "10690000", **kw: Any) -> dict[str, Any]:
        """An update carrying a forwarded message (forward_origin of a hidden user)."""
        origin = {"type": "hidden_user", "sender_user_name": sender_name, "date": int(time.time()) - 60}
        return {"message": self.message(chat_id, text, forward_origin=origin, **kw)}

    def photo_update(self, chat_id: int, image: bytes, caption: str | None = None, **kw: Any) -> dict[str, Any]:
        """An update carrying a photo in three sizes (the largest is the real image)."""
        sizes = []
        for i, (w, h) in enumerate(((90, 160), (320, 570), (1080, 1920))):
            data = image if i == 2 else b"\xff\xd8thumb"
            sizes.append(
                {
                    "file_id": self.add_file(data),
                    "file_unique_id": f"uq{i}",
                    "width": w,
                    "height": h,
                    "file_size": len(data),
                }
            )
        extra: dict[str, Any] = {"photo": sizes}
        if caption:
            extra["caption"] = caption
        return {"message": self.message(chat_id, None, **extra, **kw)}

    def sticker_update(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        """An update carrying a sticker."""
        sticker = {
            "file_id": self.add_file(b"RIFF"),
            "file_unique_id": "st",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        }
        return {"message": self.message(chat_id, None, sticker=sticker, **kw)}

    def voice_update(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        """An update carrying a voice note."""
        voice = {"file_id": self.add_file(b"OggS"), "file_unique_id": "vo", "duration": 3}
        return {"message": self.message(chat_id, None, voice=voice, **kw)}

    def location_update(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        """An update carrying a location."""
        return {"message": self.message(chat_id, None, location={"latitude": 31.23, "longitude": 121.47}, **kw)}

    def document_update(self, chat_id: int, data: bytes, file_name: str, mime_type: str, **kw: Any) -> dict[str, Any]:
        """An update carrying a file."""
        doc = {
            "file_id": self.add_file(data),
            "file_unique_id": "dc",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return {"message": self.message(chat_id, None, document=doc, **kw)}

    def callback_update(
        self, chat_id: int, data: str, message_id: int | None = None, language_code: str | None = "zh-hans"
    ) -> dict[str, Any]:
        """An update for a button press on a bot message."""
        bot_msg = self._message(chat_id, text="…")
        if message_id is not None:
            bot_msg["message_id"] = message_id
        return {
            "callback_query": {
                "id": f"cq-{next(self._update_ids)}",
                "from": self.user(abs(chat_id), language_code),
                "chat_instance": f"ci-{chat_id}",
                "message": bot_msg,
                "data": data,
            }
        }


class FakeBotApiProcess:
    """A FakeBotApi in a child process, driven over a local connection: any FakeBotApi method or attribute works.

    For benchmarks: the real Telegram does not share the bot's CPU (or its GIL), so neither should the fake.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Any = None
        self.port = 0

    def start(self) -> FakeBotApiProcess:
        """Start the child (a fresh interpreter that imports only this module) and wait until it listens."""
        import os
        import sys
        from multiprocessing.connection import Listener

        authkey = os.urandom(16)
        with Listener(("127.0.0.1", 0), authkey=authkey) as listener:
            code = (
                "import sys; from tests.fake_bot_api import _serve_in_child; "
                "_serve_in_child(sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]))"
            )
            host, port = listener.address
            self._process = subprocess.Popen(
                [sys.executable, "-c", code, host, str(port), authkey.hex()], cwd=Path(__file__).parent.parent
            )
            listener._listener._socket.settimeout(60)  # type: ignore[attr-defined]  # a child that died
            try:
                self._conn = listener.accept()
            except OSError as err:
                self._process.kill()
                raise RuntimeError("the fake Bot API process did not start (see its output above)") from err
        self._conn.send(self._kwargs)
        self.port = int(self._call("port"))
        return self

    def stop(self) -> None:
        """Stop the server and the child."""
        if self._process is None:
            return
        try:
            self._conn.send(None)
            self._process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        self._conn.close()
        self._process = None

    def __enter__(self) -> FakeBotApiProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run fake.<name>(*args, **kwargs) in the child (or read the attribute) and return the result."""
        self._conn.send((name, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise value
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if callable(getattr(FakeBotApi, name, None)):
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        return self._call(name)


def _serve_in_child(host: str, port: int, authkey: bytes) -> None:
    """The child process of FakeBotApiProcess: serve, and answer the parent's calls until told to stop."""
    from multiprocessing.connection import Client

    conn = Client((host, port), authkey=authkey)
    fake = FakeBotApi(**conn.recv()).start()
    try:
        while True:
            message = conn.recv()
            if message is None:
                return
            name, args, kw = message
            try:
                attr = getattr(fake, name)
                conn.send((True, attr(*args, **kw) if callable(attr) else attr))
            except Exception as exc:
                try:
                    pickle.loads(pickle.dumps(exc))
                except Exception:  # e.g. ApiError: its arguments do not survive pickling
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
                conn.send((False, exc))
    finally:
        fake.stop()


class _Handler(BaseHTTPRequestHandler):
    """HTTP front of FakeBotApi: POST /bot<TOKEN>/<method>, GET /file/bot<TOKEN>/<path>."""

    fake: FakeBotApi
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the bot gave up waiting (a long poll cut short at shutdown)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def do_GET(self) -> None:
        prefix = f"/file/bot{self.fake.token}/"
        self.path = urllib.parse.unquote(self.path)
        if self.path.startswith(f"/bot{self.fake.token}/"):
            self._api(
                self.path.split("/")[-1].split("?")[0],
                dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)),
            )
            return
        if not self.path.startswith(prefix):
            self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        file_id = self.path[len(prefix) :].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        data = self.fake.files.get(file_id)
        self.fake.record("download", {"file_id": file_id})
        if data is None:
            self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self._send(200, data, "application/octet-stream")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.unquote(self.path).split("/")
        if len(parts) != 3 or parts[1] != f"bot{self.fake.token}":
            self._json(
                401 if len(parts) == 3 else 404,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
            return
        try:
            params = _parse_body(self.headers.get("Content-Type", ""), body)
        except ValueError as exc:
            self._json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        self._api(parts[2], params)

    def _api(self, method: str, params: dict[str, Any]) -> None:
        try:
            result = self.fake.handle(method, params)
        except ApiError as err:
            answer: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
            if err.retry_after is not None:
                answer["parameters"] = {"retry_after": err.retry_after}
            self._json(err.code, answer)
            return
        self._json(200, {"ok": True, "result": result})


def _decode_value(key: str, value: str) -> Any:
    """Decode a form value the way the Bot API would (JSON for structured fields, int for ids)."""
    if key in JSON_FIELDS:
        return json.loads(value)
    if key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse a form-encoded, multipart or JSON request body into decoded parameters."""
    if content_type.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        params: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                params[str(name)] = {
                    "filename": filename,
                    "data": payload,
                    "content_type": part.get_content_type(),
                }
            else:
                params[str(name)] = _decode_value(str(name), payload.decode("utf-8"))
        return params
    if content_type.startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    return {k: _decode_value(k, v) for k, v in pairs}


# ── screenshots ──────────────────────────────────────────────────────────────────────────────────────────
def find_cjk_font() -> str | None:
    """Path of an installed font with Chinese glyphs (fontconfig), or None."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    paths = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    if not paths:  # no fontconfig: look where Debian's font packages put them
        fonts = Path("/usr/share/fonts").glob("**/*.tt[cf]")
        paths = sorted(str(f) for f in fonts if "microhei" in f.name.lower() or "notosanscjk" in f.name.lower())
    preferred = [p for p in paths if "microhei" in p.lower() or "notosanscjk" in p.lower().replace("-", "")]
    return (preferred or paths or [None])[0]


def render_screenshot(
    text: str,
    *,
    sender: str = "10690000",
    when: str = "今天 23:41",
    font_path: str | None = None,
    width: int = 1080,
    jpeg: bool = True,
) -> bytes:
    """Draw an SMS as a phone shows it (a grey bubble on white) and encode it as Telegram would (JPEG)."""
    from PIL import Image, ImageDraw, ImageFont

    def font(size: int) -> Any:
        if font_path:
            return ImageFont.truetype(font_path, size)
        return ImageFont.load_default(size=size)

    body, small = font(44), font(34)
    margin, pad, line_h = 40, 36, 62
    max_w = width - 2 * margin - 2 * pad - 120
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in re.findall(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+\s*|\s+", paragraph):
            if current and body.getlength(current + word) > max_w:
                lines.append(current.rstrip())
                current = word.lstrip()
            else:
                current += word
        lines.append(current.rstrip())
    bubble_h = pad * 2 + line_h * len(lines)
    height = 260 + bubble_h + 120
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 150), fill=(247, 247, 247))
    draw.text((width // 2, 75), sender, fill=(20, 20, 20), font=body, anchor="mm")
    draw.text((width // 2, 200), when, fill=(140, 140, 140), font=small, anchor="mm")
    top = 250
    widest = max((body.getlength(line) for line in lines), default=0)
    draw.rounded_rectangle((margin, top, margin + 2 * pad + widest, top + bubble_h), radius=36, fill=(233, 233, 235))
    for i, line in enumerate(lines):
        draw.text((margin + pad, top + pad + i * line_h), line, fill=(10, 10, 10), font=body)
    buf = io.BytesIO()
    if jpeg:
        img.save(buf, "JPEG", quality=87)
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


@contextmanager
def running_fake(**kw: Any) -> Iterator[FakeBotApi]:
    """Run a FakeBotApi for the duration of a with-block."""
    fake = FakeBotApi(**kw).start()
    try:
        yield fake
    finally:
        fake.stop()
