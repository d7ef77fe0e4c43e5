"""Plain typed data shared by every layer. No I/O here, and no heavy imports."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any, NamedTuple

BANK_ORIGIN = "bank"  # a card from the bundled bank (or $LLMCARDS_BANK)
USER_ORIGIN = "user"  # a card from a person's own file, or made with ``llmcards add``
MATURE_DAYS = 21  # a review card is mature from an interval of 21 days (as in Anki)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


_last_uuid7 = [-1, 0]  # the millisecond and the 12-bit counter of the last id made here
_uuid7_lock = threading.Lock()


def uuid7(at: datetime) -> str:
    """A UUID version 7 (RFC 9562) for something that happened at ``at``: 48 bits of Unix time in
    milliseconds, a 12-bit counter, then 62 random bits, so that ids sort by time and never collide
    across devices. Ids made one after another for the same millisecond count up (RFC 9562's
    method 1), so that two grades given at the same instant keep their order.

    Python's ``uuid`` module has no version 7 before 3.14.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime; pass timezone-aware times")
    ms = (at - _EPOCH) // _MS
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"{at} is outside the range of UUIDv7 timestamps")
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: the counter's start and the 62 random ones
    with _uuid7_lock:
        if _last_uuid7[0] == ms and _last_uuid7[1] < 0xFFF:
            counter = _last_uuid7[1] + 1
        else:
            counter = (rand >> 62) & 0x7FF  # a random start in the lower half leaves room to count
        _last_uuid7[0], _last_uuid7[1] = ms, counter
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time(value: str) -> datetime:
    """The millisecond a :func:`uuid7` id was made for."""
    return _EPOCH + int(value.replace("-", "")[:12], 16) * _MS


class State(IntEnum):
    """A card's learning state. The non-zero values match ``fsrs.State``."""

    NEW = 0
    LEARNING = 1
    REVIEW = 2
    RELEARNING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Grade(IntEnum):
    """The self-grade after seeing the answer; values match ``fsrs.Rating``."""

    AGAIN = 1
    HARD = 2
    GOOD = 3
    EASY = 4

    @property
    def label(self) -> str:
        return self.name.capitalize()


@dataclass(frozen=True)
class Question:
    """One card as written in a bank file (or by ``llmcards add``)."""

    id: str
    question: str
    answer: str | None = None
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    line: int | None = None  # where the card starts in its file, for messages

    def content_hash(self) -> str:
        """A stable hash of the card's text, to detect edits cheaply."""
        import hashlib
        import json

        payload = json.dumps(
            [self.question, self.answer, list(self.tags), list(self.sources)],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class CardState:
    """A card's FSRS memory state, always with timezone-aware UTC datetimes."""

    state: State = State.NEW
    step: int | None = None
    stability: float | None = None
    difficulty: float | None = None
    due: datetime | None = None
    last_review: datetime | None = None
    reps: int = 0
    lapses: int = 0


@dataclass(frozen=True)
class Card:
    """A card in the store: its text, its flags and its schedule."""

    id: str
    question: str
    answer: str | None
    tags: tuple[str, ...]
    sources: tuple[str, ...]
    origin: str
    suspended: bool
    retired: bool
    schedule: CardState
    created_at: datetime
    updated_at: datetime
    buried_until: datetime | None = None
    position: int = 0

    @property
    def status(self) -> str:
        """One word for tables: retired, suspended, or the FSRS state."""
        if self.retired:
            return "retired"
        if self.suspended:
            return "suspended"
        return self.schedule.state.label


@dataclass(frozen=True)
class ReviewRecord:
    """One row of the review log."""

    id: int
    card_id: str
    rating: Grade
    reviewed_at: datetime
    duration_ms: int | None
    state: State
    stability: float | None
    difficulty: float | None
    due: datetime | None
    prev_state: State
    cram: bool = False
    uuid: str = ""  # its id across devices (a UUIDv7 of reviewed_at)


# What a store records as events besides reviews (see :mod:`llmcards.merge` for how they merge).
EVENT_KINDS = ("add", "edit", "suspend", "unsuspend", "bury", "delete", "setting", "unreview")
TEXT_FIELDS = ("question", "answer", "tags", "sources", "retired")  # what `add` sets and `edit` changes


@dataclass(frozen=True)
class Event:
    """One change made on some device: a card added, edited, suspended..., a setting changed,
    a review taken back. (Reviews themselves live in the review log, with ids of their own.)"""

    id: str  # a UUIDv7 of ``at``
    device: str
    at: datetime
    kind: str
    card_id: str | None
    data: dict[str, Any]

    @property
    def order(self) -> tuple[datetime, str]:
        """Last writer wins by this: the event's time, ties broken by its id."""
        return (self.at, self.id)


class WireEvent(NamedTuple):
    """An event as it travels between a store and a hub: times as the store's UTC text
    (``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts as time does), ``data`` as JSON text.
    Reviews travel as events of kind ``review``."""

    id: str
    device: str
    at: str
    kind: str
    card_id: str | None
    data: str


class ExistingCard(NamedTuple):
    """What a bank sync needs to know about a card already in the store."""

    content_hash: str  # its text now
    source_hash: str | None  # its text as last read from its file (None: not known)
    retired: bool
    origin: str
    import_path: str | None


@dataclass
class SyncReport:
    """What an import did (or would do)."""

    source: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.retired)} retired"
        )
