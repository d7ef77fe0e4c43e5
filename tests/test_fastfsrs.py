"""The replay's transcription of fsrs gives bit-for-bit what fsrs itself gives."""

from __future__ import annotations

from datetime import timedelta

import fsrs.scheduler as fsrs_scheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcards.config import Settings
from llmcards.fastfsrs import NEW, FastScheduler, from_card_state, to_card_state, to_us
from llmcards.models import CardState, Grade
from llmcards.scheduler import Scheduler
from tests.helpers import NOW


@st.composite
def scheduler_settings(draw: st.DrawFn) -> Settings:
    bounds = zip(fsrs_scheduler.LOWER_BOUNDS_PARAMETERS, fsrs_scheduler.UPPER_BOUNDS_PARAMETERS, strict=True)
    params = tuple(
        min(max(default * draw(st.floats(0.3, 3.0)), low), high)
        for default, (low, high) in zip(fsrs_scheduler.DEFAULT_PARAMETERS, bounds, strict=True)
    )
    steps = st.lists(st.integers(1, 3 * 24 * 60), max_size=3).map(lambda m: tuple(timedelta(minutes=x) for x in m))
    return Settings(
        desired_retention=draw(st.floats(0.70, 0.99)),
        learning_steps=draw(steps),
        relearning_steps=draw(steps),
        maximum_interval=draw(st.sampled_from([1, 2, 3, 7, 30, 365, 36500])),
        fsrs_parameters=params,
    )


# Gaps between reviews from seconds to a year, so every branch (same day, overdue, early) is taken.
gaps = st.one_of(st.integers(0, 3600), st.integers(3600, 3 * 86400), st.integers(86400, 400 * 86400))
histories = st.lists(st.tuples(st.sampled_from(list(Grade)), gaps), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(config=scheduler_settings(), history=histories, fuzz=st.booleans(), card_id=st.text(min_size=1, max_size=8))
def test_fast_review_is_fsrs_bit_for_bit(config: Settings, history: list[tuple[Grade, int]], fuzz: bool,
                                         card_id: str) -> None:
    slow, fast = Scheduler(config, fuzz=fuzz), FastScheduler(config, fuzz=fuzz)
    state, quick, at = CardState(), NEW, NOW
    for grade, gap in history:
        at += timedelta(seconds=gap)
        state = slow.review(state, grade, at, card_id=card_id)
        quick = fast.review(quick, int(grade), to_us(at), card_id)
        assert quick == from_card_state(state)
        assert to_card_state(quick) == state
