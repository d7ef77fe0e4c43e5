"""The store itself: UTC round trips, schema, location rules, concurrency settings."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmcards.config import DB_ENV, resolve_db_path
from llmcards.errors import UserError
from llmcards.models import CardState, Grade, State
from llmcards.schema import SCHEMA_VERSION
from llmcards.store import Store, from_db, to_db
from tests.helpers import NOW, V2_STORE


def test_datetimes_round_trip_as_aware_utc(store: Store) -> None:
    cet = timezone(timedelta(hours=1))
    reviewed = datetime(2026, 3, 2, 13, 30, 15, 123456, tzinfo=cet)  # 12:30:15 UTC
    due = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
    before = store.cards.require("bn-vs-ln").schedule
    after = CardState(state=State.REVIEW, step=None, stability=3.2, difficulty=5.1, due=due,
                      last_review=reviewed, reps=1)
    store.queue.record_review("bn-vs-ln", before, after, rating=Grade.GOOD, reviewed_at=reviewed,
                        study_day=reviewed.date(), duration_ms=1200)
    card = store.cards.require("bn-vs-ln")
    assert card.schedule.due == due and card.schedule.due.tzinfo is timezone.utc
    assert card.schedule.last_review == reviewed
    assert card.schedule.last_review.tzinfo is timezone.utc
    (log,) = store.cards.history("bn-vs-ln")
    assert log.reviewed_at == reviewed and log.reviewed_at.tzinfo is timezone.utc
    assert log.reviewed_at.hour == 12


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        to_db(datetime(2026, 1, 1))
    assert from_db(None) is None


def test_sqlalchemy_models_read_what_the_store_wrote(store: Store, db_path: Path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from llmcards.schema.tables import CardRow, engine_for

    engine = engine_for(str(db_path))
    with Session(engine) as session:
        row = session.scalars(select(CardRow).where(CardRow.id == "lora-principle")).one()
        assert row.question == "LoRA 的原理是什么?"
        assert row.created_at == NOW and row.created_at.tzinfo is timezone.utc
        assert row.state == 0 and row.due is None
    engine.dispose()


def test_store_uses_wal_busy_timeout_and_indexes(store: Store, db_path: Path) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    plan = " ".join(r[3] for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 AND due <= ?",
        (to_db(NOW),)))
    assert "ix_cards_active_due" in plan
    versions = store.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert versions == (str(SCHEMA_VERSION),)


def test_db_location_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = resolve_db_path(None)
    assert default.name == "llmcards.db" and "llmcards" in default.parts
    monkeypatch.setenv(DB_ENV, str(tmp_path / "env.db"))
    assert resolve_db_path(None) == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "opt.db") == tmp_path / "opt.db"  # --db wins over the env
    with pytest.raises(UserError, match="is a directory"):
        resolve_db_path(tmp_path)


def test_open_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.db"
    with Store.open(path) as store:
        assert store.cards.count() == 0
    assert path.exists()


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (a)")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="not an llmcards store"):
        Store.open(path)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not sqlite at all" * 20)
    with pytest.raises(UserError, match="not an llmcards store"):
        Store.open(text)


def test_failed_write_rolls_back(store: Store) -> None:
    before = store.cards.require("bn-vs-ln")
    with pytest.raises(RuntimeError):
        with store.write() as c:
            c.execute("UPDATE cards SET question = 'half' WHERE id = 'bn-vs-ln'")
            raise RuntimeError("boom")
    assert store.cards.require("bn-vs-ln") == before


def test_a_trial_is_always_rolled_back_and_takes_no_backup(store: Store) -> None:
    before = store.cards.require("bn-vs-ln")
    hooked: list[bool] = []
    store.before_first_write = lambda: hooked.append(True)
    with store.trial() as c:
        with store.write():  # a use case's own write block joins the trial
            c.execute("UPDATE cards SET question = 'tried' WHERE id = 'bn-vs-ln'")
        assert store.cards.require("bn-vs-ln").question == "tried"  # seen inside
    assert store.cards.require("bn-vs-ln") == before and not hooked
    with pytest.raises(RuntimeError), store.write(), store.trial():
        pass


def test_older_store_is_migrated_on_open(tmp_path: Path) -> None:
    db_path = tmp_path / "v1.db"
    shutil.copyfile(V2_STORE, db_path)  # made a schema-1 store by taking away what schema 2 added
    conn = sqlite3.connect(db_path)
    conn.execute("DROP INDEX ix_review_logs_retention")
    conn.execute("DROP INDEX ix_cards_stats")
    conn.execute("ALTER TABLE cards DROP COLUMN source_hash")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store.open(db_path) as reopened:
        names = {r[0] for r in reopened.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_review_logs_retention", "ix_cards_stats", "ix_review_logs_uuid"} <= names
        columns = {r[1] for r in reopened.conn.execute("PRAGMA table_info(cards)")}
        assert "source_hash" in columns
        assert reopened.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert reopened.cards.count() == 8
        assert reopened.conn.execute("SELECT count(*) FROM review_logs WHERE uuid IS NOT NULL").fetchone()[0] == 8
