"""``llmcards stats``' figures: each one against a store built with known reviews at known times.

The clock is pinned (``now`` passed explicitly) and so is the time zone (UTC), with the default
study-day rollover at 04:00. The store is the ``history`` fixture (conftest.py); the text is tested
in test_render_stats.py and the command in test_stats_cli.py.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import Grade
from llmcards.scheduler import forgetting_curve
from llmcards.stats import compute_stats, to_json
from llmcards.store import Store
from tests.helpers import LONG_ZH, NOW, UTC, at, record_grade, review_state, stats_at


def fsrs_retrievability(stability: float, last_review: str, now: datetime = NOW) -> float:
    """fsrs's own retrievability of a review card, to check ours against."""
    import fsrs

    card = fsrs.Card(card_id=1, state=fsrs.State.Review, step=None, stability=stability, difficulty=5.0,
                     due=now, last_review=at(last_review))
    return float(fsrs.Scheduler().get_card_retrievability(card, now))


# ----------------------------------------------------------------------------- figures
def test_today_and_streak(history: Store) -> None:
    s = stats_at(history)
    assert s.day == date(2026, 3, 2)
    t = s.today
    # reviews 6-10: the cram one counts as studied; #5 at 03:30 belongs to yesterday's study day
    assert (t.reviews, t.cards, t.new, t.again, t.time_ms) == (5, 4, 1, 1, 5000 + 20000 + 7000 + 9000 + 3000)
    assert (t.retention.reviews, t.retention.passed, t.retention.rate) == (1, 1, 1.0)  # #9 only (#10 is cram)
    # study days 01-01, 01-31, 02-27, 02-28, 03-01, 03-02
    assert (s.streak.current, s.streak.longest) == (4, 4)


def test_study_day_rollover_at_day_starts_at(history: Store) -> None:
    before = stats_at(history, at("2026-03-02 03:59:59"))  # still study day 03-01
    assert before.day == date(2026, 3, 1)
    assert (before.today.reviews, before.today.again, before.today.time_ms) == (1, 1, 15000)  # review #5
    assert (before.today.retention.reviews, before.today.retention.passed) == (1, 0)
    assert (before.streak.current, before.streak.longest) == (3, 3)  # 02-27..03-01; later days not counted
    assert before.heatmap.end == date(2026, 3, 1) and date(2026, 3, 2) not in before.heatmap.counts

    after = stats_at(history, at("2026-03-02 04:00:00"))
    assert after.day == date(2026, 3, 2) and after.today.reviews == 5

    # the rollover follows the setting
    late = compute_stats(history, at("2026-03-02 05:00"), Settings(day_starts_at=6), tz=UTC)
    assert late.day == date(2026, 3, 1)


def test_streak_survives_until_the_day_ends_without_reviews(history: Store) -> None:
    tomorrow = stats_at(history, at("2026-03-03 12:00"))
    assert (tomorrow.today.reviews, tomorrow.streak.current, tomorrow.streak.longest) == (0, 4, 4)
    later = stats_at(history, at("2026-03-04 12:00"))
    assert (later.streak.current, later.streak.longest) == (0, 4)


def test_card_counts(history: Store) -> None:
    c = stats_at(history).cards
    assert (c.new, c.learning, c.young, c.mature, c.suspended, c.retired) == (2, 1, 1, 1, 1, 1)
    assert c.total == 7 and c.unanswered == 1  # kv-cache; old-card has no answer but is retired


def test_mature_starts_at_an_interval_of_21_days(store: Store) -> None:
    record_grade(store, "lora-principle", "2026-03-01 10:00", Grade.GOOD, review_state("2026-03-01 10:00", 21, 21),
                 ms=1)
    record_grade(store, "bn-vs-ln", "2026-03-01 10:00", Grade.GOOD,
                 review_state("2026-03-01 10:00", 21 - 1 / 86400, 21), ms=1)
    c = stats_at(store).cards
    assert (c.young, c.mature) == (1, 1)


def test_future_due_and_backlog(history: Store) -> None:
    f = stats_at(history).future
    assert [d.day for d in f.days][:2] == [date(2026, 3, 2), date(2026, 3, 3)] and len(f.days) == 30
    assert [d.cards for d in f.days] == [1] + [0] * 29  # bn, due 03-03 03:30: before tomorrow's 04:00
    assert (f.total, f.daily_average, f.overdue) == (1, 1 / 30, 1)  # attention is overdue; zh-long suspended

    f31 = stats_at(history, days=31).future
    assert f31.days[30].day == date(2026, 4, 1) and f31.days[30].cards == 1  # lora, due 04-01 10:00
    assert (f31.total, f31.daily_average) == (2, 2 / 31)

    one = stats_at(history, days=1).future
    assert [d.cards for d in one.days] == [1]
    decade = stats_at(history, days=3650).future  # sent to SQLite in chunks of ranges
    assert len(decade.days) == 3650 and decade.days[-1].day == date(2036, 2, 27) and decade.total == 2
    with pytest.raises(UserError):
        stats_at(history, days=0)


