"""Telegram channel: python-telegram-bot wired to the dialogue core, by polling or by webhook.

A thin channel: it turns Telegram updates into `Incoming` messages, hands them to the dialogue core, and
renders the core's `Reply` objects (inline keyboards, split long texts, documents). It holds no guidance:
its only sentences (unsupported message kinds, a failure notice, the bot description) live in
responses/<locale>/telegram.yml. It never logs what users write.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import hmac
import html
import json
import logging
import re
import signal
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    PhotoSize,
    ReplyParameters,
    Update,
)
from telegram.constants import (
    BotCommandLimit,
    BotDescriptionLimit,
    ChatAction,
    ChatType,
    FileSizeLimit,
    FloodLimit,
    InlineKeyboardButtonLimit,
    MessageLimit,
    ParseMode,
    WebhookLimit,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import RequestData

from bot.channels.telegram_http import AiohttpRequest
from bot.channels.textsplit import split_by
from bot.config import Config, ConfigError
from bot.dialogue import content
from bot.dialogue.commands import command_menu
from bot.dialogue.locale import from_hint
from bot.dialogue.types import Attachment, Incoming, Option, Reply
from bot.store import RepliesInFlight, StoreUnavailable

if TYPE_CHECKING:
    from bot.dialogue.core import Dialogue

log = logging.getLogger(__name__)

USER_PREFIX = "tg:"
"""Dialogue-core user ids of Telegram users are "tg:<numeric Telegram user id>"."""
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
"""Edited messages are not even requested: re-answering an edit would repeat advice or re-run a flow step."""
MAX_IMAGE_BYTES = int(FileSizeLimit.PHOTOSIZE_UPLOAD)
"""Screenshots up to 10 MB are downloaded (the Bot API serves files up to 20 MB)."""
MAX_CONCURRENT_UPDATES = 32
"""Updates of different users are handled concurrently up to this many; one user's stay in order."""
POLL_TIMEOUT_S = 30
"""Long-poll timeout of getUpdates."""
TYPING_AFTER_S = 0.4
"""Show "typing…" only when the core takes longer than this (a fast answer needs no indicator)."""
TYPING_REPEAT_S = 4.5
"""Telegram shows a chat action for 5 s; repeat it while the core is still working."""
SHORT_LABEL = 8
"""Buttons whose labels are at most this many characters are laid out two per row."""
EMPTY_TEXT = "👇"
"""Shown above buttons when a reply has buttons but no text (Telegram requires a text)."""
MENU_LANGUAGES = (("zh", "zh-Hans"), ("en", "en"))
"""Command-menu languages. Telegram's language_code is ISO 639-1 (two letters): "zh" cannot tell
Traditional from Simplified Chinese, so Chinese-language clients get the Simplified menu; the
default menu (no language) is in the configured default locale."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
"""Signals that stop the bot gracefully (PTB's own default); tests running it in a thread pass None."""

REACH_FIRST_DELAY_S = 1.0
"""While the Bot API cannot be reached at start, the first retry comes after this many seconds…"""
REACH_MAX_DELAY_S = 60.0
"""…and each later one after twice the previous pause, at most this long."""

NEW_MESSAGE = filters.UpdateType.MESSAGE
MAX_UPDATE_BYTES = 1_000_000
"""A webhook request larger than this is refused (an update is a few kilobytes)."""

_deliver_again: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("deliver_again", default=None)
"""Set while the webhook handles one update: the error handler notes there why Telegram should deliver it again
(the store was unreachable, another worker is sending its replies, or a reply could not reach Telegram)."""


# ── rendering ────────────────────────────────────────────────────────────────────────────────────────────
def utf16_len(text: str) -> int:
    """Length as Telegram counts message text (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split a plain text into message-sized chunks, on paragraph boundaries where possible."""
    return split_by(text, limit, utf16_len)


def keyboard(options: Sequence[Option]) -> InlineKeyboardMarkup | None:
    """Lay out options as an inline keyboard: short labels two per row, long ones alone."""
    buttons: list[InlineKeyboardButton] = []
    for option in options:
        size = len(option.id.encode("utf-8"))
        if not 1 <= size <= InlineKeyboardButtonLimit.MAX_CALLBACK_DATA or not option.label:
            log.error("option %r cannot be a Telegram button (callback data is 1-64 bytes)", option.id[:80])
            continue
        buttons.append(InlineKeyboardButton(option.label, callback_data=option.id))
    if not buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        short = len(button.text) <= SHORT_LABEL
        last = rows[-1] if rows else None
        if short and last and len(last) == 1 and len(last[0].text) <= SHORT_LABEL:
            last.append(button)
        else:
            rows.append([button])
    return InlineKeyboardMarkup(rows)


@lru_cache(maxsize=512)
def keyboard_json(options: tuple[Option, ...]) -> dict[str, Any] | None:
    """The inline keyboard of these options as the Bot API's JSON, built once per set of buttons.

    The dialogue offers a few dozen sets of buttons per language: building PTB's keyboard objects and turning
    them into JSON again for every message cost ~0.08 ms. The value is sent as is and never changed.
    """
    markup = keyboard(options)
    return None if markup is None else markup.to_dict()


def _largest_photo(sizes: Sequence[PhotoSize], cap: int) -> PhotoSize | None:
    """The largest photo size whose file fits under the cap (unknown sizes are checked after download)."""
    fitting = [p for p in sizes if p.file_size is None or p.file_size <= cap]
    return max(fitting, key=lambda p: p.width * p.height) if fitting else None


# ── robustness: unreadable updates, raw data in PTB's logs ─────────────────────────────────────────────────
def drop_unreadable_updates(payload: bytes) -> bytes:
    """Reduce every update in a getUpdates answer that PTB cannot parse to its bare update_id."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        return payload
    clean: list[Any] = []
    for item in result:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int):
            continue  # nothing to confirm it by; the next update's id confirms past it
        try:
            Update.de_json(copy.deepcopy(item), None)
        except Exception as exc:
            log.warning("ignored update %d: python-telegram-bot cannot read it (%s)", update_id, type(exc).__name__)
            item = {"update_id": update_id}
        clean.append(item)
    if clean == result:
        return payload
    return json.dumps({**data, "result": clean}).encode("utf-8")


class TolerantUpdatesRequest(AiohttpRequest):
    """The getUpdates transport, which blanks any update that python-telegram-bot cannot parse.

    PTB parses a getUpdates batch as a whole: one unreadable update (malformed, or a Bot API change)
    fails the batch, which PTB then logs raw (users' texts included) and fetches again, forever.
    Here an unreadable update becomes a bare update_id: it is confirmed and ignored, the rest handled.
    """

    def __init__(self) -> None:
        """One connection, as PTB uses for getUpdates."""
        super().__init__(connections=1)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = AiohttpRequest.DEFAULT_NONE,
        write_timeout: Any = AiohttpRequest.DEFAULT_NONE,
        connect_timeout: Any = AiohttpRequest.DEFAULT_NONE,
        pool_timeout: Any = AiohttpRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Fetch as usual, then check each update of a successful getUpdates answer."""
        status, payload = await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if status == 200 and url.endswith("/getUpdates"):
            payload = drop_unreadable_updates(payload)
        return status, payload


class RedactRawUpdates(logging.Filter):
    """Strip the raw update data that PTB logs when it cannot parse an update (it holds users' texts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace such a record's message by a fixed one; keep everything else."""
        if "Received data was" in str(record.msg) or "received data:" in str(record.msg):
            record.msg = "python-telegram-bot could not read an update (its content is not logged)"
            record.args = ()
        return True


PTB_RAW_DATA_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Updater")
"""PTB loggers that log raw update data (getUpdates parsing and the webhook handler)."""


def redact_ptb_logs() -> None:
    """Install RedactRawUpdates on the PTB loggers that log raw update data (once)."""
    for name in PTB_RAW_DATA_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRawUpdates) for f in logger.filters):
            logger.addFilter(RedactRawUpdates())


