"""Persistence: per-user conversation state and evidence log, user text encrypted at rest.

Two backends with one interface: SQLite (one machine, the default) and PostgreSQL (several workers). The schema
is a numbered list of migration steps, each written for both engines; a database is brought up to the newest
step when it is opened, and a database written by a newer bot is refused. Adding a column is one more step.
Must not import the dialogue or a channel (tests/test_architecture.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import select
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from bot.config import Config
from bot.evidence import chain
from bot.offload import bridged, call_in, wait_for

log = logging.getLogger(__name__)

EVIDENCE_KINDS = ("sms", "call", "visit", "contact", "post", "note", "screenshot")
MAX_EVIDENCE_CHARS = 20_000
TRUNCATION_MARKER = "\n…[已截断 / truncated]"
MEMORY = ":memory:"
KEY_CHECK_PLAINTEXT = b"cuishou-weiquan-bot store key check v1"
BUSY_TIMEOUT_MS = 5_000
UPDATE_MARK_TTL_S = 7 * 86_400
"""How long a handled update id is remembered (Telegram re-delivers for up to 24 h)."""
PURGE_EVERY = 500
"""Forget expired update ids after this many turns of one process."""
LOCK_WAIT_MAX_S = 0.05
"""Longest pause between two tries for a user's lock held by another worker."""
MIGRATION_LOCK = 815_001
"""Advisory lock id that keeps two PostgreSQL workers from migrating at the same time."""
SEND_LEASE_S = 60.0
"""How long the worker that committed a turn (or took its unsent replies over) has to send them; a
re-delivery of the same update meanwhile is asked to come again later, not answered twice."""
OUTBOX_TTL_S = 86_400
"""Replies never marked sent are dropped after this long (Telegram re-delivers an update for up to 24 h)."""

F = TypeVar("F", bound=Callable[..., Any])
_MADE_LOCK = threading.Lock()
_LAST_MADE_US = [0]
"""The time stamp of this process's last file, so that files made within one microsecond keep their order."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema, written for each engine (statements separated by semicolons)."""

    version: int
    what: str
    sqlite: str
    postgres: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "state, evidence, key check, shared values",
        sqlite="""
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    user_id    TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    text       BLOB    NOT NULL,
    meta       BLOB    NOT NULL,
    at         TEXT    NOT NULL,
    at_us      INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_by_user ON evidence (user_id, at_us, id);
CREATE TABLE IF NOT EXISTS shared (
    name       TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    expires_us INTEGER NOT NULL
);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    user_id    TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    text       BYTEA  NOT NULL,
    meta       BYTEA  NOT NULL,
    at         TEXT   NOT NULL,
    at_us      BIGINT NOT NULL,
    created_at TEXT   NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_by_user ON evidence (user_id, at_us, id);
CREATE TABLE IF NOT EXISTS shared (
    name       TEXT   PRIMARY KEY,
    value      BYTEA  NOT NULL,
    expires_us BIGINT NOT NULL
);
""",
    ),
    Migration(
        2,
        "ids of handled updates, so a re-delivered update is not answered twice",
        sqlite="""
CREATE TABLE IF NOT EXISTS handled (
    update_key TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    at_us      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS handled_by_user ON handled (user_id);
CREATE INDEX IF NOT EXISTS handled_by_time ON handled (at_us);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS handled (
    update_key TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    at_us      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS handled_by_user ON handled (user_id);
CREATE INDEX IF NOT EXISTS handled_by_time ON handled (at_us);
""",
    ),
    Migration(
        3,
        "the evidence hash chain (bot/evidence/chain.py) and withdrawn entries",
        # seq numbers each user's entries in logging order; content_hash and hash are the entry's content hash and
        # chain hash; withdrawn_at marks an entry whose text the user removed (its hashes stay, so the chain still
        # verifies). Rows logged before this step get their hashes from _chain_unhashed once the key is known.
        sqlite="""
ALTER TABLE evidence ADD COLUMN seq INTEGER;
ALTER TABLE evidence ADD COLUMN content_hash TEXT;
ALTER TABLE evidence ADD COLUMN hash TEXT;
ALTER TABLE evidence ADD COLUMN withdrawn_at TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS evidence_chain ON evidence (user_id, seq);
""",
        postgres="""
ALTER TABLE evidence ADD COLUMN IF NOT EXISTS seq BIGINT;
ALTER TABLE evidence ADD COLUMN IF NOT EXISTS content_hash TEXT;
ALTER TABLE evidence ADD COLUMN IF NOT EXISTS hash TEXT;
ALTER TABLE evidence ADD COLUMN IF NOT EXISTS withdrawn_at TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS evidence_chain ON evidence (user_id, seq);
""",
    ),
    Migration(
        4,
        "the outbox: a turn's replies, committed with its state and update id, until they are sent",
        # replies is the encrypted JSON list of the turn's replies (they may quote the user's SMS); sent counts
        # those already out; lease_us is until when the worker that holds them is sending them.
        sqlite="""
CREATE TABLE IF NOT EXISTS outbox (
    update_key TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    replies    BLOB    NOT NULL,
    sent       INTEGER NOT NULL,
    lease_us   INTEGER NOT NULL,
    at_us      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_user ON outbox (user_id);
CREATE INDEX IF NOT EXISTS outbox_by_time ON outbox (at_us);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS outbox (
    update_key TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    replies    BYTEA  NOT NULL,
    sent       INTEGER NOT NULL,
    lease_us   BIGINT NOT NULL,
    at_us      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_user ON outbox (user_id);
CREATE INDEX IF NOT EXISTS outbox_by_time ON outbox (at_us);
""",
    ),
    Migration(
        5,
        "a turn's lock and first reads in one call (PostgreSQL)",
        sqlite="-- nothing: a SQLite turn takes no lock and reads in one statement already",
        # A VOLATILE function takes a fresh snapshot for each statement in it: the reads see what the lock's
        # previous holder committed, as two separate statements after the lock do.
        postgres="""
CREATE OR REPLACE FUNCTION bot_open_turn(
    uid TEXT, ukey TEXT, OUT got_lock BOOLEAN, OUT state_data BYTEA, OUT was_handled BOOLEAN
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    got_lock := pg_try_advisory_xact_lock(hashtextextended(uid, 0));
    IF got_lock THEN
        SELECT s.data INTO state_data FROM state s WHERE s.user_id = uid;
        was_handled := EXISTS (SELECT 1 FROM handled h WHERE h.update_key = ukey);
    END IF;
END
$$;
""",
    ),
    Migration(
        6,
        "channel memory and download files, shared by the workers of one channel",
        # channel_memory.data is a channel's encrypted JSON about a user between messages (the numbered options
        # shown last, the parts of a long reply still to come, an answer that missed its delivery): reply text
        # may quote the user's SMS, so it is encrypted as the state is. files.data and files.meta are a file
        # offered as a download link and its name, encrypted as evidence is; file_key is the SHA-256 of the
        # link's token (the token itself is never stored); expires_at is in the channel's clock (seconds).
        sqlite="""
CREATE TABLE IF NOT EXISTS channel_memory (
    user_id    TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    file_key   TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    meta       BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    expires_at REAL    NOT NULL,
    made_us    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_user ON files (user_id, made_us);
""",
        postgres="""
CREATE TABLE IF NOT EXISTS channel_memory (
    user_id    TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    file_key   TEXT             PRIMARY KEY,
    user_id    TEXT             NOT NULL,
    data       BYTEA            NOT NULL,
    meta       BYTEA            NOT NULL,
    size       BIGINT           NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    made_us    BIGINT           NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_user ON files (user_id, made_us);
""",
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
USER_TABLES = ("evidence", "state", "handled", "outbox", "channel_memory", "files")
"""Every table with rows that belong to one user (by user_id): /delete empties all of them."""


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad URL, newer schema, closed store)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; a later try may succeed (the update is not lost)."""


class RepliesInFlight(StoreUnavailable):
    """Another worker holds this update's unsent replies and may be sending them now: deliver it again later."""


