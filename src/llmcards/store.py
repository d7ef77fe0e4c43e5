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

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import Card, CardState, Grade, Question, ReviewRecord, State, SyncReport
from llmcards.sync import Existing, ExistingCard

SCHEMA_VERSION = 2  # keep equal to llmcards.schema.SCHEMA_VERSION
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


def _stamp_key(origin: str, import_path: str | None) -> str:
    return f"synced:{origin}:{import_path or ''}"


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
            from llmcards.schema import ensure_schema

            ensure_schema(str(path))
            created = True
        elif version > SCHEMA_VERSION:
            conn.close()
            raise UserError(f"{path}: made by a newer llmcards (schema {version}); upgrade llmcards to open it")
        elif version < SCHEMA_VERSION:
            from llmcards.schema import ensure_schema

            ensure_schema(str(path))
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

    def settings_text(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM settings").fetchall())

    def settings(self) -> Settings:
        """The person's settings (defaults for anything not set)."""
        return Settings.from_strings(self.settings_text())

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
        file_sha: str | None = None,
    ) -> SyncReport:
        """Sync ``questions`` by id into the cards of one origin, in one transaction.

        New ids are added, changed text is updated (the schedule is kept), ids missing from
        ``questions`` are retired (history kept), and ``meta`` is written in the same
        transaction (used for the bundled bank's hash). With ``file_sha`` (the file's hash),
        the sync is stamped so that :meth:`synced_ids` can skip an unchanged re-import.
        """
        from llmcards.sync import diff

        ts = to_db(now)
        with self.write() as c:
            columns = "SELECT id, content_hash, source_hash, retired, origin, import_path FROM cards"
            existing: Existing = {}
            for row in c.execute(f"{columns} WHERE origin = ? AND import_path IS ?", (origin, import_path)):
                existing[row[0]] = ExistingCard(row[1], row[2], bool(row[3]), row[4], row[5])
            others = [q.id for q in questions if q.id not in existing]
            for start in range(0, len(others), 500):  # any other card that has one of the file's ids
                chunk = others[start:start + 500]
                for row in c.execute(f"{columns} WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                    existing[row[0]] = ExistingCard(row[1], row[2], bool(row[3]), row[4], row[5])
            hashes = {q.id: q.content_hash() for q in questions}
            report = diff(existing, questions, hashes, origin=origin, import_path=import_path, source=source)
            by_id = {q.id: q for q in questions}
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            new_rows = []
            for card_id in report.added:
                q = by_id[card_id]
                position += 1
                new_rows.append(
                    (q.id, position, q.question, q.answer, json.dumps(list(q.tags), ensure_ascii=False),
                     json.dumps(list(q.sources), ensure_ascii=False), origin, import_path,
                     hashes[card_id], hashes[card_id], ts, ts)
                )
            c.executemany(
                "INSERT INTO cards(id, position, question, answer, tags, sources, origin, import_path, "
                "content_hash, source_hash, created_at, updated_at, suspended, retired, state, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
                new_rows,
            )
            c.executemany(
                "INSERT INTO card_tags(tag, card_id) VALUES (?, ?)",
                [(tag, card_id) for card_id in report.added for tag in by_id[card_id].tags],
            )
            for card_id in report.updated:
                self._update_text(c, by_id[card_id], ts, from_file=True)
            c.executemany(
                "UPDATE cards SET retired = 1, updated_at = ? WHERE id = ?", [(ts, i) for i in report.retired]
            )
            for key, value in (meta or {}).items():
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            if file_sha is not None:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          (_stamp_key(origin, import_path), f"{file_sha}|{self._scope_state(origin, import_path)}"))
        return report

    def _scope_state(self, origin: str, import_path: str | None) -> str:
        """Changes whenever a card of this origin is added, edited, retired or deleted."""
        row = self.conn.execute(
            "SELECT count(*), max(updated_at) FROM cards WHERE origin = ? AND import_path IS ?", (origin, import_path)
        ).fetchone()
        return f"{row[0]}|{row[1]}"

    def synced_ids(self, origin: str, import_path: str | None, file_sha: str) -> list[str] | None:
        """The live ids of an origin if it was last synced from a file with this hash and none of
        its cards changed since; None when a real sync is needed."""
        stamp = self.get_meta(_stamp_key(origin, import_path))
        if stamp != f"{file_sha}|{self._scope_state(origin, import_path)}":
            return None
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM cards WHERE origin = ? AND import_path IS ? AND retired = 0 ORDER BY position",
            (origin, import_path))]

    def _update_text(self, c: sqlite3.Connection, q: Question, ts: str | None, *, from_file: bool) -> None:
        """New text for an existing card; its schedule and history are untouched.

        ``from_file``: the text comes from the card's bank file (a sync), so it also becomes
        the card's ``source_hash``; an edit in the store leaves that alone.
        """
        digest = q.content_hash()
        c.execute(
            "UPDATE cards SET question = ?, answer = ?, tags = ?, sources = ?, content_hash = ?, "
            "source_hash = CASE WHEN ? THEN ? ELSE source_hash END, updated_at = ?, retired = 0 WHERE id = ?",
            (q.question, q.answer, json.dumps(list(q.tags), ensure_ascii=False),
             json.dumps(list(q.sources), ensure_ascii=False), digest, from_file, digest, ts, q.id),
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
        found: set[str] = set()
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
            self._update_text(c, q, to_db(now), from_file=False)
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

    def due_cards(self, now: datetime, flt: QueueFilter, *, learning: bool, limit: int | None = None) -> list[Card]:
        """Active cards due by ``now``, earliest first: learning and relearning cards when
        ``learning``, else review cards (at most ``limit``).
        """
        extra, params = self._queue_where(flt)
        # Learning cards are few: find them by ix_cards_state. Review cards are many: walk the
        # due index in order and stop at the limit (the unary + keeps ix_cards_state out of it).
        states = "state IN (1, 3)" if learning else "+state = 2"
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = (
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 "
            f"AND due <= ? AND {states} AND {extra} ORDER BY due, position{lim}"
        )
        return [_card(r) for r in self.conn.execute(sql, [to_db(now), to_db(now), *params])]

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

    # ----------------------------------------------------------------- statistics (SQL aggregates)
    # Everything below serves ``llmcards stats``; :mod:`llmcards.stats` turns these tuples into
    # typed values. Each method is one aggregate query: none loads a row per review or per
    # card into Python. ``tag`` (optional) restricts a query to the cards carrying that tag.
    # Days are study days, as stored in ``review_logs.study_day`` when the grade was given.
    _STATS_MS_PER_DAY = 86_400_000
    _STATS_MATURE_DAYS = 21  # a review card is mature from an interval of 21 days

    @staticmethod
    def _stats_tag(tag: str | None, column: str) -> tuple[str, list[Any]]:
        """An ``AND`` clause restricting ``column`` (a card id) to one tag, or nothing."""
        if tag is None:
            return "", []
        return f" AND {column} IN (SELECT card_id FROM card_tags WHERE tag = ?)", [tag]

    @staticmethod
    def _stats_active(p: str = "") -> str:
        """Studied cards still in the review (the predicate of the partial index ix_cards_active_due)."""
        return f"{p}state > 0 AND {p}suspended = 0 AND {p}retired = 0"

    def _stats_mature(self, p: str = "") -> str:
        """A review card whose interval (due - last_review, to the millisecond) is 21 days or more."""
        ms = self._STATS_MS_PER_DAY
        return (f"coalesce({p}state = 2 AND round((julianday({p}due) - julianday({p}last_review)) * {ms}) "
                f">= {self._STATS_MATURE_DAYS * ms}, 0)")

    def _stats_memory(self, p: str = "") -> str:
        """Active cards that have an FSRS memory state, hence a retrievability."""
        return f"{self._stats_active(p)} AND {p}stability > 0 AND {p}last_review IS NOT NULL"

    def _stats_r(self, now: datetime, decay: float, factor: float, p: str = "") -> tuple[str, list[Any]]:
        """FSRS retrievability of a card row as SQL: (1 + factor * t / S) ** -decay.

        ``t`` is whole days since ``last_review``, floored and never negative as in fsrs, taken
        from the difference rounded to milliseconds so float noise cannot cross a day boundary.
        ``pow`` is SQLite's when it was built with math functions; otherwise a deterministic
        Python function is registered under that name on this connection.
        """
        if not getattr(self, "_stats_pow_ready", False):
            try:
                self.conn.execute("SELECT pow(2, 3)").fetchone()
            except sqlite3.OperationalError:
                import math

                self.conn.create_function("pow", 2, math.pow, deterministic=True)
            self._stats_pow_ready = True
        ms = self._STATS_MS_PER_DAY
        elapsed = f"max(0, CAST(round((julianday(?) - julianday({p}last_review)) * {ms}) AS INTEGER) / {ms})"
        return f"pow(1.0 + ? * {elapsed} / {p}stability, ?)", [factor, to_db(now), -decay]

    def stats_day(self, day: date, *, tag: str | None = None) -> tuple[int, int, int, int, int, int, int]:
        """One study day: (reviews, distinct cards, new cards introduced, graded Again, time in ms,
        reviews of review-state cards outside cram, those of them not graded Again).

        Cram reviews count as studied (reviews, cards, Again, time), not in the last two.
        """
        where, params = self._stats_tag(tag, "card_id")
        row = self.conn.execute(
            "SELECT count(*), count(DISTINCT card_id), coalesce(sum(prev_state = 0 AND cram = 0), 0), "
            "coalesce(sum(rating = 1), 0), coalesce(sum(duration_ms), 0), coalesce(sum(prev_state = 2 AND cram = 0), 0), "
            "coalesce(sum(prev_state = 2 AND cram = 0 AND rating > 1), 0) "
            f"FROM review_logs WHERE study_day = ?{where}",
            [day.isoformat(), *params],
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))

    def stats_streaks(self, today: date, *, tag: str | None = None) -> tuple[int, int]:
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
                " UNION ALL SELECT (SELECT min(study_day) FROM review_logs WHERE study_day > seek.day AND study_day <= ?1)"
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
        row = self.conn.execute(
            f"{days} runs AS (SELECT day, julianday(day) - row_number() OVER (ORDER BY day) AS run FROM days),"
            " islands AS (SELECT max(day) AS last, count(*) AS length FROM runs GROUP BY run)"
            " SELECT coalesce((SELECT length FROM islands WHERE last >= ?2 ORDER BY last DESC LIMIT 1), 0),"
            " coalesce((SELECT max(length) FROM islands), 0)",
            params,
        ).fetchone()
        return int(row[0]), int(row[1])

    def stats_reviews_per_day(self, first: date, last: date, *, tag: str | None = None) -> dict[date, int]:
        """Reviews (cram included) per study day from ``first`` to ``last``; days without any are left out."""
        where, params = self._stats_tag(tag, "card_id")
        rows = self.conn.execute(
            f"SELECT study_day, count(*) FROM review_logs WHERE study_day BETWEEN ? AND ?{where} GROUP BY study_day",
            [first.isoformat(), last.isoformat(), *params],
        )
        return {date.fromisoformat(day): int(n) for day, n in rows}

    def stats_retention(
        self, today: date, spans: Sequence[int], *, tag: str | None = None
    ) -> list[tuple[int, int, int, int]]:
        """True retention over the last ``n`` study days up to ``today``, for each ``n`` in ``spans``.

        It counts reviews of cards that were in the review state (``prev_state = 2``), cram
        excluded, as (young reviews, young passed, mature reviews, mature passed): young when
        the interval before the review was under 21 days, mature from 21 days; passed means
        not graded Again. One pass over the longest span groups the reviews by day (in index
        order, four cheap sums per review); the spans then add up those day rows.
        """
        if not spans:
            return []
        where, params = self._stats_tag(tag, "card_id")
        firsts = [date.fromordinal(today.toordinal() - n + 1).isoformat() for n in spans]
        mature = f"prev_interval_days >= {self._STATS_MATURE_DAYS}"
        columns: list[str] = []
        for i in range(len(firsts)):
            inside = f"day >= ?{i + 1}"
            columns += [f"coalesce(sum(CASE WHEN {inside} THEN n - mn END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN np - mp END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN mn END), 0)",
                        f"coalesce(sum(CASE WHEN {inside} THEN mp END), 0)"]
        k = len(firsts)
        row = self.conn.execute(
            "WITH per_day AS (SELECT study_day AS day, count(*) AS n, sum(rating > 1) AS np, "
            f"sum({mature}) AS mn, sum({mature} AND rating > 1) AS mp FROM review_logs "
            f"WHERE study_day >= ?{k + 1} AND study_day <= ?{k + 2} AND prev_state = 2 AND cram = 0"
            f"{where.replace('?', f'?{k + 3}')} GROUP BY study_day) "
            f"SELECT {', '.join(columns)} FROM per_day",
            [*firsts, min(firsts), today.isoformat(), *params],
        ).fetchone()
        values = [int(v) for v in row]
        return [(values[4 * i], values[4 * i + 1], values[4 * i + 2], values[4 * i + 3]) for i in range(k)]

    def stats_card_counts(self, *, tag: str | None = None) -> tuple[int, int, int, int, int, int, int]:
        """(new, learning, young, mature, suspended, retired, unanswered) card counts.

        The first six split the cards: retired wins over suspended, and both over the FSRS
        state (learning includes relearning; young and mature are review cards with an
        interval under, or from, 21 days). Unanswered counts non-retired cards with no answer
        whatever their state, so it overlaps the others.
        """
        where, params = self._stats_tag(tag, "id")
        live = "retired = 0 AND suspended = 0"
        row = self.conn.execute(
            f"SELECT coalesce(sum({live} AND state = 0), 0), coalesce(sum({live} AND state IN (1, 3)), 0), "
            f"coalesce(sum({live} AND state = 2), 0), coalesce(sum({live} AND {self._stats_mature()}), 0), "
            "coalesce(sum(retired = 0 AND suspended = 1), 0), coalesce(sum(retired = 1), 0), "
            f"coalesce(sum(retired = 0 AND answer IS NULL), 0) FROM cards WHERE 1{where}",
            params,
        ).fetchone()
        review, mature = int(row[2]), int(row[3])
        return (int(row[0]), int(row[1]), review - mature, mature, int(row[4]), int(row[5]), int(row[6]))

    def stats_due_between(self, ranges: Sequence[tuple[datetime, datetime]], *, tag: str | None = None) -> list[int]:
        """Active studied cards due in each ``[start, end)``: one range scan of ix_cards_active_due each.

        The ranges go to SQLite in chunks of 300 (two parameters each), well under the
        999-parameter limit of older SQLite builds.
        """
        where, params = self._stats_tag(tag, "+id")  # unary +: scan by due, then test the tag
        counts: list[int] = []
        for first in range(0, len(ranges), 300):
            chunk = ranges[first:first + 300]
            values: list[Any] = []
            for i, (start, end) in enumerate(chunk):
                values += [i, to_db(start), to_db(end)]
            rows = self.conn.execute(
                f"WITH spans(i, start, stop) AS (VALUES {', '.join('(?, ?, ?)' for _ in chunk)}) "
                f"SELECT (SELECT count(*) FROM cards WHERE {self._stats_active()} "
                f"AND due >= spans.start AND due < spans.stop{where}) FROM spans ORDER BY i",
                [*values, *params],
            ).fetchall()
            counts += [int(r[0]) for r in rows]
        return counts

    def stats_overdue(self, now: datetime, *, tag: str | None = None) -> int:
        """Active studied cards due at or before ``now`` (what a review would show now)."""
        where, params = self._stats_tag(tag, "+id")
        row = self.conn.execute(
            f"SELECT count(*) FROM cards WHERE {self._stats_active()} AND due <= ?{where}", [to_db(now), *params]
        ).fetchone()
        return int(row[0])

    def stats_retrievability(
        self, now: datetime, decay: float, factor: float, *, tag: str | None = None
    ) -> tuple[int, float]:
        """(cards, sum of retrievability at ``now``) over active cards with a memory state."""
        where, params = self._stats_tag(tag, "id")
        r_sql, r_params = self._stats_r(now, decay, factor)
        row = self.conn.execute(
            f"SELECT count(*), coalesce(sum({r_sql}), 0.0) FROM cards WHERE {self._stats_memory()}{where}",
            [*r_params, *params],
        ).fetchone()
        return int(row[0]), float(row[1])

    def stats_tags(
        self, now: datetime, decay: float, factor: float, *, tag: str | None = None
    ) -> list[tuple[str, int, int, int, int, int, float]]:
        """Per tag, over its non-retired cards: (tag, cards, studied, mature, due now,
        cards with a retrievability, sum of retrievability), in tag order.

        Studied means not new (suspended cards included); mature, due and retrievability
        count active cards only, as :meth:`stats_card_counts` and :meth:`stats_retrievability` do.
        CROSS JOIN keeps SQLite scanning the cards once (with no ANALYZE data it would
        otherwise look every card up by id from card_tags, three times slower).
        """
        r_sql, r_params = self._stats_r(now, decay, factor, "c.")
        memory = self._stats_memory("c.")
        only, only_params = (" AND t.tag = ?", [tag]) if tag is not None else ("", [])
        rows = self.conn.execute(
            f"SELECT t.tag, count(*), coalesce(sum(c.state > 0), 0), "
            f"coalesce(sum(c.suspended = 0 AND {self._stats_mature('c.')}), 0), "
            f"coalesce(sum({self._stats_active('c.')} AND c.due <= ?), 0), coalesce(sum({memory}), 0), "
            f"coalesce(sum(CASE WHEN {memory} THEN {r_sql} END), 0.0) "
            f"FROM cards c CROSS JOIN card_tags t ON t.card_id = c.id WHERE c.retired = 0{only} "
            "GROUP BY t.tag ORDER BY t.tag",
            [to_db(now), *r_params, *only_params],
        ).fetchall()
        return [(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6])) for r in rows]

    def stats_hardest(self, limit: int, *, tag: str | None = None) -> list[tuple[str, str, int, int, bool, int]]:
        """The non-retired cards with the most lapses: (id, question, lapses, reps, suspended, state)."""
        where, params = self._stats_tag(tag, "id")
        rows = self.conn.execute(
            f"SELECT id, question, lapses, reps, suspended, state FROM cards WHERE retired = 0 AND lapses > 0{where} "
            "ORDER BY lapses DESC, position LIMIT ?",
            [*params, int(limit)],
        ).fetchall()
        return [(r[0], r[1], int(r[2]), int(r[3]), bool(r[4]), int(r[5])) for r in rows]
