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
from bot.store import (
    MAX_EVIDENCE_CHARS,
    MIGRATIONS,
    SCHEMA_VERSION,
    USER_TABLES,
    BaseStore,
    PostgresStore,
    RepliesInFlight,
    Store,
    StoreError,
    StoreKeyError,
    StoreUnavailable,
    sqlite_path,
)
from tests.conftest import StoreFactory

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


def table_values(store: BaseStore) -> bytes:
    """Every value of every table, as the database holds it (bytes as stored, text as UTF-8)."""
    out = []
    with store._read() as ex:
        for table in (*USER_TABLES, "shared", "store_meta"):
            for row in ex(f"SELECT * FROM {table}").fetchall():
                for value in row:
                    out.append(bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode())
    return b"\x00".join(out)


def rows_of(store: BaseStore, user: str) -> dict[str, int]:
    """How many rows each table with a user_id column holds for user."""
    with store._read() as ex:
        return {t: int(ex(f"SELECT COUNT(*) FROM {t} WHERE user_id = ?", (user,)).fetchone()[0]) for t in USER_TABLES}


def cfg_for(tmp_path: Path, data_key: str | None = None) -> Config:
    return Config(
        store=StoreConfig(
            url=f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}", key_file=str(tmp_path / "k" / "secret.key")
        ),
        secrets=Secrets(data_key=data_key),
    )