class StoreKeyError(StoreError):
    """The data key is malformed or is not the key the database was encrypted with."""


@dataclass(frozen=True)
class Unsent:
    """The replies of a committed turn that are still in the outbox, and how many of them are out already."""

    update_key: str
    replies: list[Any]
    sent: int


@dataclass(frozen=True)
class EvidenceItem:
    """One logged incident or piece of evidence, decrypted."""

    id: int
    kind: str
    text: str
    meta: dict[str, Any]
    at: datetime
    created_at: datetime
    seq: int = 0
    hash: str = ""


def _fernet(key: bytes | str) -> Fernet:
    """Build the cipher, explaining what a valid key looks like when it is not one."""
    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise StoreKeyError(
            "the data key is not a valid Fernet key (expected 32 bytes, url-safe base64, 44 characters); "
            "create one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it (mode 0600, in a 0700 directory) with a fresh key on first use."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key + b"\n")
            os.chmod(path, 0o600)
            log.info("created a new data key file at %s", path)
            return key
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("data key file %s is readable by other users (mode %o); run: chmod 600 %s", path, mode, path)
    key = path.read_bytes().strip()
    try:
        _fernet(key)
    except StoreKeyError as exc:
        raise StoreKeyError(f"{path}: {exc}") from None
    return key


def _scheme(url: str) -> str:
    """Return the URL's scheme in lower case, or "" when there is none."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def is_postgres_url(url: str) -> bool:
    """Whether store.url names a PostgreSQL database."""
    return _scheme(url) in ("postgresql", "postgres")


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def sqlite_path(url: str, cfg: Config) -> str:
    """Turn a sqlite:/// URL into a file path (relative to the repo root) or ':memory:'."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        shown = scheme if sep else "(none)"
        raise ValueError(
            f"store.url: unsupported scheme {shown!r}; use sqlite:///relative/path.sqlite3, "
            "sqlite:////absolute/path.sqlite3, sqlite:///:memory: or postgresql://user@host:port/database"
        )
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"store.url: {url!r} has no file path; use sqlite:///data/bot.sqlite3")
    path = rest[1:]
    if path == MEMORY:
        return MEMORY
    return str(cfg.path(path))


def _now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(timezone.utc)


def _micros(at: datetime) -> int:
    """Return microseconds since the epoch, for ordering instants written with different offsets."""
    delta = at - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


OPENING_SQL = "SELECT (SELECT data FROM state WHERE user_id = ?), EXISTS (SELECT 1 FROM handled WHERE update_key = ?)"
"""What a turn reads first: the user's state and whether the update was handled."""


def _opening(row: Any) -> tuple[bool, bytes | None]:
    """The row of OPENING_SQL as (handled, the encrypted state or None)."""
    return bool(row[1]), None if row[0] is None else bytes(row[0])


