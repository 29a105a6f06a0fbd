"""Persistence: per-user conversation state and evidence log in SQLite, user text encrypted at rest."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from bot.config import Config
from bot.evidence import chain

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
EVIDENCE_KINDS = ("sms", "call", "visit", "contact", "post", "note", "screenshot")
MAX_EVIDENCE_CHARS = 20_000
TRUNCATION_MARKER = "\n…[已截断 / truncated]"
MEMORY = ":memory:"
KEY_CHECK_PLAINTEXT = b"cuishou-weiquan-bot store key check v1"
BUSY_TIMEOUT_MS = 5_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
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
"""


def _migrate_v2_chain(conn: sqlite3.Connection) -> None:
    """Schema v2: the evidence hash chain (bot/evidence/chain.py) and withdrawn entries.

    seq numbers each user's entries in logging order; content_hash and hash are the entry's content hash and chain
    hash; withdrawn_at marks an entry whose text the user removed (its hashes stay, so the chain still verifies).
    Rows from v1 get their hashes from Store._chain_unhashed once the key is known.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(evidence)")}
    for name, decl in (("seq", "INTEGER"), ("content_hash", "TEXT"), ("hash", "TEXT"), ("withdrawn_at", "TEXT")):
        if name not in columns:
            conn.execute(f"ALTER TABLE evidence ADD COLUMN {name} {decl}")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS evidence_chain ON evidence (user_id, seq)")


MIGRATIONS: dict[int, Any] = {2: _migrate_v2_chain}
"""Schema upgrades by target version, applied in order inside one transaction each."""


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad URL, newer schema, closed store)."""


class StoreKeyError(StoreError):
    """The data key is malformed or is not the key the database was encrypted with."""


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
        log.warning(
            "data key file %s is readable by other users (mode %o); run: chmod 600 %s", path, mode, path
        )
    key = path.read_bytes().strip()
    try:
        _fernet(key)
    except StoreKeyError as exc:
        raise StoreKeyError(f"{path}: {exc}") from None
    return key


