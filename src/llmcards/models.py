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
NOTES_ORIGIN = "notes"  # a card from a person's Markdown notes (``llmcards import NOTES.md``)
NOTE_SUFFIXES = (".md", ".markdown")  # what `llmcards import` reads as notes (the CLI checks it here)
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


def uuid7_named(ms: int, name: str) -> str:
    """A UUID version 7 for the millisecond ``ms`` (since the epoch) whose other 74 bits are a hash
    of ``name``: the same review, imported or migrated on two devices, gets the same id there, so
    a hub sync keeps it once."""
    import hashlib

    if not 0 <= ms < 1 << 48:
        raise ValueError(f"{ms} ms is outside the range of UUIDv7 timestamps")
    rand = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=10).digest(), "big")
    counter = (rand >> 62) & 0xFFF
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
    suspended: bool = False  # the file marks it `suspended: true` (an import suspends it; never unsuspends)

    def content_hash(self) -> str:
        """A stable hash of the card's text, to detect edits cheaply."""
        import hashlib
        import json

        payload = json.dumps(
            [self.question, self.answer, list(self.tags), list(self.sources)],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    def source_hash(self) -> str:
        """The hash of the card as its file gives it: its text, plus its suspended flag when set.

        Equal to :meth:`content_hash` for a card that is not marked suspended, so a flag added
        in the file counts as a change of that card in the file.
        """
        digest = self.content_hash()
        if not self.suspended:
            return digest
        import hashlib

        return hashlib.sha256(f"{digest}|suspended".encode()).hexdigest()[:32]


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


@dataclass(frozen=True)
class ExistingNoteCard:
    """What re-importing notes needs to know about a card that an earlier import of them made."""

    question: str  # its text in the store now (maybe edited with `llmcards edit`)
    answer: str | None
    source_hash: str | None = None  # notes.note_hash of its text as last read from the notes (None: unknown)
    retired: bool = False
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass
class SyncReport:
    """What an import did (or would do)."""

    source: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # Cards of an exported file that already belong elsewhere (the bundled bank, `add`, another
    # file): the file's text and flag are applied to them as edits; they keep their origin.
    merged: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)  # cards this import suspended

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired or self.suspended)

    @property
    def changes_existing(self) -> bool:
        """It changes or retires cards the store has (what a backup must come before); adding
        cards changes nothing that is there."""
        return bool(self.updated or self.retired or self.merged)

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.retired)} retired"
        )
        return text + (f", {len(self.suspended)} suspended" if self.suspended else "")


@dataclass
class ReviewImportReport:
    """What an import of reviews did."""

    source: str
    kind: str  # "revlog" or "anki"
    read: int = 0  # rows (or revlog entries) read
    added: int = 0
    already: int = 0  # already in the store (same card, same millisecond)
    repeated: int = 0  # repeated within the file
    unknown: int = 0  # reviews of cards the store does not have (not imported)
    unknown_cards: tuple[str, ...] = ()  # their ids (Anki: note GUIDs)
    bad: int = 0  # rows that could not be read (revlog)
    bad_examples: list[str] = field(default_factory=list)  # "line N: why", the first few
    skipped: int = 0  # Anki entries that are not reviews (manual rescheduling)
    cram: int = 0  # reviews imported as cram (Anki's filtered decks): they leave schedules alone
    cards: int = 0  # cards replayed
    changed: int = 0  # of those, cards whose schedule changed
