"""Schema 3: a schema-2 store (made by commit b3fd81f) is migrated without losing anything."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmcards.errors import UserError
from llmcards.models import uuid7, uuid7_time
from llmcards.store import Store, from_db
from tests.helpers import NOW, V2_STORE, snapshot

CARD_COLUMNS = ("id, position, question, answer, tags, sources, origin, import_path, content_hash, source_hash, "
                "created_at, updated_at, suspended, retired, buried_until, state, step, stability, difficulty, due, "
                "last_review, reps, lapses")
LOG_COLUMNS = ("id, card_id, rating, reviewed_at, study_day, duration_ms, prev_state, prev_interval_days, state, "
               "stability, difficulty, due, cram")


def _dump(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        return {
            "cards": conn.execute(f"SELECT {CARD_COLUMNS} FROM cards ORDER BY id").fetchall(),
            "tags": conn.execute("SELECT tag, card_id FROM card_tags ORDER BY tag, card_id").fetchall(),
            "logs": conn.execute(f"SELECT {LOG_COLUMNS} FROM review_logs ORDER BY id").fetchall(),
            "settings": conn.execute("SELECT key, value FROM settings ORDER BY key").fetchall(),
            "meta": conn.execute("SELECT key, value FROM meta WHERE key != 'schema_version' ORDER BY key").fetchall(),
        }
    finally:
        conn.close()


@pytest.fixture
def v2_copy(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(V2_STORE, path)
    return path


def test_a_schema_2_store_keeps_everything(v2_copy: Path) -> None:
    original = V2_STORE.read_bytes()
    before = _dump(v2_copy)
    assert len(before["logs"]) == 8 and len(before["cards"]) == 8  # the fixture is what we think it is

    with Store.open(v2_copy) as store:
        device = store.device_id
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert store.get_meta("schema_version") == "3"
        logs = store.conn.execute("SELECT uuid, device, pushed, reviewed_at FROM review_logs ORDER BY id").fetchall()

    after = _dump(v2_copy)
    assert after["cards"] == before["cards"]
    assert after["tags"] == before["tags"]
    assert after["logs"] == before["logs"]  # ids, times, grades and scheduling columns, cram included
    assert after["settings"] == before["settings"]
    assert after["meta"] == sorted([*before["meta"], ("device_id", device), ("replay_pending", "schema 3 migration")])
    assert V2_STORE.read_bytes() == original
    for review_id, made_by, pushed, reviewed_at in logs:
        assert uuid.UUID(review_id).version == 7 and uuid.UUID(review_id).variant == uuid.RFC_4122
        at = from_db(reviewed_at)
        assert at is not None and uuid7_time(review_id) == at.replace(microsecond=at.microsecond // 1000 * 1000)
        assert made_by == device and pushed == 0
    assert len({row[0] for row in logs}) == len(logs)


def test_the_store_s_state_becomes_events_for_other_devices(v2_copy: Path) -> None:
    with Store.open(v2_copy) as store:
        device = store.device_id
        rows = store.conn.execute("SELECT kind, card_id, data, device, pushed FROM events ORDER BY kind, card_id, data")
        events = [(kind, card_id, json.loads(data)) for kind, card_id, data, made_by, pushed in rows
                  if made_by == device and not pushed]
    adds = {card_id: data for kind, card_id, data in events if kind == "add"}
    assert set(adds) == {"my-own-card", "mine-one", "mine-two"}
    assert adds["my-own-card"] == {"question": "What is RLHF?", "answer": "Reward model + PPO", "tags": ["alignment"],
                                   "sources": [], "retired": False, "origin": "user", "import_path": None}
    assert adds["mine-one"]["import_path"] == "/home/someone/cards.yaml" and adds["mine-one"]["sources"] == ["book p.1"]
    assert adds["mine-two"]["retired"] is True
    assert ("edit", "mask-literal") in {(k, c) for k, c, _ in events}
    edit = next(d for k, c, d in events if k == "edit")
    assert edit["answer"] == "Edited in the store."
    assert ("suspend", "kv-cache", {}) in events
    settings = {d["key"]: d["value"] for k, _, d in events if k == "setting"}
    assert settings == {"new_per_day": "7", "learning_steps": "2m 15m"}
    assert not [e for e in events if e[0] == "bury"]  # the fixture's card was buried until a day long past


def _shape(path: Path) -> dict[str, Any]:
    """The schema, ignoring column order and SQL spelling (an older store's ``source_hash`` was
    added with ALTER TABLE, so it comes last there)."""
    from tests.test_migrations import describe

    conn = sqlite3.connect(path)
    try:
        return describe(conn)
    finally:
        conn.close()


def test_a_migrated_store_has_the_shape_of_a_new_one(v2_copy: Path, tmp_path: Path) -> None:
    Store.open(v2_copy).close()
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    assert _shape(v2_copy) == _shape(fresh)


def test_a_failed_migration_leaves_the_store_as_it_was(v2_copy: Path) -> None:
    conn = sqlite3.connect(v2_copy)  # a review whose card is gone (possible only with foreign keys off)
    conn.execute("INSERT INTO review_logs(card_id, rating, reviewed_at, study_day, prev_state, state, cram) "
                 "VALUES ('no-such-card', 3, '2026-01-01 00:00:00.000000', '2026-01-01', 0, 1, 0)")
    conn.commit()
    conn.close()
    before = snapshot(v2_copy)
    with pytest.raises(UserError, match="migrating .* to schema 3 .* failed: FOREIGN KEY constraint failed; "
                                        "the store is left at schema 2"):
        Store.open(v2_copy)
    assert snapshot(v2_copy) == before


def test_two_processes_opening_an_old_store_migrate_it_once(v2_copy: Path) -> None:
    devices: list[str] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            with Store.open(v2_copy) as store:
                devices.append(store.device_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(devices)) == 1
    conn = sqlite3.connect(v2_copy)
    assert conn.execute("SELECT count(*) FROM review_logs").fetchone()[0] == 8
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'add'").fetchone()[0] == 3
    conn.close()


def test_uuid7_sorts_by_time_and_keeps_the_millisecond() -> None:
    times = [NOW + timedelta(milliseconds=k * 7) for k in range(50)]
    ids = [uuid7(t) for t in times]
    assert ids == sorted(ids)
    same = [uuid7(NOW) for _ in range(100)]  # made one after another for one instant: they count up
    assert same == sorted(same) and len(set(same)) == 100
    assert [uuid7_time(i) for i in ids] == times
    assert uuid7(NOW) != uuid7(NOW)
    parsed = uuid.UUID(uuid7(NOW))
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    with pytest.raises(ValueError, match="naive"):
        uuid7(NOW.replace(tzinfo=None))
    assert uuid7_time(uuid7(NOW.astimezone(timezone(timedelta(hours=9))))) == NOW
