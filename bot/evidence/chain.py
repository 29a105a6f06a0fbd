"""Tamper-evident evidence log: each user's entries form a SHA-256 hash chain.

An entry's content hash covers what was logged (kind, text, meta, when it happened, when it was logged), computed on
the plain text before encryption. Its chain hash covers its sequence number, its content hash and the previous
entry's chain hash, so changing, removing or reordering any entry changes every hash after it. The store keeps the
content hash and the chain hash beside each row; `verify_chain` recomputes both from the decrypted rows.

This module has no database code, so any store (SQLite here, PostgreSQL elsewhere) can use it as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""The "previous hash" of a user's first entry."""
HASH_VERSION = "v1"


def canonical(kind: str, text: str, meta: dict[str, Any], at_iso: str, created_iso: str) -> bytes:
    """Serialise an entry's content in one fixed form (sorted keys, UTF-8, no spaces)."""
    doc = {"v": HASH_VERSION, "kind": kind, "text": text, "meta": meta, "at": at_iso, "created_at": created_iso}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def content_hash(kind: str, text: str, meta: dict[str, Any], at_iso: str, created_iso: str) -> str:
    """Return the SHA-256 (hex) of an entry's canonical content."""
    return hashlib.sha256(canonical(kind, text, meta, at_iso, created_iso)).hexdigest()


def link_hash(prev_hash: str, seq: int, content: str) -> str:
    """Return the chain hash of entry number seq from the previous chain hash and its content hash."""
    return hashlib.sha256(f"{HASH_VERSION}|{prev_hash}|{seq}|{content}".encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    """One stored entry as the verifier sees it.

    content is the recomputed content hash, or None when the row could not be decrypted or was withdrawn
    (then the stored content hash is trusted only if the row is marked withdrawn).
    """

    id: int
    seq: int
    stored_content: str | None
    stored_hash: str | None
    content: str | None
    withdrawn: bool = False


@dataclass(frozen=True)
class ChainReport:
    """The result of checking one user's chain."""

    ok: bool
    count: int
    head: str
    first_bad_id: int | None = None
    first_bad_seq: int | None = None
    reason: str = ""


REASONS = {
    "unhashed": "has no stored hash",
    "missing": "comes after a gap: the entry before it was removed",
    "order": "is out of order or duplicated",
    "unreadable": "cannot be decrypted with the store's key although other rows can: its ciphertext was altered",
    "content": "does not match its stored content hash: its text, time or details were changed",
    "link": "does not link to the entry before it: a hash was changed or an entry was replaced",
}
"""Plain-words explanation of each verify_chain reason (for the command line)."""


def verify_chain(rows: Iterable[ChainRow]) -> ChainReport:
    """Walk rows in sequence order and report the first entry whose content or link does not match."""
    prev = GENESIS
    count = 0
    expected_seq = 1
    for row in rows:
        count += 1
        reason = ""
        if row.stored_hash is None or row.stored_content is None:
            reason = "unhashed"
        elif row.seq != expected_seq:
            reason = "missing" if row.seq > expected_seq else "order"
        elif not row.withdrawn and row.content is None:
            reason = "unreadable"
        elif not row.withdrawn and row.content != row.stored_content:
            reason = "content"
        elif link_hash(prev, row.seq, row.stored_content) != row.stored_hash:
            reason = "link"
        if reason:
            return ChainReport(False, count, prev, row.id, row.seq, reason)
        prev = row.stored_hash or prev
        expected_seq += 1
    return ChainReport(True, count, prev)