def test_a_new_user_has_empty_state(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        assert store.get_state("tg:1") == {}
        assert store.list_evidence("tg:1") == []


def test_state_and_evidence_survive_a_restart(open_store: StoreFactory, key: bytes) -> None:
    state = {
        "flow": "repayment_plan",
        "step": "ask_income",
        "locale": "zh-Hans",
        "debts": [{"amount": "12000"}],
    }
    store = open_store(key)
    store.put_state("tg:1", state)
    item_id = store.add_evidence("tg:1", "sms", SMS, {"sender": SENDER, "risk": "high"})
    store.close()

    store = open_store(key)
    assert store.get_state("tg:1") == state
    [item] = store.list_evidence("tg:1")
    assert (item.id, item.kind, item.text, item.meta) == (
        item_id,
        "sms",
        SMS,
        {"sender": SENDER, "risk": "high"},
    )
    store.close()


def test_put_state_replaces_the_previous_state(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.put_state("u", {"step": 1})
        store.put_state("u", {"step": 2})
        assert store.get_state("u") == {"step": 2}


def test_message_text_is_not_readable_in_any_table(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.add_evidence("tg:1", "sms", SMS, {"sender": SENDER, "note": "单位领导电话"})
        store.put_state("tg:1", {"last_text": "我想死了算了"})
        store.finish("tg:1", {"n": 1}, "tg:upd:1", [{"text": f"短信原文：{SMS}"}])  # a reply not sent yet
        store.put_memory("wx:1", {"more": [f"短信原文：{SMS}"]})  # the rest of a long reply, for "more"
        store.put_file("k1", "wx:1", f"{SENDER} 单位领导".encode(), {"filename": "老赖.csv"}, 600.0, 0.0, 5, 1 << 20)
        raw = table_values(store)
    for secret in (SMS, "单位领导", SENDER, "我想死了算了", "老赖"):
        assert secret.encode("utf-8") not in raw


def test_message_text_is_not_readable_in_the_database_files(db: Path, key: bytes) -> None:
    store = Store(db, key)
    store.add_evidence("tg:1", "sms", SMS, {"sender": SENDER, "note": "单位领导电话"})
    store.put_state("tg:1", {"last_text": "我想死了算了"})
    on_disk_while_open = disk_bytes(db)
    store.close()
    for raw in (on_disk_while_open, disk_bytes(db)):
        for secret in (SMS, "单位领导", SENDER, "我想死了算了", "老赖"):
            assert secret.encode("utf-8") not in raw


def test_delete_user_erases_everything_of_that_user_only(open_store: StoreFactory, key: bytes) -> None:
    nothing = dict.fromkeys(USER_TABLES, 0)
    with open_store(key) as store:
        store.finish("tg:alice", {"step": "x"}, "tg:upd:1", [{"text": "a reply not sent yet"}])
        store.add_evidence("tg:alice", "sms", SMS)
        store.add_evidence("tg:alice", "call", "电话里骂人")
        store.put_memory("tg:alice", {"options": [["menu", "菜单"]]})
        store.put_file("alice-file", "tg:alice", b"%PDF-", {"filename": "a.pdf"}, 600.0, 0.0, 5, 1 << 20)
        store.put_state("tg:bob", {"step": "y"})
        bob_item = store.add_evidence("tg:bob", "note", "bob's note")
        store.put_file("bob-file", "tg:bob", b"%PDF-", {"filename": "b.pdf"}, 600.0, 0.0, 5, 1 << 20)
        assert rows_of(store, "tg:alice") == dict.fromkeys(USER_TABLES, 1) | {"evidence": 2}

        assert store.delete_user("tg:alice") == 7
        assert store.get_memory("tg:alice") == {} and store.get_file("alice-file", 0.0) is None
        assert store.get_file("bob-file", 0.0) == (b"%PDF-", {"filename": "b.pdf"})
        assert rows_of(store, "tg:alice") == nothing
        assert b"tg:alice" not in table_values(store)
        assert rows_of(store, "tg:bob") == nothing | {"state": 1, "evidence": 1, "files": 1}
        assert store.get_state("tg:alice") == {}
        assert store.list_evidence("tg:alice") == []
        assert store.take_unsent("tg:upd:1", take_over=True) is None
        assert store.get_state("tg:bob") == {"step": "y"}
        assert [i.id for i in store.list_evidence("tg:bob")] == [bob_item]
        assert store.delete_user("tg:alice") == 0

    with open_store(key) as store:  # still gone after a restart
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


def test_delete_evidence_removes_one_item_and_only_the_owners(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        first = store.add_evidence("u1", "sms", "one")
        second = store.add_evidence("u1", "sms", "two")
        assert store.delete_evidence("u2", first) is False  # someone else's item
        assert store.delete_evidence("u1", first) is True
        assert store.delete_evidence("u1", first) is False
        assert [i.id for i in store.list_evidence("u1")] == [second]


def test_evidence_is_listed_oldest_first_with_its_own_time_zone(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        late = store.add_evidence("u", "sms", "late", at=datetime(2026, 11, 20, 23, 30, tzinfo=CST))
        # 15:00 UTC is 23:00 in China: earlier than "late" although written with a different offset
        early = store.add_evidence("u", "call", "early", at=datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc))
        logged_now = store.add_evidence("u", "note", "no time given")
        items = store.list_evidence("u")
    assert [i.id for i in items] == [early, late, logged_now]
    assert items[1].at == datetime(2026, 11, 20, 23, 30, tzinfo=CST)
    assert items[1].at.utcoffset() == timedelta(hours=8)
    assert all(i.created_at.tzinfo is not None for i in items)


def test_a_time_without_time_zone_is_refused(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store, pytest.raises(ValueError, match="timezone-aware"):
        store.add_evidence("u", "sms", "x", at=datetime(2026, 11, 20, 22, 0))


def test_unknown_evidence_kind_is_refused(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store, pytest.raises(ValueError, match="sms"):
        store.add_evidence("u", "email", "x")


def test_very_long_evidence_is_cut_to_20000_chars_with_a_marker(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
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


def test_a_wrong_key_gives_a_clear_error_not_garbage(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.add_evidence("u", "sms", SMS)
    with pytest.raises(StoreKeyError, match="different data key"):
        open_store(Fernet.generate_key())


def test_a_malformed_bot_data_key_is_explained(tmp_path: Path) -> None:
    with pytest.raises(StoreKeyError, match="BOT_DATA_KEY.*not a valid Fernet key"):
        Store.from_config(cfg_for(tmp_path, data_key="hunter2"))


def test_an_unknown_url_scheme_names_the_ones_that_work(tmp_path: Path) -> None:
    cfg = Config(store=StoreConfig(url="mysql://bot:s3cret@db.example/bot"))
    with pytest.raises(ValueError, match="unsupported scheme 'mysql'.*postgresql://") as err:
        Store.from_config(cfg)
    assert "s3cret" not in str(err.value)


def test_an_unreachable_postgresql_is_named_without_its_password(key: bytes) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable, match=f"PostgreSQL at postgresql://bot@127.0.0.1:{port}/bot") as err:
        PostgresStore(f"postgresql://bot:s3cret@127.0.0.1:{port}/bot", key, connect_timeout_s=1)
    assert "s3cret" not in str(err.value)
    assert "BOT_STORE_URL" in str(err.value)


def test_bot_store_url_overrides_the_file() -> None:
    from bot.config import load_config

    cfg = load_config(env={"BOT_STORE_URL": "postgresql://bot@db:5432/bot"})
    assert cfg.store.url == "postgresql://bot@db:5432/bot"
    assert load_config(env={}).store.url.startswith("sqlite:///")


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


def test_a_closed_store_refuses_calls(open_store: StoreFactory, key: bytes) -> None:
    store = open_store(key)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.get_state("u")


def test_concurrent_writers_lose_nothing(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:

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


def test_a_claim_is_granted_once_across_connections_until_it_expires(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as one, open_store(key) as two:  # two workers on one database
        assert one.claim("wechat.seen:abc", 60) is True
        assert two.claim("wechat.seen:abc", 60) is False
        assert one.claim("wechat.seen:short", 0.05) is True
        time.sleep(0.1)
        assert two.claim("wechat.seen:short", 60) is True


def test_shared_values_are_encrypted_and_expire(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.put_shared("wechat.access_token:wx1", b"SECRET-ACCESS-TOKEN", 7200)
        value, left = store.get_shared("wechat.access_token:wx1") or (b"", 0.0)
        assert value == b"SECRET-ACCESS-TOKEN" and 7100 < left <= 7200
        store.put_shared("gone", b"x", 0.01)
        time.sleep(0.05)
        assert store.get_shared("gone") is None
        assert store.purge_shared() == 1
        assert b"SECRET-ACCESS-TOKEN" not in table_values(store)


def test_an_old_database_is_migrated_and_keeps_its_data(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.put_state("u", {"step": "kept"})
        with store._tx() as ex:  # make it look like a database written before the handled-updates step
            ex("DROP TABLE handled")
            ex("DROP TABLE outbox")
            ex("DELETE FROM schema_version WHERE version > 1")
    with open_store(key) as store:
        assert store.get_state("u") == {"step": "kept"}
        with store._read() as ex:
            assert ex("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert store.finish("u", {"step": "next"}, "tg:upd:1", [{"text": "kept until sent"}]) is True
        assert store.handled("tg:upd:1")
        assert store.take_unsent("tg:upd:1", take_over=True) is not None


def test_a_database_from_a_newer_bot_is_refused(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store, store._tx() as ex:
        ex("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema v{SCHEMA_VERSION + 1}, newer"):
        open_store(key)


def test_migration_steps_are_numbered_in_order_for_both_engines() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.sqlite.strip() and m.postgres.strip() for m in MIGRATIONS)


def test_an_update_is_marked_handled_once_with_the_state(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        with store.turn("u", "tg:7") as db:
            assert db.duplicate is False
            assert db.finish("u", {"n": 1}, "tg:7") is True
        with store.turn("u", "tg:7") as db:  # re-delivered
            assert db.duplicate is True
        assert store.finish("u", {"n": 2}, "tg:7") is False  # a second answer is refused...
        assert store.get_state("u") == {"n": 1}  # ...and its state not written
        with store.turn("u", None) as db:  # no update id (the terminal): never a duplicate
            assert db.duplicate is False


def test_a_deleting_turn_leaves_no_row_with_the_user_id(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.finish("tg:carol", {"a": 1}, "tg:1", [{"text": "an earlier reply never sent"}])
        with store.turn("tg:carol", "tg:2") as db:
            db.delete_user("tg:carol")
            db.finish("tg:carol", None, "tg:2", [{"text": "everything is deleted"}])
        assert rows_of(store, "tg:carol") == dict.fromkeys(USER_TABLES, 0)
        assert b"tg:carol" not in table_values(store)
        assert store.handled("tg:2")
        assert store.take_unsent("tg:1", take_over=True) is None  # the earlier reply went with the user's data
        unsent = store.take_unsent("tg:2", take_over=True)  # the confirmation itself still goes out
        assert unsent is not None and unsent.replies == [{"text": "everything is deleted"}]


def test_replies_committed_with_the_turn_wait_for_a_re_delivery_until_marked_sent(
    open_store: StoreFactory, key: bytes
) -> None:
    replies = [{"text": "风险：高", "options": [["sms:save", "保存"]]}, {"text": "第二条"}]
    with open_store(key) as store:
        with store.turn("u", "tg:7") as db:
            assert db.finish("u", {"n": 1}, "tg:7", replies) is True
        # the worker dies here: committed, nothing sent. The update comes again:
        with store.turn("u", "tg:7") as db:
            assert db.duplicate is True
            with pytest.raises(RepliesInFlight):  # the first worker's lease lasts: it may be sending them now
                db.take_unsent("tg:7")
        with store.turn("u", "tg:7") as db:
            unsent = db.take_unsent("tg:7", take_over=True)
        assert unsent is not None and (unsent.replies, unsent.sent) == (replies, 0)
        store.mark_sent("tg:7", 1, 2)  # the first one went out, then this worker died too
        unsent = store.take_unsent("tg:7", take_over=True)
        assert unsent is not None and (unsent.replies, unsent.sent) == (replies, 1)
        store.mark_sent("tg:7", 2, 2)
        assert store.take_unsent("tg:7") is None  # all out: nothing is kept
        assert rows_of(store, "u")["outbox"] == 0
        assert store.get_state("u") == {"n": 1}


def test_unsent_replies_are_free_once_released_or_their_lease_is_over(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.finish("u", {"n": 1}, "tg:1", [{"text": "one"}])
        store.release_unsent("tg:1")  # sending failed: the next delivery sends them at once
        unsent = store.take_unsent("tg:1")
        assert unsent is not None and unsent.replies == [{"text": "one"}]
        store.send_lease_s = 0.0  # a worker that died longer ago than its lease
        store.finish("u", {"n": 2}, "tg:2", [{"text": "two"}])
        time.sleep(0.01)
        unsent = store.take_unsent("tg:2")
        assert unsent is not None and unsent.replies == [{"text": "two"}]
        store.finish("u", {"n": 3}, "tg:3", [])  # a turn with nothing to say keeps nothing
        store.finish("u", {"n": 4}, None, [{"text": "no update id: nothing to deliver it again"}])
        assert rows_of(store, "u")["outbox"] == 2


def test_updates_whose_replies_are_all_out_are_forgotten_together(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        for n in range(1, 5):
            store.finish("u", {"n": n}, f"tg:{n}", [{"text": f"reply {n}"}])
        assert store.forget_sent(["tg:1", "tg:3", "tg:9"]) == 2
        assert [store.take_unsent(f"tg:{n}", take_over=True) is None for n in range(1, 5)] == [True, False, True, False]
        assert store.forget_sent([f"tg:{n}" for n in range(2, 1200)]) == 2  # more keys than one statement takes
        assert rows_of(store, "u")["outbox"] == 0


def test_replies_never_sent_are_dropped_after_a_day(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        store.finish("u", {"n": 1}, "tg:1", [{"text": "one"}])
        assert store.purge_handled(outbox_older_than_s=86_400) == 0
        time.sleep(0.01)
        assert store.purge_handled(outbox_older_than_s=0.001) == 1
        assert store.take_unsent("tg:1", take_over=True) is None
        assert store.handled("tg:1")  # the update id is remembered longer


def test_postgres_turns_of_one_user_wait_for_each_other_across_workers(pg_url: str, key: bytes) -> None:
    with PostgresStore(pg_url, key, pool_size=2) as one, PostgresStore(pg_url, key, pool_size=2) as two:
        order: list[str] = []
        first_in = threading.Event()

        def second() -> None:
            first_in.wait()
            with two.turn("tg:42") as db:
                order.append("second reads " + str(db.get_state("tg:42").get("n")))
                db.finish("tg:42", {"n": 2}, None)

        worker = threading.Thread(target=second)
        worker.start()
        with one.turn("tg:42") as db:
            first_in.set()
            time.sleep(0.3)  # the other worker tries meanwhile and must wait
            order.append("first writes")
            db.finish("tg:42", {"n": 1}, None)
        worker.join(10)
        with one.turn("tg:other") as db:  # another user is never held up
            db.get_state("tg:other")
        assert order == ["first writes", "second reads 1"]
        assert one.get_state("tg:42") == {"n": 2}


def test_postgres_finish_is_a_turns_last_word(pg_url: str, key: bytes) -> None:
    with PostgresStore(pg_url, key, pool_size=2) as store, PostgresStore(pg_url, key, pool_size=2) as other:
        with store.turn("u", "tg:1") as db:
            db.add_evidence("u", "note", "kept with the state")
            assert db.finish("u", {"n": 1}, "tg:1") is True
            assert other.get_state("u") == {"n": 1}  # committed when finish returns, not when the turn block ends
            with pytest.raises(StoreError):  # the turn's connection went back to the pool with it
                db.add_evidence("u", "note", "too late")
        assert [e.text for e in store.list_evidence("u")] == ["kept with the state"]
        with store.turn("u", "tg:2") as db:
            db.add_evidence("u", "note", "written before another worker marked the update")
            other.finish("u", {"n": 9}, "tg:2")  # (outside the user's lock: only possible by hand)
            assert db.finish("u", {"n": 2}, "tg:2") is False
        assert store.get_state("u") == {"n": 9}  # the other answer stands; this turn left nothing
        assert [e.text for e in store.list_evidence("u")] == ["kept with the state"]


def test_postgres_turn_that_fails_leaves_nothing_behind(pg_url: str, key: bytes) -> None:
    with PostgresStore(pg_url, key, pool_size=2) as store:
        with pytest.raises(RuntimeError), store.turn("u", "tg:9") as db:
            db.add_evidence("u", "note", "half-saved")
            raise RuntimeError("worker died here")
        assert store.list_evidence("u") == []
        assert not store.handled("tg:9")


def _cut_connections(pg_url: str) -> None:
    """Close every other connection to the database, as a server restart does."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        ]
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        # pg_terminate_backend only signals; a restart is over when it returns, so wait until they are gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()
            if not left or left[0] == 0:
                break
            time.sleep(0.02)


def test_postgres_connection_cut_mid_turn_is_store_unavailable_and_nothing_is_kept(pg_url: str, key: bytes) -> None:
    with PostgresStore(pg_url, key, pool_size=2) as store:
        seen: list[type[BaseException]] = []
        with pytest.raises(StoreUnavailable), store.turn("u", "tg:7") as db:
            db.add_evidence("u", "sms", "saved before the cut")
            _cut_connections(pg_url)
            try:
                db.list_evidence("u")
            except Exception as exc:
                seen.append(type(exc))
                raise
        # what the dialogue sees inside the turn: the channel then answers 503, not "something went wrong"
        assert seen == [StoreUnavailable]
        assert store.list_evidence("u") == [] and not store.handled("tg:7")  # the pool reconnected by itself
        _cut_connections(pg_url)  # pooled connections dead before a turn begins are replaced when lent
        with store.turn("u", "tg:7") as db:  # so the update delivered again is handled in full
            db.add_evidence("u", "sms", "saved")
            db.finish("u", {"n": 1}, "tg:7")
        assert [e.text for e in store.list_evidence("u")] == ["saved"]


@pytest.mark.parametrize("ci", ["", "true"])
def test_without_postgresql_one_line_says_skipped_but_ci_fails(ci: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PG_BIN": "/nonexistent", "CI": ci}
    env.pop("BOT_TEST_PG_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_store.py",
            "-k",
            "not without_postgresql",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if "PostgreSQL not available" in line]
    if ci:
        assert done.returncode != 0 and "CI must run the PostgreSQL tests" in done.stdout
    else:
        assert done.returncode == 0, done.stdout[-2000:]
        assert len(lines) == 1 and lines[0].startswith("skipped: PostgreSQL not available"), done.stdout[-2000:]
        assert "passed" in done.stdout.splitlines()[-1]  # the SQLite tests still ran


def test_a_channels_memory_of_a_user_is_kept_replaced_and_read_by_any_worker(
    open_store: StoreFactory, key: bytes
) -> None:
    with open_store(key) as store:
        assert store.get_memory("wx:a") == {}
        store.put_memory("wx:a", {"options": [["menu", "菜单"]], "more": ["第二段"]})
        store.put_memory("wx:a", {"options": [["flow:check", "查短信"]]})
    with open_store(key) as other:  # another worker, or the same one restarted
        assert other.get_memory("wx:a") == {"options": [["flow:check", "查短信"]]}
        assert other.get_memory("wx:b") == {}


def test_files_expire_are_shortened_and_the_oldest_are_retired_first(open_store: StoreFactory, key: bytes) -> None:
    with open_store(key) as store:
        for n in range(4):
            store.put_file(f"k{n}", "wx:a", bytes([n]) * 10, {"n": n}, 100.0 + n, 0.0, 3, 1_000)
        assert store.get_file("k0", 0.0) is None  # the user's fourth file retired the first
        assert [store.get_file(f"k{n}", 0.0) for n in (1, 2, 3)] == [(bytes([n]) * 10, {"n": n}) for n in (1, 2, 3)]
        assert store.count_files("wx:a", 0.0) == 3 and store.files_size() == 30
        assert store.get_file("k1", 101.0) is None and store.count_files("wx:a", 101.0) == 2  # expired by then
        store.shorten_file("k3", 50.0)
        store.shorten_file("k3", 90.0)  # never lengthened
        assert store.get_file("k3", 60.0) is None and store.get_file("k2", 60.0) is not None
        store.put_file("big", "wx:b", b"x" * 990, {}, 200.0, 0.0, 3, 1_000)  # over the total: the oldest go first
        assert store.files_size() <= 1_000 and store.get_file("big", 0.0) is not None
        assert store.get_file("k1", 0.0) is None
        assert store.purge_files(150.0) >= 1 and store.count_files("wx:a", 0.0) == 0
        assert store.drop_files("wx:b") == 1 and store.files_size() == 0
