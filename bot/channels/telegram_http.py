"""HTTP transport for python-telegram-bot on aiohttp (a Rasa dependency), instead of PTB's default httpx.

Measured on this project's 2-core test machine against the local fake Bot API in another process: a
sendMessage costs the bot ~5.9 ms of CPU with PTB's HTTPXRequest and ~2.4 ms with this class (7.6 vs
1.4 ms per message when 500 are sent at once). httpx's connection pool polls every idle connection's
socket twice per request, and the bot's CPU is what its latency at 30 messages/s is made of.
PTB documents BaseRequest as the place for such a replacement; PTB itself is unchanged. Requests without
files go as a JSON body (the Bot API takes application/json for every method but uploads): encoding PTB's
parameters with the json module costs ~0.1 ms less per message than form-encoding them (percent-encoding
is done per byte in Python, three bytes for every Chinese character).
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import suppress
from typing import Any

import aiohttp
from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0
"""Default read timeout (PTB adds the long-poll time to it for getUpdates)."""
POOL_TIMEOUT_S = 1.0
"""How long a request may wait for a free connection (PTB's default)."""
MEDIA_WRITE_TIMEOUT_S = 20.0
"""Uploads (a complaint pack) may take this long to send (PTB's default media write timeout)."""
CONNECTIONS = 64
"""Open connections to the Bot API at most; further requests wait up to the pool timeout for a free one."""


JSON_HEADERS = {"Content-Type": "application/json"}

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


def describe(err: BaseException) -> str:
    """An aiohttp error as text for NetworkError (and so the logs), with any bot token in a URL blanked."""
    return _TOKEN_IN_URL.sub("bot<token>", f"aiohttp.{type(err).__name__}: {err}")


def _seconds(value: Any, default: float | None) -> float | None:
    """A PTB timeout argument in seconds: its default when not given, None for no limit."""
    if isinstance(value, DefaultValue):
        return default
    return None if value is None else float(value)


class AiohttpRequest(BaseRequest):
    """A PTB request backend on one aiohttp ClientSession with keep-alive connections (TCP_NODELAY)."""

    def __init__(self, connections: int = CONNECTIONS, read_timeout: float | None = READ_TIMEOUT_S) -> None:
        """Allow up to `connections` connections; `read_timeout` is the default read timeout."""
        self._connections = connections
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._env: dict[tuple[str, str | None], dict[str, Any]] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (inside the running event loop, as aiohttp requires)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    def _from_env(self, url: str) -> dict[str, Any]:
        """The proxy and credentials for url that aiohttp's trust_env would find, looked up once per host.

        HTTPS_PROXY / NO_PROXY (and ~/.netrc) work as they did with PTB's httpx: where Telegram is blocked, the
        bot reaches it through a proxy. aiohttp's trust_env reads them, and the .netrc file, on every request;
        they do not change while the bot runs.
        """
        target = URL(url)
        key = (target.scheme, target.host)
        found = self._env.get(key)
        if found is None:
            found = {}
            with suppress(LookupError):
                found["proxy"], found["proxy_auth"] = get_env_proxy_for_url(target)
            if target.host is not None:
                with suppress(LookupError):
                    found["auth"] = basicauth_from_netrc(netrc_from_env(), target.host)
            self._env[key] = found
        return found

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, read: Any, write: Any, connect: Any, pool: Any, uploading: bool) -> aiohttp.ClientTimeout:
        """PTB's four timeouts as aiohttp's: it has no write timeout, so an upload's whole request is capped."""
        read_s = _seconds(read, self._read_timeout)
        connect_s = _seconds(connect, CONNECT_TIMEOUT_S)
        pool_s = _seconds(pool, POOL_TIMEOUT_S)
        write_s = _seconds(write, MEDIA_WRITE_TIMEOUT_S if uploading else READ_TIMEOUT_S)
        waiting = None if connect_s is None or pool_s is None else connect_s + pool_s
        total = None
        if uploading and waiting is not None and write_s is not None and read_s is not None:
            total = waiting + write_s + read_s
        return aiohttp.ClientTimeout(total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request: the parameters as a JSON body, or multipart when it uploads files."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized: call initialize() first")
        uploading = request_data is not None and request_data.contains_files
        data: Any = None
        headers = None
        if request_data is not None:
            if uploading:
                form = aiohttp.FormData(quote_fields=False)  # UTF-8 file names as httpx sends them
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                data = json.dumps(request_data.parameters, ensure_ascii=False, separators=(",", ":")).encode()
                headers = JSON_HEADERS
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, uploading)
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout, **self._from_env(url)
            ) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as err:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(describe(err)) from err