def test_due_day_boundaries_follow_the_study_day(history: Store) -> None:
    # at 03:00 on 03-03 the study day is still 03-02: bn (due 03:30) is due later "today"
    f = stats_at(history, at("2026-03-03 03:00")).future
    assert f.days[0].day == date(2026, 3, 2) and f.days[0].cards == 1
    # a card due exactly now counts as overdue, not as due today
    f = stats_at(history, at("2026-03-03 03:30")).future
    assert (f.days[0].cards, f.overdue) == (0, 2)


def test_heatmap(history: Store) -> None:
    h = stats_at(history).heatmap
    assert (h.start, h.end) == (date(2025, 3, 3), date(2026, 3, 2))  # 53 weeks, Monday to today
    assert h.counts == {date(2026, 1, 1): 1, date(2026, 1, 31): 1, date(2026, 2, 27): 1, date(2026, 2, 28): 1,
                        date(2026, 3, 1): 1, date(2026, 3, 2): 5}
    assert (h.total, h.active_days, h.busiest) == (10, 6, 5)


def test_true_retention_by_span_young_and_mature(history: Store) -> None:
    spans = {s.name: s for s in stats_at(history).retention}
    assert [(s.name, s.days) for s in stats_at(history).retention] == [
        ("day", 1), ("week", 7), ("month", 30), ("year", 365)]
    got = {name: (s.young.reviews, s.young.passed, s.mature.reviews, s.mature.passed) for name, s in spans.items()}
    assert got == {
        "day": (1, 1, 0, 0),  # #9; #10 is cram
        "week": (2, 1, 0, 0),  # #5 (Again) and #9
        "month": (2, 1, 0, 0),  # 02-01..03-02: #2 on 01-31 is just outside
        "year": (2, 1, 1, 1),  # + #2 (mature)
    }
    assert spans["year"].all.rate == 2 / 3 and spans["week"].young.rate == 0.5 and spans["day"].mature.rate is None


def test_retrievability_matches_fsrs(history: Store) -> None:
    m = stats_at(history).memory
    lora = fsrs_retrievability(60, "2026-01-31 10:00")  # 30 whole days after its last (non-cram) review
    decay, factor = forgetting_curve(Settings().fsrs_parameters)
    assert lora == pytest.approx((1 + factor * 30 / 60) ** -decay)
    # bn and attention were reviewed today (0 whole days: R = 1); zh-long is suspended
    assert m.cards == 3
    assert m.known == pytest.approx(lora + 1.0 + 1.0, rel=1e-12)
    assert m.average == pytest.approx((lora + 2.0) / 3, rel=1e-12)
    # days elapsed are whole days, floored, as in fsrs
    later = at("2026-03-09 09:00")
    expected = (fsrs_retrievability(60, "2026-01-31 10:00", later) + fsrs_retrievability(1.5, "2026-03-02 04:30", later)
                + fsrs_retrievability(1.2, "2026-03-02 09:10", later))
    assert stats_at(history, later).memory.known == pytest.approx(expected, rel=1e-12)


def test_tags_weakest_first(history: Store) -> None:
    rows = [(t.tag, t.cards, t.studied, t.mature, t.due) for t in stats_at(history).tags]
    assert rows == [
        ("peft", 1, 1, 1, 0),  # old-card is retired
        ("attention", 1, 1, 0, 1),
        ("normalization", 1, 1, 0, 0),
        ("inference", 1, 0, 0, 0),
        ("nlp-basics", 1, 0, 0, 0),
        ("位置编码", 1, 1, 0, 0),  # studied but suspended: no retrievability
    ]
    r = {t.tag: t.retrievability for t in stats_at(history).tags}
    assert r["peft"] == pytest.approx(fsrs_retrievability(60, "2026-01-31 10:00"))
    assert (r["attention"], r["normalization"], r["inference"], r["位置编码"]) == (1.0, 1.0, None, None)


def test_hardest_cards_and_leeches(history: Store) -> None:
    hardest = stats_at(history).hardest
    assert [(c.id, c.lapses, c.reps, c.status, c.leech) for c in hardest] == [
        ("zh-long", 8, 2, "suspended", True),
        ("bn-vs-ln", 1, 3, "review", False),
    ]


