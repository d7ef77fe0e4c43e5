"""Stats queries: the SQL aggregates behind ``llmcards stats``, as named values.

:mod:`llmcards.stats` turns these into its :class:`~llmcards.stats.Stats`. Each method is
one aggregate query: none loads a row per review or per card into Python. ``tag``
(optional) restricts a query to the cards carrying that tag. Days are study days, as
stored in ``review_logs.study_day`` when the grade was given.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from llmcards.models import MATURE_DAYS
from llmcards.store.connection import Connection, to_db

MS_PER_DAY = 86_400_000


class DayRow(NamedTuple):
    """One study day's grades."""

    reviews: int  # cram included
    cards: int  # distinct cards
    new: int  # new cards introduced (cram excluded)
    again: int  # grades of Again (cram included)
    time_ms: int
    retention_reviews: int  # reviews of review-state cards outside cram
    retention_passed: int  # of those, not graded Again


class StreakRow(NamedTuple):
    current: int
    longest: int


class RetentionRow(NamedTuple):
    """True retention counts over one span, split young / mature."""

    young_reviews: int
    young_passed: int
    mature_reviews: int
    mature_passed: int


class CardCountsRow(NamedTuple):
    new: int
    learning: int
    young: int
    mature: int
    suspended: int
    retired: int
    unanswered: int


class MemoryRow(NamedTuple):
    cards: int  # active cards with a memory state
    known: float  # the sum of their retrievability


class TagStatsRow(NamedTuple):
    tag: str
    cards: int
    studied: int
    mature: int
    due: int
    with_memory: int  # cards with a retrievability
    known: float  # the sum of their retrievability


class HardCardRow(NamedTuple):
    id: str
    question: str
    lapses: int
    reps: int
    suspended: bool
    state: int


