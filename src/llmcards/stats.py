"""Progress at a glance: a :class:`Stats` value computed from SQL aggregates over the store.

Every figure comes from one of the ``store.stats`` aggregate queries, all read in one
snapshot; nothing here loads the review log into Python, and nothing here prints. Days
are study days: they roll over at ``day_starts_at`` local time, as in review, and the
review log stores each grade's study day when it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import TYPE_CHECKING, TypedDict

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import State
from llmcards.scheduler import day_start, forgetting_curve, study_day

if TYPE_CHECKING:
    from llmcards.store import Store

LEECH_LAPSES = 8  # a card with this many lapses or more is a leech (Anki's default threshold)
HARDEST = 10  # how many of the hardest cards to list
HEATMAP_WEEKS = 53  # the calendar covers the current week and the 52 before it
RETENTION_SPANS: tuple[tuple[str, int], ...] = (("day", 1), ("week", 7), ("month", 30), ("year", 365))


@dataclass(frozen=True)
class Retention:
    """Reviews of review-state cards (cram excluded) and how many were not graded Again."""

    reviews: int = 0
    passed: int = 0

    @property
    def rate(self) -> float | None:
        """The share passed, or None when there was nothing to measure."""
        return self.passed / self.reviews if self.reviews else None

    def __add__(self, other: Retention) -> Retention:
        return Retention(self.reviews + other.reviews, self.passed + other.passed)


@dataclass(frozen=True)
class Today:
    """The current study day."""

    day: date
    reviews: int = 0  # grades given, cram included
    cards: int = 0  # distinct cards graded
    new: int = 0  # new cards introduced (cram excluded)
    again: int = 0  # grades of Again, cram included
    time_ms: int = 0
    retention: Retention = Retention()


@dataclass(frozen=True)
class Streak:
    """Runs of consecutive study days with at least one review."""

    current: int = 0  # ends today, or yesterday while nothing is studied yet today
    longest: int = 0


@dataclass(frozen=True)
class CardCounts:
    """Cards by kind. The first six split all cards; unanswered overlaps them."""

    new: int = 0
    learning: int = 0  # learning and relearning
    young: int = 0  # review, interval under 21 days
    mature: int = 0  # review, interval of 21 days or more
    suspended: int = 0
    retired: int = 0
    unanswered: int = 0  # not retired, with no answer yet

    @property
    def total(self) -> int:
        return self.new + self.learning + self.young + self.mature + self.suspended + self.retired


@dataclass(frozen=True)
class DueDay:
    day: date
    cards: int


@dataclass(frozen=True)
class FutureDue:
    """Active studied cards by the study day they fall due, after the backlog due now."""

    days: tuple[DueDay, ...]  # today (after now), tomorrow, ...
    overdue: int = 0  # due now or earlier: the backlog

    @property
    def total(self) -> int:
        return sum(d.cards for d in self.days)

    @property
    def daily_average(self) -> float:
        return self.total / len(self.days) if self.days else 0.0


@dataclass(frozen=True)
class Heatmap:
    """Reviews per study day (cram included) from ``start`` (a Monday) to ``end`` (today)."""

    start: date
    end: date
    counts: dict[date, int] = field(default_factory=dict)  # days without reviews are left out

    def count(self, day: date) -> int:
        return self.counts.get(day, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def active_days(self) -> int:
        return sum(1 for n in self.counts.values() if n)

    @property
    def busiest(self) -> int:
        return max(self.counts.values(), default=0)


@dataclass(frozen=True)
class RetentionSpan:
    """True retention over the last ``days`` study days, split young / mature."""

    name: str
    days: int
    young: Retention = Retention()
    mature: Retention = Retention()

    @property
    def all(self) -> Retention:
        return self.young + self.mature


@dataclass(frozen=True)
class Memory:
    """FSRS's prediction now, over active cards with a memory state."""

    cards: int = 0
    known: float = 0.0  # the sum of retrievability: the cards you would recall now

    @property
    def average(self) -> float | None:
        return self.known / self.cards if self.cards else None


@dataclass(frozen=True)
class TagRow:
    """One tag, over its non-retired cards."""

    tag: str
    cards: int
    studied: int  # not new
    mature: int
    due: int  # due now
    retrievability: float | None  # average over its active studied cards


