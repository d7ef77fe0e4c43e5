"""The review history as a whole: what replaying, exporting and fitting read, and what a replay writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from llmcards.models import Grade, ReviewRecord, State, uuid7_named
from llmcards.store.cards import export_where
from llmcards.store.connection import Connection, from_db, from_db_required
from llmcards.store.queue import SCHEDULE_COLUMNS, SET_SCHEDULE

_LOG_COLUMNS = ("id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
                "prev_state, cram, uuid")


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
        uuid=str(r[11]),
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


class ReplayLog(NamedTuple):
    """A review as a replay reads it: what the person did, and the scheduling columns stored for it."""

    log_id: int | str  # its row in the log, or (a review a sync is adding) its uuid
    rating: int
    reviewed_at: str  # as stored: naive UTC text
    cram: bool
    derived: tuple[Any, ...]  # prev_state, prev_interval_days, state, stability, difficulty, due


class ReplayInput(NamedTuple):
    """One card as a replay reads it: its stored schedule columns and its reviews in time order."""

    card_id: str
    schedule: tuple[Any, ...]  # state, step, stability, difficulty, due, last_review, reps, lapses (as stored)
    reviews: list[ReplayLog]


class ReviewChunk(NamedTuple):
    """Review rows as SQLite concatenates them, for a caller that parses them in bulk: each column
    of ``rows`` rows in one string, in the same row order."""

    ids: str  # the rows' ids, comma-separated
    ratings: str  # one digit each (1-4)
    cram: str  # one digit each (0 or 1)
    rows: int


# The first 23 characters of a stored time ("YYYY-MM-DD HH:MM:SS.mmm") fix it to the ms.
_MS_SQL = "(CAST(strftime('%s', {col}) AS INTEGER) * 1000 + CAST(substr({col}, 21, 3) AS INTEGER))"
# ms since the epoch as a stored time (naive UTC text with microseconds, as to_db writes it).
_STORED_SQL = "(strftime('%Y-%m-%d %H:%M:%S', {ms} / 1000, 'unixepoch') || printf('.%03d000', {ms} % 1000))"

ImportRow = tuple[str, int, int, "int | None", int, str, int]


@dataclass(frozen=True)
class MergeResult:
    """What :meth:`History.merge` did with a batch of imported reviews."""

    read: int  # rows given
    added: int  # new reviews written
    already: int  # already in the store: same card, same millisecond
    repeated: int  # the same (card, millisecond) more than once in the batch; counted once
    unknown: int  # reviews of cards not in the store (not written)
    unknown_cards: tuple[str, ...]  # their ids, sorted
    card_ids: tuple[str, ...]  # cards that got at least one new review, sorted


class History:
    """Reads the review log by card, and writes replayed schedules back."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def count(self) -> int:
        """How many reviews the log holds (cram included)."""
        return int(self.db.conn.execute("SELECT count(*) FROM review_logs").fetchone()[0])

    def first_review_time(self) -> str | None:
        """When the oldest review was made, as stored (naive UTC text); None without reviews."""
        row = self.db.conn.execute("SELECT min(reviewed_at) FROM review_logs").fetchone()
        return None if row[0] is None else str(row[0])

    def card_ids_with_reviews(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute("SELECT DISTINCT card_id FROM review_logs ORDER BY card_id")]

    def card_ids_reviewed_since(self, since: str) -> list[str]:
        """Cards with a review at or after ``since`` (stored UTC text)."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT card_id FROM review_logs WHERE reviewed_at >= ? ORDER BY card_id", (since,))]

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
                    f"difficulty, due FROM review_logs WHERE card_id IN ({marks}) ORDER BY card_id, reviewed_at, uuid",
                    part):
                if r[0] in reviews:
                    reviews[r[0]].append(ReplayLog(r[1], r[2], r[3], bool(r[4]), tuple(r[5:])))
            for card_id in part:
                if card_id in schedules:
                    yield ReplayInput(card_id, schedules[card_id], reviews[card_id])

    def replay_groups(self, card_ids: Sequence[str] | None = None) -> Iterator[tuple[str, int, str, str | None]]:
        """Each card's reviews, for a replay of many cards at once: (card_id, how many, their ids
        comma-separated and their times concatenated, both in replay order: reviewed_at, then id), by
        card_id, from the log's card index (which holds both).

        ``None`` means every card with a review; otherwise the cards given (kept for
        :meth:`replay_columns` and :meth:`replay_schedules`; those without a review are left out here).
        Read it to the end before calling either.
        """
        c = self.db.conn
        where = ""
        if card_ids is not None:
            c.execute("DROP TABLE IF EXISTS temp.replay_ids")
            c.execute("CREATE TEMP TABLE replay_ids(id TEXT PRIMARY KEY) WITHOUT ROWID")
            c.executemany("INSERT OR IGNORE INTO temp.replay_ids VALUES (?)", ((i,) for i in card_ids))
            where = "WHERE card_id IN (SELECT id FROM temp.replay_ids) "
        cur = c.execute(f"SELECT card_id, count(*), group_concat(id), group_concat(reviewed_at, '') FROM review_logs "
                        f"{where}GROUP BY card_id ORDER BY card_id")
        while rows := cur.fetchmany(5000):
            yield from rows

    def replay_columns(self, *, some: bool, reviews: int, states: bool = False,
                       chunk: int = 100_000) -> Iterator[ReviewChunk]:
        """The ids, ratings and cram flags of the review rows :meth:`replay_groups` named
        (``reviews`` of them; ``some``: it was given cards), ``chunk`` rows at a time, as strings
        SQLite concatenates (a Python row per review costs more than replaying it): from one pass
        over the log in id order when they are a good part of it (looking each row up from the card
        index costs more), else card by card.

        Rows with a rating outside 1-4, a cram flag neither 0 nor 1 or a reviewed_at not 26
        characters of text are left out (and with ``states``, those whose state or prev_state is
        outside 0-3, which :meth:`unreadable_rows` also counts): the caller finds them missing."""
        c = self.db.conn
        # Rows a bulk replay does not take are left out (the caller sees them missing). In these
        # columns' affinities, a rating IN (1, 2, 3, 4) is that integer, a cram flag IN (0, 1) too, and a
        # value 26 characters long that sorts before every blob is text (no number is written with 26).
        usual = "rating IN (1, 2, 3, 4) AND cram IN (0, 1) AND length(reviewed_at) = 26 AND reviewed_at < x''"
        if states:
            usual += " AND state IN (0, 1, 2, 3) AND prev_state IN (0, 1, 2, 3)"
        columns = "group_concat(id), group_concat(rating, ''), group_concat(cram, ''), count(*)"
        low, high = c.execute("SELECT min(id), max(id) FROM review_logs").fetchone()
        if low is None:
            return
        if not some or reviews * 4 > high - low:
            keep = " AND +card_id IN (SELECT id FROM temp.replay_ids)" if some else ""
            for start in range(low - 1, high, chunk):  # ids are dense: ranges of the table's own order
                row = c.execute(f"SELECT {columns} FROM review_logs WHERE id > ? AND id <= ?{keep} AND {usual}",
                                (start, start + chunk)).fetchone()
                if row[3]:
                    yield ReviewChunk(*row)
        else:
            ids = [r[0] for r in c.execute("SELECT id FROM temp.replay_ids")]
            per_query = max(1, chunk // 50)
            for start in range(0, len(ids), per_query):
                c.execute("DROP TABLE IF EXISTS temp.replay_part")
                c.execute("CREATE TEMP TABLE replay_part(id TEXT PRIMARY KEY) WITHOUT ROWID")
                c.executemany("INSERT INTO temp.replay_part VALUES (?)", ((i,) for i in ids[start:start + per_query]))
                row = c.execute(f"SELECT {columns} FROM review_logs WHERE card_id IN "
                                f"(SELECT id FROM temp.replay_part) AND {usual}").fetchone()
                if row[3]:
                    yield ReviewChunk(*row)
            c.execute("DROP TABLE IF EXISTS temp.replay_part")

    def replay_schedules(self, card_ids: Sequence[str], *, in_order: bool = False) -> list[tuple[Any, ...]]:
        """(card_id, schedule columns as stored...) of those of ``card_ids`` that exist, and with
        ``in_order`` (``card_ids`` sorted as SQLite sorts ids), maybe of other cards between them."""
        c = self.db.conn
        if in_order and card_ids:  # one walk along the id index
            return c.execute(f"SELECT id, {SCHEDULE_COLUMNS} FROM cards WHERE id >= ? AND id <= ?",
                             (card_ids[0], card_ids[-1])).fetchall()
        c.execute("DROP TABLE IF EXISTS temp.replay_part")
        c.execute("CREATE TEMP TABLE replay_part(id TEXT PRIMARY KEY) WITHOUT ROWID")
        c.executemany("INSERT OR IGNORE INTO temp.replay_part VALUES (?)", ((i,) for i in card_ids))
        rows = c.execute(f"SELECT id, {SCHEDULE_COLUMNS} FROM cards WHERE id IN (SELECT id FROM temp.replay_part)"
                         ).fetchall()
        c.execute("DROP TABLE temp.replay_part")
        return rows

    _STAGED = "prev_state, prev_interval_days, state, stability, difficulty, due, id INTEGER"

    def stage_replayed_logs(self, logs: Iterable[tuple[Any, ...]]) -> None:
        """Keep replayed log columns for :meth:`write_staged_logs`: (prev_state, prev_interval_days,
        state, stability, difficulty, due, log id), in a temporary table (nothing of the log changes)."""
        c = self.db.conn
        c.execute(f"CREATE TEMP TABLE IF NOT EXISTS replayed_logs({self._STAGED})")  # no key: appending is cheap
        c.executemany("INSERT INTO temp.replayed_logs VALUES (?, ?, ?, ?, ?, ?, ?)", logs)

    def drop_staged_logs(self) -> None:
        self.db.conn.execute("DROP TABLE IF EXISTS temp.replayed_logs")

    def write_staged_logs(self) -> int:
        """Write the staged log columns of the rows where they differ from the stored ones (compared
        by SQLite, in the same pass); returns how many rows that was. Runs inside the caller's
        transaction when there is one."""
        columns = ("prev_state", "prev_interval_days", "state", "stability", "difficulty", "due")
        differs = " OR ".join(f"review_logs.{col} IS NOT r.{col}" for col in columns)
        with self.db.write() as c:
            c.execute(f"CREATE TEMP TABLE IF NOT EXISTS replayed_logs({self._STAGED})")
            before = c.total_changes
            if sqlite3.sqlite_version_info >= (3, 33, 0):  # UPDATE ... FROM
                c.execute(f"UPDATE review_logs SET {', '.join(f'{col} = r.{col}' for col in columns)} "
                          f"FROM temp.replayed_logs r WHERE review_logs.id = r.id AND ({differs})")
            else:
                c.execute("CREATE INDEX temp.replayed_logs_id ON replayed_logs(id)")
                c.execute(f"UPDATE review_logs SET ({', '.join(columns)}) = (SELECT {', '.join(columns)} "
                          "FROM temp.replayed_logs r WHERE r.id = review_logs.id) WHERE id IN "
                          f"(SELECT r.id FROM temp.replayed_logs r JOIN review_logs ON review_logs.id = r.id "
                          f"WHERE {differs})")
            changed = c.total_changes - before
            c.execute("DROP TABLE temp.replayed_logs")
        return changed

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


    def write_schedule_columns(self, changes: dict[tuple[int, ...], list[tuple[Any, ...]]]) -> None:
        """Write replayed schedules column by column: ``changes`` maps the positions (in
        ``SCHEDULE_COLUMNS``) of the columns that changed to rows of (their new values..., card id).
        Setting only those keeps SQLite from updating the indexes of the others (a reschedule
        changes stability, difficulty and due; state and reps stay)."""
        names = [n.strip() for n in SCHEDULE_COLUMNS.split(",")]
        with self.db.write() as c:
            for columns, rows in changes.items():
                if rows:
                    sets = ", ".join(f"{names[i]} = ?" for i in columns)
                    c.executemany(f"UPDATE cards SET {sets} WHERE id = ?", rows)

    def write_replay(self, cards: Iterable[tuple[Any, ...]], logs: Iterable[tuple[Any, ...]]) -> None:
        """Write replayed schedules: ``cards`` are (schedule columns..., card id), ``logs`` are
        (prev_state, prev_interval_days, state, stability, difficulty, due, log id). Runs inside the
        caller's transaction when there is one."""
        with self.db.write() as c:
            c.executemany(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", cards)
            c.executemany("UPDATE review_logs SET prev_state = ?, prev_interval_days = ?, state = ?, stability = ?, "
                          "difficulty = ?, due = ? WHERE id = ?", logs)

    # ------------------------------------------------------------- export and import
    def revlog_lines(self, tags: Sequence[str], include_unanswered: bool) -> Iterator[list[str]]:
        """The non-cram reviews of the cards an export selects (see :func:`export_where`), oldest
        first, as CSV lines ``card_id,review_time,review_rating,review_state,review_duration\\n``
        (time in ms since the epoch, the state before the review, an unknown duration as 0), in
        batches.

        SQLite writes the lines: a Python tuple per review costs more than the whole query. When
        no card left out has a review (the usual case: cards without an answer are never
        reviewed), the log is read without testing each review's card, which is a third of the
        cost; otherwise the selected ids are one list SQLite builds once (the unary ``+`` keeps
        it walking the log in time order rather than looking up each card's reviews).
        """
        where, params = export_where(tags, include_unanswered)
        c = self.db.conn
        left_out_reviewed = c.execute(
            f"SELECT EXISTS (SELECT 1 FROM cards WHERE NOT ({where}) AND EXISTS "
            "(SELECT 1 FROM review_logs r WHERE r.card_id = cards.id AND r.cram = 0))", params).fetchone()[0]
        select = f" AND +card_id IN (SELECT id FROM cards WHERE {where})" if left_out_reviewed else ""
        ms = _MS_SQL.format(col="reviewed_at")
        card = ("CASE WHEN card_id GLOB '*[\",'||char(10)||char(13)||']*' "
                "THEN '\"' || replace(card_id, '\"', '\"\"') || '\"' ELSE card_id END")
        cur = c.execute(
            f"SELECT printf('%s,%d,%d,%d,%d' || char(10), {card}, {ms}, rating, prev_state, coalesce(duration_ms, 0)) "
            f"FROM review_logs WHERE cram = 0{select} ORDER BY reviewed_at, id", params if left_out_reviewed else ())
        while True:
            rows = cur.fetchmany(20_000)
            if not rows:
                return
            yield [r[0] for r in rows]

    def merge(self, rows: Iterable[ImportRow]) -> MergeResult:
        """Add imported reviews that the store does not have yet, in the caller's transaction.

        ``rows``: (card_id, time in ms since the epoch, rating, duration_ms, prev_state,
        study_day, cram). It may be a generator: rows are streamed into a temporary table, so a
        file of millions of reviews never sits in memory. A review is the same as one in the
        store (or earlier in ``rows``) when it has the same card and the same millisecond, so
        importing a file twice adds nothing. Reviews of unknown cards are counted, not written.

        New rows are written card by card (so a replay finds each card's rows together), and
        the scheduling columns of non-cram ones are placeholders (new, before and after) until
        the caller replays the cards (:func:`llmcards.replay.replay_cards`).
        """
        stored = _STORED_SQL.format(ms="ms")
        device = self.db.device_id
        with self.db.write() as c:
            for table in ("imported", "distinct_rows"):
                c.execute(f"DROP TABLE IF EXISTS temp.{table}")
            columns = "card_id TEXT, ms INTEGER, rating INTEGER, duration_ms INTEGER, prev_state INTEGER, " \
                      "study_day TEXT, cram INTEGER"
            c.execute(f"CREATE TEMP TABLE imported({columns})")  # no index: appending is what is cheap
            counter = _Counter(rows)
            c.executemany("INSERT INTO temp.imported VALUES (?, ?, ?, ?, ?, ?, ?)", counter)
            unknown_rows = c.execute(
                "SELECT card_id, count(*) FROM temp.imported WHERE card_id NOT IN (SELECT id FROM cards) "
                "GROUP BY card_id ORDER BY card_id").fetchall()
            # One row per (card, ms) of a known card, the first one in the file (SQLite takes the bare
            # columns from the row that has the min()), in card order.
            c.execute(f"CREATE TEMP TABLE distinct_rows({columns}, first INTEGER)")
            c.execute("INSERT INTO temp.distinct_rows SELECT card_id, ms, rating, duration_ms, prev_state, study_day, "
                      "cram, min(rowid) FROM temp.imported WHERE card_id IN (SELECT id FROM cards) "
                      "GROUP BY card_id, ms ORDER BY card_id, ms")
            c.execute("DROP TABLE temp.imported")
            distinct = int(c.execute("SELECT count(*) FROM temp.distinct_rows").fetchone()[0])
            # Stored times carry microseconds: the same millisecond is a range of the card's index.
            c.execute(f"DELETE FROM temp.distinct_rows WHERE EXISTS (SELECT 1 FROM review_logs r "
                      f"WHERE r.card_id = distinct_rows.card_id AND r.reviewed_at >= {stored} "
                      f"AND r.reviewed_at <= substr({stored}, 1, 23) || '999')")
            added = int(c.execute("SELECT count(*) FROM temp.distinct_rows").fetchone()[0])
            # Each review's id is made from its card and millisecond, so that the same file imported
            # on two devices gives the same reviews, which a hub sync then keeps once.
            c.create_function("llmcards_review_uuid", 2, lambda card_id, ms: uuid7_named(ms, f"{card_id}|{ms}"),
                              deterministic=True)
            c.execute(
                "INSERT INTO review_logs(uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, "
                "prev_state, state, cram, pushed) SELECT llmcards_review_uuid(card_id, ms), ?, card_id, rating, "
                f"{stored}, study_day, duration_ms, CASE WHEN cram THEN prev_state ELSE 0 END, "
                "CASE WHEN cram THEN prev_state ELSE 0 END, cram, 0 FROM temp.distinct_rows ORDER BY rowid",
                (device,))
            card_ids = tuple(r[0] for r in c.execute("SELECT DISTINCT card_id FROM temp.distinct_rows"))
            c.execute("DROP TABLE temp.distinct_rows")
        unknown = sum(int(r[1]) for r in unknown_rows)
        return MergeResult(read=counter.count, added=added, already=distinct - added,
                           repeated=counter.count - unknown - distinct, unknown=unknown,
                           unknown_cards=tuple(r[0] for r in unknown_rows), card_ids=card_ids)


class _Counter:
    """An iterator that counts what passes through it."""

    def __init__(self, rows: Iterable[ImportRow]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> ImportRow:
        row = next(self._rows)
        self.count += 1
        return row
