"""One review sitting: the queue, grading, same-session relearning, undo, limits.

No terminal I/O happens here, and every method takes ``now`` explicitly, so the whole
session can be driven with a fixed clock in tests. Each grade is committed to the store
before the next card is chosen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from llmcards.config import Settings
from llmcards.models import Card, CardState, Grade, State
from llmcards.scheduler import Scheduler, next_day_start, study_day

if TYPE_CHECKING:
    from llmcards.store import QueueFilter, Store

LEARN_AHEAD = timedelta(minutes=20)
CRAM_LIMIT = 1000  # one sitting; --limit chooses another size
MAX_DURATION_MS = 60_000


@dataclass(frozen=True)
class SessionOptions:
    """What ``llmcards review`` was asked for."""

    tags: tuple[str, ...] = ()
    limit: int | None = None
    no_new: bool = False
    cram: bool = False
    include_unanswered: bool = False


@dataclass(frozen=True)
class Counts:
    """Cards left in the session, by kind."""

    new: int
    learning: int
    review: int

    @property
    def total(self) -> int:
        return self.new + self.learning + self.review


@dataclass(frozen=True)
class _Answer:
    card: Card  # the card as it was before the grade
    grade: Grade
    log_id: int
    after: CardState
    queue: str  # which queue it was taken from
    duration_ms: int


@dataclass
class Summary:
    """What the sitting did, for the closing screen."""

    reviewed: int
    grades: dict[Grade, int]
    time_ms: int
    due_tomorrow: int
    next_due: datetime | None
    learning_later: int
    cram: bool
    new_available: int = 0


@dataclass
class Session:
    """The queue of one sitting. Build it with :meth:`Session.start`."""

    store: Store
    scheduler: Scheduler
    settings: Settings
    options: SessionOptions
    day: date
    day_end: datetime
    tz: tzinfo | None
    learning: list[Card] = field(default_factory=list)
    reviews: list[Card] = field(default_factory=list)
    new: list[Card] = field(default_factory=list)
    cram: list[Card] = field(default_factory=list)
    answers: list[_Answer] = field(default_factory=list)
    flt: QueueFilter | None = None
    _front: Card | None = None  # a card put back by undo, shown next

    @classmethod
    def start(
        cls,
        store: Store,
        settings: Settings,
        now: datetime,
        options: SessionOptions = SessionOptions(),
        *,
        tz: tzinfo | None = None,
        fuzz: bool = True,
    ) -> Session:
        """Build today's queue: due learning/review cards, then new cards, within limits."""
        from llmcards.store import QueueFilter

        day = study_day(now, settings.day_starts_at, tz)
        session = cls(
            store=store,
            scheduler=Scheduler(settings, fuzz=fuzz),
            settings=settings,
            options=options,
            day=day,
            day_end=next_day_start(now, settings.day_starts_at, tz),
            tz=tz,
        )
        flt = QueueFilter(tags=options.tags, include_unanswered=options.include_unanswered)
        session.flt = flt
        if options.cram:
            session.cram = store.queue.cram_cards(now, flt, options.limit or CRAM_LIMIT)
            return session
        studied = store.queue.studied_on(day)
        review_room = max(0, settings.reviews_per_day - studied.reviews)
        new_room = 0 if options.no_new else max(0, settings.new_per_day - studied.new)
        if options.limit is not None:
            review_room = min(review_room, options.limit)
        learning = store.queue.due_cards(now, flt, learning=True, limit=options.limit)
        reviews = store.queue.due_cards(now, flt, learning=False, limit=review_room) if review_room else []
        if options.limit is not None:
            room = options.limit - len(learning)
            reviews = reviews[: max(0, room)]
            new_room = min(new_room, max(0, room - len(reviews)))
        session.learning = learning
        session.reviews = reviews
        session.new = store.queue.new_cards(now, flt, new_room)
        return session

    # ------------------------------------------------------------------ the queue
    def counts(self, now: datetime) -> Counts:
        if self.options.cram:
            return Counts(new=0, learning=0, review=len(self.cram))
        front = self._front
        extra = {"new": 0, "learning": 0, "review": 0}
        if front is not None:
            extra[_kind(front)] += 1
        return Counts(
            new=len(self.new) + extra["new"],
            learning=len(self.learning) + extra["learning"],
            review=len(self.reviews) + extra["review"],
        )

    def next_card(self, now: datetime) -> Card | None:
        """The card to show now, or None when the sitting is over.

        Order: a card put back by undo; learning cards due now; reviews; new cards; then,
        when nothing else is left, learning cards due within the next 20 minutes.
        """
        if self._front is not None:
            return self._front
        if self.options.cram:
            return self.cram[0] if self.cram else None
        self.learning.sort(key=lambda c: (c.schedule.due or now, c.position))
        if self.learning and _due(self.learning[0]) <= now:
            return self.learning[0]
        if self.reviews:
            return self.reviews[0]
        if self.new:
            return self.new[0]
        if self.learning and _due(self.learning[0]) <= now + LEARN_AHEAD:
            return self.learning[0]
        return None

    def upcoming(self, current: Card, now: datetime) -> Card | None:
        """A guess at the card that follows ``current``: what :meth:`next_card` gives once ``current``
        has left the queues (a learning card may come back first). The screen prepares that card
        while the person reads the answer."""
        def first(cards: list[Card]) -> Card | None:
            return next((c for c in cards if c.id != current.id), None)

        if self.options.cram:
            return first(self.cram)
        learning = first(self.learning)  # in next_card's order
        if learning is not None and _due(learning) <= now:
            return learning
        later = first(self.reviews) or first(self.new)
        if later is not None:
            return later
        return learning if learning is not None and _due(learning) <= now + LEARN_AHEAD else None

    def _take(self, card: Card) -> str:
        """Remove ``card`` from whichever queue holds it; return that queue's name."""
        if self._front is not None and self._front.id == card.id:
            self._front = None
            return _kind(card) if not self.options.cram else "cram"
        for name in ("cram", "learning", "reviews", "new"):
            queue: list[Card] = getattr(self, name)
            for index, queued in enumerate(queue):
                if queued.id == card.id:
                    del queue[index]
                    return name
        return "none"

    # ------------------------------------------------------------------ actions
    def preview(self, card: Card, now: datetime) -> dict[Grade, timedelta]:
        """The interval each grade would give this card now."""
        return self.scheduler.preview(card.schedule, now)

    def answer(self, card: Card, grade: Grade, now: datetime, duration_ms: int | None = None) -> CardState:
        """Grade ``card`` and commit it at once; returns its new state.

        In cram mode the grade is logged (marked as cram) and the schedule is left alone;
        a card failed in cram comes back at the end of the sitting.
        """
        fresh = self.store.cards.get(card.id) or card  # another window may have graded or edited it
        before = fresh.schedule
        after = self.scheduler.review(before, grade, now, card_id=card.id)
        duration = None if duration_ms is None else max(0, min(int(duration_ms), MAX_DURATION_MS))
        log_id = self.store.queue.record_review(
            card.id, before, after, rating=grade, reviewed_at=now,
            study_day=study_day(now, self.settings.day_starts_at, self.tz),
            duration_ms=duration, cram=self.options.cram,
        )
        queue = self._take(card)
        if self.options.cram:
            if grade == Grade.AGAIN:
                self.cram.append(fresh)
        elif after.state in (State.LEARNING, State.RELEARNING) and after.due is not None and after.due < self.day_end:
            self.learning.append(replace(fresh, schedule=after))
        self.answers.append(_Answer(fresh, grade, log_id, after, queue, duration or 0))
        return after

    def can_undo(self) -> bool:
        return bool(self.answers)

    def undo(self, now: datetime | None = None) -> Card | None:
        """Take back the last grade: restore the card's state, delete its log, show it again."""
        if not self.answers:
            return None
        last = self.answers.pop()
        self.store.queue.undo_review(last.log_id, last.card.id, last.card.schedule, cram=self.options.cram, now=now)
        # Drop the copy that the grade put back into a queue.
        for name in ("learning", "cram"):
            queue: list[Card] = getattr(self, name)
            for index in range(len(queue) - 1, -1, -1):
                if queue[index].id == last.card.id:
                    del queue[index]
                    break
        if self._front is not None:  # two undos in a row: the earlier card goes back to its queue
            self._requeue(self._front)
        self._front = last.card
        return last.card

    def _requeue(self, card: Card) -> None:
        if self.options.cram:
            self.cram.insert(0, card)
            return
        {"new": self.new, "learning": self.learning, "review": self.reviews}[_kind(card)].insert(0, card)

    def suspend(self, card: Card, now: datetime) -> None:
        self.store.cards.set_suspended([card.id], True, now=now)
        self._drop(card)

    def bury(self, card: Card, now: datetime) -> None:
        """Hide the card until the next study day begins."""
        self.store.cards.bury(card.id, self.day_end, now=now)
        self._drop(card)

    def _drop(self, card: Card) -> None:
        self._take(card)
        for name in ("learning", "reviews", "new", "cram"):
            queue: list[Card] = getattr(self, name)
            queue[:] = [c for c in queue if c.id != card.id]

    def reload(self, card: Card) -> Card:
        """The card re-read from the store (after an edit), kept in its place in the queue."""
        fresh = self.store.cards.get(card.id)
        if fresh is None:
            self._drop(card)
            return card
        if self._front is not None and self._front.id == card.id:
            self._front = fresh
        for name in ("learning", "reviews", "new", "cram"):
            queue: list[Card] = getattr(self, name)
            queue[:] = [fresh if c.id == card.id else c for c in queue]
        return fresh

    # ------------------------------------------------------------------ the end
    def summary(self, now: datetime) -> Summary:
        grades = Counter(a.grade for a in self.answers)
        tomorrow_end = next_day_start(self.day_end, self.settings.day_starts_at, self.tz)
        from llmcards.store import QueueFilter

        return Summary(
            reviewed=len(self.answers),
            grades={g: grades.get(g, 0) for g in Grade},
            time_ms=sum(a.duration_ms for a in self.answers),
            due_tomorrow=self.store.queue.count_due(tomorrow_end),
            next_due=self.store.queue.next_due(now),
            learning_later=len(self.learning),
            cram=self.options.cram,
            new_available=self.store.queue.count_new_available(self.flt or QueueFilter(), now),
        )


def _due(card: Card) -> datetime:
    assert card.schedule.due is not None
    return card.schedule.due


def _kind(card: Card) -> str:
    state = card.schedule.state
    if state == State.NEW:
        return "new"
    if state == State.REVIEW:
        return "review"
    return "learning"