class StatsQueries:
    """Aggregate queries over one store."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        self._pow_ready = False


    @staticmethod
    def _tag(tag: str | None, column: str) -> tuple[str, list[Any]]:
        """An ``AND`` clause restricting ``column`` (a card id) to one tag, or nothing."""
        if tag is None:
            return "", []
        return f" AND {column} IN (SELECT card_id FROM card_tags WHERE tag = ?)", [tag]

    @staticmethod
    def _active(p: str = "") -> str:
        """Studied cards still in the review (the predicate of the partial index ix_cards_active_due)."""
        return f"{p}state > 0 AND {p}suspended = 0 AND {p}retired = 0"

    def _mature(self, p: str = "") -> str:
        """A review card whose interval (due - last_review, to the millisecond) is 21 days or more."""
        ms = MS_PER_DAY
        return (f"coalesce({p}state = 2 AND round((julianday({p}due) - julianday({p}last_review)) * {ms}) "
                f">= {MATURE_DAYS * ms}, 0)")

    def _memory(self, p: str = "") -> str:
        """Active cards that have an FSRS memory state, hence a retrievability."""
        return f"{self._active(p)} AND {p}stability > 0 AND {p}last_review IS NOT NULL"

    def _r(self, now: datetime, decay: float, factor: float, p: str = "") -> tuple[str, list[Any]]:
        """FSRS retrievability of a card row as SQL: (1 + factor * t / S) ** -decay.

        ``t`` is whole days since ``last_review``, floored and never negative as in fsrs, taken
        from the difference rounded to milliseconds so float noise cannot cross a day boundary.
        ``pow`` is SQLite's when it was built with math functions; otherwise a deterministic
        Python function is registered under that name on this connection.
        """
        if not self._pow_ready:
            try:
                self.db.conn.execute("SELECT pow(2, 3)").fetchone()
            except sqlite3.OperationalError:
                import math

                self.db.conn.create_function("pow", 2, math.pow, deterministic=True)
            self._pow_ready = True
        ms = MS_PER_DAY
        elapsed = f"max(0, CAST(round((julianday(?) - julianday({p}last_review)) * {ms}) AS INTEGER) / {ms})"
        return f"pow(1.0 + ? * {elapsed} / {p}stability, ?)", [factor, to_db(now), -decay]

    def day(self, day: date, *, tag: str | None = None) -> DayRow:
        """One study day: (reviews, distinct cards, new cards introduced, graded Again, time in ms,
        reviews of review-state cards outside cram, those of them not graded Again).

        Cram reviews count as studied (reviews, cards, Again, time), not in the last two.
        """
        where, params = self._tag(tag, "card_id")
        row = self.db.conn.execute(
            "SELECT count(*), count(DISTINCT card_id), coalesce(sum(prev_state = 0 AND cram = 0), 0), "
            "coalesce(sum(rating = 1), 0), coalesce(sum(duration_ms), 0), "
            "coalesce(sum(prev_state = 2 AND cram = 0), 0), "
            "coalesce(sum(prev_state = 2 AND cram = 0 AND rating > 1), 0) "
            f"FROM review_logs WHERE study_day = ?{where}",
            [day.isoformat(), *params],
        ).fetchone()
        return DayRow(*(int(v) for v in row))

    def streaks(self, today: date, *, tag: str | None = None) -> StreakRow:
        """(current, longest) runs of consecutive study days with at least one review (cram included).

        The current run ends today, or yesterday while nothing has been studied yet today.
        Without a tag the distinct days are found by skipping through ix_review_logs_day (one
        index seek per day rather than one step per review); with a tag, from the tag's cards'
        reviews through ix_review_logs_card. The runs are then a gaps-and-islands query.
        """
        end = today.isoformat()
        yesterday = date.fromordinal(today.toordinal() - 1).isoformat()
        if tag is None:
            days = (
                "WITH RECURSIVE seek(day) AS (SELECT min(study_day) FROM review_logs WHERE study_day <= ?1"
                " UNION ALL SELECT (SELECT min(study_day) FROM review_logs"
                " WHERE study_day > seek.day AND study_day <= ?1)"
                " FROM seek WHERE seek.day IS NOT NULL),"
                " days(day) AS (SELECT day FROM seek WHERE day IS NOT NULL),"
            )
            params: list[Any] = [end, yesterday]
        else:
            days = (
                "WITH days(day) AS (SELECT DISTINCT study_day FROM review_logs WHERE study_day <= ?1"
                " AND card_id IN (SELECT card_id FROM card_tags WHERE tag = ?3)),"
            )
            params = [end, yesterday, tag]
        row = self.db.conn.execute(
            f"{days} runs AS (SELECT day, julianday(day) - row_number() OVER (ORDER BY day) AS run FROM days),"
            " islands AS (SELECT max(day) AS last, count(*) AS length FROM runs GROUP BY run)"
            " SELECT coalesce((SELECT length FROM islands WHERE last >= ?2 ORDER BY last DESC LIMIT 1), 0),"
            " coalesce((SELECT max(length) FROM islands), 0)",
            params,
        ).fetchone()
        return StreakRow(int(row[0]), int(row[1]))

    def reviews_per_day(self, first: date, last: date, *, tag: str | None = None) -> dict[date, int]:
        """Reviews (cram included) per study day from ``first`` to ``last``; days without any are left out."""
        where, params = self._tag(tag, "card_id")
        rows = self.db.conn.execute(
            f"SELECT study_day, count(*) FROM review_logs WHERE study_day BETWEEN ? AND ?{where} GROUP BY study_day",
            [first.isoformat(), last.isoformat(), *params],
        )
        return {date.fromisoformat(day): int(n) for day, n in rows}

    def retention(
        self, today: date, spans: Sequence[int], *, tag: str | None = None
    ) -> list[RetentionRow]:
        """True retention over the last ``n`` study days up to ``today``, for each ``n`` in ``spans``.

        It counts reviews of cards that were in the review state (``prev_state = 2``), cram
        excluded, as (young reviews, young passed, mature reviews, mature passed): young when
        the interval before the review was under 21 days, mature from 21 days; passed means
        not graded Again. One pass over the longest span groups the reviews by day (in index
        order, four cheap sums per review); the spans then add up those day rows.
        """
        if not spans:
            return []
        where, params = self._tag(tag, "card_id")
        firsts = [date.fromordinal(today.toordinal() - n + 1).isoformat() for n in spans]
        mature = f"prev_interval_days >= {MATURE_DAYS}"
        columns: list[str] = []
        for i in range(len(firsts)):
            inside = f"day >= ?{i + 1}"
            columns += [f"coalesce(sum(CASE WHEN {inside} THEN n - mn END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN np - mp END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN mn END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN mp END), 0)"]
        k = len(firsts)
        row = self.db.conn.execute(
            "WITH per_day AS (SELECT study_day AS day, count(*) AS n, sum(rating > 1) AS np, "
            f"sum({mature}) AS mn, sum({mature} AND rating > 1) AS mp FROM review_logs "
            f"WHERE study_day >= ?{k + 1} AND study_day <= ?{k + 2} AND prev_state = 2 AND cram = 0"
            f"{where.replace('?', f'?{k + 3}')} GROUP BY study_day) "
            f"SELECT {', '.join(columns)} FROM per_day",
            [*firsts, min(firsts), today.isoformat(), *params],
        ).fetchone()
        values = [int(v) for v in row]
        return [RetentionRow(*values[4 * i:4 * i + 4]) for i in range(k)]

    def card_counts(self, *, tag: str | None = None) -> CardCountsRow:
        """(new, learning, young, mature, suspended, retired, unanswered) card counts.

        The first six split the cards: retired wins over suspended, and both over the FSRS
        state (learning includes relearning; young and mature are review cards with an
        interval under, or from, 21 days). Unanswered counts non-retired cards with no answer
        whatever their state, so it overlaps the others.
        """
        where, params = self._tag(tag, "id")
        live = "retired = 0 AND suspended = 0"
        row = self.db.conn.execute(
            f"SELECT coalesce(sum({live} AND state = 0), 0), coalesce(sum({live} AND state IN (1, 3)), 0), "
            f"coalesce(sum({live} AND state = 2), 0), coalesce(sum({live} AND {self._mature()}), 0), "
            "coalesce(sum(retired = 0 AND suspended = 1), 0), coalesce(sum(retired = 1), 0), "
            f"coalesce(sum(retired = 0 AND answer IS NULL), 0) FROM cards WHERE 1{where}",
            params,
        ).fetchone()
        review, mature = int(row[2]), int(row[3])
        return CardCountsRow(int(row[0]), int(row[1]), review - mature, mature, int(row[4]), int(row[5]), int(row[6]))

    def due_between(self, ranges: Sequence[tuple[datetime, datetime]], *, tag: str | None = None) -> list[int]:
        """Active studied cards due in each ``[start, end)``: one range scan of ix_cards_active_due each.

        The ranges go to SQLite in chunks of 300 (two parameters each), well under the
        999-parameter limit of older SQLite builds.
        """
        where, params = self._tag(tag, "+id")  # unary +: scan by due, then test the tag
        counts: list[int] = []
        for first in range(0, len(ranges), 300):
            chunk = ranges[first:first + 300]
            values: list[Any] = []
            for i, (start, end) in enumerate(chunk):
                values += [i, to_db(start), to_db(end)]
            rows = self.db.conn.execute(
                f"WITH spans(i, start, stop) AS (VALUES {', '.join('(?, ?, ?)' for _ in chunk)}) "
                f"SELECT (SELECT count(*) FROM cards WHERE {self._active()} "
                f"AND due >= spans.start AND due < spans.stop{where}) FROM spans ORDER BY i",
                [*values, *params],
            ).fetchall()
            counts += [int(r[0]) for r in rows]
        return counts

    def overdue(self, now: datetime, *, tag: str | None = None) -> int:
        """Active studied cards due at or before ``now`` (what a review would show now)."""
        where, params = self._tag(tag, "+id")
        row = self.db.conn.execute(
            f"SELECT count(*) FROM cards WHERE {self._active()} AND due <= ?{where}", [to_db(now), *params]
        ).fetchone()
        return int(row[0])

    def retrievability(
        self, now: datetime, decay: float, factor: float, *, tag: str | None = None
    ) -> MemoryRow:
        """(cards, sum of retrievability at ``now``) over active cards with a memory state."""
        where, params = self._tag(tag, "id")
        r_sql, r_params = self._r(now, decay, factor)
        row = self.db.conn.execute(
            f"SELECT count(*), coalesce(sum({r_sql}), 0.0) FROM cards WHERE {self._memory()}{where}",
            [*r_params, *params],
        ).fetchone()
        return MemoryRow(int(row[0]), float(row[1]))

    def tags(
        self, now: datetime, decay: float, factor: float, *, tag: str | None = None
    ) -> list[TagStatsRow]:
        """Per tag, over its non-retired cards: (tag, cards, studied, mature, due now,
        cards with a retrievability, sum of retrievability), in tag order.

        Studied means not new (suspended cards included); mature, due and retrievability
        count active cards only, as :meth:`card_counts` and :meth:`retrievability` do.
        CROSS JOIN keeps SQLite scanning the cards once (with no ANALYZE data it would
        otherwise look every card up by id from card_tags, three times slower).
        """
        r_sql, r_params = self._r(now, decay, factor, "c.")
        memory = self._memory("c.")
        only, only_params = (" AND t.tag = ?", [tag]) if tag is not None else ("", [])
        rows = self.db.conn.execute(
            f"SELECT t.tag, count(*), coalesce(sum(c.state > 0), 0), "
            f"coalesce(sum(c.suspended = 0 AND {self._mature('c.')}), 0), "
            f"coalesce(sum({self._active('c.')} AND c.due <= ?), 0), coalesce(sum({memory}), 0), "
            f"coalesce(sum(CASE WHEN {memory} THEN {r_sql} END), 0.0) "
            f"FROM cards c CROSS JOIN card_tags t ON t.card_id = c.id WHERE c.retired = 0{only} "
            "GROUP BY t.tag ORDER BY t.tag",
            [to_db(now), *r_params, *only_params],
        ).fetchall()
        return [TagStatsRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6])) for r in rows]

    def hardest(self, limit: int, *, tag: str | None = None) -> list[HardCardRow]:
        """The non-retired cards with the most lapses: (id, question, lapses, reps, suspended, state)."""
        where, params = self._tag(tag, "id")
        rows = self.db.conn.execute(
            f"SELECT id, question, lapses, reps, suspended, state FROM cards WHERE retired = 0 AND lapses > 0{where} "
            "ORDER BY lapses DESC, position LIMIT ?",
            [*params, int(limit)],
        ).fetchall()
        return [HardCardRow(r[0], r[1], int(r[2]), int(r[3]), bool(r[4]), int(r[5])) for r in rows]
