"""The review store: the only module that runs queries.

It speaks SQL over the stdlib ``sqlite3`` driver (see :mod:`llmcards.schema` for why the
tables are defined with SQLAlchemy but queried without it). Every datetime crosses this
boundary as timezone-aware UTC; inside SQLite it is naive UTC text in SQLAlchemy's format.
Writes run in ``BEGIN IMMEDIATE`` transactions under WAL with a busy timeout, so two
sessions in two terminals wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from llmcards.errors import UserError
from llmcards.models import Card, CardState, Grade, Question, ReviewRecord, State, SyncReport

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 15000
BANK_ORIGIN = "bank"
USER_ORIGIN = "user"

_CARD_COLUMNS = (
    "id, position, question, answer, tags, sources, origin, suspended, retired, buried_until, "
    "state, step, stability, difficulty, due, last_review, reps, lapses, created_at, updated_at"
)


def to_db(value: datetime | None) -> str | None:
    """Aware datetime -> naive UTC text, in the format SQLAlchemy uses for SQLite."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass timezone-aware UTC")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def from_db(value: str | None) -> datetime | None:
    """Naive UTC text from SQLite -> aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _card(row: Sequence[Any]) -> Card:
    return Card(
        id=row[0],
        position=row[1],
        question=row[2],
        answer=row[3],
        tags=tuple(json.loads(row[4])),
        sources=tuple(json.loads(row[5])),
        origin=row[6],
        suspended=bool(row[7]),
        retired=bool(row[8]),
        buried_until=from_db(row[9]),
        schedule=CardState(
            state=State(row[10]),
            step=row[11],
            stability=row[12],
            difficulty=row[13],
            due=from_db(row[14]),
            last_review=from_db(row[15]),
            reps=row[16],
            lapses=row[17],
        ),
        created_at=from_db(row[18]),  # type: ignore[arg-type]
        updated_at=from_db(row[19]),  # type: ignore[arg-type]
    )


def _schedule_params(s: CardState) -> tuple[Any, ...]:
    return (int(s.state), s.step, s.stability, s.difficulty, to_db(s.due), to_db(s.last_review), s.reps, s.lapses)


@dataclass(frozen=True)
class CardFilter:
    """What ``llmcards list`` asks for. All conditions combine with AND."""

    tags: tuple[str, ...] = ()
    search: str | None = None
    due: bool = False
    new: bool = False
    suspended: bool = False
    unanswered: bool = False
    retired: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class QueueFilter:
    """Which cards a review session may draw from."""

    tags: tuple[str, ...] = ()
    include_unanswered: bool = False


class Store:
    """A SQLite review store. Open with :meth:`Store.open`; close when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path, created: bool) -> None:
        self.conn = conn
        self.path = path
        self.created = created

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: Path) -> "Store":
        """Open (creating directories and schema as needed) the store at ``path``."""
        created = not path.exists() or path.stat().st_size == 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the directory for the store {path}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not an llmcards store ({exc})") from None
        if mode.lower() != "wal":  # e.g. a read-only directory
            conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                conn.close()
                raise UserError(f"{path}: this SQLite file is not an llmcards store; choose another --db path")
            from llmcards.schema import create_schema

            create_schema(str(path))
            created = True
        elif version > SCHEMA_VERSION:
            conn.close()
            raise UserError(f"{path}: made by a newer llmcards (schema {version}); upgrade llmcards to open it")
        return cls(conn, path, created)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: it all happens, or none of it does."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # ----------------------------------------------------------------- meta and settings
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def settings_text(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM settings").fetchall())

    def save_setting(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    # ----------------------------------------------------------------- sync
    def card_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM cards").fetchone()[0])

    def sync_questions(
        self,
        questions: Sequence[Question],
        *,
        origin: str,
        import_path: str | None,
        now: datetime,
        source: str,
        meta: dict[str, str] | None = None,
    ) -> SyncReport:
        """Sync ``questions`` by id into the cards of one origin, in one transaction.

        New ids are added, changed text is updated (the schedule is kept), ids missing from
        ``questions`` are retired (history kept), and ``meta`` is written in the same
        transaction (used for the bundled bank's hash).
        """
        from llmcards.sync import diff

        ts = to_db(now)
        with self.write() as c:
            existing = {
                row[0]: (row[1], bool(row[2]), row[3], row[4])
                for row in c.execute("SELECT id, content_hash, retired, origin, import_path FROM cards")
            }
            report = diff(existing, questions, origin=origin, import_path=import_path, source=source)
            by_id = {q.id: q for q in questions}
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            new_rows = []
            for card_id in report.added:
                q = by_id[card_id]
                position += 1
                new_rows.append(
                    (q.id, position, q.question, q.answer, json.dumps(list(q.tags), ensure_ascii=False),
                     json.dumps(list(q.sources), ensure_ascii=False), origin, import_path,
                     q.content_hash(), ts, ts)
                )
            c.executemany(
                "INSERT INTO cards(id, position, question, answer, tags, sources, origin, import_path, "
                "content_hash, created_at, updated_at, suspended, retired, state, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
                new_rows,
            )
            c.executemany(
                "INSERT INTO card_tags(tag, card_id) VALUES (?, ?)",
                [(tag, card_id) for card_id in report.added for tag in by_id[card_id].tags],
            )
            for card_id in report.updated:
                self._update_text(c, by_id[card_id], ts)
            c.executemany(
                "UPDATE cards SET retired = 1, updated_at = ? WHERE id = ?", [(ts, i) for i in report.retired]
            )
            for key, value in (meta or {}).items():
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        return report

    def _update_text(self, c: sqlite3.Connection, q: Question, ts: str | None) -> None:
        """New text for an existing card; its schedule and history are untouched."""
        c.execute(
            "UPDATE cards SET question = ?, answer = ?, tags = ?, sources = ?, content_hash = ?, "
            "updated_at = ?, retired = 0 WHERE id = ?",
            (q.question, q.answer, json.dumps(list(q.tags), ensure_ascii=False),
             json.dumps(list(q.sources), ensure_ascii=False), q.content_hash(), ts, q.id),
        )
        c.execute("DELETE FROM card_tags WHERE card_id = ?", (q.id,))
        c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", [(t, q.id) for t in q.tags])

    # ----------------------------------------------------------------- cards
    def get_card(self, card_id: str) -> Card | None:
        row = self.conn.execute(f"SELECT {_CARD_COLUMNS} FROM cards WHERE id = ?", (card_id,)).fetchone()
        return None if row is None else _card(row)

    def require_card(self, card_id: str) -> Card:
        """The card, or a UserError suggesting close ids."""
        card = self.get_card(card_id)
        if card is None:
            raise UserError(self._unknown_id_message(card_id))
        return card

    def require_ids(self, ids: Sequence[str]) -> list[str]:
        """Check that every id exists (one message naming the first unknown one)."""
        found = set()
        for chunk_start in range(0, len(ids), 500):
            chunk = list(ids[chunk_start:chunk_start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(f"SELECT id FROM cards WHERE id IN ({marks})", chunk))
        for card_id in ids:
            if card_id not in found:
                raise UserError(self._unknown_id_message(card_id))
        return list(dict.fromkeys(ids))

    def _unknown_id_message(self, card_id: str) -> str:
        import difflib

        ids = [r[0] for r in self.conn.execute("SELECT id FROM cards")]
        close = difflib.get_close_matches(card_id, ids, n=3, cutoff=0.6)
        if not close:
            close = [i for i in ids if card_id in i][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `llmcards list --search TEXT`"
        return f"no card with id {card_id!r}{hint}"

    def find_question(self, text: str) -> str | None:
        """The id of a card whose question is exactly ``text`` (ignoring outer space)."""
        row = self.conn.execute("SELECT id FROM cards WHERE trim(question) = ? LIMIT 1", (text.strip(),)).fetchone()
        return None if row is None else row[0]

    def add_card(self, q: Question, *, now: datetime) -> None:
        """Insert a user card as new, in one transaction."""
        ts = to_db(now)
        with self.write() as c:
            position = c.execute("SELECT coalesce(max(position), 0) + 1 FROM cards").fetchone()[0]
            c.execute(
                "INSERT INTO cards(id, position, question, answer, tags, sources, origin, content_hash, "
                "created_at, updated_at, suspended, retired, state, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
                (q.id, position, q.question, q.answer, json.dumps(list(q.tags), ensure_ascii=False),
                 json.dumps(list(q.sources), ensure_ascii=False), USER_ORIGIN, q.content_hash(), ts, ts),
            )
            c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", [(t, q.id) for t in q.tags])

    def update_card(self, q: Question, *, now: datetime) -> bool:
        """Replace a card's text; returns False when nothing changed. The schedule is kept."""
        with self.write() as c:
            row = c.execute("SELECT content_hash FROM cards WHERE id = ?", (q.id,)).fetchone()
            if row is None:
                raise UserError(self._unknown_id_message(q.id))
            if row[0] == q.content_hash():
                return False
            self._update_text(c, q, to_db(now))
            return True

    def set_suspended(self, ids: Sequence[str], suspended: bool, *, now: datetime) -> int:
        """Suspend or unsuspend; returns how many cards changed."""
        with self.write() as c:
            changed = 0
            for card_id in ids:
                changed += c.execute(
                    "UPDATE cards SET suspended = ?, updated_at = ? WHERE id = ? AND suspended != ?",
                    (int(suspended), to_db(now), card_id, int(suspended)),
                ).rowcount
            return changed

    def bury(self, card_id: str, until: datetime) -> None:
        with self.write() as c:
            c.execute("UPDATE cards SET buried_until = ? WHERE id = ?", (to_db(until), card_id))

    def delete_cards(self, ids: Sequence[str]) -> int:
        """Delete cards with their tags and review history."""
        with self.write() as c:
            deleted = 0
            for card_id in ids:
                deleted += c.execute("DELETE FROM cards WHERE id = ?", (card_id,)).rowcount
            return deleted

    def _filter_sql(self, flt: CardFilter, now: datetime) -> tuple[str, list[Any]]:
        where = ["retired = 1" if flt.retired else "retired = 0"]
        params: list[Any] = []
        if flt.suspended:
            where.append("suspended = 1")
        if flt.due:
            where.append("state > 0 AND suspended = 0 AND retired = 0 AND due <= ?")
            params.append(to_db(now))
        if flt.new:
            where.append("state = 0")
        if flt.unanswered:
            where.append("answer IS NULL")
        if flt.search:
            pattern = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
            params += [pattern, pattern, pattern]
        for tag in flt.tags:
            where.append("id IN (SELECT card_id FROM card_tags WHERE tag = ?)")
            params.append(tag)
        return " AND ".join(where), params

    def list_cards(self, flt: CardFilter, *, now: datetime) -> list[Card]:
        """Cards matching ``flt``, in bank order (due order with ``due``)."""
        where, params = self._filter_sql(flt, now)
        order = "due, position" if flt.due else "position"
        limit = f" LIMIT {int(flt.limit)}" if flt.limit is not None else ""
        sql = f"SELECT {_CARD_COLUMNS} FROM cards WHERE {where} ORDER BY {order}{limit}"
        return [_card(r) for r in self.conn.execute(sql, params)]

    def count_cards(self, flt: CardFilter, *, now: datetime) -> int:
        where, params = self._filter_sql(flt, now)
        return int(self.conn.execute(f"SELECT count(*) FROM cards WHERE {where}", params).fetchone()[0])

    def all_tags(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT tag FROM card_tags ORDER BY tag")]

    def history(self, card_id: str) -> list[ReviewRecord]:
        rows = self.conn.execute(
            "SELECT id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
            "prev_state, cram FROM review_logs WHERE card_id = ? ORDER BY reviewed_at, id",
            (card_id,),
        ).fetchall()
        return [
            ReviewRecord(
                id=r[0], card_id=r[1], rating=Grade(r[2]), reviewed_at=from_db(r[3]),  # type: ignore[arg-type]
                duration_ms=r[4], state=State(r[5]), stability=r[6], difficulty=r[7], due=from_db(r[8]),
                prev_state=State(r[9]), cram=bool(r[10]),
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- review queue
    def _queue_where(self, flt: QueueFilter) -> tuple[str, list[Any]]:
        where = ["(buried_until IS NULL OR buried_until <= ?)"]
        params: list[Any] = []
        if not flt.include_unanswered:
            where.append("answer IS NOT NULL")
        for tag in flt.tags:
            where.append("id IN (SELECT card_id FROM card_tags WHERE tag = ?)")
            params.append(tag)
        return " AND ".join(where), params

    def due_cards(self, now: datetime, flt: QueueFilter, *, until: datetime | None = None) -> list[Card]:
        """Active learning, relearning and review cards due by ``until`` (default ``now``), earliest first."""
        extra, params = self._queue_where(flt)
        sql = (
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 "
            f"AND due <= ? AND {extra} ORDER BY due, position"
        )
        return [_card(r) for r in self.conn.execute(sql, [to_db(until or now), to_db(now), *params])]

    def new_cards(self, now: datetime, flt: QueueFilter, limit: int) -> list[Card]:
        """New cards in bank order."""
        if limit <= 0:
            return []
        extra, params = self._queue_where(flt)
        sql = (
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE state = 0 AND suspended = 0 AND retired = 0 "
            f"AND {extra} ORDER BY position LIMIT ?"
        )
        return [_card(r) for r in self.conn.execute(sql, [to_db(now), *params, limit])]

    def cram_cards(self, now: datetime, flt: QueueFilter, limit: int | None) -> list[Card]:
        """Cards to practise regardless of due date: studied ones by due date, then new ones."""
        extra, params = self._queue_where(flt)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = (
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE suspended = 0 AND retired = 0 AND {extra} "
            f"ORDER BY state = 0, due, position{lim}"
        )
        return [_card(r) for r in self.conn.execute(sql, [to_db(now), *params])]

    def studied_on(self, day: date) -> tuple[int, int]:
        """(new cards introduced, review-state cards reviewed) on a study day, cram excluded."""
        row = self.conn.execute(
            "SELECT coalesce(sum(prev_state = 0), 0), coalesce(sum(prev_state = 2), 0) FROM review_logs "
            "WHERE study_day = ? AND cram = 0",
            (day.isoformat(),),
        ).fetchone()
        return int(row[0]), int(row[1])

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
        """Commit one grade: the card's new state (unless cram) and its log, atomically."""
        prev_interval = None
        if before.due is not None and before.last_review is not None:
            prev_interval = (before.due - before.last_review).total_seconds() / 86400
        with self.write() as c:
            if not cram:
                c.execute(
                    "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
                    "last_review = ?, reps = ?, lapses = ? WHERE id = ?",
                    (*_schedule_params(after), card_id),
                )
            cur = c.execute(
                "INSERT INTO review_logs(card_id, rating, reviewed_at, study_day, duration_ms, prev_state, "
                "prev_interval_days, state, stability, difficulty, due, cram) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (card_id, int(rating), to_db(reviewed_at), study_day.isoformat(), duration_ms,
                 int(before.state), prev_interval, int(after.state), after.stability, after.difficulty,
                 to_db(after.due), int(cram)),
            )
            return int(cur.lastrowid or 0)

    def undo_review(self, log_id: int, card_id: str, before: CardState, *, cram: bool = False) -> None:
        """Restore the card's state from before a grade and delete that grade's log."""
        with self.write() as c:
            if not cram:
                c.execute(
                    "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
                    "last_review = ?, reps = ?, lapses = ? WHERE id = ?",
                    (*_schedule_params(before), card_id),
                )
            c.execute("DELETE FROM review_logs WHERE id = ?", (log_id,))

    def next_due(self, after: datetime) -> datetime | None:
        """When the next active studied card falls due after ``after``."""
        row = self.conn.execute(
            "SELECT min(due) FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 AND due > ?",
            (to_db(after),),
        ).fetchone()
        return from_db(row[0])

    def count_due(self, until: datetime) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 AND due <= ?",
            (to_db(until),),
        ).fetchone()
        return int(row[0])

    def count_new_available(self, flt: QueueFilter, now: datetime) -> int:
        extra, params = self._queue_where(flt)
        row = self.conn.execute(
            f"SELECT count(*) FROM cards WHERE state = 0 AND suspended = 0 AND retired = 0 AND {extra}",
            [to_db(now), *params],
        ).fetchone()
        return int(row[0])
