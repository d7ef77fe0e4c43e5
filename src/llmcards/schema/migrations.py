"""The store's schema as numbered steps, keyed on ``PRAGMA user_version``.

A store at version ``n`` has had steps 1..n applied; a new store is made by applying every
step from 0. Each step is plain SQL, so migrating a store never imports SQLAlchemy, and
:mod:`llmcards.store.connection` runs each one in its own transaction, after a backup,
with the ``user_version`` bump inside that transaction.

To change the schema: append a step here (never edit a shipped one), change the models in
:mod:`llmcards.schema.tables` to match (a test checks that a store built by these steps is
exactly what the models describe), and commit a fixture made by the release that ships
it (``tests/data/schemas/``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step: the version it brings the store to, what it does, its SQL statements."""

    version: int
    name: str
    statements: tuple[str, ...]


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
)
