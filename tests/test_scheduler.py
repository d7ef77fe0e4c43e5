"""Study-day arithmetic (rollover hour, DST) and the fsrs wrapper, with a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from llmcards.config import Settings, parse_steps
from llmcards.models import CardState, Grade, State
from llmcards.render import format_interval
from llmcards.scheduler import Scheduler, day_start, next_day_start, study_day

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def test_day_rolls_over_at_the_configured_hour() -> None:
    # 03:59 local belongs to the previous study day; 04:00 starts a new one.
    assert study_day(datetime(2026, 6, 10, 3, 59, tzinfo=NY), 4, NY) == date(2026, 6, 9)
    assert study_day(datetime(2026, 6, 10, 4, 0, tzinfo=NY), 4, NY) == date(2026, 6, 10)
    assert study_day(datetime(2026, 6, 10, 0, 30, tzinfo=NY), 0, NY) == date(2026, 6, 10)
    assert day_start(date(2026, 6, 10), 4, NY) == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # EDT = UTC-4


def test_rollover_is_at_local_4am_across_spring_forward() -> None:
    # US DST starts 2026-03-08 at 02:00 local: EST (UTC-5) before, EDT (UTC-4) after.
    assert day_start(date(2026, 3, 7), 4, NY) == datetime(2026, 3, 7, 9, 0, tzinfo=UTC)
    assert day_start(date(2026, 3, 8), 4, NY) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert day_start(date(2026, 3, 9), 4, NY) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    # The study day of 2026-03-07 spans the clock change, so it is only 23 hours long.
    assert day_start(date(2026, 3, 8), 4, NY) - day_start(date(2026, 3, 7), 4, NY) == timedelta(hours=23)
    assert day_start(date(2026, 3, 9), 4, NY) - day_start(date(2026, 3, 8), 4, NY) == timedelta(hours=24)
    just_before = datetime(2026, 3, 8, 7, 59, tzinfo=UTC)  # 03:59 EDT
    assert study_day(just_before, 4, NY) == date(2026, 3, 7)
    assert next_day_start(just_before, 4, NY) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_rollover_is_at_local_4am_across_fall_back() -> None:
    # US DST ends 2026-11-01 at 02:00 local: the study day of 2026-10-31 lasts 25 hours.
    start = day_start(date(2026, 11, 1), 4, NY)
    assert start == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 04:00 EST
    assert start - day_start(date(2026, 10, 31), 4, NY) == timedelta(hours=25)
    assert day_start(date(2026, 11, 2), 4, NY) - start == timedelta(hours=24)
    assert study_day(datetime(2026, 11, 1, 8, 30, tzinfo=UTC), 4, NY) == date(2026, 10, 31)  # 03:30 EST


def test_new_card_good_good_follows_the_learning_steps_exactly() -> None:
    scheduler = Scheduler(Settings(), fuzz=False)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    first = scheduler.review(CardState(), Grade.GOOD, now, card_id="c")
    assert first.state == State.LEARNING and first.step == 1
    assert first.due == now + timedelta(minutes=10)
    second = scheduler.review(first, Grade.GOOD, first.due, card_id="c")
    assert second.state == State.REVIEW
    assert second.due is not None and second.due.date() == (first.due + timedelta(days=2)).date()
    again = scheduler.review(second, Grade.AGAIN, second.due, card_id="c")
    assert again.state == State.RELEARNING and again.due == second.due + timedelta(minutes=10)
    assert again.lapses == 1 and again.reps == 3


def test_preview_matches_review_without_fuzz() -> None:
    scheduler = Scheduler(Settings(), fuzz=True)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    preview = scheduler.preview(CardState(), now)
    assert preview[Grade.AGAIN] == timedelta(minutes=1)
    assert preview[Grade.GOOD] == timedelta(minutes=10)
    assert [format_interval(preview[g]) for g in Grade] == ["1m", "6m", "10m", format_interval(preview[Grade.EASY])]
    assert preview[Grade.EASY] >= timedelta(days=1)


def test_naive_datetimes_are_rejected_before_fsrs() -> None:
    with pytest.raises(ValueError):
        Scheduler(Settings()).review(CardState(), Grade.GOOD, datetime(2026, 1, 1), card_id="c")


def test_steps_parse_and_format() -> None:
    assert parse_steps("1m 10m 1h 2d") == (
        timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1), timedelta(days=2))
    assert parse_steps("") == ()
    with pytest.raises(ValueError):
        parse_steps("10 minutes")
    assert Settings().to_strings()["learning_steps"] == "1m 10m"
