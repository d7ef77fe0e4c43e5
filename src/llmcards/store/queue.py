"""The review queue: what a review session reads and writes, one grade per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from llmcards.models import Card, CardState, Grade, uuid7
from llmcards.store.cards import CARD_COLUMNS, card_from_row
from llmcards.store.connection import Connection, from_db, to_db

ACTIVE = "state > 0 AND suspended = 0 AND retired = 0"  # the predicate of the partial index ix_cards_active_due


@dataclass(frozen=True)
class QueueFilter:
    """Which cards a review session may draw from."""

    tags: tuple[str, ...] = ()
    include_unanswered: bool = False


@dataclass(frozen=True)
class StudiedOn:
    """What one study day has used of the daily limits (cram excluded)."""

    new: int  # new cards introduced
    reviews: int  # review-state cards reviewed


def schedule_params(s: CardState) -> tuple[Any, ...]:
    """The card columns of a schedule, in the order of :data:`SET_SCHEDULE`."""
    return (int(s.state), s.step, s.stability, s.difficulty, to_db(s.due), to_db(s.last_review), s.reps, s.lapses)


SCHEDULE_COLUMNS = "state, step, stability, difficulty, due, last_review, reps, lapses"
SET_SCHEDULE = ("state = ?, step = ?, stability = ?, difficulty = ?, due = ?, last_review = ?, reps = ?, "
                "lapses = ?")


class Queue:
    """The review queue of one store."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def _where(self, flt: QueueFilter) -> tuple[str, list[Any]]:
        where = ["(buried_until IS NULL OR buried_until <= ?)"]
        params: list[Any] = []
        if not flt.include_unanswered:
            where.append("answer IS NOT NULL")
        for tag in flt.tags:
            where.append("id IN (SELECT card_id FROM card_tags WHERE tag = ?)")
            params.append(tag)
        return " AND ".join(where), params

    def due_cards(self, now: datetime, flt: QueueFilter, *, learning: bool, limit: int | None = None) -> list[Card]:
        """Active cards due by ``now``, earliest first: learning and relearning cards when
        ``learning``, else review cards (at most ``limit``).
        """
        extra, params = self._where(flt)
        # Learning cards are few: find them by ix_cards_state. Review cards are many: walk the
        # due index in order and stop at the limit (the unary + keeps ix_cards_state out of it).
        states = "state IN (1, 3)" if learning else "+state = 2"
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = (
            f"SELECT {CARD_COLUMNS} FROM cards WHERE {ACTIVE} "
            f"AND due <= ? AND {states} AND {extra} ORDER BY due, position{lim}"
        )
        return [card_from_row(r) for r in self.db.conn.execute(sql, [to_db(now), to_db(now), *params])]

    def new_cards(self, now: datetime, flt: QueueFilter, limit: int) -> list[Card]:
        """New cards in bank order."""
        if limit <= 0:
            return []
        extra, params = self._where(flt)
        sql = (
            f"SELECT {CARD_COLUMNS} FROM cards WHERE state = 0 AND suspended = 0 AND retired = 0 "
            f"AND {extra} ORDER BY position LIMIT ?"
        )
        return [card_from_row(r) for r in self.db.conn.execute(sql, [to_db(now), *params, limit])]

    def cram_cards(self, now: datetime, flt: QueueFilter, limit: int | None) -> list[Card]:
        """Cards to practise regardless of due date: studied ones by due date, then new ones."""
        extra, params = self._where(flt)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = (
            f"SELECT {CARD_COLUMNS} FROM cards WHERE suspended = 0 AND retired = 0 AND {extra} "
            f"ORDER BY state = 0, due, position{lim}"
        )
        return [card_from_row(r) for r in self.db.conn.execute(sql, [to_db(now), *params])]

    def studied_on(self, day: date) -> StudiedOn:
        """New cards introduced and review-state cards reviewed on a study day, cram excluded."""
        row = self.db.conn.execute(
            "SELECT coalesce(sum(prev_state = 0), 0), coalesce(sum(prev_state = 2), 0) FROM review_logs "
            "WHERE study_day = ? AND cram = 0",
            (day.isoformat(),),
        ).fetchone()
        return StudiedOn(new=int(row[0]), reviews=int(row[1]))

    def record_review(
        self,
        card_id: str,
        before: CardState,
        after: CardState,
        *,
        rating: Grade,
        reviewed_at: datetime,
        study_day: date,
        duration_ms: int | None,
        cram: bool = False,
    ) -> int:
        """Commit one grade: the card's new state (unless cram) and its log, atomically. The log row
        is the review's event: an id made from its time (UUIDv7) and this device."""
        prev_interval = None
        if before.due is not None and before.last_review is not None:
            prev_interval = (before.due - before.last_review).total_seconds() / 86400
        device = self.db.device_id
        with self.db.write() as c:
            if not cram:
                c.execute(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", (*schedule_params(after), card_id))
            cur = c.execute(
                "INSERT INTO review_logs(uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, "
                "prev_state, prev_interval_days, state, stability, difficulty, due, cram, pushed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (uuid7(reviewed_at), device, card_id, int(rating), to_db(reviewed_at), study_day.isoformat(),
                 duration_ms, int(before.state), prev_interval, int(after.state), after.stability, after.difficulty,
                 to_db(after.due), int(cram)),
            )
            return int(cur.lastrowid or 0)

    def undo_review(self, log_id: int, card_id: str, before: CardState, *, cram: bool = False,
                    now: datetime | None = None) -> None:
        """Restore the card's state from before a grade and delete that grade's log. A grade that has
        already reached a hub is taken back on the other devices too, by an ``unreview`` event."""
        with self.db.write() as c:
            if not cram:
                c.execute(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", (*schedule_params(before), card_id))
            row = c.execute("SELECT uuid, pushed FROM review_logs WHERE id = ?", (log_id,)).fetchone()
            c.execute("DELETE FROM review_logs WHERE id = ?", (log_id,))
            if row is not None and row[1]:
                self.db.record_event(c, "unreview", card_id, {"review": row[0]}, now or datetime.now(timezone.utc))

    def next_due(self, after: datetime) -> datetime | None:
        """When the next active studied card falls due after ``after``."""
        row = self.db.conn.execute(f"SELECT min(due) FROM cards WHERE {ACTIVE} AND due > ?", (to_db(after),)).fetchone()
        return from_db(row[0])

    def due_per_day(self, ends: Sequence[datetime]) -> list[int]:
        """Active studied cards due before each of ``ends`` (ascending): ``[due < ends[0],
        ends[0] <= due < ends[1], ...]``; cards due at or after the last are not counted."""
        import bisect

        bounds = [str(to_db(end)) for end in ends]
        counts = [0] * len(bounds)
        if bounds:  # stored times are to_db's fixed-width text, which sorts as the times do
            for (due,) in self.db.conn.execute(f"SELECT due FROM cards WHERE {ACTIVE} AND due < ?", (bounds[-1],)):
                counts[bisect.bisect_right(bounds, due)] += 1
        return counts

    def keep_dues(self) -> int:
        """Remember when each active studied card is due (in a temporary table), for :meth:`moved`;
        returns how many cards that is."""
        c = self.db.conn
        c.execute("DROP TABLE IF EXISTS temp.kept_dues")
        c.execute(f"CREATE TEMP TABLE kept_dues AS SELECT id, due FROM cards WHERE {ACTIVE} AND due IS NOT NULL")
        return int(c.execute("SELECT count(*) FROM temp.kept_dues").fetchone()[0])

    def moved(self) -> tuple[int, int]:
        """(earlier, later): how many cards, active then and now, are due earlier and later than when
        :meth:`keep_dues` ran (which this forgets)."""
        c = self.db.conn
        row = c.execute("SELECT total(cards.due < kept_dues.due), total(cards.due > kept_dues.due) "
                        f"FROM temp.kept_dues JOIN cards USING (id) WHERE {ACTIVE}").fetchone()
        c.execute("DROP TABLE temp.kept_dues")
        return int(row[0]), int(row[1])

    def count_due(self, until: datetime) -> int:
        row = self.db.conn.execute(
            f"SELECT count(*) FROM cards WHERE {ACTIVE} AND due <= ?", (to_db(until),)
        ).fetchone()
        return int(row[0])

    def count_new_available(self, flt: QueueFilter, now: datetime) -> int:
        extra, params = self._where(flt)
        row = self.db.conn.execute(
            f"SELECT count(*) FROM cards WHERE state = 0 AND suspended = 0 AND retired = 0 AND {extra}",
            [to_db(now), *params],
        ).fetchone()
        return int(row[0])
