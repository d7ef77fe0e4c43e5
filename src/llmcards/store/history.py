"""The review history as a whole: what replaying, exporting and fitting read, and what a replay writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, cast

from llmcards.models import CardState, Grade, ReviewRecord, State
from llmcards.store.connection import Connection, from_db, from_db_required, to_db
from llmcards.store.queue import SET_SCHEDULE, schedule_params

_LOG_COLUMNS = ("id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
                "prev_state, cram")


def _record(r: Sequence[Any]) -> ReviewRecord:
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


# A review log row for fitting: (card_id, rating, reviewed_at as seconds since the epoch (UTC),
# duration_ms, cram). A value of the wrong type reads as None, so that the caller can count and
# skip a damaged row instead of stopping at it.
LogRow = tuple[str, "int | None", "float | None", "int | None", int]


class GradeTimes(NamedTuple):
    """Reviews with one grade from one state, and the time they took."""

    state: State  # the card's state before the review
    rating: Grade
    reviews: int
    duration_ms: int  # summed, each capped
    timed: int  # how many have a duration


class LogUpdate(NamedTuple):
    """A review log row's scheduling columns, as a replay recomputed them."""

    log_id: int
    before: CardState
    after: CardState


class History:
    """Reads the review log by card, and writes replayed schedules back."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def count(self) -> int:
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

    def rows_in_time_order(self) -> Iterator[LogRow]:
        """Every row of the review log, oldest first (cram included), streamed from one query.

        Fitting reads millions of rows, so times come as seconds since the epoch, not as
        datetimes (a datetime per row would cost about a second per million rows).
        """
        return cast(Iterator[LogRow], self.db.conn.execute(
            "SELECT card_id, CASE WHEN typeof(rating) = 'integer' THEN rating END, "
            "CASE WHEN typeof(reviewed_at) = 'text' THEN (julianday(reviewed_at) - 2440587.5) * 86400.0 END, "
            "CASE WHEN typeof(duration_ms) = 'integer' THEN duration_ms END, cram "
            "FROM review_logs ORDER BY reviewed_at, id"))

    def unreadable_rows(self) -> int:
        """Rows a replay cannot read: a rating outside 1-4, a state outside 0-3, or no readable time."""
        return int(self.db.conn.execute(
            "SELECT count(*) FROM review_logs WHERE rating NOT IN (1, 2, 3, 4) OR state NOT IN (0, 1, 2, 3) "
            "OR prev_state NOT IN (0, 1, 2, 3) OR typeof(reviewed_at) != 'text' OR julianday(reviewed_at) IS NULL"
        ).fetchone()[0])

    def grades_and_times(self, *, max_duration_ms: int) -> list[GradeTimes]:
        """Grades by the state before them, with their summed durations (each capped at
        ``max_duration_ms``); cram and impossible rows left out."""
        rows = self.db.conn.execute(
            "SELECT prev_state, rating, count(*), "
            "coalesce(sum(CASE WHEN duration_ms >= 0 THEN min(duration_ms, ?) END), 0), "
            "count(CASE WHEN duration_ms >= 0 THEN 1 END) FROM review_logs "
            "WHERE cram = 0 AND rating IN (1, 2, 3, 4) AND prev_state IN (0, 1, 2, 3) GROUP BY prev_state, rating",
            (max_duration_ms,))
        return [GradeTimes(State(r[0]), Grade(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def rewrite(self, updates: Iterable[tuple[str, CardState, Sequence[LogUpdate]]]) -> int:
        """Write replayed schedules: each card's state, and its log rows' scheduling columns.

        Runs inside the caller's transaction when there is one. Returns how many cards were written.
        """
        written = 0
        with self.db.write() as c:
            for card_id, state, logs in updates:
                c.execute(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", (*schedule_params(state), card_id))
                c.executemany(
                    "UPDATE review_logs SET prev_state = ?, prev_interval_days = ?, state = ?, stability = ?, "
                    "difficulty = ?, due = ? WHERE id = ?",
                    [(int(u.before.state), _interval_days(u.before), int(u.after.state), u.after.stability,
                      u.after.difficulty, to_db(u.after.due), u.log_id) for u in logs],
                )
                written += 1
        return written


def _interval_days(before: CardState) -> float | None:
    """The interval the card had when it was reviewed (due - last review), in days."""
    if before.due is None or before.last_review is None:
        return None
    return (before.due - before.last_review).total_seconds() / 86400
