"""Card reads and writes: what ``list``, ``show``, ``add``, ``edit``, ``suspend`` and ``delete`` use."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmcards.errors import UnknownCardError
from llmcards.models import USER_ORIGIN, Card, CardState, Grade, Question, ReviewRecord, State
from llmcards.store.connection import Connection, from_db, from_db_required, to_db

CARD_COLUMNS = (
    "id, position, question, answer, tags, sources, origin, suspended, retired, buried_until, "
    "state, step, stability, difficulty, due, last_review, reps, lapses, created_at, updated_at"
)


def card_from_row(row: Sequence[Any]) -> Card:
    """A :class:`Card` from a row of :data:`CARD_COLUMNS`."""
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
        created_at=from_db_required(row[18]),
        updated_at=from_db_required(row[19]),
    )


_JSON = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(..., ensure_ascii=False) makes on each call


def json_list(values: Sequence[str]) -> str:
    return _JSON.encode(list(values))


def add_event_data(q: Question, *, origin: str, import_path: str | None, retired: bool = False) -> dict[str, Any]:
    """What an ``add`` event holds: everything another device needs to make the card."""
    return {"question": q.question, "answer": q.answer, "tags": list(q.tags), "sources": list(q.sources),
            "retired": retired, "origin": origin, "import_path": import_path}


def changed_fields(old: Sequence[Any], q: Question) -> dict[str, Any]:
    """The text fields of ``q`` that differ from ``old`` (question, answer, tags JSON, sources JSON)."""
    new = {"question": q.question, "answer": q.answer, "tags": list(q.tags), "sources": list(q.sources)}
    before = {"question": old[0], "answer": old[1], "tags": json.loads(old[2]), "sources": json.loads(old[3])}
    return {key: value for key, value in new.items() if before[key] != value}


def update_text(
    c: sqlite3.Connection, q: Question, ts: str | None, *, from_file: bool, source_hash: str | None = None
) -> None:
    """New text for an existing card; its schedule and history are untouched.

    ``from_file``: the text comes from the card's file (a sync), so the card as the file gives
    it becomes its ``source_hash`` (``source_hash`` when given, since notes hash their text their
    own way; else :meth:`Question.source_hash`); an edit in the store leaves that alone.
    """
    c.execute(
        "UPDATE cards SET question = ?, answer = ?, tags = ?, sources = ?, content_hash = ?, "
        "source_hash = CASE WHEN ? THEN ? ELSE source_hash END, updated_at = ?, retired = 0 WHERE id = ?",
        (q.question, q.answer, json_list(q.tags), json_list(q.sources), q.content_hash(), from_file,
         source_hash or q.source_hash(), ts, q.id),
    )
    c.execute("DELETE FROM card_tags WHERE card_id = ?", (q.id,))
    c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", [(t, q.id) for t in q.tags])


def export_where(tags: Sequence[str], include_unanswered: bool, prefix: str = "") -> tuple[str, list[Any]]:
    """The cards an export takes: not retired, with an answer (unless ``include_unanswered``),
    and every tag of ``tags``."""
    where = [f"{prefix}retired = 0"]
    if not include_unanswered:
        where.append(f"{prefix}answer IS NOT NULL")
    for _ in tags:
        where.append(f"{prefix}id IN (SELECT card_id FROM card_tags WHERE tag = ?)")
    return " AND ".join(where), list(tags)


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


class Cards:
    """The cards of one store."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def count(self) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM cards").fetchone()[0])

    def empty(self) -> bool:
        """No card at all (without counting them)."""
        return not self.db.conn.execute("SELECT EXISTS (SELECT 1 FROM cards)").fetchone()[0]

    def get(self, card_id: str) -> Card | None:
        row = self.db.conn.execute(f"SELECT {CARD_COLUMNS} FROM cards WHERE id = ?", (card_id,)).fetchone()
        return None if row is None else card_from_row(row)

    def require(self, card_id: str) -> Card:
        """The card, or an :class:`UnknownCardError` suggesting close ids."""
        card = self.get(card_id)
        if card is None:
            raise self._unknown(card_id)
        return card

    def require_ids(self, ids: Sequence[str]) -> list[str]:
        """Check that every id exists (one error naming the first unknown one); duplicates dropped."""
        found: set[str] = set()
        for chunk_start in range(0, len(ids), 500):
            chunk = list(ids[chunk_start:chunk_start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.conn.execute(f"SELECT id FROM cards WHERE id IN ({marks})", chunk))
        for card_id in ids:
            if card_id not in found:
                raise self._unknown(card_id)
        return list(dict.fromkeys(ids))

    def _unknown(self, card_id: str) -> UnknownCardError:
        import difflib

        ids = [r[0] for r in self.db.conn.execute("SELECT id FROM cards")]
        close = difflib.get_close_matches(card_id, ids, n=3, cutoff=0.6)
        if not close:
            close = [i for i in ids if card_id in i][:3]
        return UnknownCardError(card_id, close)

    def find_question(self, text: str) -> str | None:
        """The id of a card whose question is exactly ``text`` (ignoring outer space)."""
        row = self.db.conn.execute(
            "SELECT id FROM cards WHERE trim(question) = ? LIMIT 1", (text.strip(),)
        ).fetchone()
        return None if row is None else str(row[0])

    def add(self, q: Question, *, now: datetime) -> None:
        """Insert a card of the person's own as new, with its ``add`` event, in one transaction."""
        ts = to_db(now)
        with self.db.write() as c:
            position = c.execute("SELECT coalesce(max(position), 0) + 1 FROM cards").fetchone()[0]
            c.execute(
                "INSERT INTO cards(id, position, question, answer, tags, sources, origin, content_hash, "
                "created_at, updated_at, suspended, retired, state, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
                (q.id, position, q.question, q.answer, json_list(q.tags), json_list(q.sources), USER_ORIGIN,
                 q.content_hash(), ts, ts),
            )
            c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", [(t, q.id) for t in q.tags])
            self.db.record_event(c, "add", q.id, add_event_data(q, origin=USER_ORIGIN, import_path=None), now)

    def update(self, q: Question, *, now: datetime) -> bool:
        """Replace a card's text; returns False when nothing changed. The schedule is kept.
        The ``edit`` event holds the fields that changed."""
        with self.db.write() as c:
            row = c.execute("SELECT content_hash, question, answer, tags, sources FROM cards WHERE id = ?",
                            (q.id,)).fetchone()
            if row is None:
                raise self._unknown(q.id)
            if row[0] == q.content_hash():
                return False
            update_text(c, q, to_db(now), from_file=False)
            self.db.record_event(c, "edit", q.id, changed_fields(row[1:], q), now)
            return True

    def set_suspended(self, ids: Sequence[str], suspended: bool, *, now: datetime) -> int:
        """Suspend or unsuspend; returns how many cards changed."""
        with self.db.write() as c:
            changed = 0
            for card_id in ids:
                done = c.execute(
                    "UPDATE cards SET suspended = ?, updated_at = ? WHERE id = ? AND suspended != ?",
                    (int(suspended), to_db(now), card_id, int(suspended)),
                ).rowcount
                if done:
                    self.db.record_event(c, "suspend" if suspended else "unsuspend", card_id, {}, now)
                changed += done
            return changed

    def bury(self, card_id: str, until: datetime, *, now: datetime) -> None:
        """Hide a card from review until ``until``."""
        with self.db.write() as c:
            if c.execute("UPDATE cards SET buried_until = ? WHERE id = ?", (to_db(until), card_id)).rowcount:
                self.db.record_event(c, "bury", card_id, {"until": to_db(until)}, now)

    def delete(self, ids: Sequence[str], *, now: datetime) -> int:
        """Delete cards with their tags and review history."""
        with self.db.write() as c:
            deleted = 0
            for card_id in ids:
                done = c.execute("DELETE FROM cards WHERE id = ?", (card_id,)).rowcount
                if done:
                    self.db.record_event(c, "delete", card_id, {}, now)
                deleted += done
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

    def list(self, flt: CardFilter, *, now: datetime) -> list[Card]:
        """Cards matching ``flt``, in bank order (due order with ``due``)."""
        where, params = self._filter_sql(flt, now)
        order = "due, position" if flt.due else "position"
        limit = f" LIMIT {int(flt.limit)}" if flt.limit is not None else ""
        sql = f"SELECT {CARD_COLUMNS} FROM cards WHERE {where} ORDER BY {order}{limit}"
        return [card_from_row(r) for r in self.db.conn.execute(sql, params)]

    def count_matching(self, flt: CardFilter, *, now: datetime) -> int:
        where, params = self._filter_sql(flt, now)
        return int(self.db.conn.execute(f"SELECT count(*) FROM cards WHERE {where}", params).fetchone()[0])

    def count_for_export(self, tags: Sequence[str], include_unanswered: bool) -> int:
        where, params = export_where(tags, include_unanswered)
        return int(self.db.conn.execute(f"SELECT count(*) FROM cards WHERE {where}", params).fetchone()[0])

    def for_export(self, tags: Sequence[str], include_unanswered: bool) -> Iterator[Card]:
        """The cards an export takes (see :func:`export_where`), in bank order, streamed."""
        where, params = export_where(tags, include_unanswered)
        cur = self.db.conn.execute(f"SELECT {CARD_COLUMNS} FROM cards WHERE {where} ORDER BY position", params)
        while True:
            rows = cur.fetchmany(1000)
            if not rows:
                return
            yield from map(card_from_row, rows)

    def questions_for_export(self, tags: Sequence[str], include_unanswered: bool) -> Iterator[Question]:
        """The text and suspended flag of the cards an export takes (see :func:`export_where`), in
        bank order, streamed: what a bank file holds, without the schedule."""
        where, params = export_where(tags, include_unanswered)
        cur = self.db.conn.execute(
            f"SELECT id, question, answer, tags, sources, suspended FROM cards WHERE {where} ORDER BY position", params)
        while True:
            rows = cur.fetchmany(1000)
            if not rows:
                return
            # Every tag and source list of the batch in one JSON document: one parse, not two a card.
            lists = json.loads("[" + ",".join(f"{r[3]},{r[4]}" for r in rows) + "]")
            for i, r in enumerate(rows):
                yield Question(id=r[0], question=r[1], answer=r[2], tags=tuple(lists[2 * i]),
                               sources=tuple(lists[2 * i + 1]), suspended=bool(r[5]))

    def has_tag(self, tag: str) -> bool:
        return self.db.conn.execute("SELECT 1 FROM card_tags WHERE tag = ? LIMIT 1", (tag,)).fetchone() is not None

    def ids(self) -> builtins.list[str]:
        """Every card id, retired cards included."""
        return [r[0] for r in self.db.conn.execute("SELECT id FROM cards")]

    def retired_ids(self) -> set[str]:
        return {r[0] for r in self.db.conn.execute("SELECT id FROM cards WHERE retired = 1")}

    # below the method ``list``, the builtin is ``builtins.list``
    def all_tags(self) -> builtins.list[str]:
        """Every tag, sorted: one seek per tag along card_tags' (tag, card_id) key, rather than a walk
        over every card's tags (10 ms at 100k cards)."""
        return [r[0] for r in self.db.conn.execute(
            "WITH RECURSIVE seek(tag) AS (SELECT min(tag) FROM card_tags UNION ALL "
            "SELECT (SELECT min(tag) FROM card_tags WHERE tag > seek.tag) FROM seek WHERE seek.tag IS NOT NULL) "
            "SELECT tag FROM seek WHERE tag IS NOT NULL")]

    def history(self, card_id: str) -> builtins.list[ReviewRecord]:
        """The card's review log, oldest first."""
        rows = self.db.conn.execute(
            "SELECT id, card_id, rating, reviewed_at, duration_ms, state, stability, difficulty, due, "
            "prev_state, cram, uuid FROM review_logs WHERE card_id = ? ORDER BY reviewed_at, uuid",
            (card_id,),
        ).fetchall()
        return [
            ReviewRecord(
                id=r[0], card_id=r[1], rating=Grade(r[2]), reviewed_at=from_db_required(r[3]),
                duration_ms=r[4], state=State(r[5]), stability=r[6], difficulty=r[7], due=from_db(r[8]),
                prev_state=State(r[9]), cram=bool(r[10]), uuid=r[11],
            )
            for r in rows
        ]
