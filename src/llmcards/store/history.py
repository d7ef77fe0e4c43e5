"""The review history as a whole: what replaying, exporting and fitting read, and what a replay writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from llmcards.models import CardState, Grade, ReviewRecord, State
from llmcards.store.connection import Connection, from_db, from_db_required, to_db
from llmcards.store.queue import SET_SCHEDULE, schedule_params

_LOG_COLUMNS = ("id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
                "prev_state, cram")


def _record(r: Sequence[object]) -> ReviewRecord:
    return ReviewRecord(
        id=int(r[0]),  # type: ignore[call-overload]
        card_id=str(r[1]),
        rating=Grade(r[2]),  # type: ignore[arg-type]
        reviewed_at=from_db_required(str(r[3])),
        duration_ms=r[4],  # type: ignore[arg-type]
        state=State(r[5]),  # type: ignore[arg-type]
        stability=r[6],  # type: ignore[arg-type]
        difficulty=r[7],  # type: ignore[arg-type]
        due=from_db(r[8]),  # type: ignore[arg-type]
        prev_state=State(r[9]),  # type: ignore[arg-type]
        cram=bool(r[10]),
    )


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
