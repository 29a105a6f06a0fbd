"""The store: state and evidence survive restarts, are unreadable on disk, and /delete really erases."""

from __future__ import annotations

import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Config, Secrets, StoreConfig
from bot.store import MAX_EVIDENCE_CHARS, Store, StoreError, StoreKeyError, sqlite_path

SMS = "【某某金融】你再不还钱，明天我们就去你单位找你领导，通讯录里的人都会知道你是老赖"
SENDER = "10690000123456"
CST = timezone(timedelta(hours=8))


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


def disk_bytes(db: Path) -> bytes:
    """Everything SQLite keeps on disk for this database: the file, its WAL and shared-memory index."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def cfg_for(tmp_path: Path, data_key: str | None = None) -> Config:
    return Config(
        store=StoreConfig(
            url=f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}", key_file=str(tmp_path / "k" / "secret.key")
        ),
        secrets=Secrets(data_key=data_key),
    )


def test_a_new_user_has_empty_state(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        assert store.get_state("tg:1") == {}
        assert store.list_evidence("tg:1") == []


def test_state_and_evidence_survive_a_restart(db: Path, key: bytes) -> None:
    state = {
        "flow": "repayment_plan",
        "step": "ask_income",
        "locale": "zh-Hans",
        "debts": [{"amount": "12000"}],
    }
    store = Store(db, key)
    store.put_state("tg:1", state)
    item_id = store.add_evidence("tg:1", "sms", SMS, {"sender": SENDER, "risk": "high"})
    store.close()

    store = Store(db, key)
    assert store.get_state("tg:1") == state
    [item] = store.list_evidence("tg:1")
    assert (item.id, item.kind, item.text, item.meta) == (
        item_id,
        "sms",
        SMS,
        {"sender": SENDER, "risk": "high"},
    )
    store.close()


def test_put_state_replaces_the_previous_state(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        store.put_state("u", {"step": 1})
        store.put_state("u", {"step": 2})
        assert store.get_state("u") == {"step": 2}


def test_message_text_is_not_readable_in_the_database_files(db: Path, key: bytes) -> None:
    store = Store(db, key)
    store.add_evidence("tg:1", "sms", SMS, {"sender": SENDER, "note": "单位领导电话"})
    store.put_state("tg:1", {"last_text": "我想死了算了"})
    on_disk_while_open = disk_bytes(db)
    store.close()
    for raw in (on_disk_while_open, disk_bytes(db)):
        for secret in (SMS, "单位领导", SENDER, "我想死了算了", "老赖"):
            assert secret.encode("utf-8") not in raw


def test_delete_user_erases_everything_of_that_user_only(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        store.put_state("tg:alice", {"step": "x"})
        store.add_evidence("tg:alice", "sms", SMS)
        store.add_evidence("tg:alice", "call", "电话里骂人")
        store.put_state("tg:bob", {"step": "y"})
        bob_item = store.add_evidence("tg:bob", "note", "bob's note")

        assert store.delete_user("tg:alice") == 3
        assert store.get_state("tg:alice") == {}
        assert store.list_evidence("tg:alice") == []
        assert store.get_state("tg:bob") == {"step": "y"}
        assert [i.id for i in store.list_evidence("tg:bob")] == [bob_item]
        assert store.delete_user("tg:alice") == 0

    with Store(db, key) as store:  # still gone after a restart
        assert store.get_state("tg:alice") == {}
        assert store.list_evidence("tg:alice") == []


def test_deleted_user_leaves_no_trace_of_their_id_on_disk(db: Path, key: bytes) -> None:
    user = "tg:5550001234-unique-marker"
    with Store(db, key) as store:
        store.put_state(user, {"a": 1})
        store.add_evidence(user, "sms", SMS)
        store.put_state("tg:other", {"b": 2})
    assert user.encode() in disk_bytes(db)  # the id is plain (it is not message text)...
    with Store(db, key) as store:
        store.delete_user(user)
    assert user.encode() not in disk_bytes(db)  # ...but secure_delete wipes it with the rows


def test_delete_evidence_removes_one_item_and_only_the_owners(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        first = store.add_evidence("u1", "sms", "one")
        second = store.add_evidence("u1", "sms", "two")
        assert store.delete_evidence("u2", first) is False  # someone else's item
        assert store.delete_evidence("u1", first) is True
        assert store.delete_evidence("u1", first) is False
        assert [i.id for i in store.list_evidence("u1")] == [second]


def test_evidence_is_listed_oldest_first_with_its_own_time_zone(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        late = store.add_evidence("u", "sms", "late", at=datetime(2026, 11, 20, 23, 30, tzinfo=CST))
        # 15:00 UTC is 23:00 in China: earlier than "late" although written with a different offset
        early = store.add_evidence(
            "u", "call", "early", at=datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
        )
        logged_now = store.add_evidence("u", "note", "no time given")
        items = store.list_evidence("u")
    assert [i.id for i in items] == [early, late, logged_now]
    assert items[1].at == datetime(2026, 11, 20, 23, 30, tzinfo=CST)
    assert items[1].at.utcoffset() == timedelta(hours=8)
    assert all(i.created_at.tzinfo is not None for i in items)


def test_a_time_without_time_zone_is_refused(db: Path, key: bytes) -> None:
    with Store(db, key) as store, pytest.raises(ValueError, match="timezone-aware"):
        store.add_evidence("u", "sms", "x", at=datetime(2026, 11, 20, 22, 0))


def test_unknown_evidence_kind_is_refused(db: Path, key: bytes) -> None:
    with Store(db, key) as store, pytest.raises(ValueError, match="sms"):
        store.add_evidence("u", "email", "x")


def test_very_long_evidence_is_cut_to_20000_chars_with_a_marker(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        store.add_evidence("u", "note", "骚" * 50_000)
        store.add_evidence("u", "note", "刚好" * (MAX_EVIDENCE_CHARS // 2))
        cut, exact = store.list_evidence("u")
    assert len(cut.text) == MAX_EVIDENCE_CHARS == 20_000
    assert cut.text.endswith("truncated]")
    assert exact.text == "刚好" * 10_000


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    with Store.from_config(cfg) as store:
        store.put_state("u", {"k": "v"})
    key_file = tmp_path / "k" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file.read_bytes()
    with Store.from_config(cfg) as store:  # second start: same key, data readable
        assert store.get_state("u") == {"k": "v"}
    assert key_file.read_bytes() == first_key


def test_bot_data_key_from_the_environment_wins_over_the_key_file(tmp_path: Path, key: bytes) -> None:
    with Store.from_config(cfg_for(tmp_path, data_key=key.decode())) as store:
        store.put_state("u", {"k": 1})
    assert not (tmp_path / "k" / "secret.key").exists()
    with Store(tmp_path / "data" / "bot.sqlite3", key) as store:
        assert store.get_state("u") == {"k": 1}


def test_a_wrong_key_gives_a_clear_error_not_garbage(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        store.add_evidence("u", "sms", SMS)
    with pytest.raises(StoreKeyError, match="different data key"):
        Store(db, Fernet.generate_key())


def test_a_malformed_bot_data_key_is_explained(tmp_path: Path) -> None:
    with pytest.raises(StoreKeyError, match="BOT_DATA_KEY.*not a valid Fernet key"):
        Store.from_config(cfg_for(tmp_path, data_key="hunter2"))


def test_only_sqlite_urls_are_accepted_and_passwords_are_not_echoed(tmp_path: Path) -> None:
    cfg = Config(store=StoreConfig(url="postgresql://bot:s3cret@db.example/bot"))
    with pytest.raises(ValueError, match="only SQLite is supported") as err:
        Store.from_config(cfg)
    assert "s3cret" not in str(err.value)


def test_sqlite_urls_resolve_relative_absolute_and_memory(cfg: Config) -> None:
    assert sqlite_path("sqlite:///data/bot.sqlite3", cfg) == str(cfg.path("data/bot.sqlite3"))
    assert sqlite_path("sqlite:////var/lib/bot/bot.sqlite3", cfg) == "/var/lib/bot/bot.sqlite3"
    assert sqlite_path("sqlite:///:memory:", cfg) == ":memory:"
    with pytest.raises(ValueError):
        sqlite_path("sqlite://", cfg)


def test_in_memory_store_works(key: bytes) -> None:
    with Store(":memory:", key) as store:
        store.put_state("u", {"a": [1, 2]})
        assert store.get_state("u") == {"a": [1, 2]}


def test_a_closed_store_refuses_calls(db: Path, key: bytes) -> None:
    store = Store(db, key)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.get_state("u")


def test_concurrent_writers_lose_nothing(db: Path, key: bytes) -> None:
    with Store(db, key) as store:

        def log_many(user: str) -> None:
            for n in range(25):
                store.add_evidence(user, "note", f"{user} {n}")
                store.put_state(user, {"n": n})

        threads = [threading.Thread(target=log_many, args=(f"u{t}",)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for t in range(4):
            assert len(store.list_evidence(f"u{t}")) == 25
            assert store.get_state(f"u{t}") == {"n": 24}


def test_database_and_directory_are_private(db: Path, key: bytes) -> None:
    with Store(db, key):
        pass
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_a_claim_is_granted_once_across_connections_until_it_expires(db: Path, key: bytes) -> None:
    with Store(db, key) as one, Store(db, key) as two:  # two workers on one database
        assert one.claim("wechat.seen:abc", 60) is True
        assert two.claim("wechat.seen:abc", 60) is False
        assert one.claim("wechat.seen:short", 0.05) is True
        time.sleep(0.1)
        assert two.claim("wechat.seen:short", 60) is True


def test_shared_values_are_encrypted_and_expire(db: Path, key: bytes) -> None:
    with Store(db, key) as store:
        store.put_shared("wechat.access_token:wx1", b"SECRET-ACCESS-TOKEN", 7200)
        value, left = store.get_shared("wechat.access_token:wx1") or (b"", 0.0)
        assert value == b"SECRET-ACCESS-TOKEN" and 7100 < left <= 7200
        store.put_shared("gone", b"x", 0.01)
        time.sleep(0.05)
        assert store.get_shared("gone") is None
        assert store.purge_shared() == 1
    assert b"SECRET-ACCESS-TOKEN" not in disk_bytes(db)