def test_tag_restricts_everything(history: Store) -> None:
    s = stats_at(history, tag="peft", days=31)
    assert s.tag == "peft"
    today = s.today
    assert (today.reviews, today.cards, today.new, today.time_ms, today.retention.reviews) == (1, 1, 0, 3000, 0)
    assert (s.streak.current, s.streak.longest) == (1, 1)  # 01-01, 01-31, 03-02
    assert (s.cards.mature, s.cards.retired, s.cards.total) == (1, 1, 2)
    assert (s.future.total, s.future.days[30].cards, s.future.overdue) == (1, 1, 0)
    assert s.heatmap.counts == {date(2026, 1, 1): 1, date(2026, 1, 31): 1, date(2026, 3, 2): 1}
    assert {x.name: (x.mature.reviews, x.young.reviews) for x in s.retention}["year"] == (1, 0)
    assert s.memory.cards == 1 and [t.tag for t in s.tags] == ["peft"] and s.hardest == ()

    n = stats_at(history, tag="normalization")
    assert (n.streak.current, n.streak.longest, n.future.total, n.today.reviews) == (2, 2, 1, 1)  # no review on 02-28
    assert [c.id for c in n.hardest] == ["bn-vs-ln"]


def test_unknown_tag_lists_the_tags(history: Store) -> None:
    with pytest.raises(UserError, match=r"no card has the tag 'atention'; tags: attention, inference, .*位置编码"):
        stats_at(history, tag="atention")


def test_empty_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "empty.db") as empty:
        s = stats_at(empty)
        assert not s.has_cards and not s.has_reviews
        assert s.cards.total == 0 and s.future.total == 0 and s.future.daily_average == 0
        assert s.memory.average is None and s.today.retention.rate is None
        assert all(x.all.rate is None for x in s.retention)
        assert s.tags == () and s.hardest == () and s.heatmap.busiest == 0
        with pytest.raises(UserError, match=r"tags: \(none\)"):
            stats_at(empty, tag="x")
        data = to_json(s)
        assert data["cards"]["total"] == 0 and data["retrievability"]["average"] is None


def test_store_without_reviews(store: Store) -> None:
    s = stats_at(store)
    assert s.has_cards and not s.has_reviews and s.cards.new == 5


def test_pow_fallback_when_sqlite_lacks_math_functions(history: Store) -> None:
    """The Python stand-in registered when SQLite has no pow() gives the same figures."""
    import math

    expected = stats_at(history).memory.known
    history.conn.create_function("pow", 2, math.pow, deterministic=True)
    assert stats_at(history).memory.known == pytest.approx(expected, rel=1e-15)


# ----------------------------------------------------------------------------- JSON
def test_json_keys(history: Store) -> None:
    data = to_json(stats_at(history))
    json.dumps(data)  # serialisable
    assert set(data) == {"now", "study_day", "day_starts_at", "tag", "today", "streak", "cards", "future_due",
                         "heatmap", "retention", "retrievability", "tags", "hardest"}
    assert data["today"] == {"reviews": 5, "cards": 4, "new": 1, "again": 1, "time_ms": 44000,
                             "retention": {"reviews": 1, "passed": 1, "rate": 1.0}}
    assert data["streak"] == {"current": 4, "longest": 4}
    assert data["cards"] == {"total": 7, "new": 2, "learning": 1, "young": 1, "mature": 1, "suspended": 1,
                             "retired": 1, "unanswered": 1}
    assert set(data["future_due"]) == {"days", "total", "daily_average", "overdue"}
    assert data["future_due"]["days"][0] == {"day": "2026-03-02", "cards": 1}
    assert set(data["heatmap"]) == {"start", "end", "reviews", "total", "active_days", "busiest"}
    assert data["heatmap"]["reviews"]["2026-03-02"] == 5
    assert set(data["retention"]) == {"day", "week", "month", "year"}
    assert data["retention"]["year"] == {"days": 365, "young": {"reviews": 2, "passed": 1, "rate": 0.5},
                                         "mature": {"reviews": 1, "passed": 1, "rate": 1.0},
                                         "all": {"reviews": 3, "passed": 2, "rate": 2 / 3}}
    assert set(data["retrievability"]) == {"cards", "average", "known"}
    assert set(data["tags"][0]) == {"tag", "cards", "studied", "mature", "due", "retrievability"}
    assert data["hardest"][0] == {"id": "zh-long", "question": LONG_ZH, "lapses": 8, "reps": 2,
                                  "status": "suspended", "leech": True}
    assert (data["now"], data["study_day"], data["day_starts_at"], data["tag"]) == (
        "2026-03-02T12:00:00Z", "2026-03-02", 4, None)
