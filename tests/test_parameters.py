"""The person's FSRS parameters: one setting that scheduling and stats both follow."""

from __future__ import annotations

from datetime import timedelta, timezone

import fsrs
import pytest

from llmcards.config import DEFAULT_PARAMETERS, Settings, format_parameters
from llmcards.models import CardState, Grade, State
from llmcards.scheduler import Scheduler, forgetting_curve
from llmcards.session import Session
from llmcards.stats import compute_stats
from llmcards.store import Store
from tests.helpers import NOW

# Slower forgetting: every initial stability doubled, and a flatter curve (decay 0.1542 -> 0.5).
FITTED = tuple(p * 2 if i < 4 else p for i, p in enumerate(fsrs.scheduler.DEFAULT_PARAMETERS))[:20] + (0.5,)


def _review(store: Store, card_id: str, *, last_days_ago: float, stability: float) -> None:
    last = NOW - timedelta(days=last_days_ago)
    after = CardState(state=State.REVIEW, stability=stability, difficulty=5.0, due=last + timedelta(days=10),
                      last_review=last, reps=1)
    store.queue.record_review(card_id, CardState(), after, rating=Grade.GOOD, reviewed_at=last,
                              study_day=last.date(), duration_ms=1000)


def test_the_default_parameters_are_fsrs_own() -> None:
    assert DEFAULT_PARAMETERS == tuple(float(p) for p in fsrs.scheduler.DEFAULT_PARAMETERS)
    assert Settings().fsrs_parameters == DEFAULT_PARAMETERS


def test_the_curve_is_derived_from_the_parameters_as_fsrs_does() -> None:
    for params in (fsrs.scheduler.DEFAULT_PARAMETERS, FITTED):
        theirs = fsrs.Scheduler(parameters=params)
        decay, factor = forgetting_curve(params)
        assert -decay == theirs._DECAY and factor == pytest.approx(theirs._FACTOR, rel=1e-15)


def test_saved_parameters_change_intervals_and_stats_together(store: Store) -> None:
    _review(store, "lora-principle", last_days_ago=30, stability=20.0)
    default = store.settings()
    new_card = store.cards.require("bn-vs-ln")
    before = Session.start(store, default, NOW, tz=timezone.utc, fuzz=False).preview(new_card, NOW)
    stats_before = compute_stats(store, NOW, default, tz=timezone.utc).memory.known

    store.save_setting("fsrs_parameters", format_parameters(FITTED))
    fitted = store.settings()
    assert fitted.fsrs_parameters == pytest.approx(FITTED, abs=0)
    after = Session.start(store, fitted, NOW, tz=timezone.utc, fuzz=False).preview(new_card, NOW)
    stats_after = compute_stats(store, NOW, fitted, tz=timezone.utc).memory.known

    # Easy on a new card goes straight to review: its interval follows the initial stability w[3].
    assert after[Grade.EASY] > before[Grade.EASY]
    expected = fsrs.Scheduler(parameters=FITTED, enable_fuzzing=False).review_card(
        fsrs.Card(card_id=1), fsrs.Rating.Easy, NOW)[0].due - NOW
    assert after[Grade.EASY] == expected
    # Stats' retrievability uses the same curve as the scheduler: R after 30 days at S = 20.
    lora = store.cards.require("lora-principle")
    assert stats_after == pytest.approx(Scheduler(fitted).retrievability(lora.schedule, NOW), rel=1e-12)
    assert stats_before == pytest.approx(Scheduler(default).retrievability(lora.schedule, NOW), rel=1e-12)
    assert stats_after != pytest.approx(stats_before, rel=1e-3)


def test_stored_parameters_that_fsrs_refuses_fall_back_to_the_defaults(store: Store) -> None:
    store.save_setting("fsrs_parameters", "1 2 3")  # e.g. written by a broken tool
    assert store.settings().fsrs_parameters == Settings().fsrs_parameters
