"""The store's schema as numbered steps, keyed on ``PRAGMA user_version``.

A store at version ``n`` has had steps 1..n applied; a new store is made by applying every
step from 0. Each step is plain SQL (plus, for a step that must compute values, a Python
function on the same connection), so migrating a store never imports SQLAlchemy, and
:mod:`llmcards.store.connection` runs each one in its own transaction, after a backup,
with the ``user_version`` bump inside that transaction.

To change the schema: append a step here (never edit a shipped one), change the models in
:mod:`llmcards.schema.tables` to match (a test checks that a store built by these steps is
exactly what the models describe), and commit a fixture made by the release that ships
it (``tests/data/schemas/``).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from llmcards.config import LOCAL_SETTINGS
from llmcards.models import BANK_ORIGIN, uuid7, uuid7_named
from llmcards.schema import REPLAY_PENDING

SINCE_EVER = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the time of the settings events step 3 writes


@dataclass(frozen=True)
class Migration:
    """One step: the version it brings the store to, what it does, its SQL statements, then
    (``run``) what it computes in Python, in the same transaction."""

    version: int
    name: str
    statements: tuple[str, ...]
    run: Callable[[sqlite3.Connection], None] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    # What the first release's SQLAlchemy models created: the same tables, types and indexes.
    Migration(1, "cards, tags, review log, meta and settings", (
        """CREATE TABLE cards (
            id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            question TEXT NOT NULL,
            answer TEXT,
            tags TEXT NOT NULL,
            sources TEXT NOT NULL,
            origin VARCHAR NOT NULL,
            import_path TEXT,
            content_hash VARCHAR NOT NULL,
            created_at DATETIME NOT NULL,
            updated_at DATETIME NOT NULL,
            suspended BOOLEAN NOT NULL,
            retired BOOLEAN NOT NULL,
            buried_until DATETIME,
            state INTEGER NOT NULL,
            step INTEGER,
            stability FLOAT,
            difficulty FLOAT,
            due DATETIME,
            last_review DATETIME,
            reps INTEGER NOT NULL,
            lapses INTEGER NOT NULL,
            PRIMARY KEY (id)
        )""",
        "CREATE INDEX ix_cards_active_due ON cards (due) WHERE state > 0 AND suspended = 0 AND retired = 0",
        "CREATE INDEX ix_cards_new ON cards (position) WHERE state = 0 AND suspended = 0 AND retired = 0",
        "CREATE INDEX ix_cards_state ON cards (state)",
        "CREATE INDEX ix_cards_origin ON cards (origin, import_path)",
        """CREATE TABLE card_tags (
            tag VARCHAR NOT NULL,
            card_id VARCHAR NOT NULL,
            PRIMARY KEY (tag, card_id),
            FOREIGN KEY (card_id) REFERENCES cards (id) ON DELETE CASCADE
        )""",
        "CREATE INDEX ix_card_tags_card ON card_tags (card_id)",
        """CREATE TABLE review_logs (
            id INTEGER NOT NULL,
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
            PRIMARY KEY (id),
            FOREIGN KEY (card_id) REFERENCES cards (id) ON DELETE CASCADE
        )""",
        "CREATE INDEX ix_review_logs_card ON review_logs (card_id, reviewed_at)",
        "CREATE INDEX ix_review_logs_day ON review_logs (study_day, rating)",
        "CREATE INDEX ix_review_logs_time ON review_logs (reviewed_at)",
        """CREATE TABLE meta (
            "key" VARCHAR NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY ("key")
        )""",
        """CREATE TABLE settings (
            "key" VARCHAR NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY ("key")
        )""",
    )),
    Migration(2, "covering indexes for stats; cards.source_hash", (
        # The hash of a card's text as last read from its bank file, so that an edit made in
        # the store survives syncs of a file that did not change that card. NULL: not known
        # yet; the sync then compares with content_hash, as before.
        "ALTER TABLE cards ADD COLUMN source_hash VARCHAR",
        # Stats read these columns of every card: an index holding them all is scanned
        # instead of the wide rows that carry the text.
        "CREATE INDEX ix_cards_stats ON cards (id, retired, suspended, state, due, last_review, stability, lapses, "
        "position)",
        # True retention reads only these reviews and columns.
        "CREATE INDEX ix_review_logs_retention ON review_logs (study_day, rating, prev_interval_days) "
        "WHERE prev_state = 2 AND cram = 0",
    )),
    Migration(3, "review ids and devices; the events table (sync between devices)", (),
              run=lambda conn: _events_and_review_ids(conn)),  # defined below
)


_REVIEW_LOGS_V3 = """
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

