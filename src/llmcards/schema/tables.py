"""The store's tables, as SQLAlchemy 2 typed models.

These models are the description of the tables and indexes for SQLAlchemy users (tests,
the coming PostgreSQL sync hub). Stores are built and upgraded by the plain-SQL steps of
:mod:`llmcards.schema.migrations`; a test checks that a store built by those steps has
exactly the tables, columns, types, nullability and indexes described here, so change both
together. Day-to-day queries go through :mod:`llmcards.store`, which speaks plain SQL with
the stdlib ``sqlite3`` driver, because importing SQLAlchemy's ORM costs about a quarter of a
second, which is as long as Anki takes to show its first card.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as naive text (SQLite keeps no zone) and returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class CardRow(Base):
    """A card: its text, where it came from, its flags and its FSRS state as real columns."""

    __tablename__ = "cards"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list, in order
    sources: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list
    origin: Mapped[str] = mapped_column(String, nullable=False)  # models.Origin: 'bank' or 'user'
    import_path: Mapped[str | None] = mapped_column(Text)  # the user file it was imported from
    content_hash: Mapped[str] = mapped_column(String, nullable=False)  # of the text now
    source_hash: Mapped[str | None] = mapped_column(String)  # of the text last read from its bank file
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    suspended: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    retired: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    buried_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # FSRS state. state: 0 new, 1 learning, 2 review, 3 relearning.
    state: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    step: Mapped[int | None] = mapped_column(Integer)
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_review: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reps: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lapses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (
        # "What is due now" is one range scan over this partial index.
        Index("ix_cards_active_due", "due", sqlite_where=text("state > 0 AND suspended = 0 AND retired = 0")),
        # New cards in bank order.
        Index("ix_cards_new", "position", sqlite_where=text("state = 0 AND suspended = 0 AND retired = 0")),
        Index("ix_cards_state", "state"),
        Index("ix_cards_origin", "origin", "import_path"),
        # Stats read these columns of every card: an index holding them all is scanned
        # instead of the wide rows that carry the text.
        Index("ix_cards_stats", "id", "retired", "suspended", "state", "due", "last_review", "stability",
              "lapses", "position"),
    )


class CardTagRow(Base):
    """One (card, tag) pair, so filtering by tag is an index lookup."""

    __tablename__ = "card_tags"

    tag: Mapped[str] = mapped_column(String, primary_key=True)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_card_tags_card", "card_id"),)


class ReviewLogRow(Base):
    """One grade: when, how, and the card's state before and after.

    A grade is an event shared between devices: ``uuid`` (a UUIDv7 of ``reviewed_at``) names it
    everywhere, ``device`` made it, ``pushed`` says whether it has reached the hub.
    """

    __tablename__ = "review_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String, nullable=False)
    card_id: Mapped[str] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), nullable=False)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    study_day: Mapped[str] = mapped_column(String, nullable=False)  # local study date, YYYY-MM-DD
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    prev_state: Mapped[int] = mapped_column(Integer, nullable=False)
    prev_interval_days: Mapped[float | None] = mapped_column(Float)  # due - last_review before
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cram: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    device: Mapped[str] = mapped_column(String, nullable=False)
    pushed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("0"))

    __table_args__ = (
        Index("ix_review_logs_uuid", "uuid", unique=True),
        Index("ix_review_logs_unpushed", "id", sqlite_where=text("pushed = 0")),
        Index("ix_review_logs_card", "card_id", "reviewed_at"),
        Index("ix_review_logs_day", "study_day", "rating"),
        Index("ix_review_logs_time", "reviewed_at"),
        # True retention reads only these reviews and columns.
        Index("ix_review_logs_retention", "study_day", "rating", "prev_interval_days",
              sqlite_where=text("prev_state = 2 AND cram = 0")),
    )


class EventRow(Base):
    """A change other than a grade, as an event to share with other devices: a card added, edited,
    suspended, unsuspended, buried or deleted, a setting changed, a pushed grade taken back.

    ``data`` is JSON: the card's text for ``add``, the changed fields for ``edit``, ``{"key", "value"}``
    for ``setting``, ``{"review": uuid}`` for ``unreview``. Events pulled from the hub are kept here
    too (``pushed`` true), which is what the last-writer-wins rules compare with.
    """

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String, primary_key=True)  # a UUIDv7 of ``at``
    device: Mapped[str] = mapped_column(String, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    card_id: Mapped[str | None] = mapped_column(String)  # no foreign key: a deleted card keeps its events
    data: Mapped[str] = mapped_column(Text, nullable=False)
    pushed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("0"))

    __table_args__ = (
        Index("ix_events_card", "card_id", "at"),
        Index("ix_events_kind", "kind", "at"),
        Index("ix_events_unpushed", "at", sqlite_where=text("pushed = 0")),
    )


class MetaRow(Base):
    """Store-level facts: schema version, bundled-bank hash."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class SettingRow(Base):
    """A setting changed with ``llmcards config set``, as text."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


def engine_for(path: str) -> Any:
    """An SQLAlchemy engine on an existing store (for tests and tools)."""
    return create_engine(f"sqlite:///{path}")
