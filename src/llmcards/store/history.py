"""The review history as a whole: what replaying, exporting and fitting read, and what a replay writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from llmcards.models import Grade, ReviewRecord, State
from llmcards.store.cards import export_where
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


class ReviewChunk(NamedTuple):
    """Review rows as SQLite concatenates them, for a caller that parses them in bulk: each column
    of ``rows`` rows in one string, in the same row order."""

    ids: str  # the rows' ids, comma-separated
    ratings: str  # one character each when ``odd`` is 0
    cram: str  # one character each when ``odd`` is 0
    times: str  # reviewed_at, 26 characters each when ``odd`` is 0
    rows: int
    odd: int  # rows whose rating or cram is not one digit, or whose reviewed_at is not 26 characters of text


class ReplayBulk(NamedTuple):
    """Many cards' replay input at once (see :meth:`History.replay_bulk`)."""

    cards: list[tuple[Any, ...]]  # (card_id, schedule columns as stored...), in the order asked for
    review_ids: dict[str, str]  # card_id -> its review ids, comma-separated, in replay order (reviewed_at, id)
    reviews: int  # how many review rows those are
    chunks: Iterator[ReviewChunk]  # their columns; read them before the transaction ends


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

    def replay_bulk(self, card_ids: Sequence[str] | None = None, *, chunk: int = 500_000) -> ReplayBulk:
        """What :meth:`replay_input` gives, for many cards at once, as strings SQLite concatenates
        (a Python row per review costs more than replaying it).

        ``None`` means every card with a review; otherwise the cards given that exist, reviewed or
        not. Each card's review ids come in replay order from its index; the reviews' columns come
        in ``chunk``-row pieces, either from one pass over the log in id order (when the cards
        have a good part of it: looking each row up from the index costs more) or card by card.
        """
        c = self.db.conn
        schedule = f"id, {SCHEDULE_COLUMNS}"
        if card_ids is None:
            cards = c.execute(f"SELECT {schedule} FROM cards ORDER BY id").fetchall()  # kept below: those reviewed
            where = ""
        else:
            c.execute("DROP TABLE IF EXISTS temp.replay_ids")
            c.execute("CREATE TEMP TABLE replay_ids(id TEXT PRIMARY KEY) WITHOUT ROWID")
            c.executemany("INSERT OR IGNORE INTO temp.replay_ids VALUES (?)", ((i,) for i in card_ids))
            found = {r[0]: tuple(r) for r in c.execute(
                f"SELECT {schedule} FROM cards WHERE id IN (SELECT id FROM temp.replay_ids)")}
            cards = [found.pop(i) for i in card_ids if i in found]  # the order asked for, each once
            where = "WHERE card_id IN (SELECT id FROM temp.replay_ids)"
        review_ids: dict[str, str] = {}
        reviews = 0
        for card_id, n, ids in c.execute(f"SELECT card_id, count(*), group_concat(id) FROM review_logs {where} "
                                         "GROUP BY card_id"):
            review_ids[card_id] = ids
            reviews += n
        if card_ids is None:
            cards = [row for row in cards if row[0] in review_ids]
        low, high = c.execute("SELECT min(id), max(id) FROM review_logs").fetchone()
        whole_log = card_ids is None or reviews * 4 > (high or 0) - (low or 0)
        return ReplayBulk(cards, review_ids, reviews, self._review_chunks(card_ids is not None, whole_log, chunk))

    def _review_chunks(self, some: bool, whole_log: bool, chunk: int) -> Iterator[ReviewChunk]:
        c = self.db.conn
        columns = ("group_concat(id), group_concat(rating, ''), group_concat(cram, ''), group_concat(reviewed_at, ''), "
                   "count(*), coalesce(sum(NOT (typeof(rating) = 'integer' AND rating BETWEEN 0 AND 9 "
                   "AND typeof(cram) = 'integer' AND cram BETWEEN 0 AND 9 AND typeof(reviewed_at) = 'text' "
                   "AND length(reviewed_at) = 26)), 0)")
        if whole_log:
            keep = " AND +card_id IN (SELECT id FROM temp.replay_ids)" if some else ""
            after = -(2**63)
            while True:
                row = c.execute(f"SELECT {columns}, max(id) FROM (SELECT id, rating, cram, reviewed_at "
                                f"FROM review_logs WHERE id > ?{keep} ORDER BY id LIMIT ?)", (after, chunk)).fetchone()
                if not row[4]:
                    return
                yield ReviewChunk(*row[:6])
                after = row[6]
        else:
            ids = [r[0] for r in c.execute("SELECT id FROM temp.replay_ids")]
            per_query = max(1, min(chunk // 50, 10_000))
            for start in range(0, len(ids), per_query):
                part = ids[start:start + per_query]
                row = c.execute(f"SELECT {columns} FROM review_logs WHERE card_id IN "
                                f"({','.join('?' * len(part))})", part).fetchone()
                if row[4]:
                    yield ReviewChunk(*row[:6])

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


    def write_replay(self, cards: Iterable[tuple[Any, ...]], logs: Iterable[tuple[Any, ...]]) -> None:
        """Write replayed schedules: ``cards`` are (schedule columns..., card id), ``logs`` are
        (prev_state, prev_interval_days, state, stability, difficulty, due, log id). Runs inside the
        caller's transaction when there is one."""
        with self.db.write() as c:
            c.executemany(f"UPDATE cards SET {SET_SCHEDULE} WHERE id = ?", cards)
            c.executemany("UPDATE review_logs SET prev_state = ?, prev_interval_days = ?, state = ?, stability = ?, "
                          "difficulty = ?, due = ? WHERE id = ?", logs)

    def write_replayed_logs(self, logs: Iterable[tuple[Any, ...]]) -> int:
        """:meth:`write_replay`'s ``logs`` for many rows: each row is compared with the stored one by
        SQLite, and only those that differ are written. Returns how many were. Runs inside the
        caller's transaction when there is one."""
        columns = ("prev_state", "prev_interval_days", "state", "stability", "difficulty", "due")
        with self.db.write() as c:
            c.execute("DROP TABLE IF EXISTS temp.replayed_logs")
            c.execute(f"CREATE TEMP TABLE replayed_logs({', '.join(columns)}, id INTEGER PRIMARY KEY)")
            c.executemany("INSERT INTO temp.replayed_logs VALUES (?, ?, ?, ?, ?, ?, ?)", logs)
            differs = " OR ".join(f"l.{col} IS NOT r.{col}" for col in columns)
            c.execute("DROP TABLE IF EXISTS temp.changed_logs")
            c.execute("CREATE TEMP TABLE changed_logs(id INTEGER PRIMARY KEY)")
            c.execute(f"INSERT INTO temp.changed_logs SELECT r.id FROM temp.replayed_logs r "
                      f"JOIN review_logs l ON l.id = r.id WHERE {differs}")
            changed = int(c.execute("SELECT count(*) FROM temp.changed_logs").fetchone()[0])
            if changed:
                c.execute(f"UPDATE review_logs SET ({', '.join(columns)}) = (SELECT {', '.join(columns)} "
                          "FROM temp.replayed_logs r WHERE r.id = review_logs.id) "
                          "WHERE id IN (SELECT id FROM temp.changed_logs)")
            c.execute("DROP TABLE temp.replayed_logs")
            c.execute("DROP TABLE temp.changed_logs")
        return changed

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
            c.execute(
                "INSERT INTO review_logs(card_id, rating, reviewed_at, study_day, duration_ms, prev_state, state, "
                f"cram) SELECT card_id, rating, {stored}, study_day, duration_ms, "
                "CASE WHEN cram THEN prev_state ELSE 0 END, CASE WHEN cram THEN prev_state ELSE 0 END, cram "
                "FROM temp.distinct_rows ORDER BY rowid")
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
