"""FSRS built from the settings (their parameters included), plus study-day arithmetic.

fsrs 6 rejects naive datetimes and any tzinfo other than ``timezone.utc``, so every time
passed in here is converted to exactly that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import cached_property, lru_cache
from typing import Any

from llmcards.config import Settings
from llmcards.models import CardState, Grade, State


def utc(value: datetime) -> datetime:
    """``value`` as an aware datetime whose tzinfo is exactly ``timezone.utc``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime; pass timezone-aware times")
    return value.astimezone(timezone.utc)


def study_day(now: datetime, day_starts_at: int, tz: tzinfo | None = None) -> date:
    """The study day that ``now`` falls in: days roll over at ``day_starts_at`` local time.

    Wall-clock arithmetic on the local time makes this correct across DST changes.
    ``tz=None`` means the machine's time zone.
    """
    local = now.astimezone(tz).replace(tzinfo=None)
    return (local - timedelta(hours=day_starts_at)).date()


def day_start(day: date, day_starts_at: int, tz: tzinfo | None = None) -> datetime:
    """The UTC instant at which study day ``day`` begins."""
    wall = datetime.combine(day, time(day_starts_at))
    if tz is None:
        return wall.astimezone(timezone.utc)  # naive -> treated as machine-local, DST-aware
    return wall.replace(tzinfo=tz).astimezone(timezone.utc)


def next_day_start(now: datetime, day_starts_at: int, tz: tzinfo | None = None) -> datetime:
    """When the study day after the one containing ``now`` begins, in UTC."""
    return day_start(study_day(now, day_starts_at, tz) + timedelta(days=1), day_starts_at, tz)


def forgetting_curve(parameters: Sequence[float]) -> tuple[float, float]:
    """(decay, factor) of FSRS's forgetting curve R(t) = (1 + factor * t / S) ** -decay.

    Derived from the parameters as py-fsrs's own ``Scheduler`` derives ``_DECAY`` and
    ``_FACTOR`` (``decay`` here is positive: ``-_DECAY``), so that R(S) = 0.9.
    """
    decay = float(parameters[20])
    return decay, 0.9 ** (1 / -decay) - 1


def fuzz_uniform(card_id: str, reps: int) -> float:
    """The uniform draw in [0, 1) behind a grade's fuzz, made from the card and how many times it
    was graded before, so that replaying a card's reviews draws the same fuzz as the live grades.

    A hash rather than ``random.Random(seed)``: seeding a generator costs ~10 µs, and replay
    makes two million of these draws for a heavy user.
    """
    digest = hashlib.blake2b(f"{card_id}:{reps}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * 2.0**-53


@lru_cache(maxsize=1)
def _seeded_fsrs_class() -> Any:
    """``fsrs.Scheduler`` whose fuzz is the draw given in ``uniform``."""
    import fsrs
    import fsrs.scheduler as fsrs_scheduler

    class SeededScheduler(fsrs.Scheduler):
        uniform = 0.5  # set before each review

        def _get_fuzzed_interval(self, *, interval: timedelta) -> timedelta:
            # fsrs draws from its module-level name ``random``; lend it this review's draw for this call.
            saved = getattr(fsrs_scheduler, "random")  # noqa: B009 - not re-exported by fsrs
            setattr(fsrs_scheduler, "random", lambda: self.uniform)  # noqa: B010
            try:
                return super()._get_fuzzed_interval(interval=interval)
            finally:
                setattr(fsrs_scheduler, "random", saved)  # noqa: B010

    return SeededScheduler


class Scheduler:
    """FSRS scheduling from the person's settings: their parameters, retention, steps.

    Fuzz (the small random spread of review intervals) is drawn from the card and its review
    count (:func:`fuzz_uniform`), not from the global ``random``, so a schedule can be
    rebuilt exactly by replaying its reviews (:mod:`llmcards.replay`).
    """

    def __init__(self, settings: Settings, *, fuzz: bool = True) -> None:
        self.settings = settings
        self.fuzz = fuzz
        self.decay, self.factor = forgetting_curve(settings.fsrs_parameters)

    # fsrs is imported at the first grade or preview, not before the first card is on screen.
    @cached_property
    def _fsrs(self) -> Any:
        import fsrs

        return fsrs

    @cached_property
    def _scheduler(self) -> Any:
        s = self.settings
        return _seeded_fsrs_class()(
            parameters=s.fsrs_parameters,
            desired_retention=s.desired_retention,
            learning_steps=s.learning_steps,
            relearning_steps=s.relearning_steps,
            maximum_interval=s.maximum_interval,
            enable_fuzzing=self.fuzz,
        )

    def _to_fsrs(self, s: CardState, now: datetime) -> Any:
        fsrs = self._fsrs
        if s.state == State.NEW:
            return fsrs.Card(card_id=1, state=fsrs.State.Learning, step=0, due=now)
        return fsrs.Card(
            card_id=1,
            state=fsrs.State(int(s.state)),
            step=s.step,
            stability=s.stability,
            difficulty=s.difficulty,
            due=utc(s.due) if s.due else now,
            last_review=utc(s.last_review) if s.last_review else None,
        )

    def review(self, s: CardState, grade: Grade, now: datetime, *, card_id: str) -> CardState:
        """The card's state after being graded ``grade`` at ``now``.

        ``card_id`` seeds the fuzz (with the review count), so the same history always
        gives the same schedule.
        """
        now = utc(now)
        self._scheduler.uniform = fuzz_uniform(card_id, s.reps)
        card, _log = self._scheduler.review_card(self._to_fsrs(s, now), self._fsrs.Rating(int(grade)), now)
        lapse = s.state == State.REVIEW and grade == Grade.AGAIN
        return CardState(
            state=State(int(card.state)),
            step=card.step,
            stability=card.stability,
            difficulty=card.difficulty,
            due=card.due,
            last_review=card.last_review,
            reps=s.reps + 1,
            lapses=s.lapses + (1 if lapse else 0),
        )

    def preview(self, s: CardState, now: datetime) -> dict[Grade, timedelta]:
        """The interval each grade would give, for the buttons.

        Fuzz is left out of the preview so the numbers are stable on screen.
        """
        now = utc(now)
        out: dict[Grade, timedelta] = {}
        saved = self._scheduler.enable_fuzzing
        self._scheduler.enable_fuzzing = False
        try:
            for grade in Grade:
                after = self.review(s, grade, now, card_id="")
                out[grade] = (after.due or now) - now
        finally:
            self._scheduler.enable_fuzzing = saved
        return out

    def retrievability(self, s: CardState, now: datetime) -> float:
        """The predicted chance of recalling the card at ``now`` (0 for new cards)."""
        if s.state == State.NEW or s.stability is None or s.last_review is None:
            return 0.0
        return float(self._scheduler.get_card_retrievability(self._to_fsrs(s, utc(now)), utc(now)))
