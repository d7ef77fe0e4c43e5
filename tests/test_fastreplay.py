"""Replaying many cards at once (numpy) gives bit-for-bit what fastfsrs gives one review at a time."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsrs.scheduler as fsrs_scheduler
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcards import fastreplay, replay
from llmcards.config import Settings
from llmcards.fastfsrs import NEW, Fast, FastScheduler, to_us
from llmcards.models import Grade, Question
from llmcards.scheduler import Scheduler, study_day
from llmcards.store import Store
from llmcards.sync import sync_questions
from tests.helpers import NOW
from tests.test_fastfsrs import scheduler_settings

# Gaps between reviews from seconds to a year, with microseconds, so every branch (same day,
# overdue, early) is taken.
gaps = st.one_of(st.integers(0, 3600), st.integers(3600, 3 * 86400), st.integers(86400, 400 * 86400))
reviews = st.tuples(st.sampled_from([1, 2, 3, 4]), gaps, st.integers(0, 999_999))
card_ids = st.text(min_size=1, max_size=8)


def _interval(f: Fast) -> float | None:
    return None if f[4] is None or f[5] is None else (f[4] - f[5]) / 1_000_000 / 86400


@settings(max_examples=300, deadline=None)
@given(config=scheduler_settings(), ids=st.lists(card_ids, min_size=1, max_size=7, unique=True),
       data=st.data(), fuzz=st.booleans(), staged=st.booleans())
def test_array_replay_is_fastfsrs_bit_for_bit(config: Settings, ids: list[str], data: st.DataObject, fuzz: bool,
                                               staged: bool) -> None:
    fast = FastScheduler(config, fuzz=fuzz)
    starts: list[Fast] = []
    finals: list[Fast] = []
    logged: list[tuple[Any, ...]] = []
    counts: list[int] = []
    ratings: list[int] = []
    times: list[int] = []
    for card_id in ids:
        history = data.draw(st.lists(reviews, max_size=25))
        # A staged replay starts from the state its first reviews gave (a stored schedule).
        skip = data.draw(st.integers(0, len(history))) if staged else 0
        state: Fast = NEW
        at = to_us(NOW)
        for k, (grade, gap, micro) in enumerate(history):
            if k == skip:
                starts.append(state)
            at += gap * 1_000_000 + micro
            new = fast.review(state, grade, at, card_id)
            if k >= skip:
                ratings.append(grade)
                times.append(at)
                logged.append((state[0], _interval(state), new[0], new[2], new[3], new[4]))
            state = new
        if skip == len(history):
            starts.append(state)
        finals.append(state)
        counts.append(len(history) - skip)

    result = fastreplay.replay(fast, ids, np.array(counts, np.int64), np.array(ratings, np.int8),
                               np.array(times, np.int64), start=fastreplay.States.of(starts) if staged else None,
                               logs=True)

    assert result.final.tuples() == finals
    assert result.logged is not None
    got = result.logged
    intervals = [v if has else None for v, has in
                 zip(got.prev_interval_days.tolist(), got.has_prev_interval.tolist(), strict=True)]
    assert list(zip(got.prev_state.tolist(), intervals, got.state.tolist(), got.stability.tolist(),
                    got.difficulty.tolist(), got.due.tolist(), strict=True)) == logged


def test_fuzz_draws_are_the_schedulers() -> None:
    from llmcards.scheduler import fuzz_uniform

    draws = fastreplay._Draws(["a", "card-1", "ü"])
    expected = [fuzz_uniform(c, 7) for c in ("ü", "a", "card-1")]
    assert draws(np.array([2, 0, 1]), np.array([7, 7, 7])).tolist() == expected
    assert draws(np.array([1, 1]), np.array([0, 12])).tolist() == [fuzz_uniform("card-1", r) for r in (0, 12)]


def test_states_fastfsrs_would_refuse_are_left_to_it() -> None:
    fast = FastScheduler(Settings())
    one = (np.array([1], np.int64), np.array([3], np.int8), np.array([to_us(NOW)], np.int64))
    for bad in [(7, None, None, None, None, None, 0, 0),  # no such state
                (1, None, 2.0, 5.0, None, to_us(NOW), 1, 0),  # learning without a step
                (2, None, 2.0, 5.0, None, None, 1, 0)]:  # a stability, but no last review
        with pytest.raises(fastreplay.Unsupported):
            fastreplay.replay(fast, ["c"], *one, start=fastreplay.States.of([bad]))
    with pytest.raises(fastreplay.Unsupported):
        fastreplay.replay(fast, ["c"], one[0], np.array([5], np.int8), one[2])


# ----------------------------------------------------------------------------- stored times
@settings(max_examples=300, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
                max_size=20))
def test_times_read_and_written_as_the_store_does(values: list[datetime]) -> None:
    texts = [v.isoformat(" ", "microseconds") for v in values]  # to_db's format (years from 1000 on)
    us = fastreplay.parse_times("".join(texts).encode())
    assert us.tolist() == [replay._us(t) for t in texts]
    assert fastreplay.format_times(us) == [replay._text(u) for u in us.tolist()] == texts


@pytest.mark.parametrize("text", ["2025-02-29 10:00:00.000000", "2024-02-30 10:00:00.000000",
                                  "2024-04-31 10:00:00.000000", "2024-13-01 10:00:00.000000",
                                  "2024-00-10 10:00:00.000000", "0000-01-01 10:00:00.000000",
                                  "2024-01-01 24:00:00.000000", "2024-01-01 10:60:00.000000",
                                  "2024-01-01 10:00:60.000000", "2024-01-01T10:00:00.000000",
                                  "2024-01-01 10:00:00+00:00 ", "2024-01-01 10:00:00.00000a",
                                  "2024-01-01 10:00:00"])
def test_times_not_in_the_stores_format_are_refused(text: str) -> None:
    with pytest.raises(fastreplay.Unsupported):
        fastreplay.parse_times(("2024-02-29 10:00:00.000000" + text).encode())


# ----------------------------------------------------------------------------- through the store
CARDS = [Question(id=f"card-{i:02d}", question=f"q{i}", answer="a") for i in range(24)]


def _studied_store(path: Path, seed: int) -> Path:
    """A store whose cards were studied with the live scheduler (fuzz on), some reviews crammed,
    one card never studied; then every schedule column damaged, in cards and log alike."""
    import random

    rng = random.Random(seed)
    store = Store.open(path)
    sync_questions(store, CARDS, origin="bank", import_path=None, now=NOW, source="test")
    live = Scheduler(Settings(), fuzz=True)
    for card in CARDS[:-1]:
        at = NOW
        for n in range(rng.randint(0, 30)):
            row = store.cards.require(card.id)
            at = max(at, (row.schedule.due or NOW) + timedelta(days=rng.uniform(-0.5, 20.0)))
            at = at + timedelta(microseconds=rng.randint(1, 10**6))
            grade = Grade(rng.choice([1, 2, 3, 3, 3, 4]))
            after = live.review(row.schedule, grade, at, card_id=card.id)
            store.queue.record_review(card.id, row.schedule, after, rating=grade, reviewed_at=at,
                                      study_day=study_day(at, 4, timezone.utc), duration_ms=1000, cram=n % 7 == 3)
    with store.write() as c:
        c.execute("UPDATE cards SET stability = stability * 2, due = '2030-01-01 00:00:00.000000' WHERE rowid % 3 = 0")
        c.execute("UPDATE review_logs SET stability = 1.5, prev_interval_days = NULL WHERE id % 2 = 0")
    store.close()
    return path


def _tables(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT * FROM cards ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM review_logs ORDER BY id").fetchall())
    finally:
        conn.close()


def _replay_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: list[str] | None,
                      damage: str | None = None, **kwargs: Any) -> tuple[replay.ReplayReport, replay.ReplayReport]:
    template = _studied_store(tmp_path / "template.db", seed=len(ids or ()))
    if damage is not None:
        conn = sqlite3.connect(template)
        conn.execute(damage)
        conn.commit()
        conn.close()
    reports = []
    for way, threshold in (("bulk", 0), ("one-by-one", 10**9)):
        path = tmp_path / f"{way}.db"
        shutil.copy(template, path)
        monkeypatch.setattr(replay, "BULK_CARDS", threshold)
        store = Store.open(path)
        ids_given = ids if ids is not None or way == "bulk" else store.history.card_ids_with_reviews()
        reports.append(replay.replay_cards(store, ids_given, **kwargs))
        store.close()
    assert _tables(tmp_path / "bulk.db") == _tables(tmp_path / "one-by-one.db")
    return reports[0], reports[1]


@pytest.mark.parametrize("rewrite_logs", [True, False])
@pytest.mark.parametrize("ids", [None, [c.id for c in reversed(CARDS)] + ["no-such-card"]])
def test_replay_cards_gives_the_same_whichever_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  ids: list[str] | None, rewrite_logs: bool) -> None:
    bounds = zip(fsrs_scheduler.LOWER_BOUNDS_PARAMETERS, fsrs_scheduler.UPPER_BOUNDS_PARAMETERS, strict=True)
    parameters = tuple(min(max(p * 1.2, low), high) for p, (low, high) in
                       zip(fsrs_scheduler.DEFAULT_PARAMETERS, bounds, strict=True))
    new = replace(Settings(), desired_retention=0.85, fsrs_parameters=parameters)
    bulk, single = _replay_both_ways(tmp_path, monkeypatch, ids, settings=new, rewrite_logs=rewrite_logs)
    assert bulk.cards == single.cards and bulk.cards >= len(CARDS) // 2
    if ids is not None:
        assert bulk.cards == len(CARDS)  # the unknown card left out, the one never studied replayed
    assert bulk.reviews == single.reviews > 0
    assert bulk.changed == single.changed and len(bulk.changed) > len(CARDS) // 2
    assert dict(bulk.before) == dict(single.before) and dict(bulk.after) == dict(single.after)


def test_a_history_not_in_the_stores_format_is_replayed_one_review_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[int] = []
    original = replay._replay

    def one_by_one(*args: Any, **kwargs: Any) -> replay.ReplayReport:
        called.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(replay, "_replay", one_by_one)
    bulk, single = _replay_both_ways(tmp_path, monkeypatch, None, damage=(
        "UPDATE review_logs SET reviewed_at = substr(reviewed_at, 1, 19) WHERE id = (SELECT max(id) FROM review_logs)"))
    assert called == [1, 1]  # the bulk replay gave up, without writing anything
    assert bulk == single


def test_replaying_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    path = _studied_store(tmp_path / "s.db", seed=3)
    store = Store.open(path)
    first = replay.replay_cards(store)
    tables = _tables(path)
    again = replay.replay_cards(store)
    assert first.changed and again.changed == () and _tables(path) == tables
    store.close()


def test_numpy_is_imported_only_by_a_replay_of_many_cards(tmp_path: Path) -> None:
    path = _studied_store(tmp_path / "s.db", seed=5)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import llmcards.cli, llmcards.session, llmcards.ui, llmcards.stats, llmcards.render_stats, llmcards.sync\n"
        "from llmcards import optimize, replay\n"
        "from llmcards.store import Store\n"
        "store = Store.open(Path(sys.argv[1]))\n"
        "replay.replay_cards(store, ['card-01', 'card-02'])\n"
        "assert 'numpy' not in sys.modules, 'numpy imported'\n"
        "replay.replay_cards(store)\n"
        "assert 'numpy' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("damage", [
    "UPDATE review_logs SET state = 7 WHERE id = (SELECT max(id) FROM review_logs)",
    "UPDATE review_logs SET prev_state = -1 WHERE id = (SELECT min(id) FROM review_logs)",
    "UPDATE review_logs SET rating = 5 WHERE id = (SELECT min(id) FROM review_logs WHERE cram = 1)",
    "UPDATE review_logs SET reviewed_at = CAST(reviewed_at AS BLOB) WHERE id = (SELECT max(id) FROM review_logs)",
    "UPDATE review_logs SET reviewed_at = '2024-13-01 10:00:00.000000' WHERE id = (SELECT max(id) FROM review_logs)",
])
def test_rescheduling_refuses_a_log_with_rows_nothing_can_replay(tmp_path: Path, damage: str) -> None:
    path = _studied_store(tmp_path / "s.db", seed=8)
    conn = sqlite3.connect(path)
    conn.execute(damage)
    conn.commit()
    conn.close()
    before = _tables(path)
    store = Store.open(path)
    assert store.history.unreadable_rows() == 1
    with pytest.raises(replay.UnreplayableRows) as refused:
        replay.reschedule_cards(store, Settings(desired_retention=0.8))
    store.close()
    assert refused.value.rows == 1 and "1 review log row cannot be replayed" in str(refused.value)
    assert _tables(path) == before


def test_rescheduling_takes_readable_rows_the_bulk_replay_does_not(tmp_path: Path) -> None:
    path = _studied_store(tmp_path / "s.db", seed=9)
    conn = sqlite3.connect(path)  # a time without microseconds: readable, but not to_db's text
    conn.execute("UPDATE review_logs SET reviewed_at = substr(reviewed_at, 1, 19) WHERE id = 5")
    conn.commit()
    conn.close()
    store = Store.open(path)
    report = replay.reschedule_cards(store, Settings(desired_retention=0.8))
    assert report.changed and replay.reschedule_cards(store, Settings(desired_retention=0.8)).changed == ()
    store.close()


class _History:
    """What read_bulk reads, given directly: groups (card, n, ids, times) and row columns."""

    def __init__(self, groups: list[tuple[str, int, str, str]], rows: list[tuple[int, int, int]]) -> None:
        self.groups = groups
        self.rows = rows

    def replay_groups(self, card_ids: object) -> list[tuple[str, int, str, str]]:
        return self.groups

    def replay_columns(self, **kwargs: object) -> list[Any]:
        from llmcards.store.history import ReviewChunk

        return [ReviewChunk(",".join(str(r[0]) for r in self.rows), "".join(str(r[1]) for r in self.rows),
                            "".join(str(r[2]) for r in self.rows), len(self.rows))]


def test_reviews_not_in_replay_order_are_sorted_and_cram_left_out() -> None:
    t = [f"2026-01-0{d} 10:00:00.000000" for d in range(1, 6)]
    history = _History([("a", 3, "7,5,6", t[2] + t[0] + t[0]), ("b", 2, "9,8", t[4] + t[3])],
                       [(5, 1, 0), (6, 2, 1), (7, 3, 0), (8, 4, 0), (9, 2, 0)])
    given = fastreplay.read_bulk(history, None)
    assert given.card_ids == ["a", "b"] and given.counts.tolist() == [2, 2]
    assert given.log_ids.tolist() == [5, 7, 8, 9]  # by time, then id; 6 is crammed
    assert given.ratings.tolist() == [1, 3, 4, 2]
    assert given.times.tolist() == [replay._us(x) for x in (t[0], t[2], t[3], t[4])]


def test_a_row_left_out_by_the_store_means_one_review_at_a_time() -> None:
    t = "2026-01-01 10:00:00.000000"
    history = _History([("a", 2, "5,6", t + t)], [(5, 1, 0)])  # row 6 did not pass the store's checks
    with pytest.raises(fastreplay.Unsupported):
        fastreplay.read_bulk(history, None)


def test_reviews_of_a_card_at_the_same_instant_follow_their_ids_either_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two devices graded one card at the same microsecond: every device must replay them in the
    # order of their review ids (uuid), not of their row ids, which differ from store to store.
    card = ("(SELECT card_id FROM review_logs WHERE cram = 0 GROUP BY card_id HAVING count(*) >= 3 "
            "ORDER BY card_id LIMIT 1)")
    first = f"(SELECT min(id) FROM review_logs WHERE card_id = {card})"
    damage = (f"UPDATE review_logs SET rating = CASE WHEN id = {first} THEN 1 ELSE 4 END, "
              f"reviewed_at = (SELECT reviewed_at FROM review_logs WHERE id = {first}), "
              "uuid = CASE WHEN id = " + first + " THEN 'ffffffff-ffff-7fff-bfff-ffffffffffff' "
              "ELSE '00000000-0000-7000-8000-000000000000' END "
              f"WHERE id IN ({first}, (SELECT max(id) FROM review_logs WHERE card_id = {card}))")
    bulk, single = _replay_both_ways(tmp_path, monkeypatch, None, damage=damage)
    assert bulk == single
    with Store.open(tmp_path / "bulk.db") as store:
        card_id = store.conn.execute(card[1:-1]).fetchone()[0]
        reviews = store.cards.history(card_id)
        assert reviews[0].rating == 4 and reviews[1].rating == 1  # uuid order, not row order
        assert store.cards.require(card_id).schedule == replay.replay_card(card_id, reviews, store.settings())


def test_a_setting_changed_before_the_first_review_keeps_the_bulk_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The timeline has two periods, but no review falls in the first: one set of settings applies.
    one_by_one: list[int] = []
    original = replay._replay

    def spy(*args: Any, **kwargs: Any) -> replay.ReplayReport:
        one_by_one.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(replay, "_replay", spy)
    damage = ("INSERT INTO events(id, device, at, kind, card_id, data, pushed) VALUES ('e1', 'd1', "
              "'2000-01-01 00:00:00.000000', 'setting', NULL, '{\"key\":\"desired_retention\",\"value\":\"0.85\"}', 0)")
    bulk, single = _replay_both_ways(tmp_path, monkeypatch, None, damage=damage)
    assert one_by_one == [1]  # only the way that asked for it
    assert bulk == single and bulk.changed  # replayed under 0.85, not the defaults the reviews had
    with Store.open(tmp_path / "bulk.db") as store:
        assert len(store.settings_timeline()) == 2
