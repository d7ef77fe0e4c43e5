"""The review queue with a fixed clock and fuzz off: limits, order, relearning, undo, cram."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from llmcards.config import Settings
from llmcards.models import Card, Grade, Question, State
from llmcards.session import Session, SessionOptions
from llmcards.store import CardFilter, Store, StudiedOn
from llmcards.sync import sync_questions

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York


def _store(tmp_path: Path, n: int = 30, tags: dict[int, tuple[str, ...]] | None = None) -> Store:
    store = Store.open(tmp_path / "s.db")
    questions = [Question(id=f"c{i:02d}", question=f"question {i}", answer=f"answer {i}",
                          tags=(tags or {}).get(i, ("t",))) for i in range(n)]
    sync_questions(store, questions, origin="bank", import_path=None, now=T0, source="test")
    return store


def _start(store: Store, now: datetime, settings: Settings | None = None, *, tags: tuple[str, ...] = (),
           limit: int | None = None, no_new: bool = False, cram: bool = False,
           include_unanswered: bool = False) -> Session:
    options = SessionOptions(tags=tags, limit=limit, no_new=no_new, cram=cram, include_unanswered=include_unanswered)
    return Session.start(store, settings or Settings(), now, options, tz=NY, fuzz=False)


def _next(session: Session, now: datetime) -> Card:
    """The card the session shows now (there must be one)."""
    card = session.next_card(now)
    assert card is not None
    return card


def _drain(session: Session, now: datetime, grade: Grade = Grade.GOOD) -> list[str]:
    seen = []
    while (card := session.next_card(now)) is not None:
        seen.append(card.id)
        session.answer(card, grade, now, 5000)
    return seen


def test_new_cards_come_in_bank_order_within_the_daily_limit(tmp_path: Path) -> None:
    store = _store(tmp_path)
    session = _start(store, T0, Settings(new_per_day=5, learning_steps=()))
    assert session.counts(T0).new == 5
    assert _drain(session, T0) == ["c00", "c01", "c02", "c03", "c04"]
    # Same study day: the limit is used up, also in a new session.
    assert _start(store, T0 + timedelta(hours=3), Settings(new_per_day=5)).counts(T0).new == 0
    # 03:59 New York next morning is still the same study day; 04:00 starts a new one.
    before = datetime(2026, 3, 3, 8, 59, tzinfo=UTC)
    after = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert _start(store, before, Settings(new_per_day=5)).counts(before).new == 0
    assert [c.id for c in _start(store, after, Settings(new_per_day=5)).new] == ["c05", "c06", "c07", "c08", "c09"]


def test_review_limit_counts_reviews_already_done_today(tmp_path: Path) -> None:
    store = _store(tmp_path, 10)
    settings = Settings(new_per_day=10, learning_steps=())  # Good on a new card -> review state
    _drain(_start(store, T0, settings), T0)
    assert all(c.schedule.state == State.REVIEW for c in store.cards.list(CardFilter(), now=T0))
    later = T0 + timedelta(days=30)
    limited = Settings(new_per_day=10, reviews_per_day=4, learning_steps=())
    first = _start(store, later, limited)
    assert first.counts(later).review == 4
    assert len(_drain(first, later)) == 4
    assert _start(store, later + timedelta(minutes=5), limited).counts(later).review == 0


def test_due_cards_come_before_new_cards_and_limit_and_tags_apply(tmp_path: Path) -> None:
    store = _store(tmp_path, 6, tags={0: ("a",), 1: ("a",), 2: ("b",)})
    settings = Settings(new_per_day=2, learning_steps=())
    _drain(_start(store, T0, settings), T0)  # c00, c01 become review cards
    later = T0 + timedelta(days=40)
    session = _start(store, later, Settings(new_per_day=2, learning_steps=()))
    assert _next(session, later).id == "c00"
    assert _drain(session, later) == ["c00", "c01", "c02", "c03"]
    much_later = later + timedelta(days=60)
    tagged = _start(store, much_later, Settings(new_per_day=5), tags=("b",))
    assert [c.id for c in tagged.reviews] == ["c02"] and tagged.new == []  # only tag b; c02 is due again
    limited = _start(store, later + timedelta(days=60), Settings(new_per_day=20), limit=3)
    assert limited.counts(later).total == 3
    assert _start(store, later, Settings(new_per_day=20), no_new=True).new == []


def test_again_brings_the_card_back_in_the_same_session(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    session = _start(store, T0, Settings(new_per_day=2))
    card = session.next_card(T0)
    assert card is not None and card.id == "c00"
    after = session.answer(card, Grade.AGAIN, T0, 3000)
    assert after.state == State.LEARNING and after.due == T0 + timedelta(minutes=1)
    assert session.counts(T0).learning == 1
    # Not due yet and another card waits: the other card comes first.
    assert _next(session, T0).id == "c01"
    session.answer(_next(session, T0), Grade.GOOD, T0)
    # Nothing else left: look up to 20 minutes ahead, so c00 (due in 1m) and c01 (due in 10m) return.
    back = session.next_card(T0)
    assert back is not None and back.id == "c00" and back.schedule.due == T0 + timedelta(minutes=1)
    t1 = T0 + timedelta(minutes=1)
    session.answer(back, Grade.GOOD, t1)
    stored = store.cards.require("c00")
    assert stored.schedule.state == State.LEARNING and stored.schedule.due == t1 + timedelta(minutes=10)
    nxt = session.next_card(t1)
    assert nxt is not None and nxt.id == "c01"


def test_learning_card_due_beyond_20_minutes_ends_the_session(tmp_path: Path) -> None:
    store = _store(tmp_path, 1)
    settings = Settings(new_per_day=1, learning_steps=(timedelta(minutes=30),))
    session = _start(store, T0, settings)
    session.answer(_next(session, T0), Grade.AGAIN, T0)
    assert session.next_card(T0) is None
    assert session.next_card(T0 + timedelta(minutes=10)) is not None  # now within 20 minutes
    summary = session.summary(T0)
    assert summary.reviewed == 1 and summary.learning_later == 1
    assert summary.next_due == T0 + timedelta(minutes=30)


def test_undo_restores_state_and_deletes_the_log(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    session = _start(store, T0, Settings(new_per_day=3))
    card = session.next_card(T0)
    assert card is not None
    before = store.cards.require(card.id).schedule
    session.answer(card, Grade.EASY, T0, 2000)
    assert store.cards.require(card.id).schedule.state == State.REVIEW
    assert len(store.cards.history(card.id)) == 1
    undone = session.undo()
    assert undone is not None and undone.id == card.id
    assert store.cards.require(card.id).schedule == before
    assert store.cards.history(card.id) == []
    assert _next(session, T0).id == card.id
    assert session.counts(T0).new == 3
    assert session.undo() is None
    # Undo of an Again also removes the same-session relearning copy.
    session.answer(_next(session, T0), Grade.AGAIN, T0)
    assert session.counts(T0).learning == 1
    session.undo()
    assert session.counts(T0) .learning == 0 and session.counts(T0).new == 3


def test_cram_logs_grades_but_leaves_the_schedule(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    _drain(_start(store, T0, Settings(new_per_day=3, learning_steps=())), T0)
    before = {c.id: c.schedule for c in store.cards.list(CardFilter(), now=T0)}
    later = T0 + timedelta(hours=2)  # nothing is due
    assert _start(store, later, Settings()).counts(later).total == 0
    cram = _start(store, later, Settings(), cram=True)
    assert cram.counts(later).review == 3
    cram.answer(_next(cram, later), Grade.AGAIN, later)
    assert cram.counts(later).review == 3  # the failed card comes back at the end
    seen = _drain(cram, later)
    assert seen == ["c01", "c02", "c00"]
    after = {c.id: c.schedule for c in store.cards.list(CardFilter(), now=T0)}
    assert after == before
    logs = store.cards.history("c00")
    assert [(log.rating, log.cram) for log in logs] == [(Grade.GOOD, False), (Grade.AGAIN, True), (Grade.GOOD, True)]
    assert store.queue.studied_on(cram.day) == StudiedOn(new=3, reviews=0)  # cram does not use up limits


def test_suspend_and_bury_leave_the_session(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    session = _start(store, T0, Settings(new_per_day=3))
    session.suspend(_next(session, T0), T0)
    session.bury(_next(session, T0), T0)
    assert [c.id for c in session.new] == ["c02"]
    assert store.cards.require("c00").suspended
    assert store.cards.require("c01").buried_until == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # 04:00 EST
    next_day = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert "c01" in [c.id for c in _start(store, next_day, Settings(new_per_day=3)).new]


def test_unanswered_cards_are_skipped_unless_asked(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    sync_questions(store, [Question(id="a", question="qa", answer=None), Question(id="b", question="qb", answer="x")],
                         origin="bank", import_path=None, now=T0, source="t")
    assert [c.id for c in _start(store, T0).new] == ["b"]
    assert [c.id for c in _start(store, T0, include_unanswered=True).new] == ["a", "b"]


def test_upcoming_guesses_the_card_after_a_good_grade(tmp_path: Path) -> None:
    store = _store(tmp_path, 4)
    session = _start(store, T0, Settings(new_per_day=4))
    guessed = []
    while (card := session.next_card(T0)) is not None and card.schedule.state == State.NEW:
        guessed.append(upcoming.id if (upcoming := session.upcoming(card, T0)) else None)
        session.answer(card, Grade.GOOD, T0, 1000)
        shown = session.next_card(T0)
        assert (shown.id if shown is not None else None) == guessed[-1]  # the guess was the next card
    assert guessed == ["c01", "c02", "c03", "c00"]  # then learning cards, due within 20 minutes, come back
    cram = _start(store, T0, cram=True)
    first = _next(cram, T0)
    assert cram.upcoming(first, T0) is not None and cram.upcoming(first, T0) != first
