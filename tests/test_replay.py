"""Replaying the review history gives back exactly the live schedule, fuzz and due dates included."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcards.config import Settings
from llmcards.models import CardState, Grade, Question, State
from llmcards.replay import replay_cards
from llmcards.scheduler import Scheduler, study_day
from llmcards.session import Session
from llmcards.store import Store
from llmcards.sync import sync_questions
from tests.helpers import NOW

CARDS = [Question(id=f"c{i}", question=f"q{i}", answer="a") for i in range(3)]

# A history: for each step, which card, which grade, and how long after the card fell due.
steps = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(list(Grade)), st.floats(-0.5, 30.0)),
                 min_size=1, max_size=40)


def _new_store(tmp: Path) -> Store:
    # uuid4, not random: Hypothesis seeds `random` per example, so names would repeat across examples.
    store = Store.open(tmp / f"replay-{uuid.uuid4().hex}.db")
    sync_questions(store, CARDS, origin="bank", import_path=None, now=NOW, source="test")
    return store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=steps, cram_every=st.integers(0, 5))
def test_replay_of_random_histories_matches_the_live_schedule(tmp_path: Path, history: list[tuple[int, Grade, float]],
                                                              cram_every: int) -> None:
    store = _new_store(tmp_path)
    live = Scheduler(Settings(), fuzz=True)  # fuzz on: it must come out the same
    clock = {c.id: NOW for c in CARDS}
    for n, (index, grade, late_days) in enumerate(history):
        card = store.cards.require(CARDS[index].id)
        at = max(clock[card.id], (card.schedule.due or NOW) + timedelta(days=late_days))
        clock[card.id] = at + timedelta(seconds=1)
        cram = bool(cram_every) and n % cram_every == 0
        after = live.review(card.schedule, grade, at, card_id=card.id)
        store.queue.record_review(card.id, card.schedule, after, rating=grade, reviewed_at=at,
                                  study_day=study_day(at, 4, timezone.utc), duration_ms=1000, cram=cram)
    stored = {c.id: store.cards.require(c.id).schedule for c in CARDS}
    logs = {c.id: store.cards.history(c.id) for c in CARDS}

    report = replay_cards(store)

    assert report.changed == ()
    assert {c.id: store.cards.require(c.id).schedule for c in CARDS} == stored
    assert {c.id: store.cards.history(c.id) for c in CARDS} == logs
    store.close()


def test_replay_rebuilds_a_schedule_that_was_lost(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    session = Session.start(store, Settings(learning_steps=()), NOW, tz=timezone.utc)
    card = session.next_card(NOW)
    assert card is not None
    session.answer(card, Grade.GOOD, NOW)
    later = NOW + timedelta(days=5)
    again = Session.start(store, Settings(learning_steps=()), later, tz=timezone.utc)
    again.answer(store.cards.require(card.id), Grade.GOOD, later)
    expected = store.cards.require(card.id).schedule
    assert expected.state == State.REVIEW and expected.reps == 2
    with store.write() as c:  # the card's columns are damaged; the log is intact
        c.execute("UPDATE cards SET state = 0, stability = NULL, due = NULL, reps = 0 WHERE id = ?", (card.id,))

    report = replay_cards(store, [card.id])

    assert report.changed == (card.id,) and report.reviews == 2
    assert store.cards.require(card.id).schedule == expected


def test_fuzz_is_seeded_by_card_and_review_count() -> None:
    scheduler = Scheduler(Settings(learning_steps=()), fuzz=True)
    review = CardState(state=State.REVIEW, stability=40.0, difficulty=5.0, due=NOW,
                       last_review=NOW - timedelta(days=40), reps=3)
    dues = {scheduler.review(review, Grade.GOOD, NOW, card_id=f"card-{i}").due for i in range(30)}
    assert len(dues) > 3  # fuzz spreads different cards
    first = scheduler.review(review, Grade.GOOD, NOW, card_id="card-1")
    random.seed(12345)  # the global generator plays no part
    assert scheduler.review(review, Grade.GOOD, NOW, card_id="card-1") == first