@dataclass(frozen=True)
class HardCard:
    id: str
    question: str
    lapses: int
    reps: int
    status: str  # 'suspended' or the FSRS state

    @property
    def leech(self) -> bool:
        return self.lapses >= LEECH_LAPSES


@dataclass(frozen=True)
class Stats:
    """Every figure ``llmcards stats`` shows."""

    now: datetime
    day: date  # the current study day
    day_starts_at: int
    tag: str | None
    today: Today
    streak: Streak
    cards: CardCounts
    future: FutureDue
    heatmap: Heatmap
    retention: tuple[RetentionSpan, ...]
    memory: Memory
    tags: tuple[TagRow, ...]
    hardest: tuple[HardCard, ...]

    @property
    def has_cards(self) -> bool:
        return self.cards.total > 0

    @property
    def has_reviews(self) -> bool:
        return self.streak.longest > 0


def compute_stats(
    store: Store,
    now: datetime,
    settings: Settings,
    *,
    days: int = 30,
    tag: str | None = None,
    tz: tzinfo | None = None,
) -> Stats:
    """Every figure of ``llmcards stats`` at ``now``, optionally for one tag only.

    ``days`` is the span of the future-due chart; ``tz=None`` means the machine's time zone.
    Raises UserError for a tag no card has.
    """
    if days < 1:
        raise UserError(f"--days must be at least 1, not {days}")
    now = now.astimezone(timezone.utc)
    if tag is not None:
        tags = store.cards.all_tags()
        if tag not in tags:
            raise UserError(f"no card has the tag {tag!r}; tags: {', '.join(tags) or '(none)'}")
    hour = settings.day_starts_at
    today = study_day(now, hour, tz)
    decay, factor = forgetting_curve(settings.fsrs_parameters)  # the scheduler's own curve
    first_monday = today - timedelta(days=today.weekday(), weeks=HEATMAP_WEEKS - 1)
    due_days = [today + timedelta(days=i) for i in range(days)]
    starts = [day_start(d, hour, tz) for d in due_days[1:]] + [day_start(due_days[-1] + timedelta(days=1), hour, tz)]
    ranges = [(now + timedelta(microseconds=1), starts[0]), *pairwise(starts)]

    q = store.stats
    with store.read():
        day = q.day(today, tag=tag)
        streak = q.streaks(today, tag=tag)
        counts = q.card_counts(tag=tag)
        due = q.due_between(ranges, tag=tag)
        overdue = q.overdue(now, tag=tag)
        per_day = q.reviews_per_day(first_monday, today, tag=tag)
        spans = q.retention(today, [n for _, n in RETENTION_SPANS], tag=tag)
        memory = q.retrievability(now, decay, factor, tag=tag)
        tag_rows = q.tags(now, decay, factor, tag=tag)
        hardest = q.hardest(HARDEST, tag=tag)

    return Stats(
        now=now,
        day=today,
        day_starts_at=hour,
        tag=tag,
        today=Today(today, day.reviews, day.cards, day.new, day.again, day.time_ms,
                    Retention(day.retention_reviews, day.retention_passed)),
        streak=Streak(streak.current, streak.longest),
        cards=CardCounts(counts.new, counts.learning, counts.young, counts.mature, counts.suspended, counts.retired,
                         counts.unanswered),
        future=FutureDue(tuple(DueDay(d, n) for d, n in zip(due_days, due, strict=True)), overdue),
        heatmap=Heatmap(first_monday, today, per_day),
        retention=tuple(
            RetentionSpan(name, n, Retention(r.young_reviews, r.young_passed),
                          Retention(r.mature_reviews, r.mature_passed))
            for (name, n), r in zip(RETENTION_SPANS, spans, strict=True)
        ),
        memory=Memory(memory.cards, memory.known),
        tags=tuple(_weakest_first(
            TagRow(t.tag, t.cards, t.studied, t.mature, t.due, t.known / t.with_memory if t.with_memory else None)
            for t in tag_rows
        )),
        hardest=tuple(
            HardCard(h.id, h.question, h.lapses, h.reps, "suspended" if h.suspended else State(h.state).label)
            for h in hardest
        ),
    )