def sqlite_path(url: str, cfg: Config) -> str:
    """Turn a sqlite:/// URL into a file path (relative to the repo root) or ':memory:'."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        shown = scheme if sep else "(none)"
        raise ValueError(
            f"store.url: only SQLite is supported in this version (got scheme {shown!r}); "
            "use sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3 or sqlite:///:memory:"
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


def _clip(text: str) -> str:
    """Cut evidence text to MAX_EVIDENCE_CHARS, ending with a visible marker when cut."""
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text
    return text[: MAX_EVIDENCE_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


class Store:
    """Conversation state and evidence, one SQLite connection guarded by a lock."""

    def __init__(self, path: str | Path, key: bytes) -> None:
        """Open (creating if needed) the database at path; key is a Fernet key."""
        self._fernet = _fernet(key)
        self._lock = threading.Lock()
        self.path = str(path)
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
            raise
        log.info("store opened: %s (schema v%d)", self.path, SCHEMA_VERSION)

    @classmethod
    def from_config(cls, cfg: Config) -> Store:
        """Open the store named by store.url, keyed by BOT_DATA_KEY or else the key file."""
        path = sqlite_path(cfg.store.url, cfg)
        if cfg.secrets.data_key:
            key = cfg.secrets.data_key.strip().encode("utf-8")
            try:
                _fernet(key)
            except StoreKeyError as exc:
                raise StoreKeyError(f"BOT_DATA_KEY: {exc}") from None
        else:
            key = load_or_create_key(cfg.path(cfg.store.key_file))
        return cls(path, key)

    # -- plumbing -------------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block in one write transaction."""
        with self._lock:
            conn = self._open_conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock for a read."""
        with self._lock:
            yield self._open_conn()

    def _open_conn(self) -> sqlite3.Connection:
        """Return the connection, or raise if the store was closed."""
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    def _migrate(self) -> None:
        """Create the schema on first open and refuse a database written by a newer version."""
        with self._lock:
            self._open_conn().executescript(_SCHEMA)  # idempotent; executescript commits on its own
        with self._tx() as conn:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0]
            if version is None:
                version = 1  # the tables were just created in their v1 shape
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema v{version}, newer than this bot's "
                    f"v{SCHEMA_VERSION}; upgrade the bot"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
                log.info("store schema upgraded to v%d", target)

    def _check_key(self) -> None:
        """Store a key-check token on first open; afterwards fail clearly if the key is not that one."""
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
            if row is None:
                token = self._fernet.encrypt(KEY_CHECK_PLAINTEXT)
                conn.execute("INSERT INTO store_meta (name, value) VALUES ('key_check', ?)", (token,))
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
            f"{self.path} was encrypted with a different data key; set BOT_DATA_KEY (or restore the key "
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
        with self._read() as conn:
            row = conn.execute("SELECT data FROM state WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return {}
        state = json.loads(self._decrypt(row[0]))
        return state if isinstance(state, dict) else {}

    def put_state(self, user_id: str, state: dict[str, Any]) -> None:
        """Replace the user's conversation state (must be JSON-serialisable)."""
        blob = self._encrypt(json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO state (user_id, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (user_id, blob, _now().isoformat()),
            )

    # -- short-lived values shared by workers (API tokens, "seen this message" marks) --------------------

    def put_shared(self, name: str, value: bytes, ttl_s: float) -> None:
        """Keep value (encrypted) under name for ttl_s seconds, replacing any previous value."""
        expires = _micros(_now()) + int(ttl_s * 1_000_000)
        blob = self._encrypt(value)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO shared (name, value, expires_us) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, expires_us = excluded.expires_us",
                (name, blob, expires),
            )

    def get_shared(self, name: str) -> tuple[bytes, float] | None:
        """Return (value, seconds left) for name, or None when it is absent or expired."""
        with self._read() as conn:
            row = conn.execute("SELECT value, expires_us FROM shared WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        left = (int(row[1]) - _micros(_now())) / 1_000_000
        return (self._decrypt(row[0]), left) if left > 0 else None

    def claim(self, name: str, ttl_s: float) -> bool:
        """Mark name as taken for ttl_s seconds; True only for the first caller (across processes)."""
        now = _micros(_now())
        with self._tx() as conn:
            conn.execute("DELETE FROM shared WHERE name = ? AND expires_us <= ?", (name, now))
            cur = conn.execute(
                "INSERT OR IGNORE INTO shared (name, value, expires_us) VALUES (?, ?, ?)",
                (name, b"", now + int(ttl_s * 1_000_000)),
            )
        return cur.rowcount == 1

    def purge_shared(self) -> int:
        """Delete expired shared values and return how many there were."""
        with self._tx() as conn:
            return int(conn.execute("DELETE FROM shared WHERE expires_us <= ?", (_micros(_now()),)).rowcount)

    # -- evidence log ---------------------------------------------------------------------------------

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
        meta = meta or {}
        meta_json = json.dumps(meta, ensure_ascii=False)
        content = chain.content_hash(kind, body, json.loads(meta_json), at.isoformat(), created.isoformat())
        text_blob = self._encrypt(body.encode("utf-8"))
        meta_blob = self._encrypt(meta_json.encode("utf-8"))
        with self._tx() as conn:
            seq, prev = self._chain_tail(conn, user_id)
            cur = conn.execute(
                "INSERT INTO evidence (user_id, kind, text, meta, at, at_us, created_at, seq, content_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            )
            item_id = cur.lastrowid
        assert item_id is not None
        log.debug("evidence item %d (%s) stored", item_id, kind)
        return item_id

    @staticmethod
    def _chain_tail(conn: sqlite3.Connection, user_id: str) -> tuple[int, str]:
        """Return the user's last sequence number and chain hash (0 and the genesis hash for a new log)."""
        row = conn.execute(
            "SELECT seq, hash FROM evidence WHERE user_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
            (user_id,),
        ).fetchone()
        return (0, chain.GENESIS) if row is None else (int(row[0]), str(row[1]))

    def _chain_unhashed(self) -> None:
        """Give rows logged before the hash chain existed their place in the chain, in logging order."""
        with self._read() as conn:
            users = [r[0] for r in conn.execute("SELECT DISTINCT user_id FROM evidence WHERE seq IS NULL")]
        for user_id in users:
            with self._tx() as conn:
                rows = conn.execute(
                    "SELECT id, kind, text, meta, at, created_at FROM evidence "
                    "WHERE user_id = ? AND seq IS NULL ORDER BY id",
                    (user_id,),
                ).fetchall()
                seq, prev = self._chain_tail(conn, user_id)
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
                    conn.execute(
                        "UPDATE evidence SET seq = ?, content_hash = ?, hash = ? WHERE id = ?",
                        (seq, content, prev, row[0]),
                    )
            log.info("chained %d earlier evidence rows of one user", len(rows))

    def list_evidence(self, user_id: str) -> list[EvidenceItem]:
        """Return the user's evidence, oldest first (by when it happened, then by logging order)."""
        with self._read() as conn:
            rows = conn.execute(
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

    def count_evidence(self, user_id: str) -> int:
        """Return how many items the user has logged (without decrypting them)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM evidence WHERE user_id = ? AND withdrawn_at IS NULL", (user_id,)
            ).fetchone()
        return int(row[0])

    def delete_evidence(self, user_id: str, item_id: int) -> bool:
        """Withdraw one of the user's items: its text is erased, its hashes stay so the chain still verifies.

        False if it does not exist, was already withdrawn, or belongs to someone else.
        """
        empty = self._encrypt(b"")
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE evidence SET text = ?, meta = ?, withdrawn_at = ? "
                "WHERE id = ? AND user_id = ? AND withdrawn_at IS NULL",
                (empty, self._encrypt(b"{}"), _now().isoformat(), item_id, user_id),
            )
        return cur.rowcount > 0

    def chain_users(self) -> list[str]:
        """Return every user id that has an evidence log (for verification; never logged or shown)."""
        with self._read() as conn:
            return [str(r[0]) for r in conn.execute("SELECT DISTINCT user_id FROM evidence ORDER BY user_id")]

    def verify_evidence(self, user_id: str) -> chain.ChainReport:
        """Recompute the user's hash chain from the decrypted rows and report the first entry that differs."""
        with self._read() as conn:
            rows = conn.execute(
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

    def delete_user(self, user_id: str) -> int:
        """Erase the user's state and evidence for good and return how many rows were deleted."""
        with self._tx() as conn:
            deleted = conn.execute("DELETE FROM evidence WHERE user_id = ?", (user_id,)).rowcount
            deleted += conn.execute("DELETE FROM state WHERE user_id = ?", (user_id,)).rowcount
        with self._lock:
            # Fold the write-ahead log back in and empty it, so old pages do not linger there.
            self._open_conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info("deleted %d rows of one user's data", deleted)
        return deleted

    def close(self) -> None:
        """Close the connection; later calls raise StoreError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        """Use the store as a context manager that closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()
