"""The evidence hash chain: any change to an entry, a removed entry or a swapped order is named by verify."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.__main__ import main
from bot.evidence.chain import GENESIS, ChainRow, content_hash, link_hash, verify_chain
from bot.store import Store, StoreKeyError

CST = timezone(timedelta(hours=8))


def rows_for(contents: list[str]) -> list[ChainRow]:
    prev, rows = GENESIS, []
    for seq, content in enumerate(contents, start=1):
        prev = link_hash(prev, seq, content)
        rows.append(ChainRow(id=seq * 10, seq=seq, stored_content=content, stored_hash=prev, content=content))
    return rows


def test_content_hash_changes_with_any_field_and_not_with_key_order() -> None:
    base = content_hash("sms", "你是老赖", {"a": 1, "b": 2}, "2026-12-01T23:10:00+08:00", "x")
    assert base == content_hash("sms", "你是老赖", {"b": 2, "a": 1}, "2026-12-01T23:10:00+08:00", "x")
    assert base != content_hash("call", "你是老赖", {"a": 1, "b": 2}, "2026-12-01T23:10:00+08:00", "x")
    assert base != content_hash("sms", "你是老赖。", {"a": 1, "b": 2}, "2026-12-01T23:10:00+08:00", "x")
    assert base != content_hash("sms", "你是老赖", {"a": 1, "b": 3}, "2026-12-01T23:10:00+08:00", "x")
    assert base != content_hash("sms", "你是老赖", {"a": 1, "b": 2}, "2026-12-01T23:11:00+08:00", "x")
    assert len(base) == 64


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    rows = rows_for(["a" * 64, "b" * 64, "c" * 64])
    report = verify_chain(rows)
    assert report.ok and report.count == 3 and report.head == rows[-1].stored_hash


def test_a_changed_content_is_named() -> None:
    rows = rows_for(["a" * 64, "b" * 64, "c" * 64])
    rows[1] = ChainRow(20, 2, rows[1].stored_content, rows[1].stored_hash, "f" * 64)
    report = verify_chain(rows)
    assert (report.ok, report.first_bad_id, report.first_bad_seq, report.reason) == (False, 20, 2, "content")
    assert report.head == rows[0].stored_hash


def test_a_recomputed_content_hash_without_relinking_is_caught_by_the_link() -> None:
    rows = rows_for(["a" * 64, "b" * 64, "c" * 64])
    rows[1] = ChainRow(20, 2, "f" * 64, rows[1].stored_hash, "f" * 64)
    assert verify_chain(rows).reason == "link"


def test_a_removed_entry_is_named_by_the_one_after_the_gap() -> None:
    rows = rows_for(["a" * 64, "b" * 64, "c" * 64])
    del rows[1]
    report = verify_chain(rows)
    assert (report.first_bad_seq, report.reason) == (3, "missing")


# -- the chain as the store keeps it ---------------------------------------------------------------------


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


def test_every_saved_entry_carries_its_hash_and_the_log_verifies(tmp_path: Path, key: bytes) -> None:
    with Store(tmp_path / "db.sqlite3", key) as store:
        for n in range(5):
            store.add_evidence("u1", "call", f"第{n}次来电", {"number": "+8613800138000"})
        store.add_evidence("u2", "sms", "别人的短信")
        items = store.list_evidence("u1")
        assert [i.seq for i in items] == [1, 2, 3, 4, 5]
        assert len({i.hash for i in items}) == 5 and all(len(i.hash) == 64 for i in items)
        report = store.verify_evidence("u1")
        assert report.ok and report.count == 5 and report.head == items[-1].hash
        assert store.verify_evidence("u2").count == 1


def test_a_row_re_encrypted_with_new_text_is_named(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db, key) as store:
        ids = [store.add_evidence("u1", "sms", f"短信{n}") for n in range(4)]
    forged = Fernet(key).encrypt("我什么都没说".encode())  # someone with the key rewrites entry 3
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE evidence SET text = ? WHERE id = ?", (forged, ids[2]))
    with Store(db, key) as store:
        report = store.verify_evidence("u1")
    assert (report.ok, report.first_bad_id, report.first_bad_seq, report.reason) == (False, ids[2], 3, "content")


def test_a_changed_time_is_named(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db, key) as store:
        ids = [store.add_evidence("u1", "call", "来电", at=datetime(2026, 12, 1, 23, n, tzinfo=CST)) for n in range(3)]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE evidence SET at = '2026-12-01T21:00:00+08:00' WHERE id = ?", (ids[0],))
    with Store(db, key) as store:
        assert store.verify_evidence("u1").first_bad_id == ids[0]


def test_a_withdrawn_entry_loses_its_text_but_keeps_the_chain_whole(tmp_path: Path, key: bytes) -> None:
    with Store(tmp_path / "db.sqlite3", key) as store:
        first = store.add_evidence("u1", "sms", "留下")
        second = store.add_evidence("u1", "sms", "不想要了")
        store.add_evidence("u1", "sms", "也留下")
        assert store.delete_evidence("u1", second)
        assert [i.id for i in store.list_evidence("u1")] == [first, second + 1]
        assert store.verify_evidence("u1").ok


def test_rows_from_before_the_chain_are_chained_on_upgrade(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "db.sqlite3"
    fernet = Fernet(key)
    with Store(db, key) as store:
        store.add_evidence("u1", "sms", "新的")
    with sqlite3.connect(db) as conn:  # make it look like a v1 database with two unchained rows
        conn.execute("DELETE FROM evidence")
        conn.execute("DROP INDEX evidence_chain")
        for n in range(2):
            conn.execute(
                "INSERT INTO evidence (user_id, kind, text, meta, at, at_us, created_at) VALUES (?,?,?,?,?,?,?)",
                (
                    "u1",
                    "sms",
                    fernet.encrypt(f"旧{n}".encode()),
                    fernet.encrypt(json.dumps({}).encode()),
                    "2026-11-01T10:00:00+08:00",
                    n,
                    "2026-11-01T02:00:00+00:00",
                ),
            )
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    with Store(db, key) as store:
        store.add_evidence("u1", "sms", "升级后")
        assert [i.seq for i in store.list_evidence("u1")] == [1, 2, 3]
        assert store.verify_evidence("u1").ok


def test_a_wrong_key_stops_before_anything_is_written(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db, key) as store:
        store.add_evidence("u1", "sms", "短信")
    before = db.read_bytes()
    with pytest.raises(StoreKeyError, match="different data key"):
        Store(db, Fernet.generate_key())
    with Store(db, key) as store:  # the right key still reads everything
        assert store.verify_evidence("u1").ok
    assert len(db.read_bytes()) == len(before)


# -- python -m bot evidence verify -----------------------------------------------------------------------


def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: bytes) -> Path:
    cfg = tmp_path / "config.yaml"
    db = tmp_path / "data" / "bot.sqlite3"
    cfg.write_text(f"store:\n  url: sqlite:///{db}\n", encoding="utf-8")
    monkeypatch.setenv("BOT_CONFIG", str(cfg))
    monkeypatch.setenv("BOT_DATA_KEY", key.decode())
    return db


def test_verify_command_passes_an_intact_store_and_names_a_changed_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: bytes
) -> None:
    db = cli_env(tmp_path, monkeypatch, key)
    with Store(db, key) as store:
        ids = [store.add_evidence("tg:secret-user", "call", f"来电{n}") for n in range(3)]
    assert main(["evidence", "verify"]) == 0
    out = capsys.readouterr().out
    assert "3 entries checked: all intact" in out and "secret-user" not in out
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE evidence SET hash = ? WHERE id = ?", ("0" * 64, ids[1]))
    assert main(["evidence", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"CHANGED at entry 2 (row id {ids[1]})" in out and "1 broken" in out


def test_verify_command_with_a_wrong_key_explains_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: bytes
) -> None:
    db = cli_env(tmp_path, monkeypatch, key)
    with Store(db, key) as store:
        store.add_evidence("u1", "sms", "短信")
    monkeypatch.setenv("BOT_DATA_KEY", Fernet.generate_key().decode())
    assert main(["evidence", "verify"]) == 2
    assert "different data key" in capsys.readouterr().err
    monkeypatch.setenv("BOT_DATA_KEY", "not-a-key")
    assert main(["evidence", "verify"]) == 2
    assert "not a valid Fernet key" in capsys.readouterr().err
    with Store(db, key) as store:
        assert store.verify_evidence("u1").ok and len(store.list_evidence("u1")) == 1
