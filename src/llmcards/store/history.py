"""The review history as a whole: what replaying, exporting and fitting read, and what a replay writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from llmcards.models import Grade, ReviewRecord, State
from llmcards.store.connection import Connection, from_db, from_db_required
from llmcards.store.queue import SCHEDULE_COLUMNS, SET_SCHEDULE

_LOG_COLUMNS = ("id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
                "prev_state, cram")


def _record(r: Sequence[Any]) -> ReviewRecord:
    """A row of ``_LOG_COLUMNS`` (sqlite3 rows are untyped)."""
    return ReviewRecord(
        id=int(r[0]),
        card_id=str(r[1]),
        rating=Grade(r[2]),
        reviewed_at=from_db_required(str(r[3])),
        duration_ms=r[4],
        state=State(r[5]),
        stability=r[6],
        difficulty=r[7],
        due=from_db(r[8]),
        prev_state=State(r[9]),
        cram=bool(r[10]),
    )


class ReplayLog(NamedTuple):
    """A review as a replay reads it: what the person did, and the scheduling columns stored for it."""

    log_id: int
    rating: int
    reviewed_at: str  # as stored: naive UTC text
    cram: bool
    derived: tuple[Any, ...]  # prev_state, prev_interval_days, state, stability, difficulty, due


class ReplayInput(NamedTuple):
    """One card as a replay reads it: its stored schedule columns and its reviews in time order."""

    card_id: str
    schedule: tuple[Any, ...]  # state, step, stability, difficulty, due, last_review, reps, lapses (as stored)
    reviews: list[ReplayLog]


class History:
    """Reads the review log by card, and writes replayed schedules back."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def count(self) -> int:
        """How many reviews the log holds (cram included)."""
        return int(self.db.conn.execute("SELECT count(*) FROM review_logs").fetchone()[0])

    def card_ids_with_reviews(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute("SELECT DISTINCT card_id FROM review_logs ORDER BY card_id")]

    def reviews_by_card(self, card_ids: Sequence[str] | None = None, *,
                        chunk: int = 500) -> Iterator[tuple[str, list[ReviewRecord]]]:
        """Each card's reviews in time order (cram included), card by card.

        ``None`` means every card with a review. Cards are read ``chunk`` at a time, so the
        whole log never sits in memory at once.
        """
        ids = list(card_ids) if card_ids is not None else self.card_ids_with_reviews()
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            rows = self.db.conn.execute(
                f"SELECT {_LOG_COLUMNS} FROM review_logs WHERE card_id IN ({','.join('?' * len(part))}) "
                "ORDER BY card_id, reviewed_at, id", part).fetchall()
            by_card: dict[str, list[ReviewRecord]] = {card_id: [] for card_id in part}
            for row in rows:
                by_card[row[1]].append(_record(row))
            yield from by_card.items()

    def replay_input(self, card_ids: Sequence[str] | None = None, *, chunk: int = 2000) -> Iterator[ReplayInput]:
        """What a replay needs of each card, ``chunk`` cards at a time (every card with a review when
        ``card_ids`` is None; cards that no longer exist are skipped)."""
        ids = list(card_ids) if card_ids is not None else self.card_ids_with_reviews()
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            marks = ",".join("?" * len(part))
            schedules = {r[0]: tuple(r[1:]) for r in self.db.conn.execute(
                f"SELECT id, {SCHEDULE_COLUMNS} FROM cards WHERE id IN ({marks})", part)}
            reviews: dict[str, list[ReplayLog]] = {card_id: [] for card_id in schedules}
            for r in self.db.conn.execute(
                    "SELECT card_id, id, rating, reviewed_at, cram, prev_state, prev_interval_days, state, stability, "
                    f"difficulty, due FROM review_logs WHERE card_id IN ({marks}) ORDER BY card_id, reviewed_at, id",
                    part):
                if r[0] in reviews:
                    reviews[r[0]].append(ReplayLog(r[1], r[2], r[3], bool(r[4]), tuple(r[5:])))
            for card_id in part:
                if card_id in schedules:
                    yield ReplayInput(card_id, schedules[card_id], reviews[card_id])

    def write_replay(self, cards: Iterable[tuple[Any, ...]], logs: Iterable[tuple[Any, ...]]) -> None:
        """Write replayed schedules: ``cards`` are (schedule columns..., card id), ``logs`` are
        (prev_state, prev_interval_days, state, stability, difficulty, due, log id). Runs inside the
        caller's transaction when there is one."""
        with self.db.write() as c:
            c.executemany(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", cards)
            c.executemany("UPDATE review_logs SET prev_state = ?, prev_interval_days = ?, state = ?, stability = ?, "
                          "difficulty = ?, due = ? WHERE id = ?", logs)