_REVIEW_LOG_INDEXES = (
    "CREATE UNIQUE INDEX ix_review_logs_uuid ON review_logs (uuid)",
    "CREATE INDEX ix_review_logs_unpushed ON review_logs (id) WHERE pushed = 0",
    "CREATE INDEX ix_review_logs_card ON review_logs (card_id, reviewed_at)",
    "CREATE INDEX ix_review_logs_day ON review_logs (study_day, rating)",
    "CREATE INDEX ix_review_logs_time ON review_logs (reviewed_at)",
    "CREATE INDEX ix_review_logs_retention ON review_logs (study_day, rating, prev_interval_days) "
    "WHERE prev_state = 2 AND cram = 0",
)

_EVENTS = """
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

_EVENT_INDEXES = (
    "CREATE INDEX ix_events_card ON events (card_id, at)",
    "CREATE INDEX ix_events_kind ON events (kind, at)",
    "CREATE INDEX ix_events_unpushed ON events (at) WHERE pushed = 0",
)

_COPIED = ("id, card_id, rating, reviewed_at, study_day, duration_ms, prev_state, prev_interval_days, state, "
           "stability, difficulty, due, cram")


def _stored_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _review_uuid(card_id: str, reviewed_at: str) -> str:
    """A review's id: a UUIDv7 of its time, the rest a hash of its card and exact time, so that a
    review two devices both hold (say, from one imported file) gets the same id on both."""
    ms = (_stored_time(reviewed_at) - SINCE_EVER) // timedelta(milliseconds=1)
    return uuid7_named(ms, f"{card_id}|{reviewed_at}")


def _text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _events_and_review_ids(conn: sqlite3.Connection, *, now: datetime | None = None) -> None:
    """Step 3, inside the migration's transaction; nothing is lost.

    - ``review_logs`` gains ``uuid`` (a UUIDv7 of the review time: the review's id on every
      device), ``device`` (which store made it) and ``pushed`` (whether it has reached a hub).
      SQLite cannot add a NOT NULL column without a default, so the table is rebuilt (SQLite's
      recipe: new table, copy, drop, rename); every review is kept, with an id made from its
      card and ``reviewed_at`` (:func:`_review_uuid`), and this device.
    - a new ``events`` table holds every other change (:class:`llmcards.schema.tables.EventRow`).
      What the store already holds beyond the bundled bank is written there as events too, so
      that another device can rebuild it: an ``add`` for each card of the person's own, an
      ``edit`` for each bank card edited in the store, a ``suspend`` for each suspended card, a
      ``bury`` for a card buried now, and a ``setting`` for each changed setting. Settings events
      are dated 1970-01-01: the store's reviews were made under them as far as anyone knows, and
      a replay grades each review under the settings of its time.
    - a store with something in it gets its device id (``meta.device_id``), a UUID, unless it has
      one; a new store gets it on first use.
    """
    now = now or datetime.now(timezone.utc)
    row = conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()
    device_id = str(row[0]) if row else str(uuid.uuid4())
    conn.create_function("llmcards_review_uuid", 2, _review_uuid, deterministic=True)
    # Schedules made before schema 3 may not be what a replay of their history gives (fuzz was
    # drawn differently): the first hub sync rebuilds them all, so that devices agree.
    if conn.execute("SELECT 1 FROM review_logs LIMIT 1").fetchone() is not None:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, 'schema 3 migration')", (REPLAY_PENDING,))

    conn.execute(_REVIEW_LOGS_V3)
    conn.execute(
        f"INSERT INTO review_logs_v3({_COPIED}, uuid, device, pushed) "
        f"SELECT {_COPIED}, llmcards_review_uuid(card_id, reviewed_at), ?, 0 FROM review_logs ORDER BY id",
        (device_id,),
    )
    conn.execute("DROP TABLE review_logs")
    conn.execute("ALTER TABLE review_logs_v3 RENAME TO review_logs")
    for sql in _REVIEW_LOG_INDEXES:
        conn.execute(sql)

    conn.execute(_EVENTS)
    for sql in _EVENT_INDEXES:
        conn.execute(sql)
    events = list(_state_as_events(conn, now))
    if row is None and (events or conn.execute("SELECT 1 FROM review_logs LIMIT 1").fetchone() is not None):
        # What is here was made by this device. A new, empty store gets its id on first use
        # (Connection.device_id), so that copies of an unused store become different devices.
        conn.execute("INSERT INTO meta(key, value) VALUES ('device_id', ?)", (device_id,))
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
        if origin != BANK_ORIGIN:  # the person's own cards, and cards from their notes
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
