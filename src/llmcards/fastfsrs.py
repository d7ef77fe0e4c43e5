"""py-fsrs's ``review_card``, transcribed for replaying long histories fast.

Replaying a person's history (after importing reviews, syncing, or fitting new parameters)
runs the scheduler once per review: two million of them for a heavy user. Through
``fsrs.Scheduler.review_card`` each costs about 150 µs (a ``Card`` copied, enums, datetime
arithmetic, a seeded generator), so this module repeats the same arithmetic on plain floats
and integer microseconds: the same expressions, in the same order, with ``math.e ** x``
where fsrs writes it, so every result is bit-for-bit what fsrs gives. A property test
(tests/test_fastfsrs.py) compares the two on random histories, parameters and settings.
The review screen keeps using fsrs itself, through :class:`llmcards.scheduler.Scheduler`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from llmcards.config import Settings
from llmcards.models import CardState, Grade, State
from llmcards.scheduler import fuzz_uniform

US_PER_DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
LEARNING, REVIEW, RELEARNING = 1, 2, 3


def to_us(value: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact)."""
    return (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


# A card's state as a tuple: (state, step, stability, difficulty, due_us, last_review_us, reps, lapses).
# state 0 is new; the others match fsrs.State.
Fast = tuple[int, "int | None", "float | None", "float | None", "int | None", "int | None", int, int]
NEW: Fast = (0, None, None, None, None, None, 0, 0)


def from_card_state(s: CardState) -> Fast:
    return (int(s.state), s.step, s.stability, s.difficulty, None if s.due is None else to_us(s.due),
            None if s.last_review is None else to_us(s.last_review), s.reps, s.lapses)


def to_card_state(f: Fast) -> CardState:
    return CardState(state=State(f[0]), step=f[1], stability=f[2], difficulty=f[3],
                     due=None if f[4] is None else from_us(f[4]),
                     last_review=None if f[5] is None else from_us(f[5]), reps=f[6], lapses=f[7])


class FastScheduler:
    """The arithmetic of ``fsrs.Scheduler.review_card`` under the person's settings."""

    def __init__(self, settings: Settings, *, fuzz: bool = True) -> None:
        from fsrs import scheduler as constants  # fsrs's own bounds and fuzz ranges, never copies

        self.s_min = float(constants.STABILITY_MIN)
        self.d_min, self.d_max = float(constants.MIN_DIFFICULTY), float(constants.MAX_DIFFICULTY)
        self.fuzz_ranges = tuple((float(r["start"]), float(r["end"]), float(r["factor"]))
                                 for r in constants.FUZZ_RANGES)
        p: tuple[float, ...] = tuple(settings.fsrs_parameters)
        self.p = p
        self.fuzz = fuzz
        self.decay: float = -p[20]
        self.factor: float = 0.9 ** (1 / self.decay) - 1
        self.interval_k: float = (settings.desired_retention ** (1 / self.decay)) - 1
        self.maximum_interval: int = settings.maximum_interval
        self.learning = self._steps(settings.learning_steps)
        self.relearning = self._steps(settings.relearning_steps)
        # Values fsrs computes from the parameters alone, the same expression each time.
        self.init_d: dict[int, float] = {g: min(max(p[4] - (math.e ** (p[5] * (g - 1))) + 1, self.d_min), self.d_max)
                       for g in range(1, 5)}
        self.easy_d: float = p[4] - (math.e ** (p[5] * (Grade.EASY - 1))) + 1
        self.short_term: dict[int, float] = {g: math.e ** (p[17] * (g - 3 + p[18])) for g in range(1, 5)}
        self.forget_short: float = math.e ** (p[17] * p[18])
        self.e_p8: float = math.e ** (p[8])

    @staticmethod
    def _steps(steps: tuple[timedelta, ...]) -> tuple[tuple[int, ...], int | None]:
        """Each step in µs, and the Hard interval on the first step (timedelta arithmetic, as fsrs)."""
        hard0: timedelta | None = None
        if len(steps) == 1:
            hard0 = steps[0] * 1.5
        elif len(steps) >= 2:
            hard0 = (steps[0] + steps[1]) / 2.0
        return tuple(s // _US for s in steps), None if hard0 is None else hard0 // _US

    # ------------------------------------------------------------------ fsrs's formulas
    def _next_difficulty(self, d: float, g: int) -> float:
        p = self.p
        delta = -(p[6] * (g - 3))
        arg_2 = d + (10.0 - d) * delta / 9.0
        value: float = p[7] * self.easy_d + (1 - p[7]) * arg_2
        return min(max(value, self.d_min), self.d_max)

    def _short_term_stability(self, s: float, g: int) -> float:
        increase: float = self.short_term[g] * (s ** -self.p[19])
        if g >= 2:
            increase = max(increase, 1.0)
        return max(s * increase, self.s_min)

    def _next_stability(self, d: float, s: float, r: float, g: int) -> float:
        p = self.p
        if g == 1:
            long_term: float = p[11] * (d ** -p[12]) * (((s + 1) ** (p[13])) - 1) * (math.e ** ((1 - r) * p[14]))
            value: float = min(long_term, s / self.forget_short)
        else:
            hard_penalty = p[15] if g == 2 else 1
            easy_bonus = p[16] if g == 4 else 1
            value = s * (1 + self.e_p8 * (11 - d) * (s ** -p[9]) * ((math.e ** ((1 - r) * p[10])) - 1)
                         * hard_penalty * easy_bonus)
        return max(value, self.s_min)

    def _retrievability(self, s: float, last_us: int, now_us: int) -> float:
        elapsed_days = max(0, (now_us - last_us) // US_PER_DAY)
        return float((1 + self.factor * elapsed_days / s) ** self.decay)

    def _next_interval_days(self, s: float) -> int:
        interval: int = round((s / self.factor) * self.interval_k)
        return min(max(interval, 1), self.maximum_interval)

    def _fuzzed_days(self, days: int, u: float) -> int:
        if days < 2.5:
            return days
        delta = 1.0
        for start, end, factor in self.fuzz_ranges:
            delta += factor * max(min(float(days), end) - start, 0.0)
        max_ivl = min(round(days + delta), self.maximum_interval)
        min_ivl = min(max(2, round(days - delta)), max_ivl)
        return int(min(round((u * (max_ivl - min_ivl + 1)) + min_ivl), self.maximum_interval))

    # ------------------------------------------------------------------ one review
    def review(self, f: Fast, g: int, now_us: int, card_id: str) -> Fast:
        """The state after grading ``g`` at ``now_us``: what ``Scheduler.review`` returns, as a tuple."""
        state, step, s, d, _due, last, reps, lapses = f
        if state == 0:
            state, step = LEARNING, 0
        days_since = None if last is None else (now_us - last) // US_PER_DAY
        interval_us: int
        days: int | None = None
        if state == LEARNING or state == RELEARNING:
            assert step is not None
            if s is None or d is None:
                s, d = max(self.p[g - 1], self.s_min), self.init_d[g]
            elif days_since is not None and days_since < 1:
                s, d = self._short_term_stability(s, g), self._next_difficulty(d, g)
            else:
                assert last is not None
                s = self._next_stability(d, s, self._retrievability(s, last, now_us), g)
                d = self._next_difficulty(d, g)
            steps, hard0 = self.learning if state == LEARNING else self.relearning
            if not steps or (step >= len(steps) and g >= 2):
                state, step, days = REVIEW, None, self._next_interval_days(s)
            elif g == 1:
                step, interval_us = 0, steps[0]
            elif g == 2:
                interval_us = hard0 if step == 0 and hard0 is not None else steps[step]
            elif g == 3:
                if step + 1 == len(steps):
                    state, step, days = REVIEW, None, self._next_interval_days(s)
                else:
                    step += 1
                    interval_us = steps[step]
            else:
                state, step, days = REVIEW, None, self._next_interval_days(s)
        else:  # review
            assert s is not None and d is not None
            if days_since is not None and days_since < 1:
                s = self._short_term_stability(s, g)
            else:
                assert last is not None
                s = self._next_stability(d, s, self._retrievability(s, last, now_us), g)
            d = self._next_difficulty(d, g)
            relearning, _ = self.relearning
            if g == 1 and relearning:
                state, step, interval_us = RELEARNING, 0, relearning[0]
            else:
                days = self._next_interval_days(s)
        if days is not None:
            if self.fuzz and state == REVIEW:
                days = self._fuzzed_days(days, fuzz_uniform(card_id, reps))
            interval_us = days * US_PER_DAY
        lapse = 1 if f[0] == REVIEW and g == 1 else 0
        return (state, step, s, d, now_us + interval_us, now_us, reps + 1, lapses + lapse)
