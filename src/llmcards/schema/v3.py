"""Schema 2 -> 3: every change becomes an event that can be shared between devices.

- ``review_logs`` gains ``uuid`` (a UUIDv7 of the review time: the review's id on every
  device), ``device`` (which store made it) and ``pushed`` (whether it has reached a hub).
  SQLite cannot add a NOT NULL column without a default, so the table is rebuilt; every
  existing review is kept, gets an id made from its ``reviewed_at``, and this device.
- a new ``events`` table holds every other change (see :class:`llmcards.schema.tables.EventRow`).
  The state the store already has is written there as events too, so that another device
  can rebuild it: an ``add`` for each card of the person's own, an ``edit`` for each bank card
  edited in the store, a ``suspend`` for each suspended card, a ``bury`` for a card buried now,
  and a ``setting`` for each changed setting. Settings events are dated 1970-01-01: the
  store's reviews were made under them as far as anyone knows, and a replay grades each
  review under the settings of its time (:meth:`~llmcards.store.connection.Connection.settings_timeline`).

Plain SQL on the caller's connection, inside the caller's transaction; no SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from llmcards.config import LOCAL_SETTINGS
from llmcards.models import uuid7
from llmcards.schema import REPLAY_PENDING

SINCE_EVER = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the time of the settings events a migration writes

REVIEW_LOGS = """
CREATE TABLE review_logs_v3 (
	id INTEGER NOT NULL,
	uuid VARCHAR NOT NULL,
	card_id VARCHAR NOT NULL,
	rating INTEGER NOT NULL,
	reviewed_at DATETIME NOT NULL,
	study_day VARCHAR NOT NULL,
	duration_ms INTEGER,
	prev_state INTEGER NOT NULL,
	prev_interval_days FLOAT,
	state INTEGER NOT NULL,
	stability FLOAT,
	difficulty FLOAT,
	due DATETIME,
	cram BOOLEAN NOT NULL,
	device VARCHAR NOT NULL,
	pushed BOOLEAN DEFAULT 0 NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(card_id) REFERENCES cards (id) ON DELETE CASCADE
)"""

REVIEW_LOG_INDEXES = (
    "CREATE UNIQUE INDEX ix_review_logs_uuid ON review_logs (uuid)",
    "CREATE INDEX ix_review_logs_unpushed ON review_logs (id) WHERE pushed = 0",
    "CREATE INDEX ix_review_logs_card ON review_logs (card_id, reviewed_at)",
    "CREATE INDEX ix_review_logs_day ON review_logs (study_day, rating)",
    "CREATE INDEX ix_review_logs_time ON review_logs (reviewed_at)",
    "CREATE INDEX ix_review_logs_retention ON review_logs (study_day, rating, prev_interval_days) "
    "WHERE prev_state = 2 AND cram = 0",
)

EVENTS = """
CREATE TABLE events (
	id VARCHAR NOT NULL,
	device VARCHAR NOT NULL,
	at DATETIME NOT NULL,
	kind VARCHAR NOT NULL,
	card_id VARCHAR,
	data TEXT NOT NULL,
	pushed BOOLEAN DEFAULT 0 NOT NULL,
	PRIMARY KEY (id)
)"""

EVENT_INDEXES = (
    "CREATE INDEX ix_events_card ON events (card_id, at)",
    "CREATE INDEX ix_events_kind ON events (kind, at)",
    "CREATE INDEX ix_events_unpushed ON events (at) WHERE pushed = 0",
)

_COPIED = ("id, card_id, rating, reviewed_at, study_day, duration_ms, prev_state, prev_interval_days, state, "
           "stability, difficulty, due, cram")


def _stored_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _uuid7_of_stored(value: str) -> str:
    return uuid7(_stored_time(value))


def _text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def upgrade(conn: sqlite3.Connection, device_id: str, *, now: datetime | None = None) -> None:
    """Take a schema-2 store to schema 3, inside the caller's transaction; nothing is lost.

    ``device_id`` is this store's device (kept in ``meta``); existing reviews and the events
    that describe the store's state are recorded as made by it. The caller sets
    ``PRAGMA user_version``.
    """
    now = now or datetime.now(timezone.utc)
    conn.create_function("llmcards_uuid7", 1, _uuid7_of_stored, deterministic=False)
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('device_id', ?)", (device_id,))
    # Schedules made before schema 3 may not be what a replay of their history gives (fuzz was
    # drawn differently): the first hub sync rebuilds them all, so that devices agree.
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, 'schema 3 migration')", (REPLAY_PENDING,))

    # The review log, rebuilt with its new columns (SQLite's recipe: new table, copy, drop, rename).
    conn.execute(REVIEW_LOGS)
    conn.execute(
        f"INSERT INTO review_logs_v3({_COPIED}, uuid, device, pushed) "
        f"SELECT {_COPIED}, llmcards_uuid7(reviewed_at), ?, 0 FROM review_logs ORDER BY id",
        (device_id,),
    )
    conn.execute("DROP TABLE review_logs")
    conn.execute("ALTER TABLE review_logs_v3 RENAME TO review_logs")
    for sql in REVIEW_LOG_INDEXES:
        conn.execute(sql)

    conn.execute(EVENTS)
    for sql in EVENT_INDEXES:
        conn.execute(sql)
    events = list(_state_as_events(conn, now))
    conn.executemany(
        "INSERT INTO events(id, device, at, kind, card_id, data, pushed) VALUES (?, ?, ?, ?, ?, ?, 0)",
        [(uuid7(at), device_id, _text(at), kind, card_id, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
         for at, kind, card_id, data in events],
    )


def _state_as_events(conn: sqlite3.Connection, now: datetime) -> list[tuple[datetime, str, str | None, Any]]:
    """What the store holds beyond the bundled bank and the review log, as events."""
    out: list[tuple[datetime, str, str | None, Any]] = []
    rows = conn.execute(
        "SELECT id, question, answer, tags, sources, origin, import_path, content_hash, source_hash, created_at, "
        "updated_at, suspended, retired, buried_until FROM cards ORDER BY position").fetchall()
    for (card_id, question, answer, tags, sources, origin, import_path, content_hash, source_hash, created, updated,
         suspended, retired, buried_until) in rows:
        text = {"question": question, "answer": answer, "tags": json.loads(tags), "sources": json.loads(sources)}
        if origin == "user":
            out.append((_stored_time(created), "add", card_id,
                        {**text, "retired": bool(retired), "origin": origin, "import_path": import_path}))
        elif source_hash is not None and content_hash != source_hash:  # a bank card edited in the store
            out.append((_stored_time(updated), "edit", card_id, text))
        if suspended:
            out.append((_stored_time(updated), "suspend", card_id, {}))
        if buried_until is not None and _stored_time(buried_until) > now:
            out.append((now, "bury", card_id, {"until": buried_until}))
    for key, value in conn.execute("SELECT key, value FROM settings ORDER BY key"):
        if key not in LOCAL_SETTINGS:
            out.append((SINCE_EVER, "setting", None, {"key": key, "value": value}))
    return out