def _json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of a value, for encryption."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _clip(text: str) -> str:
    """Cut evidence text to MAX_EVIDENCE_CHARS, ending with a visible marker when cut."""
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text
    return text[: MAX_EVIDENCE_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _offloaded(fn: F) -> F:
    """Run a store method in the store's thread pool when called from bridged dialogue code."""

    @wraps(fn)
    def wrapper(self: BaseStore, *args: Any, **kwargs: Any) -> Any:
        if bridged():
            return call_in(self._executor, lambda: fn(self, *args, **kwargs))
        return fn(self, *args, **kwargs)

    return cast(F, wrapper)


class BaseStore:
    """Conversation state and evidence; the SQL is shared, the engines differ in connections and schema.

    Every public method can be called from plain code (it runs at once) or from the dialogue's bridged code
    (it runs in a bounded thread pool while the event loop serves other chats). `turn()` gives the view of
    the store for answering one message: on PostgreSQL it holds the user's lock across workers and commits
    the state, the evidence and the update id together.
    """

    dialect = ""
    placeholder = "?"
    begin = "BEGIN"

    def __init__(self, key: bytes, pool_size: int, send_lease_s: float = SEND_LEASE_S) -> None:
        """Set up the cipher and the thread pool that runs database calls for the event loop."""
        self._fernet = _fernet(key)
        self.pool_size = max(1, pool_size)
        self.send_lease_s = send_lease_s
        self._executor = ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="store")
        self._bound: Any = None
        self._sql: dict[str, str] = {}
        self._turns = 0
        self.duplicate = False
        self.where = ""
        self._turn_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._prefetched: dict[str, bytes | None] = {}
        """In a turn: the user's encrypted state as the turn read it first, until the turn writes it."""
        self._ended = False
        """In a PostgreSQL turn: its transaction is over (finish committed it), the connection is given back."""

    @classmethod
    def from_config(cls, cfg: Config) -> BaseStore:
        """Open the store named by store.url, keyed by BOT_DATA_KEY or else the key file."""
        if cfg.secrets.data_key:
            key = cfg.secrets.data_key.strip().encode("utf-8")
            try:
                _fernet(key)
            except StoreKeyError as exc:
                raise StoreKeyError(f"BOT_DATA_KEY: {exc}") from None
        else:
            key = load_or_create_key(cfg.path(cfg.store.key_file))
        lease = cfg.store.send_lease_s
        if is_postgres_url(cfg.store.url):
            return PostgresStore(cfg.store.url, key, pool_size=cfg.store.pool_size, send_lease_s=lease)
        return Store(sqlite_path(cfg.store.url, cfg), key, pool_size=cfg.store.pool_size, send_lease_s=lease)

    # -- what each engine provides --------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """Lend a connection for one transaction or one statement."""
        raise NotImplementedError
        yield None  # pragma: no cover

    def _down(self, exc: BaseException) -> StoreError | None:
        """Translate a driver error meaning "the database is unreachable" into StoreUnavailable."""
        return None

    def _after_delete(self) -> None:
        """Engine-specific clean-up after a user's rows are deleted."""

    @contextmanager
    def turn(self, user_id: str, update_key: str | None = None) -> Iterator[BaseStore]:
        """The store as seen while answering one message of user_id (see the class docstring)."""
        session = self._session(None)
        session.duplicate, blob = session._opening_reads(user_id, update_key)
        session._prefetched[user_id] = blob
        yield session

    @_offloaded
    def _opening_reads(self, user_id: str, update_key: str | None) -> tuple[bool, bytes | None]:
        """What a turn reads first, in one call: whether the update was handled, and the user's stored state."""
        with self._read() as ex:
            return self._read_opening(ex, user_id, update_key)

    @staticmethod
    def _read_opening(ex: Callable[..., Any], user_id: str, update_key: str | None) -> tuple[bool, bytes | None]:
        """Whether the update was handled, and the user's encrypted state (None for a new user), in one query."""
        return _opening(ex(OPENING_SQL, (user_id, update_key)).fetchone())

    # -- plumbing -------------------------------------------------------------------------------------

    def slots(self) -> asyncio.Semaphore:
        """The running loop's limit on turns in progress (each takes a pool thread and a connection)."""
        loop = asyncio.get_running_loop()
        sem = self._turn_slots.get(loop)
        if sem is None:
            sem = self._turn_slots[loop] = asyncio.Semaphore(self.pool_size)
        return sem

    def _session(self, conn: Any) -> BaseStore:
        """A shallow copy of the store bound to conn (or unbound)."""
        session = object.__new__(type(self))
        session.__dict__.update(self.__dict__)
        session._bound = conn
        session.duplicate = False
        session._prefetched = {}
        session._ended = False
        return session

    def _q(self, sql: str) -> str:
        """Return the statement in the engine's placeholder style."""
        out = self._sql.get(sql)
        if out is None:
            out = self._sql[sql] = sql if self.placeholder == "?" else sql.replace("?", self.placeholder)
        return out

    @contextmanager
    def _tx(self) -> Iterator[Callable[..., Any]]:
        """Run the block in one write transaction; yields execute(sql, params)."""
        if self._bound is not None:
            yield self._bound_execute
            return
        try:
            with self._connection() as conn:
                conn.execute(self.begin)
                try:
                    yield lambda sql, params=(): conn.execute(self._q(sql), params)
                except BaseException:
                    self._rollback(conn)
                    raise
                conn.execute("COMMIT")
        except Exception as exc:
            down = self._down(exc)
            if down is not None:
                raise down from exc
            raise

    @contextmanager
    def _read(self) -> Iterator[Callable[..., Any]]:
        """Run reads; yields execute(sql, params)."""
        if self._bound is not None:
            yield self._bound_execute
            return
        try:
            with self._connection() as conn:
                yield lambda sql, params=(): conn.execute(self._q(sql), params)
        except Exception as exc:
            down = self._down(exc)
            if down is not None:
                raise down from exc
            raise

    def _bound_execute(self, sql: str, params: Any = ()) -> Any:
        """Execute on the turn's connection; a lost database is StoreUnavailable, as outside a turn.

        Without this a connection cut mid-turn (a database restart) would reach the dialogue as an ordinary
        error: the user would get "something went wrong", the platform a 200, and the update would be lost.
        """
        if self._ended:
            raise StoreError("this turn is over: its connection was given back")
        try:
            return self._bound.execute(self._q(sql), params)
        except Exception as exc:
            down = self._down(exc)
            if down is not None:
                raise down from exc
            raise

    @staticmethod
    def _rollback(conn: Any) -> None:
        """Roll back, ignoring a connection that is already gone."""
        try:
            conn.execute("ROLLBACK")
        except Exception as exc:  # the connection died: the server has rolled back for us
            log.debug("rollback failed: %s", type(exc).__name__)

    def _migrate_with(self, run_script: Callable[[str], None], execute: Callable[..., Any]) -> None:
        """Apply the migration steps this database lacks, in order, in the current transaction."""
        execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.where} has schema v{current}, newer than this bot's v{SCHEMA_VERSION}; upgrade the bot"
            )
        for step in MIGRATIONS:
            if step.version > current:
                run_script(step.sqlite if self.dialect == "sqlite" else step.postgres)
                execute(self._q("INSERT INTO schema_version (version) VALUES (?)"), (step.version,))
                log.info("store schema migrated to v%d (%s)", step.version, step.what)

    def _check_key(self) -> None:
        """Store a key-check token on first open; afterwards fail clearly if the key is not that one."""
        with self._tx() as ex:
            row = ex("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
            if row is None:
                token = self._fernet.encrypt(KEY_CHECK_PLAINTEXT)
                ex("INSERT INTO store_meta (name, value) VALUES ('key_check', ?) ON CONFLICT DO NOTHING", (token,))
                return
        try:
            ok = self._fernet.decrypt(bytes(row[0])) == KEY_CHECK_PLAINTEXT
        except InvalidToken:
            ok = False
        if not ok:
            raise StoreKeyError(self._wrong_key_message())

    def _wrong_key_message(self) -> str:
        """Explain a key mismatch without guessing at data."""
        return (
            f"{self.where} was encrypted with a different data key; set BOT_DATA_KEY (or restore the key "
            "file) to the key it was created with. Without that key the stored data cannot be read."
        )

    def _encrypt(self, data: bytes) -> bytes:
        """Encrypt bytes for storage."""
        return self._fernet.encrypt(data)

    def _decrypt(self, token: bytes) -> bytes:
        """Decrypt stored bytes, raising StoreKeyError (never returning garbage) on a wrong key."""
        try:
            return self._fernet.decrypt(bytes(token))
        except InvalidToken:
            raise StoreKeyError(self._wrong_key_message()) from None

    # -- conversation state ---------------------------------------------------------------------------

    def get_state(self, user_id: str) -> dict[str, Any]:
        """Return the user's conversation state, or {} for a new user."""
        blob = self._prefetched[user_id] if user_id in self._prefetched else self._state_blob(user_id)
        if blob is None:
            return {}
        state = json.loads(self._decrypt(blob))
        return state if isinstance(state, dict) else {}

    @_offloaded
    def _state_blob(self, user_id: str) -> bytes | None:
        """The user's encrypted state, or None for a new user."""
        with self._read() as ex:
            row = ex("SELECT data FROM state WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else bytes(row[0])

    @_offloaded
    def put_state(self, user_id: str, state: dict[str, Any]) -> None:
        """Replace the user's conversation state (must be JSON-serialisable)."""
        blob = self._encrypt(_json_bytes(state))
        self._prefetched.pop(user_id, None)
        with self._tx() as ex:
            self._put_state(ex, user_id, blob)

    @staticmethod
    def _put_state(ex: Callable[..., Any], user_id: str, blob: bytes) -> None:
        """Upsert the state row."""
        ex(
            "INSERT INTO state (user_id, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (user_id, blob, _now().isoformat()),
        )

    # -- handled updates (idempotency) -----------------------------------------------------------------

    @_offloaded
    def handled(self, update_key: str) -> bool:
        """Whether an update with this id was already answered."""
        with self._read() as ex:
            return ex("SELECT 1 FROM handled WHERE update_key = ?", (update_key,)).fetchone() is not None

    @_offloaded
    def finish(
        self, user_id: str, state: dict[str, Any] | None, update_key: str | None, outbox: list[Any] | None = None
    ) -> bool:
        """Write the state (None: the user was deleted) and mark the update handled, in one transaction.

        With outbox (the turn's replies, JSON values) and an update id, the replies are kept in the same
        transaction until mark_sent says they are out, leased to this worker for send_lease_s: a worker that
        dies before sending them leaves them for the update's re-delivery (take_unsent). Returns False when
        another worker marked the same update first (its answer stands, ours is dropped).
        """
        done = self._finish_rows(user_id, state, update_key, outbox)
        self._turns += 1
        if self._bound is None and self._turns % PURGE_EVERY == 0:
            self.purge_handled()
        return done

    def _finish_rows(
        self, user_id: str, state: dict[str, Any] | None, update_key: str | None, outbox: list[Any] | None
    ) -> bool:
        """The writes of finish, in one transaction (the turn's when bound); False when the update was marked."""
        blob = None if state is None else self._encrypt(_json_bytes(state))
        owner = "" if state is None else user_id  # a deleting turn leaves no row under the user's id
        kept = None if update_key is None or not outbox else self._encrypt(_json_bytes(outbox))
        now = _micros(_now())
        self._prefetched.pop(user_id, None)
        with self._tx() as ex:
            if update_key is not None and blob is not None:
                done = self._write_finish(ex, user_id, blob, update_key, kept, now)
                if done is not None:
                    return done
            if update_key is not None:
                cur = ex(
                    "INSERT INTO handled (update_key, user_id, at_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (update_key, owner, now),
                )
                if cur.rowcount != 1:
                    return False
            if blob is not None:
                self._put_state(ex, user_id, blob)
            if kept is not None:
                ex(
                    "INSERT INTO outbox (update_key, user_id, replies, sent, lease_us, at_us) "
                    "VALUES (?, ?, ?, 0, ?, ?)",
                    (update_key, owner, kept, now + int(self.send_lease_s * 1_000_000), now),
                )
        return True

    def _write_finish(
        self, ex: Callable[..., Any], user_id: str, blob: bytes, update_key: str, kept: bytes | None, now: int
    ) -> bool | None:
        """Finish's rows in one statement where the engine can (else None: one statement each)."""
        return None

    # -- the outbox: replies committed but not yet sent ------------------------------------------------------

    @_offloaded
    def take_unsent(self, update_key: str, take_over: bool = False) -> Unsent | None:
        """The unsent replies of an update answered before, leased to this worker now; None when all are out.

        Raises RepliesInFlight while another worker's lease on them lasts (it may be sending them right now),
        unless take_over (polling: a re-delivery only follows a restart, so the lease holder is gone).
        """
        now = _micros(_now())
        with self._tx() as ex:
            row = ex("SELECT replies, sent, lease_us FROM outbox WHERE update_key = ?", (update_key,)).fetchone()
            if row is None:
                return None
            if int(row[2]) > now and not take_over:
                raise RepliesInFlight("another worker is sending this update's replies; deliver it again later")
            ex(
                "UPDATE outbox SET lease_us = ? WHERE update_key = ?",
                (now + int(self.send_lease_s * 1_000_000), update_key),
            )
        replies = json.loads(self._decrypt(row[0]))
        return Unsent(update_key, replies if isinstance(replies, list) else [], int(row[1]))

    @_offloaded
    def mark_sent(self, update_key: str, sent: int, total: int) -> None:
        """Note that the first `sent` of the update's `total` replies are out; all out: the row is deleted."""
        with self._read() as ex:  # one statement, committed by itself
            if sent >= total:
                ex("DELETE FROM outbox WHERE update_key = ?", (update_key,))
            else:
                ex("UPDATE outbox SET sent = ? WHERE update_key = ?", (sent, update_key))

    @_offloaded
    def forget_sent(self, update_keys: list[str]) -> int:
        """Delete the outbox rows of updates whose replies are all out; return how many there were."""
        deleted = 0
        with self._read() as ex:  # one statement per 500 keys, each committed by itself
            for start in range(0, len(update_keys), 500):
                chunk = update_keys[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                deleted += int(ex(f"DELETE FROM outbox WHERE update_key IN ({marks})", tuple(chunk)).rowcount)
        return deleted

    @_offloaded
    def release_unsent(self, update_key: str) -> None:
        """Give up the lease on the update's unsent replies (sending failed): its next delivery sends them."""
        with self._read() as ex:
            ex("UPDATE outbox SET lease_us = 0 WHERE update_key = ?", (update_key,))

    @_offloaded
    def purge_handled(self, older_than_s: float = UPDATE_MARK_TTL_S, outbox_older_than_s: float = OUTBOX_TTL_S) -> int:
        """Forget update ids handled, and drop replies kept unsent, longer ago than the limits; return how many."""
        now = _micros(_now())
        with self._tx() as ex:
            marks = int(ex("DELETE FROM handled WHERE at_us < ?", (now - int(older_than_s * 1_000_000),)).rowcount)
            unsent = int(
                ex("DELETE FROM outbox WHERE at_us < ?", (now - int(outbox_older_than_s * 1_000_000),)).rowcount
            )
        return marks + unsent

    # -- short-lived values shared by workers (API tokens, "seen this message" marks) --------------------

    @_offloaded
    def put_shared(self, name: str, value: bytes, ttl_s: float) -> None:
        """Keep value (encrypted) under name for ttl_s seconds, replacing any previous value."""
        expires = _micros(_now()) + int(ttl_s * 1_000_000)
        blob = self._encrypt(value)
        with self._tx() as ex:
            ex(
                "INSERT INTO shared (name, value, expires_us) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, expires_us = excluded.expires_us",
                (name, blob, expires),
            )

    @_offloaded
    def get_shared(self, name: str) -> tuple[bytes, float] | None:
        """Return (value, seconds left) for name, or None when it is absent or expired."""
        with self._read() as ex:
            row = ex("SELECT value, expires_us FROM shared WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        left = (int(row[1]) - _micros(_now())) / 1_000_000
        return (self._decrypt(row[0]), left) if left > 0 else None

    @_offloaded
    def claim(self, name: str, ttl_s: float) -> bool:
        """Mark name as taken for ttl_s seconds; True only for the first caller (across processes)."""
        now = _micros(_now())
        with self._tx() as ex:
            ex("DELETE FROM shared WHERE name = ? AND expires_us <= ?", (name, now))
            cur = ex(
                "INSERT INTO shared (name, value, expires_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (name, b"", now + int(ttl_s * 1_000_000)),
            )
            return int(cur.rowcount) == 1

    @_offloaded
    def purge_shared(self) -> int:
        """Delete expired shared values and return how many there were."""
        with self._tx() as ex:
            return int(ex("DELETE FROM shared WHERE expires_us <= ?", (_micros(_now()),)).rowcount)

    # -- a channel's memory of a user between messages (shared by the channel's workers) ---------------------

    @_offloaded
    def get_memory(self, user_id: str) -> dict[str, Any]:
        """Return what the channel keeps about the user between messages, or {} when nothing is kept."""
        with self._read() as ex:
            row = ex("SELECT data FROM channel_memory WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return {}
        memory = json.loads(self._decrypt(row[0]))
        return memory if isinstance(memory, dict) else {}

    @_offloaded
    def put_memory(self, user_id: str, memory: dict[str, Any]) -> None:
        """Replace the channel's memory of the user (encrypted: it may hold reply text quoting their SMS)."""
        blob = self._encrypt(_json_bytes(memory))
        with self._tx() as ex:
            ex(
                "INSERT INTO channel_memory (user_id, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (user_id, blob, _now().isoformat()),
            )

    # -- files offered as download links (shared by the channel's workers) ----------------------------------

    @_offloaded
    def put_file(
        self,
        file_key: str,
        user_id: str,
        data: bytes,
        meta: dict[str, Any],
        expires_at: float,
        now: float,
        keep_per_user: int,
        keep_bytes: int,
    ) -> None:
        """Keep a file (encrypted) until expires_at, retiring the oldest beyond keep_per_user and keep_bytes.

        keep_per_user counts the user's files, keep_bytes all files together; times are in the caller's clock.
        """
        blob, meta_blob = self._encrypt(data), self._encrypt(_json_bytes(meta))
        made = self._next_made_us()
        with self._tx() as ex:
            ex("DELETE FROM files WHERE expires_at <= ?", (now,))
            ex(
                "INSERT INTO files (file_key, user_id, data, meta, size, expires_at, made_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (file_key, user_id, blob, meta_blob, len(data), expires_at, made),
            )
            ex(
                "DELETE FROM files WHERE user_id = ? AND file_key NOT IN "
                "(SELECT file_key FROM files WHERE user_id = ? ORDER BY made_us DESC LIMIT ?)",
                (user_id, user_id, keep_per_user),
            )
            while int(ex("SELECT COALESCE(SUM(size), 0) FROM files").fetchone()[0]) > keep_bytes:
                ex("DELETE FROM files WHERE file_key = (SELECT file_key FROM files ORDER BY made_us LIMIT 1)")

    @staticmethod
    def _next_made_us() -> int:
        """A time stamp for a new file, later than the previous one of this process (orders the files)."""
        with _MADE_LOCK:
            made = _LAST_MADE_US[0] = max(_micros(_now()), _LAST_MADE_US[0] + 1)
        return made

    @_offloaded
    def get_file(self, file_key: str, now: float) -> tuple[bytes, dict[str, Any]] | None:
        """The file kept under file_key and its meta, or None when there is none or it expired by now."""
        with self._read() as ex:
            row = ex("SELECT data, meta FROM files WHERE file_key = ? AND expires_at > ?", (file_key, now)).fetchone()
        if row is None:
            return None
        meta = json.loads(self._decrypt(row[1]))
        return self._decrypt(row[0]), meta if isinstance(meta, dict) else {}

    @_offloaded
    def shorten_file(self, file_key: str, expires_at: float) -> None:
        """Let the file expire at expires_at at the latest."""
        with self._read() as ex:  # one statement, committed by itself
            ex(
                "UPDATE files SET expires_at = ? WHERE file_key = ? AND expires_at > ?",
                (expires_at, file_key, expires_at),
            )

    @_offloaded
    def count_files(self, user_id: str, now: float) -> int:
        """How many of the user's files have not expired by now."""
        with self._read() as ex:
            row = ex("SELECT COUNT(*) FROM files WHERE user_id = ? AND expires_at > ?", (user_id, now)).fetchone()
        return int(row[0])

    @_offloaded
    def drop_files(self, user_id: str) -> int:
        """Delete every file of the user; return how many there were."""
        with self._read() as ex:
            return int(ex("DELETE FROM files WHERE user_id = ?", (user_id,)).rowcount)

    @_offloaded
    def purge_files(self, now: float) -> int:
        """Delete the files expired by now; return how many there were."""
        with self._read() as ex:
            return int(ex("DELETE FROM files WHERE expires_at <= ?", (now,)).rowcount)

    @_offloaded
    def files_size(self) -> int:
        """Bytes of all files kept."""
        with self._read() as ex:
            return int(ex("SELECT COALESCE(SUM(size), 0) FROM files").fetchone()[0])

    # -- evidence log ---------------------------------------------------------------------------------

    @_offloaded
    def add_evidence(
        self,
        user_id: str,
        kind: str,
        text: str,
        meta: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Log one item for the user, chained to their previous item, and return its id.

        Text over 20,000 chars is cut with a marker. The content hash is taken of the plain text before encryption.
        """
        if kind not in EVIDENCE_KINDS:
            raise ValueError(f"evidence kind {kind!r} is not one of: {', '.join(EVIDENCE_KINDS)}")
        created = _now()
        at = created if at is None else at
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("evidence time must be timezone-aware (e.g. datetime.now(timezone.utc))")
        body = _clip(text)
        meta_json = json.dumps(meta or {}, ensure_ascii=False)
        content = chain.content_hash(kind, body, json.loads(meta_json), at.isoformat(), created.isoformat())
        text_blob = self._encrypt(body.encode("utf-8"))
        meta_blob = self._encrypt(meta_json.encode("utf-8"))
        with self._tx() as ex:
            seq, prev = self._chain_tail(ex, user_id)
            row = ex(
                "INSERT INTO evidence (user_id, kind, text, meta, at, at_us, created_at, seq, content_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    user_id,
                    kind,
                    text_blob,
                    meta_blob,
                    at.isoformat(),
                    _micros(at),
                    created.isoformat(),
                    seq + 1,
                    content,
                    chain.link_hash(prev, seq + 1, content),
                ),
            ).fetchone()
        item_id = int(row[0])
        log.debug("evidence item %d (%s) stored", item_id, kind)
        return item_id

    def _chain_tail(self, ex: Callable[..., Any], user_id: str) -> tuple[int, str]:
        """Return the user's last sequence number and chain hash (0 and the genesis hash for a new log)."""
        row = ex(
            "SELECT seq, hash FROM evidence WHERE user_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
            (user_id,),
        ).fetchone()
        return (0, chain.GENESIS) if row is None else (int(row[0]), str(row[1]))

    def _chain_unhashed(self) -> None:
        """Give rows logged before the hash chain existed their place in the chain, in logging order."""
        with self._read() as ex:
            users = [r[0] for r in ex("SELECT DISTINCT user_id FROM evidence WHERE seq IS NULL").fetchall()]
        for user_id in users:
            with self._tx() as ex:
                rows = ex(
                    "SELECT id, kind, text, meta, at, created_at FROM evidence "
                    "WHERE user_id = ? AND seq IS NULL ORDER BY id",
                    (user_id,),
                ).fetchall()
                seq, prev = self._chain_tail(ex, user_id)
                for row in rows:
                    seq += 1
                    content = chain.content_hash(
                        str(row[1]),
                        self._decrypt(row[2]).decode("utf-8"),
                        json.loads(self._decrypt(row[3])),
                        str(row[4]),
                        str(row[5]),
                    )
                    prev = chain.link_hash(prev, seq, content)
                    ex(
                        "UPDATE evidence SET seq = ?, content_hash = ?, hash = ? WHERE id = ?",
                        (seq, content, prev, row[0]),
                    )
            log.info("chained %d earlier evidence rows of one user", len(rows))

    @_offloaded
    def list_evidence(self, user_id: str) -> list[EvidenceItem]:
        """Return the user's evidence, oldest first (by when it happened, then by logging order)."""
        with self._read() as ex:
            rows = ex(
                "SELECT id, kind, text, meta, at, created_at, seq, hash FROM evidence "
                "WHERE user_id = ? AND withdrawn_at IS NULL ORDER BY at_us, id",
                (user_id,),
            ).fetchall()
        return [
            EvidenceItem(
                id=int(row[0]),
                kind=str(row[1]),
                text=self._decrypt(row[2]).decode("utf-8"),
                meta=json.loads(self._decrypt(row[3])),
                at=datetime.fromisoformat(row[4]),
                created_at=datetime.fromisoformat(row[5]),
                seq=int(row[6] or 0),
                hash=str(row[7] or ""),
            )
            for row in rows
        ]

    @_offloaded
    def count_evidence(self, user_id: str) -> int:
        """Return how many items the user has logged (without decrypting them)."""
        with self._read() as ex:
            row = ex("SELECT COUNT(*) FROM evidence WHERE user_id = ? AND withdrawn_at IS NULL", (user_id,)).fetchone()
        return int(row[0])

    @_offloaded
    def delete_evidence(self, user_id: str, item_id: int) -> bool:
        """Withdraw one of the user's items: its text is erased, its hashes stay so the chain still verifies.

        False if it does not exist, was already withdrawn, or belongs to someone else.
        """
        empty, no_meta = self._encrypt(b""), self._encrypt(b"{}")
        with self._tx() as ex:
            cur = ex(
                "UPDATE evidence SET text = ?, meta = ?, withdrawn_at = ? "
                "WHERE id = ? AND user_id = ? AND withdrawn_at IS NULL",
                (empty, no_meta, _now().isoformat(), item_id, user_id),
            )
            return int(cur.rowcount) > 0

    @_offloaded
    def chain_users(self) -> list[str]:
        """Return every user id that has an evidence log (for verification; never logged or shown)."""
        with self._read() as ex:
            return [str(r[0]) for r in ex("SELECT DISTINCT user_id FROM evidence ORDER BY user_id").fetchall()]

    @_offloaded
    def verify_evidence(self, user_id: str) -> chain.ChainReport:
        """Recompute the user's hash chain from the decrypted rows and report the first entry that differs."""
        with self._read() as ex:
            rows = ex(
                "SELECT id, seq, kind, text, meta, at, created_at, content_hash, hash, withdrawn_at "
                "FROM evidence WHERE user_id = ? ORDER BY seq IS NULL, seq, id",
                (user_id,),
            ).fetchall()
        return chain.verify_chain(self._chain_row(row) for row in rows)

    def _chain_row(self, row: tuple[Any, ...]) -> chain.ChainRow:
        """Decrypt one row and recompute its content hash (None when the ciphertext was altered)."""
        withdrawn = row[9] is not None
        content: str | None = None
        if not withdrawn:
            try:
                text = self._fernet.decrypt(bytes(row[3])).decode("utf-8")
                meta = json.loads(self._fernet.decrypt(bytes(row[4])))
                content = chain.content_hash(str(row[2]), text, meta, str(row[5]), str(row[6]))
            except (InvalidToken, UnicodeDecodeError, ValueError):
                content = None
        return chain.ChainRow(
            id=int(row[0]),
            seq=int(row[1]) if row[1] is not None else -1,
            stored_content=row[7],
            stored_hash=row[8],
            content=content,
            withdrawn=withdrawn,
        )

    @_offloaded
    def delete_user(self, user_id: str) -> int:
        """Erase every row of the user for good (state, evidence, update ids, replies, memory, files); how many."""
        self._prefetched.pop(user_id, None)
        with self._tx() as ex:
            deleted = sum(int(ex(f"DELETE FROM {t} WHERE user_id = ?", (user_id,)).rowcount) for t in USER_TABLES)
        if self._bound is None:
            self._after_delete()
        log.info("deleted %d rows of one user's data", deleted)
        return deleted

    @_offloaded
    def ping(self) -> None:
        """Run a trivial query; raises StoreUnavailable when the database cannot be reached."""
        with self._read() as ex:
            ex("SELECT 1").fetchone()

    def close(self) -> None:
        """Close connections and the thread pool; later calls raise StoreError."""
        self._executor.shutdown(wait=False)

    def __enter__(self) -> BaseStore:
        """Use the store as a context manager that closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()


class Store(BaseStore):
    """The SQLite store: one file, one connection guarded by a lock (one machine, one worker)."""

    dialect = "sqlite"
    begin = "BEGIN IMMEDIATE"

    def __init__(self, path: str | Path, key: bytes, pool_size: int = 4, send_lease_s: float = SEND_LEASE_S) -> None:
        """Open (creating if needed) the database at path; key is a Fernet key."""
        super().__init__(key, pool_size, send_lease_s)
        self._lock = threading.Lock()
        self.path = self.where = str(path)
        if self.path != MEMORY:
            file = Path(self.path)
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not file.exists():
                os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")
            self._conn: sqlite3.Connection | None = conn
            self._migrate()
            self._check_key()
            self._chain_unhashed()
        except BaseException:
            conn.close()
            self._conn = None
            super().close()
            raise
        log.info("store opened: SQLite (schema v%d)", SCHEMA_VERSION)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and lend the connection."""
        with self._lock:
            if self._conn is None:
                raise StoreError("the store is closed")
            yield self._conn

    def _migrate(self) -> None:
        """Bring the schema to the newest step (one writer at a time, across processes too)."""
        with self._tx() as ex:

            def run_script(script: str) -> None:
                for statement in script.split(";"):
                    if not statement.strip():
                        continue
                    try:
                        ex(statement)
                    except sqlite3.OperationalError as exc:  # SQLite has no ADD COLUMN IF NOT EXISTS
                        if "duplicate column name" not in str(exc):
                            raise

            self._migrate_with(run_script, ex)

    def _after_delete(self) -> None:
        """Fold the write-ahead log back in and empty it, so old pages do not linger there."""
        with self._connection() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connection; later calls raise StoreError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        super().close()


OPEN_TURN_SQL_IN_TX = "SELECT got_lock, state_data, was_handled FROM bot_open_turn(%s, %s)"
OPEN_TURN_SQL = "BEGIN; " + OPEN_TURN_SQL_IN_TX


class PostgresStore(BaseStore):
    """The PostgreSQL store: a bounded connection pool; each turn holds its user's advisory lock."""

    dialect = "postgres"
    placeholder = "%s"
    spare_connections = 2
    """Connections beyond pool_size for calls made outside a turn (a turn never waits for one)."""

    def __init__(
        self,
        url: str,
        key: bytes,
        pool_size: int = 8,
        connect_timeout_s: float = 10.0,
        send_lease_s: float = SEND_LEASE_S,
    ) -> None:
        """Connect to the database at url (postgresql://…), create or migrate the schema, check the key."""
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        super().__init__(key, pool_size, send_lease_s)
        self.url = url
        self.where = safe_url(url)
        self._errors: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)
        self._client_cursor = psycopg.ClientCursor
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=self.pool_size + self.spare_connections,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout_s))},
            check=self._check_connection,
            timeout=connect_timeout_s,
            open=False,
            name="bot-store",
        )
        try:
            try:
                self._pool.open(wait=True, timeout=connect_timeout_s)
            except PoolTimeout as exc:
                raise StoreUnavailable(
                    f"cannot connect to PostgreSQL at {self.where} within {connect_timeout_s:.0f} s; check that "
                    "the server runs, the host and port in store.url (or BOT_STORE_URL) and the password"
                ) from exc
            self._migrate()
            self._check_key()
            self._chain_unhashed()
        except BaseException:
            self._pool.close()
            super().close()
            raise
        log.info("store opened: PostgreSQL %s (schema v%d, pool %d)", self.where, SCHEMA_VERSION, self.pool_size)

    @staticmethod
    def _check_connection(conn: Any) -> None:
        """Make sure a pooled connection still works before it is lent (else the pool replaces it).

        A connection the server has closed (a restart, an idle timeout) has something to read on its socket:
        the closing notice or the end of the stream. Only then is the server asked (a round trip, which every
        lending used to cost); an idle connection with nothing to read is lent as it is.
        """
        from psycopg_pool import ConnectionPool

        waiting = select.poll()
        waiting.register(conn.fileno(), select.POLLIN)
        if waiting.poll(0):
            ConnectionPool.check_connection(conn)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """Borrow a pooled connection."""
        if self._pool.closed:
            raise StoreError("the store is closed")
        with self._pool.connection() as conn:
            yield conn

    def _down(self, exc: BaseException) -> StoreError | None:
        """Name the unreachable database (never its password)."""
        if isinstance(exc, self._errors):
            return StoreUnavailable(f"PostgreSQL at {self.where} is unreachable ({type(exc).__name__})")
        return None

    def _migrate(self) -> None:
        """Bring the schema to the newest step; workers starting together take turns."""
        with self._tx() as ex:
            ex("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            self._migrate_with(lambda script: ex(script), ex)

    @contextmanager
    def turn(self, user_id: str, update_key: str | None = None) -> Iterator[BaseStore]:
        """Hold the user's lock in one transaction for the whole turn; commit on success, else roll back.

        Each step is one call in the thread pool: borrow a connection, begin, take the lock and read what the
        turn reads first (handled or not, the user's state); the turn's own calls; commit and give the
        connection back.
        """
        conn, opening = call_in(self._executor, self._open_turn, user_id, update_key)
        lent = True
        try:
            delay = 0.001
            while opening is None:  # another worker holds the user's lock
                pause = delay * (0.5 + random.random())
                if bridged():
                    wait_for(asyncio.sleep(pause))
                else:
                    time.sleep(pause)
                delay = min(delay * 2, LOCK_WAIT_MAX_S)
                opening = call_in(self._executor, self._lock_and_read, conn, user_id, update_key)
            session = self._session(conn)
            session.duplicate, session._prefetched[user_id] = opening
            lent = False  # from here on the session gives it back when it ends
            try:
                yield session
            except BaseException:
                if not session._ended:
                    session._ended = True
                    call_in(self._executor, self._end_turn, conn, False)
                raise
            if not session._ended:
                session._ended = True
                call_in(self._executor, self._end_turn, conn, True)
        except self._errors as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.where} is unreachable ({type(exc).__name__})") from exc
        finally:
            if lent:
                call_in(self._executor, self._pool.putconn, conn)
        self._turns += 1
        if self._turns % PURGE_EVERY == 0:
            self.purge_handled()

    def _open_turn(self, user_id: str, update_key: str | None) -> tuple[Any, tuple[bool, bytes | None] | None]:
        """Borrow a connection, begin the turn's transaction and try the user's lock (see _lock_and_read)."""
        try:
            conn = self._pool.getconn()
        except self._errors as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.where} is unreachable ({type(exc).__name__})") from exc
        try:
            return conn, self._lock_and_read(conn, user_id, update_key, begin=True)
        except BaseException as exc:
            self._rollback(conn)
            self._pool.putconn(conn)
            if isinstance(exc, self._errors):  # a pooled connection the server has just closed
                raise StoreUnavailable(f"PostgreSQL at {self.where} is unreachable ({type(exc).__name__})") from exc
            raise

    def _lock_and_read(
        self, conn: Any, user_id: str, update_key: str | None, begin: bool = False
    ) -> tuple[bool, bytes | None] | None:
        """Take the user's advisory lock for the transaction and read what the turn reads first; None if taken.

        One round trip: bot_open_turn (migration 5) takes the lock, then reads with a snapshot taken after it
        (a single statement's snapshot would be older than the lock), and the transaction's BEGIN goes in the
        same message (the parameters are bound on this side for that): one trip through the driver instead of
        three (see _write_finish for what each costs). psycopg's pipeline mode measured more CPU, not less.
        """
        cur = self._client_cursor(conn)
        cur.execute(OPEN_TURN_SQL if begin else OPEN_TURN_SQL_IN_TX, (user_id, update_key))
        if begin:
            cur.nextset()  # past BEGIN's result
        row = cur.fetchone()
        assert row is not None  # the function returns one row
        got_lock, data, handled = row
        if not got_lock:
            return None
        return bool(handled), None if data is None else bytes(data)

    def finish(
        self, user_id: str, state: dict[str, Any] | None, update_key: str | None, outbox: list[Any] | None = None
    ) -> bool:
        """As BaseStore.finish; in a turn, the turn's last word: it also commits and gives the connection back.

        One call to the pool instead of two: finish is the last thing a turn does (later store calls in the
        same turn raise StoreError).
        """
        if self._bound is None:
            return super().finish(user_id, state, update_key, outbox)
        if self._ended:
            raise StoreError("this turn is over: its connection was given back")
        self._ended = True
        self._prefetched.pop(user_id, None)
        return call_in(self._executor, self._finish_turn, self._bound, user_id, state, update_key, outbox)

    def _finish_turn(
        self,
        conn: Any,
        user_id: str,
        state: dict[str, Any] | None,
        update_key: str | None,
        outbox: list[Any] | None,
    ) -> bool:
        """Write finish's rows on the turn's connection and commit them (roll back when the update was marked).

        The rows are written through a fresh session on the connection: this one has already ended.
        """
        done = False
        try:
            done = self._session(conn)._finish_rows(user_id, state, update_key, outbox)
        finally:
            self._end_turn(conn, done)
        return done

    def _write_finish(
        self, ex: Callable[..., Any], user_id: str, blob: bytes, update_key: str, kept: bytes | None, now: int
    ) -> bool | None:
        """The update id, the state and the outbox row in one statement: the state and replies only if the id is new.

        Each statement costs a worker about 60 µs of CPU (a round trip through the driver); this is one instead
        of three on every turn.
        """
        outbox = (
            ", kept AS (INSERT INTO outbox (update_key, user_id, replies, sent, lease_us, at_us) "
            "SELECT ?::text, ?::text, ?::bytea, 0, ?::bigint, ?::bigint WHERE EXISTS (SELECT 1 FROM marked))"
            if kept is not None
            else ""
        )
        sql = (
            "WITH marked AS (INSERT INTO handled (update_key, user_id, at_us) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING 1), "
            "saved AS (INSERT INTO state (user_id, data, updated_at) "
            "SELECT ?::text, ?::bytea, ?::text WHERE EXISTS (SELECT 1 FROM marked) "
            "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at)"
            f"{outbox} SELECT EXISTS (SELECT 1 FROM marked)"
        )
        params: tuple[Any, ...] = (update_key, user_id, now, user_id, blob, _now().isoformat())
        if kept is not None:
            params += (update_key, user_id, kept, now + int(self.send_lease_s * 1_000_000), now)
        return bool(ex(sql, params).fetchone()[0])

    def _end_turn(self, conn: Any, commit: bool) -> None:
        """Commit (or roll back) the turn and give its connection back."""
        try:
            if commit:
                conn.execute("COMMIT")
            else:
                self._rollback(conn)
        finally:
            self._pool.putconn(conn)

    def close(self) -> None:
        """Close the pool; later calls raise StoreError."""
        self._pool.close()
        super().close()