def _weakest_first(rows: Iterable[TagRow]) -> list[TagRow]:
    """Lowest average retrievability first; tags with nothing studied yet come last, by name."""
    return sorted(rows, key=lambda r: (r.retrievability is None, r.retrievability or 0.0, r.tag))


class RetentionJson(TypedDict):
    reviews: int
    passed: int
    rate: float | None


class TodayJson(TypedDict):
    reviews: int
    cards: int
    new: int
    again: int
    time_ms: int
    retention: RetentionJson


class StreakJson(TypedDict):
    current: int
    longest: int


class CardCountsJson(TypedDict):
    total: int
    new: int
    learning: int
    young: int
    mature: int
    suspended: int
    retired: int
    unanswered: int


class DueDayJson(TypedDict):
    day: str
    cards: int


class FutureDueJson(TypedDict):
    days: list[DueDayJson]
    total: int
    daily_average: float
    overdue: int


class HeatmapJson(TypedDict):
    start: str
    end: str
    reviews: dict[str, int]
    total: int
    active_days: int
    busiest: int


class RetentionSpanJson(TypedDict):
    days: int
    young: RetentionJson
    mature: RetentionJson
    all: RetentionJson


class MemoryJson(TypedDict):
    cards: int
    average: float | None
    known: float


class TagJson(TypedDict):
    tag: str
    cards: int
    studied: int
    mature: int
    due: int
    retrievability: float | None


class HardCardJson(TypedDict):
    id: str
    question: str
    lapses: int
    reps: int
    status: str
    leech: bool


class StatsJson(TypedDict):
    """``llmcards stats --json``; the README documents every key."""

    now: str
    study_day: str
    day_starts_at: int
    tag: str | None
    today: TodayJson
    streak: StreakJson
    cards: CardCountsJson
    future_due: FutureDueJson
    heatmap: HeatmapJson
    retention: dict[str, RetentionSpanJson]
    retrievability: MemoryJson
    tags: list[TagJson]
    hardest: list[HardCardJson]


def _retention_json(r: Retention) -> RetentionJson:
    return {"reviews": r.reviews, "passed": r.passed, "rate": r.rate}


def to_json(stats: Stats) -> StatsJson:
    """Every figure as JSON-ready data; the keys are documented in the README."""
    s = stats
    return {
        "now": s.now.isoformat().replace("+00:00", "Z"),
        "study_day": s.day.isoformat(),
        "day_starts_at": s.day_starts_at,
        "tag": s.tag,
        "today": {
            "reviews": s.today.reviews,
            "cards": s.today.cards,
            "new": s.today.new,
            "again": s.today.again,
            "time_ms": s.today.time_ms,
            "retention": _retention_json(s.today.retention),
        },
        "streak": {"current": s.streak.current, "longest": s.streak.longest},
        "cards": {
            "total": s.cards.total,
            "new": s.cards.new,
            "learning": s.cards.learning,
            "young": s.cards.young,
            "mature": s.cards.mature,
            "suspended": s.cards.suspended,
            "retired": s.cards.retired,
            "unanswered": s.cards.unanswered,
        },
        "future_due": {
            "days": [{"day": d.day.isoformat(), "cards": d.cards} for d in s.future.days],
            "total": s.future.total,
            "daily_average": s.future.daily_average,
            "overdue": s.future.overdue,
        },
        "heatmap": {
            "start": s.heatmap.start.isoformat(),
            "end": s.heatmap.end.isoformat(),
            "reviews": {d.isoformat(): n for d, n in sorted(s.heatmap.counts.items())},
            "total": s.heatmap.total,
            "active_days": s.heatmap.active_days,
            "busiest": s.heatmap.busiest,
        },
        "retention": {
            span.name: {
                "days": span.days,
                "young": _retention_json(span.young),
                "mature": _retention_json(span.mature),
                "all": _retention_json(span.all),
            }
            for span in s.retention
        },
        "retrievability": {"cards": s.memory.cards, "average": s.memory.average, "known": s.memory.known},
        "tags": [
            {"tag": t.tag, "cards": t.cards, "studied": t.studied, "mature": t.mature, "due": t.due,
             "retrievability": t.retrievability}
            for t in s.tags
        ],
        "hardest": [
            {"id": c.id, "question": c.question, "lapses": c.lapses, "reps": c.reps, "status": c.status,
             "leech": c.leech}
            for c in s.hardest
        ],
    }