# ── update processing: concurrent across users, in order within one user ────────────────────────────────
class PerUserOrderedProcessor(BaseUpdateProcessor):
    """Handle updates of different users concurrently while each user's updates run strictly in order.

    PTB's own concurrent mode gives no ordering, and its semaphore admits waiters out of order under load.
    So PTB's semaphore is made wide enough never to block, the per-user chain is joined synchronously in
    arrival order, and only then a fair global limit applies, to updates whose predecessors are done.
    """

    def __init__(self, max_concurrent: int = MAX_CONCURRENT_UPDATES) -> None:
        """Allow `max_concurrent` updates at once; queue the rest."""
        super().__init__(max_concurrent_updates=1_000_000)
        self._limit = asyncio.Semaphore(max_concurrent)
        self._tails: dict[int | str, asyncio.Future[None]] = {}

    @staticmethod
    def order_key(update: object) -> int | str | None:
        """Updates with the same key run in order: the user (their dialogue state), else the chat."""
        if not isinstance(update, Update):
            return None
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the same user's previous update, then for a free slot, then process."""
        key = self.order_key(update)
        previous = self._tails.get(key) if key is not None else None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if key is not None:
            self._tails[key] = done
        started = False
        try:
            if previous is not None:
                await previous
            async with self._limit:
                started = True
                await coroutine
        finally:
            if not started and asyncio.iscoroutine(coroutine):
                coroutine.close()  # cancelled before it ran: avoid "never awaited"
            done.set_result(None)
            if key is not None and self._tails.get(key) is done:
                del self._tails[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


class _Typing:
    """Send "typing…" while the core works, only if it takes a while; never after the answer is sent.

    Most answers come before the first action is due: until then there is only a timer (no task), so a fast
    answer costs a timer set and cancelled.
    """

    def __init__(self, bot: Bot, chat_id: int, first_after: float) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._first_after = first_after
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        """The core is still working when the first action is due: show it, and again every few seconds."""
        self._timer = None
        if not self._stopped:
            self._stop = asyncio.Event()
            self._task = asyncio.ensure_future(self._run(self._stop))

    async def _run(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await self._bot.send_chat_action(self._chat_id, ChatAction.TYPING)
            except TelegramError as err:
                log.debug("chat action failed: %s", type(err).__name__)
            try:
                await asyncio.wait_for(stop.wait(), timeout=TYPING_REPEAT_S)
                return
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        """Stop showing "typing…" (an action already on its way arrives before the answer)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            assert self._stop is not None
            self._stop.set()
            task, self._task = self._task, None
            await task

    async def __aenter__(self) -> _Typing:
        self._timer = asyncio.get_running_loop().call_later(self._first_after, self._start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


# ── the channel ──────────────────────────────────────────────────────────────────────────────────────────
class TelegramChannel:
    """The handlers: Telegram update → Incoming → dialogue core → Telegram messages."""

    def __init__(self, cfg: Config, dialogue: Dialogue) -> None:
        """Serve `dialogue` with the settings in `cfg`."""
        self.cfg = cfg
        self.dialogue = dialogue

    # helpers
    def locale_for(self, update: Update) -> str:
        """The locale of the channel's own messages: the user's app language, else the default."""
        user = update.effective_user
        return from_hint(user.language_code if user else None) or self.cfg.locale.default

    def text(self, update: Update, key: str, **values: object) -> str:
        """One of the channel's own sentences (responses/<locale>/telegram.yml), in the user's language."""
        return content.t(self.locale_for(update), f"telegram.{key}", **values)

    @staticmethod
    def _is_group(message: Message) -> bool:
        """Whether the message comes from a group rather than a private chat."""
        return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)

    @staticmethod
    def _mentions(message: Message, bot: Bot) -> list[MessageEntity]:
        """The entities of a message (or caption) that mention this bot."""
        kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        found = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
        name = f"@{bot.username}".lower() if bot.username else None
        return [
            e
            for e, s in found.items()
            if (e.type == MessageEntity.MENTION and s.lower() == name) or (e.user is not None and e.user.id == bot.id)
        ]

    def _addressed(self, message: Message, bot: Bot) -> bool:
        """In a group, answer only a mention of the bot or a reply to one of its messages."""
        if not self._is_group(message):
            return True
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        return bool(self._mentions(message, bot))

    def _clean(self, message: Message, bot: Bot, text: str) -> str:
        """Remove mentions of the bot from a group message's text."""
        if not self._is_group(message) or not text:
            return text
        if bot.username:
            text = re.sub(rf"@{re.escape(bot.username)}\b", " ", text, flags=re.IGNORECASE)
        return re.sub(r"[ \t]{2,}", " ", text).strip()

    def _incoming(self, update: Update, **fields: Any) -> Incoming:
        """An Incoming for the dialogue core, from this update's user."""
        user = update.effective_user
        assert user is not None
        fields.setdefault("received_at", datetime.now(timezone.utc))
        return Incoming(
            user_id=f"{USER_PREFIX}{user.id}",
            locale_hint=user.language_code,
            update_id=f"{USER_PREFIX}{update.update_id}",
            **fields,
        )

    def _from_message(self, update: Update, message: Message, text: str, image: bytes | None = None) -> Incoming:
        """An Incoming for a message; a forwarded one counts from when it was first sent."""
        origin = message.forward_origin
        # The original time matters: collection between 22:00 and 08:00 is itself a breach.
        at = origin.date if origin is not None else message.date
        return self._incoming(update, text=text, image=image, forwarded=origin is not None, received_at=at)

    @property
    def _take_over(self) -> bool:
        """Polling: a re-delivered update only follows a restart, so no other process can be sending its replies."""
        return self.cfg.telegram.mode != "webhook"

    async def _respond(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, incoming: Incoming, typing_after: float
    ) -> None:
        """Run the core (with a typing indicator if it is slow); the core sends its replies through the channel."""
        chat = update.effective_chat
        assert chat is not None
        async with _Typing(context.bot, chat.id, typing_after) as typing:
            send = self.sender(context.bot, chat.id, update.message, before=typing.stop)
            await self.dialogue.handle(incoming, send, take_over=self._take_over)

    def sender(
        self,
        bot: Bot,
        chat_id: int,
        quote: Message | None = None,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> Callable[[Reply], Awaitable[None]]:
        """Send one reply at a time: split text (buttons under its last part), then attachments.

        In a group the first message quotes the user's; before runs ahead of each reply (the typing stops).
        """
        reply_to = [
            ReplyParameters(quote.message_id, allow_sending_without_reply=True)
            if quote is not None and self._is_group(quote)
            else None
        ]

        async def send(reply: Reply) -> None:
            if before is not None:
                await before()
            markup = keyboard_json(reply.options)
            chunks = split_text(reply.text) or ([EMPTY_TEXT] if markup else [])
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                await bot.send_message(
                    chat_id,
                    html.escape(chunk, quote=False),
                    reply_parameters=reply_to[0],
                    # the keyboard as JSON, passed through to the Bot API as PTB's api_kwargs are
                    api_kwargs={"reply_markup": markup} if last and markup else None,
                )
                reply_to[0] = None
            for attachment in reply.attachments:
                await self._send_attachment(bot, chat_id, attachment)

        return send

    async def send_replies(
        self, bot: Bot, chat_id: int, replies: Sequence[Reply], quote: Message | None = None
    ) -> None:
        """Send replies in order (the channel's own sentences; the core sends its replies through sender)."""
        send = self.sender(bot, chat_id, quote)
        for reply in replies:
            await send(reply)

    @staticmethod
    async def _send_attachment(bot: Bot, chat_id: int, attachment: Attachment) -> None:
        """Send one attachment as a document."""
        await bot.send_document(chat_id, attachment.data, filename=attachment.filename)

    # handlers
    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answers the button press at once, then gives its option id to the core."""
        query = update.callback_query
        assert query is not None
        try:
            await query.answer()
        except TelegramError as err:  # too old to answer: still handle the press
            log.info("could not answer a callback query: %s", type(err).__name__)
        if not query.data or query.message is None or update.effective_chat is None:
            return  # a game button or a message too old to reach: nothing to answer in a chat
        await self._respond(update, context, self._incoming(update, option_id=query.data), TYPING_AFTER_S)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Passes a /command (without any @botname) to the core."""
        message = update.message
        assert message is not None and message.text is not None
        command, _, rest = message.text.partition(" ")
        name, _, target = command.partition("@")
        if target and context.bot.username and target.lower() != context.bot.username.lower():
            return  # "/start@another_bot" in a group is not for us
        text = f"{name} {rest.strip()}".strip()
        await self._respond(update, context, self._from_message(update, message, text), TYPING_AFTER_S)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Passes a typed or forwarded text to the core."""
        message = update.message
        assert message is not None
        if not self._addressed(message, context.bot):
            return
        text = self._clean(message, context.bot, message.text or "")
        await self._respond(update, context, self._from_message(update, message, text), TYPING_AFTER_S)

    async def on_image(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Downloads a screenshot (photo or image file) and gives it to the core to read."""
        message = update.message
        assert message is not None
        if not self._addressed(message, context.bot):
            return
        if message.photo:
            best = _largest_photo(message.photo, MAX_IMAGE_BYTES)
            file_id, size = (best.file_id, best.file_size) if best else (None, None)
        else:
            assert message.document is not None
            file_id, size = message.document.file_id, message.document.file_size
        if file_id is None or (size is not None and size > MAX_IMAGE_BYTES):
            await self._say(update, context, "image_too_large")
            return
        handled = False
        async with _Typing(context.bot, message.chat_id, 0.0) as typing:  # download + OCR take a second or two
            try:
                tg_file = await context.bot.get_file(file_id)
                too_big = tg_file.file_size is not None and tg_file.file_size > MAX_IMAGE_BYTES
                data = None if too_big else bytes(await tg_file.download_as_bytearray())
            except (BadRequest, NetworkError) as exc:  # gone from Telegram's servers, or no connection to them
                log.info("could not download a screenshot: %s", type(exc).__name__)
                await typing.stop()
                await self._say(update, context, "image_failed")
                return
            if data is not None and len(data) <= MAX_IMAGE_BYTES:
                caption = self._clean(message, context.bot, message.caption or "")
                send = self.sender(context.bot, message.chat_id, message, before=typing.stop)
                incoming = self._from_message(update, message, caption, data)
                await self.dialogue.handle(incoming, send, take_over=self._take_over)
                handled = True
        if not handled:
            await self._say(update, context, "image_too_large")

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Tells the user kindly that stickers, voice, video, files and places can't be read."""
        message = update.message
        assert message is not None
        if self._addressed(message, context.bot):
            await self._say(update, context, "unsupported")

    async def _say(self, update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
        """Send one of the channel's own sentences."""
        chat = update.effective_chat
        assert chat is not None
        text = self.text(update, key, max_mb=MAX_IMAGE_BYTES // 1_000_000)
        await self.send_replies(context.bot, chat.id, [Reply(text)], update.message)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Logs the failure (never the message text) and calmly tells the user something went wrong."""
        err = context.error
        marks = _deliver_again.get()
        if isinstance(err, RepliesInFlight):  # delivered again while another worker may be sending the answer
            log.info("update %s: another worker holds its replies; asked to deliver it again", _update_id(update))
            if marks is not None:
                marks.append("replies in flight")
            return
        if isinstance(err, StoreUnavailable):  # nothing was written or sent: the update will come again
            log.warning("update %s not handled: %s", _update_id(update), err)
            if marks is not None:
                marks.append("store unavailable")
            return
        if marks is not None and _transient(err):  # its unsent replies stay in the outbox for the next delivery
            log.warning(
                "update %s: Telegram could not be reached (%s); asked to deliver it again",
                _update_id(update),
                type(err).__name__,
            )
            marks.append("Telegram unreachable")
            return
        if isinstance(err, Forbidden):
            log.info("a user has blocked the bot or left the chat")
            return
        if not isinstance(update, Update):
            if isinstance(err, NetworkError | TimedOut):
                log.warning("problem talking to Telegram: %s (retrying)", type(err).__name__)
            else:
                log.error("error outside any update: %s\n%s", type(err).__name__, _frames(err))
            return
        # Only the exception type and the code frames: an exception's message may quote the user's text.
        log.error("error while handling update %s: %s\n%s", update.update_id, type(err).__name__, _frames(err))
        if update.effective_chat is None:
            return
        try:
            await self.send_replies(context.bot, update.effective_chat.id, [Reply(self.text(update, "error"))])
        except TelegramError as send_err:
            log.warning("could not tell the user about the error: %s", type(send_err).__name__)

    async def post_stop(self, application: Application) -> None:
        """Note in the store that the replies sent so far are out (the core notes them in batches)."""
        await self.dialogue.flush_sent()

    async def post_init(self, application: Application) -> None:
        """Sets the command menu and the bot's description for each language Telegram can tell apart."""
        bot = application.bot
        languages: list[tuple[str | None, str]] = [(None, self.cfg.locale.default), *MENU_LANGUAGES]
        for language_code, locale in languages:
            commands = [
                BotCommand(c.lstrip("/")[: BotCommandLimit.MAX_COMMAND], d[: BotCommandLimit.MAX_DESCRIPTION])
                for c, d in command_menu(locale)
            ][: BotCommandLimit.MAX_COMMAND_NUMBER]
            description = content.t(locale, "telegram.description")
            short = content.t(locale, "telegram.short_description")
            try:
                await bot.set_my_commands(commands, language_code=language_code)
                await bot.set_my_description(
                    description[: BotDescriptionLimit.MAX_DESCRIPTION_LENGTH], language_code=language_code
                )
                await bot.set_my_short_description(
                    short[: BotDescriptionLimit.MAX_SHORT_DESCRIPTION_LENGTH], language_code=language_code
                )
            except TelegramError as err:  # the bot works without a menu; say so and go on
                log.warning("could not set the command menu (%s): %s", language_code or "default", type(err).__name__)


def _update_id(update: object) -> object:
    """The update's id for a log line ("?" for something that is not an update)."""
    return getattr(update, "update_id", "?")


def _transient(err: BaseException | None) -> bool:
    """Whether a Bot API failure may pass by itself (no connection, a timeout, a 5xx, flood control)."""
    return isinstance(err, RetryAfter) or (isinstance(err, NetworkError) and not isinstance(err, BadRequest))


def _frames(err: BaseException | None) -> str:
    """The traceback's code frames, without the exception's message."""
    if err is None:
        return ""
    return "".join(traceback.format_tb(err.__traceback__)).rstrip()


# ── start-up: reaching the Bot API ───────────────────────────────────────────────────────────────────────
def backoff_delays(first: float = REACH_FIRST_DELAY_S, cap: float = REACH_MAX_DELAY_S) -> Iterator[float]:
    """Pauses between start-up attempts: first, twice that, four times… never more than cap."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


def unreachable_reason(err: BaseException, host: str) -> str:
    """Why a Bot API request failed, in words a person can act on (no token, no traceback)."""
    cause = err.__cause__
    if isinstance(err, TimedOut) or isinstance(cause, asyncio.TimeoutError):
        return f"no answer from {host} in time"
    if isinstance(cause, aiohttp.ClientConnectorError):
        os_error = cause.os_error
        if isinstance(os_error, socket.gaierror):
            return f"the name {cause.host} cannot be resolved (DNS)"
        if isinstance(os_error, ConnectionRefusedError):
            return f"{cause.host}:{cause.port} refused the connection"
        return f"cannot connect to {cause.host}:{cause.port} ({os_error.strerror or type(os_error).__name__})"
    if isinstance(cause, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return f"the proxy in HTTPS_PROXY failed ({type(cause).__name__})"
    if isinstance(cause, aiohttp.ClientError):
        return f"{host}: {type(cause).__name__}"
    return f"{host}: {type(err).__name__}"


async def reach_bot_api(bot: Bot, stop_signals: Sequence[int] | None, delays: Iterator[float] | None = None) -> bool:
    """Call getMe until the Bot API answers, pausing with backoff; False when stopped (a signal) meanwhile.

    Where Telegram is blocked (mainland China without a proxy) this is the normal first run: one line says
    what failed and how to fix it, later attempts one short line each, and Ctrl-C stops at once, cleanly.
    A token the Bot API rejects is a configuration error (no retry).
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    installed = []
    for sig in stop_signals or ():
        try:
            loop.add_signal_handler(sig, stopping.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass
    host = urlsplit(str(bot.base_url)).netloc or "the Bot API"
    pauses = delays if delays is not None else backoff_delays()
    attempt = 0
    try:
        while True:
            attempt += 1
            probe = asyncio.ensure_future(bot.initialize())
            stopper = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({probe, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stopping.is_set():
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)
                break
            try:
                probe.result()
                if attempt > 1:
                    log.warning("Telegram: reached the Bot API after %d attempts", attempt)
                return True
            except InvalidToken:
                await bot.shutdown()  # close its connections before the process ends
                raise ConfigError(
                    "TELEGRAM_BOT_TOKEN was rejected by the Bot API: copy the token again from @BotFather"
                ) from None
            except (NetworkError, TimedOut) as err:  # TimedOut is a NetworkError; both named for clarity
                pause = next(pauses)
                reason = unreachable_reason(err, host)
                if attempt == 1:
                    log.warning(
                        "Telegram unreachable: %s. Check this machine's network; where Telegram is blocked, "
                        "set HTTPS_PROXY=http://<proxy-host>:<port> and start again. Retrying in %.0f s, then "
                        "with growing pauses up to %.0f s (Ctrl-C stops).",
                        reason,
                        pause,
                        REACH_MAX_DELAY_S,
                    )
                else:
                    log.warning(
                        "Telegram still unreachable (attempt %d): %s; next try in %.0f s", attempt, reason, pause
                    )
            try:
                await asyncio.wait_for(stopping.wait(), timeout=pause)
                break
            except asyncio.TimeoutError:
                pass
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    log.warning("Telegram: stopped before the Bot API could be reached")
    await bot.shutdown()
    return False


# ── composition ──────────────────────────────────────────────────────────────────────────────────────────
def build_application(
    cfg: Config,
    dialogue: Dialogue,
    *,
    base_url: str | None = None,
    base_file_url: str | None = None,
    rate_limit: bool = True,
) -> Application:
    """Wire the PTB Application: defaults, rate limiter, ordered concurrency and the handlers."""
    token = cfg.secrets.telegram_token
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: the Telegram channel needs the bot's token")
    channel = TelegramChannel(cfg, dialogue)
    redact_ptb_logs()
    builder = (
        ApplicationBuilder()
        .token(token)
        # Replies are plain text escaped for HTML; link previews would fetch pages the user did not ask for.
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(PerUserOrderedProcessor(MAX_CONCURRENT_UPDATES))
        .request(AiohttpRequest())  # ~2.5× less CPU per Bot API call than PTB's httpx (telegram_http.py)
        .get_updates_request(TolerantUpdatesRequest())
        .post_init(channel.post_init)
        .post_stop(channel.post_stop)
        .job_queue(None)  # no scheduled jobs: the dialogue state lives in the store, not in PTB
    )
    # Telegram's flood limits: 30 messages/s overall, 20/min per group; retry after a 429
    if rate_limit and cfg.telegram.rate_limit:
        builder = builder.rate_limiter(
            AIORateLimiter(  # type: ignore[arg-type]
                overall_max_rate=FloodLimit.MESSAGES_PER_SECOND,
                group_max_rate=FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
                max_retries=3,
            )
        )
    if not base_url and cfg.telegram.api_url:
        base_url = cfg.telegram.api_url.rstrip("/") + "/bot"
        base_file_url = base_file_url or cfg.telegram.api_url.rstrip("/") + "/file/bot"
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    app = builder.build()

    # Handlers, in the order they are tried (group 0: the first that matches handles the update).
    # 1. Button presses on inline keyboards (stale buttons too: the core knows what an old option means).
    app.add_handler(CallbackQueryHandler(channel.on_button))
    # 2. /commands, before text: "/start payload", "/help", "/delete"… all go to the core's command table.
    app.add_handler(MessageHandler(NEW_MESSAGE & filters.COMMAND, channel.on_command))
    # 3. Screenshots: photos, and images sent as files.
    app.add_handler(MessageHandler(NEW_MESSAGE & (filters.PHOTO | filters.Document.IMAGE), channel.on_image))
    # 4. Text, typed or forwarded (a pasted SMS, a question, an answer to a flow step).
    app.add_handler(MessageHandler(NEW_MESSAGE & filters.TEXT, channel.on_text))
    # 5. Everything else a person can send (sticker, voice, video, file, place…): a kind "I can read text".
    #    Service messages (members joining, pinned messages…) are ignored.
    app.add_handler(MessageHandler(NEW_MESSAGE & ~filters.StatusUpdate.ALL, channel.on_other))
    app.add_error_handler(channel.on_error)
    return app


def polling_options() -> dict[str, Any]:
    """Keyword arguments of Application.run_polling used in production."""
    return {"allowed_updates": ALLOWED_UPDATES, "timeout": POLL_TIMEOUT_S, "drop_pending_updates": False}


def webhook_options(cfg: Config) -> dict[str, Any]:
    """Keyword arguments of Application.run_webhook; refuse to start without a secret or a public URL."""
    secret = cfg.secrets.webhook_secret
    if not secret:
        raise ConfigError(
            "telegram.mode is webhook but TELEGRAM_WEBHOOK_SECRET is not set: without it anyone who finds "
            "the URL could send fake updates. Set it to 1-256 characters of A-Z, a-z, 0-9, _ or -"
        )
    if not re.fullmatch(rf"[A-Za-z0-9_-]{{1,{WebhookLimit.MAX_SECRET_TOKEN_LENGTH}}}", secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET: use 1-256 characters of A-Z, a-z, 0-9, _ or - only")
    hook = cfg.telegram.webhook
    if not hook.public_url:
        raise ConfigError("telegram.webhook.public_url: required in webhook mode (the https URL Telegram posts to)")
    # PTB's webhook server answers 403 to any request whose X-Telegram-Bot-Api-Secret-Token differs.
    return {
        "listen": hook.listen,
        "port": hook.port,
        "url_path": hook.url_path,
        "webhook_url": hook.public_url,
        "secret_token": secret,
        "allowed_updates": ALLOWED_UPDATES,
    }


def webhook_app(application: Application, options: dict[str, Any], health: Any = None) -> web.Application:
    """The webhook's HTTP server: an update is answered 200 only once it has been handled.

    PTB's own webhook server answers at once and handles the update later: with several workers a user's next
    message could overtake the previous one, and an update accepted by a worker that then dies is lost. Here
    the platform waits for each answer (so it delivers one user's updates in order), gets 503 when the store
    is unreachable (so it delivers the update again later), and the secret is compared in constant time.
    """
    secret = str(options["secret_token"]).encode()

    async def on_update(request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(token, secret):
            return web.Response(status=HTTPStatus.FORBIDDEN, text="wrong or missing secret token")
        try:
            update = Update.de_json(json.loads(await request.read()), application.bot)
        except Exception as exc:  # not an update: the sender must not deliver it again
            log.warning("webhook request is not a readable update (%s)", type(exc).__name__)
            return web.Response(status=HTTPStatus.BAD_REQUEST, text="not an update")
        marks: list[str] = []
        token_set = _deliver_again.set(marks)
        try:
            await application.process_update(update)
        finally:
            _deliver_again.reset(token_set)
        if marks:
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE, text=f"{marks[0]}; deliver again")
        return web.Response(text="ok")

    async def on_health(request: web.Request) -> web.Response:
        report = await health() if health is not None else {"ok": True}
        status = HTTPStatus.OK if report.get("ok") else HTTPStatus.SERVICE_UNAVAILABLE
        return web.json_response(report, status=status)

    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app.router.add_post("/" + str(options["url_path"]).strip("/"), on_update)
    app.router.add_get("/health", on_health)
    return app


async def start_webhook(application: Application, options: dict[str, Any], health: Any = None) -> web.AppRunner:
    """Register the webhook with Telegram and start serving it; returns the server to clean up later."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.bot.set_webhook(
        url=options["webhook_url"], secret_token=options["secret_token"], allowed_updates=ALLOWED_UPDATES
    )
    await application.start()
    runner = web.AppRunner(webhook_app(application, options, health), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options["listen"], options["port"]).start()
    log.info("Telegram: webhook on %s:%s/%s", options["listen"], options["port"], options["url_path"])
    return runner


async def stop_webhook(application: Application, runner: web.AppRunner | None) -> None:
    """Stop serving (requests in progress finish first) and shut the application down."""
    if runner is not None:
        await runner.cleanup()
    if application.running:
        await application.stop()
        if application.post_stop is not None:  # as PTB's own run_webhook does
            await application.post_stop(application)
    await application.shutdown()


def run_webhook(
    application: Application, options: dict[str, Any], stop_signals: Sequence[int] | None, health: Any = None
) -> None:
    """Serve the webhook until a stop signal or Application.stop_running(), as PTB's run_webhook would."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    runner: web.AppRunner | None = None
    try:
        runner = loop.run_until_complete(start_webhook(application, options, health))
        for sig in stop_signals or ():
            loop.add_signal_handler(sig, loop.stop)
        loop.run_forever()
    finally:
        loop.run_until_complete(stop_webhook(application, runner))


def quiet_logs() -> None:
    """Keep tokens and texts out of the logs: HTTP clients log URLs (with the token), PTB's debug level updates."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    ptb = logging.getLogger("telegram")
    if ptb.level < logging.INFO:  # its own level, so a root logger set to DEBUG later does not open it
        ptb.setLevel(logging.INFO)


def run_telegram(
    cfg: Config,
    dialogue: Dialogue,
    *,
    application: Application | None = None,
    stop_signals: Sequence[int] | None = STOP_SIGNALS,
    health: Any = None,
) -> None:
    """Run the bot until stopped: long polling, or a webhook server when telegram.mode is "webhook"."""
    webhook = webhook_options(cfg) if cfg.telegram.mode == "webhook" else None  # fail before connecting
    app = application or build_application(cfg, dialogue)
    quiet_logs()
    try:  # the loop run_polling and run_webhook go on with, found as PTB finds it
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    if not loop.run_until_complete(reach_bot_api(app.bot, stop_signals)):
        return
    extra: dict[str, Any] = {"stop_signals": stop_signals}
    if webhook is None:
        log.info("Telegram: long polling")
        app.run_polling(**polling_options(), **extra)
    else:
        run_webhook(app, webhook, stop_signals, health)
