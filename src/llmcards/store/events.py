"""Events: every change made in this store, and what a hub sync reads and writes (``store.events``).

Each change is recorded by the store method that makes it, in the same transaction
(:meth:`~llmcards.store.connection.Connection.record_event`),
so nothing can change without its event. One exception: a card imported from a file of the
person's own gets its ``add`` (its whole text, already in the card row) only when first needed,
made from the card (:meth:`Events.make_missing_adds`). The card's later edits are events of their
own, so an ``add`` made late, with the current text, merges everywhere to the same card as one
made at once. Reviews are events too, kept in the review log with
ids of their own (``review_logs.uuid``). A sync (:mod:`llmcards.hubsync`) reads what has not
reached the hub yet, stages what it pulled in temporary tables (which take no lock on the
store), then applies it in one transaction with the methods below; the rules that decide what
applies are in :mod:`llmcards.merge`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from llmcards.config import LOCAL_SETTINGS
from llmcards.models import BANK_ORIGIN, TEXT_FIELDS, USER_ORIGIN, Event, Question, WireEvent, uuid7
from llmcards.store.cards import add_event_data
from llmcards.store.connection import (
    ADDS_PENDING_KEY,
    INSERT_EVENT,
    Connection,
    dump,
    from_db,
    from_db_required,
    to_db,
)
from llmcards.store.history import ReplayInput, ReplayLog
from llmcards.store.queue import SCHEDULE_COLUMNS

CARD_KINDS = ("add", "edit", "suspend", "unsuspend", "bury", "delete")

# A review on the wire: its JSON is made by SQLite for ordinary reviews (whole numbers and text only),
# and by Python for cram reviews, whose scheduling columns hold floats that SQLite's JSON would round.
_REVIEW_WIRE = ("SELECT id, uuid, device, reviewed_at, card_id, CASE WHEN cram THEN NULL ELSE "
                "json_object('rating', rating, 'study_day', study_day, 'duration_ms', duration_ms) END, "
                "rating, study_day, duration_ms, cram, prev_state, prev_interval_days, state, stability, difficulty, "
                "due FROM review_logs")
_EVENT_COLUMNS = "id, device, at, kind, card_id, data"
# Cards of the person's own without an ``add`` event since they were made (a card deleted and imported
# again needs a new one; a card made from another device's add is dated as that add). Without INDEXED BY,
# SQLite would look each card's add up through ix_events_kind, scanning every add for every card.
_WITHOUT_ADD = ("FROM cards c WHERE origin != ? AND NOT EXISTS (SELECT 1 FROM events e INDEXED BY ix_events_card "
                "WHERE e.card_id = c.id AND e.at >= c.created_at AND e.kind = 'add')")


def review_data(rating: int, study_day: str, duration_ms: int | None, cram: bool,
                log: Sequence[Any] | None = None) -> str:
    """A review's JSON on the hub. A cram review also carries its scheduling columns, which a replay
    does not recompute (prev_state, prev_interval_days, state, stability, difficulty, due)."""
    data: dict[str, Any] = {"rating": rating, "study_day": study_day, "duration_ms": duration_ms}
    if cram:
        data["cram"] = True
        data["log"] = list(log or ())
    return dump(data)


def _review_wire(r: Sequence[Any]) -> WireEvent:
    data = r[5] if r[5] is not None else review_data(r[6], r[7], r[8], bool(r[9]), r[10:16])
    return WireEvent(r[1], r[2], r[3], "review", r[4], data)


def _event(r: Sequence[Any]) -> Event:
    return Event(id=r[0], device=r[1], at=from_db_required(r[2]), kind=r[3], card_id=r[4], data=json.loads(r[5]))


class PulledReview(NamedTuple):
    """A review pulled from the hub. Its grade, study day and duration stay in its JSON ``data``
    (SQLite reads them out when it inserts the row); a cram review's scheduling columns are parsed
    here, exactly (``log``: prev_state, prev_interval_days, state, stability, difficulty, due)."""

    uuid: str
    device: str
    reviewed_at: str
    card_id: str
    data: str
    cram: bool
    log: tuple[Any, ...]


class NewCard(NamedTuple):
    """A card to make from another device's ``add`` (and what later events say of it)."""

    card_id: str
    fields: dict[str, Any]  # question, answer, tags, sources, retired
    origin: str | None
    import_path: str | None
    at: datetime
    suspended: bool
    buried_until: str | None


@dataclass(frozen=True)
class Waiting:
    """What this store has that no hub has yet."""

    reviews: int
    events: int

    @property
    def total(self) -> int:
        return self.reviews + self.events


@dataclass(frozen=True)
class CardRow:
    """The fields of a card that events change."""

    question: str
    answer: str | None
    tags: tuple[str, ...]
    sources: tuple[str, ...]
    retired: bool
    suspended: bool
    buried_until: datetime | None

    def field(self, name: str) -> Any:
        value = getattr(self, name)
        return list(value) if isinstance(value, tuple) else value


class Events:
    """The events of one store, and the writes of a sync."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    # ----------------------------------------------------------------- pushing
    def waiting(self, *, everything: bool = False) -> Waiting:
        """How many reviews and other events have not been pushed (all of them with ``everything``)."""
        c = self.db.conn
        where = "" if everything else " WHERE pushed = 0"
        reviews = c.execute(f"SELECT count(*) FROM review_logs{where}").fetchone()[0]
        events = c.execute(f"SELECT count(*) FROM events{where}").fetchone()[0]
        if self.db.get_meta(ADDS_PENDING_KEY) is not None:
            events += c.execute(f"SELECT count(*) {_WITHOUT_ADD}", (BANK_ORIGIN,)).fetchone()[0]
        return Waiting(int(reviews), int(events))

    def make_missing_adds(self, card_ids: Sequence[str] | None = None) -> int:
        """Record the ``add`` of each card of the person's own that has none yet (only of ``card_ids``,
        when given), made from the card as it is now and dated when the card was made; returns how
        many. A sync calls this before it pushes and before it merges, and a merge of waiting events
        into cards just imported (:func:`llmcards.merge.adopt`) for those cards; cheap when no import
        left any (``meta``)."""
        if self.db.get_meta(ADDS_PENDING_KEY) is None:
            return 0
        query = ("SELECT id, question, answer, tags, sources, retired, origin, import_path, created_at "
                 f"{_WITHOUT_ADD}")
        with self.db.write() as c:
            rows: list[Any] = []
            if card_ids is None:
                rows = c.execute(f"{query} ORDER BY position", (BANK_ORIGIN,)).fetchall()
                c.execute("DELETE FROM meta WHERE key = ?", (ADDS_PENDING_KEY,))
            else:
                for start in range(0, len(card_ids), 500):
                    part = list(card_ids[start:start + 500])
                    rows += c.execute(f"{query} AND c.id IN ({','.join('?' * len(part))}) ORDER BY position",
                                      (BANK_ORIGIN, *part)).fetchall()
            device = self.db.device_id
            c.executemany(INSERT_EVENT, [
                (uuid7(from_db_required(r[8])), device, r[8], "add", r[0],
                 dump(add_event_data(Question(id=r[0], question=r[1], answer=r[2], tags=tuple(json.loads(r[3])),
                                              sources=tuple(json.loads(r[4]))),
                                     origin=r[6], import_path=r[7], retired=bool(r[5]))))
                for r in rows])
        return len(rows)

    def outgoing(self, *, everything: bool = False, chunk: int = 5000
                 ) -> Iterator[tuple[list[WireEvent], list[tuple[int, str, str]], list[str]]]:
        """What to push, ``chunk`` events at a time: (events, their reviews as (log id, uuid, card id),
        their other events' ids). Other events come before reviews, so a card's ``add`` reaches the
        hub before its reviews. Run it inside ``store.read()`` for one consistent snapshot."""
        c = self.db.conn
        where = "" if everything else " WHERE pushed = 0"
        cur = c.execute(f"SELECT {_EVENT_COLUMNS} FROM events{where} ORDER BY at, id")
        while rows := cur.fetchmany(chunk):
            yield [WireEvent(*r) for r in rows], [], [r[0] for r in rows]
        cur = c.execute(f"{_REVIEW_WIRE}{where} ORDER BY id")
        while rows := cur.fetchmany(chunk):
            yield [_review_wire(r) for r in rows], [(r[0], r[1], r[4]) for r in rows], []

    def mark_pushed(self, reviews: Sequence[tuple[int, str, str]], events: Sequence[str]) -> list[tuple[str, str]]:
        """Mark what the hub now has: ``reviews`` as (log id, uuid, card id), ``events`` by id. Returns
        the pushed reviews that left the log meanwhile (taken back, or their card deleted, by another
        process during the sync), as (uuid, card id)."""
        with self.db.write() as c:
            c.executemany("UPDATE events SET pushed = 1 WHERE id = ?", [(e,) for e in events])
            before = c.total_changes
            c.executemany("UPDATE review_logs SET pushed = 1 WHERE id = ? AND uuid = ?",
                          [(log_id, uuid) for log_id, uuid, _ in reviews])
            if c.total_changes - before == len(reviews):
                return []
            gone: list[tuple[str, str]] = []
            for start in range(0, len(reviews), 500):
                part = reviews[start:start + 500]
                marks = ",".join("?" * len(part))
                found = {r[0] for r in c.execute(f"SELECT uuid FROM review_logs WHERE uuid IN ({marks})",
                                                 [u for _, u, _ in part])}
                gone += [(uuid, card_id) for _, uuid, card_id in part if uuid not in found]
            return gone

    # ----------------------------------------------------------------- staging what was pulled
    def start_staging(self) -> None:
        """Empty temporary tables for what a sync pulls (temporary tables take no lock on the store),
        kept in memory rather than in a temporary file."""
        c = self.db.conn
        c.execute("PRAGMA temp_store = MEMORY")
        c.execute("CREATE TEMP TABLE IF NOT EXISTS sync_events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, "
                  "device TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, card_id TEXT, data TEXT NOT NULL)")
        c.execute("CREATE TEMP TABLE IF NOT EXISTS sync_reviews (uuid TEXT PRIMARY KEY, device TEXT NOT NULL, "
                  "reviewed_at TEXT NOT NULL, card_id TEXT NOT NULL, data TEXT NOT NULL, cram INTEGER NOT NULL, "
                  "prev_state INTEGER, prev_interval_days REAL, state INTEGER, stability REAL, difficulty REAL, "
                  "due TEXT)")
        c.execute("DELETE FROM temp.sync_events")
        c.execute("CREATE INDEX IF NOT EXISTS temp.ix_sync_reviews_card ON sync_reviews (card_id, reviewed_at)")
        c.execute("DELETE FROM temp.sync_reviews")

    def stage(self, events: Sequence[tuple[int, WireEvent]], reviews: Sequence[PulledReview]) -> None:
        """Stage pulled events (with their hub sequence numbers) and reviews."""
        c = self.db.conn
        c.executemany("INSERT OR IGNORE INTO temp.sync_events(seq, id, device, at, kind, card_id, data) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", [(seq, *e) for seq, e in events])
        c.executemany(
            "INSERT OR IGNORE INTO temp.sync_reviews(uuid, device, reviewed_at, card_id, data, cram, prev_state, "
            "prev_interval_days, state, stability, difficulty, due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.uuid, r.device, r.reviewed_at, r.card_id, r.data, int(r.cram), *r.log) for r in reviews])

    def staged_changes(self) -> int:
        """How many pulled events other than reviews are staged (edits, deletes, settings...)."""
        return int(self.db.conn.execute("SELECT count(*) FROM temp.sync_events").fetchone()[0])

    def keep_staged(self) -> list[Event]:
        """Add the staged events this store did not know to its events (as pushed: they came from the
        hub), inside the caller's transaction; returns them in hub order."""
        with self.db.write() as c:
            rows = c.execute(
                f"SELECT {_EVENT_COLUMNS} FROM temp.sync_events s WHERE NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.id = s.id) ORDER BY seq").fetchall()
            c.executemany(f"INSERT OR IGNORE INTO events({_EVENT_COLUMNS}, pushed) VALUES (?, ?, ?, ?, ?, ?, 1)", rows)
        return [_event(r) for r in rows]

    # ----------------------------------------------------------------- reading for the merge rules
    def card_events(self, card_ids: Sequence[str], *,
                    kinds: Sequence[str] = CARD_KINDS) -> dict[str, list[Event]]:
        """Every known add, edit, suspend, unsuspend, bury and delete (or only ``kinds``) of these
        cards, oldest first."""
        out: dict[str, list[Event]] = {card_id: [] for card_id in card_ids}
        kind_list = ",".join(f"'{k}'" for k in kinds if k in CARD_KINDS)
        for start in range(0, len(card_ids), 500):
            part = list(card_ids[start:start + 500])
            for r in self.db.conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM events WHERE card_id IN ({','.join('?' * len(part))}) "
                    f"AND kind IN ({kind_list}) ORDER BY at, id", part):
                out[r[4]].append(_event(r))
        return out

    def setting_events(self, key: str) -> list[Event]:
        """Every known change of one setting, oldest first."""
        rows = self.db.conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE kind = 'setting' "
                                    "AND json_extract(data, '$.key') = ? ORDER BY at, id", (key,))
        return [_event(r) for r in rows]

    def card_rows(self, card_ids: Sequence[str]) -> dict[str, CardRow]:
        """The event-changed fields of those of these cards that exist."""
        out: dict[str, CardRow] = {}
        for start in range(0, len(card_ids), 500):
            part = list(card_ids[start:start + 500])
            for r in self.db.conn.execute(
                    "SELECT id, question, answer, tags, sources, retired, suspended, buried_until FROM cards "
                    f"WHERE id IN ({','.join('?' * len(part))})", part):
                out[r[0]] = CardRow(r[1], r[2], tuple(json.loads(r[3])), tuple(json.loads(r[4])), bool(r[5]),
                                    bool(r[6]), from_db(r[7]))
        return out

    # ----------------------------------------------------------------- applying other devices' changes
    def create_cards(self, cards: Sequence[NewCard]) -> None:
        """Cards added on another device, as new, after every other card (no event: each has one)."""
        if not cards:
            return
        rows: list[tuple[Any, ...]] = []
        tags: list[tuple[str, str]] = []
        with self.db.write() as c:
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            for card in cards:
                f = card.fields
                q = Question(id=card.card_id, question=f["question"], answer=f.get("answer"),
                             tags=tuple(f.get("tags") or ()), sources=tuple(f.get("sources") or ()))
                digest = q.content_hash()
                position += 1
                rows.append((q.id, position, q.question, q.answer, dump(list(q.tags)), dump(list(q.sources)),
                             card.origin or USER_ORIGIN, card.import_path, digest,
                             digest if card.import_path else None, to_db(card.at), to_db(card.at),
                             int(card.suspended), int(bool(f.get("retired"))), card.buried_until))
                tags += [(t, q.id) for t in q.tags]
            c.executemany(
                "INSERT INTO cards(id, position, question, answer, tags, sources, origin, import_path, content_hash, "
                "source_hash, created_at, updated_at, suspended, retired, buried_until, state, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)", rows)
            c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", tags)

    def set_fields(self, card_id: str, fields: dict[str, Any], *, at: datetime) -> None:
        """Text fields (and ``retired``) of a card, changed on another device; its schedule is kept."""
        if not fields:
            return
        with self.db.write() as c:
            row = c.execute("SELECT question, answer, tags, sources, retired FROM cards WHERE id = ?",
                            (card_id,)).fetchone()
            if row is None:
                return
            current = dict(zip(TEXT_FIELDS, (row[0], row[1], json.loads(row[2]), json.loads(row[3]), bool(row[4])),
                               strict=True))
            current.update(fields)
            q = Question(id=card_id, question=current["question"], answer=current["answer"],
                         tags=tuple(current["tags"]), sources=tuple(current["sources"]))
            c.execute("UPDATE cards SET question = ?, answer = ?, tags = ?, sources = ?, retired = ?, "
                      "content_hash = ?, updated_at = ? WHERE id = ?",
                      (q.question, q.answer, dump(list(q.tags)), dump(list(q.sources)), int(bool(current["retired"])),
                       q.content_hash(), to_db(at), card_id))
            if "tags" in fields:
                c.execute("DELETE FROM card_tags WHERE card_id = ?", (card_id,))
                c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)", [(t, card_id) for t in q.tags])

    def set_flags(self, card_id: str, *, suspended: bool | None = None, buried_until: str | None = None,
                  bury: bool = False) -> None:
        """Suspended and buried flags set on another device."""
        with self.db.write() as c:
            if suspended is not None:
                c.execute("UPDATE cards SET suspended = ? WHERE id = ?", (int(suspended), card_id))
            if bury:
                c.execute("UPDATE cards SET buried_until = ? WHERE id = ?", (buried_until, card_id))

    def remove_card(self, card_id: str, deleted: tuple[datetime, str]) -> bool:
        """A card deleted on another device at ``deleted`` (time, event id), with its tags and the
        reviews made before that. Reviews made after it (here, by a device that had not heard of
        the delete) are parked among the events, as another device parks them, in case the card
        is added again."""
        at, event_id = to_db(deleted[0]), deleted[1]
        with self.db.write() as c:
            later = c.execute(f"{_REVIEW_WIRE} WHERE card_id = ? AND (reviewed_at > ? OR "
                              "(reviewed_at = ? AND uuid > ?))", (card_id, at, at, event_id)).fetchall()
            pushed = dict(c.execute("SELECT uuid, pushed FROM review_logs WHERE card_id = ?", (card_id,)).fetchall())
            c.executemany(f"INSERT OR IGNORE INTO events({_EVENT_COLUMNS}, pushed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(*_review_wire(r), pushed.get(r[1], 0)) for r in later])
            return c.execute("DELETE FROM cards WHERE id = ?", (card_id,)).rowcount > 0

    def apply_setting(self, key: str, value: str | None) -> None:
        """A setting changed on another device (None: back to its default). Local settings never change so."""
        if key in LOCAL_SETTINGS:
            return
        with self.db.write() as c:
            if value is None:
                c.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def remove_reviews(self, uuids: Sequence[str]) -> set[str]:
        """Delete reviews taken back on another device; returns their cards."""
        cards: set[str] = set()
        with self.db.write() as c:
            for start in range(0, len(uuids), 500):
                part = list(uuids[start:start + 500])
                marks = ",".join("?" * len(part))
                cards.update(r[0] for r in c.execute(f"SELECT card_id FROM review_logs WHERE uuid IN ({marks})", part))
                c.execute(f"DELETE FROM review_logs WHERE uuid IN ({marks})", part)
        return cards

    def take_staged_reviews(self) -> tuple[dict[str, str], set[str], int, int]:
        """Sort the staged reviews this store lacks, inside the caller's transaction.

        Skipped: reviews already here, reviews taken back (an ``unreview`` is known), and reviews
        older than a deletion of their card. A review whose card is not here (yet) is parked
        among the events, to be adopted if the card arrives. Of the others, those of cards whose
        new reviews all come after the card's last review here stay staged, for
        :func:`llmcards.replay.replay_staged` to write with their scheduling columns; the rest are
        inserted now, to be replayed with the card's whole history.

        Returns (the staged cards, each with the time of its first new review; the cards whose
        reviews were inserted; how many reviews are new here; how many were parked).
        """
        with self.db.write() as c:
            # The staged reviews this store already has, or must not have, are dropped: the rest are new.
            c.execute(
                "DELETE FROM temp.sync_reviews AS s "
                "WHERE EXISTS (SELECT 1 FROM review_logs r WHERE r.uuid = s.uuid) "
                "OR EXISTS (SELECT 1 FROM events p WHERE p.id = s.uuid) "
                "OR s.uuid IN (SELECT json_extract(data, '$.review') FROM events WHERE kind = 'unreview') "
                "OR EXISTS (SELECT 1 FROM events d WHERE d.kind = 'delete' AND d.card_id = s.card_id "
                "AND (d.at > s.reviewed_at OR (d.at = s.reviewed_at AND d.id > s.uuid)))")
            staged: dict[str, str] = {}
            inserted: set[str] = set()
            for card_id, first, follows in c.execute(
                    "SELECT s.card_id, min(s.reviewed_at), c.last_review IS NULL OR min(s.reviewed_at) > c.last_review "
                    "FROM temp.sync_reviews s JOIN cards c ON c.id = s.card_id GROUP BY s.card_id"):
                if follows:
                    staged[card_id] = first
                else:
                    inserted.add(card_id)
            new = int(c.execute("SELECT count(*) FROM temp.sync_reviews "
                                "WHERE card_id IN (SELECT id FROM cards)").fetchone()[0])
            self.insert_staged_reviews(sorted(inserted))
            parked = c.execute(
                f"INSERT OR IGNORE INTO events({_EVENT_COLUMNS}, pushed) "
                "SELECT uuid, device, reviewed_at, 'review', card_id, data, 1 FROM temp.sync_reviews "
                "WHERE card_id NOT IN (SELECT id FROM cards)").rowcount
        return staged, inserted, new, int(parked)

    def staged_replay_input(self, card_ids: Sequence[str], *, chunk: int = 2000) -> Iterator[ReplayInput]:
        """The staged new reviews of these cards as a replay reads them (with their uuid as log id), with
        each card's stored schedule."""
        c = self.db.conn
        for start in range(0, len(card_ids), chunk):
            part = list(card_ids[start:start + chunk])
            marks = ",".join("?" * len(part))
            schedules = {r[0]: tuple(r[1:]) for r in c.execute(
                f"SELECT id, {SCHEDULE_COLUMNS} FROM cards WHERE id IN ({marks})", part)}
            reviews: dict[str, list[ReplayLog]] = {card_id: [] for card_id in schedules}
            for r in c.execute("SELECT card_id, uuid, json_extract(data, '$.rating'), reviewed_at, cram "
                               f"FROM temp.sync_reviews WHERE card_id IN ({marks}) "
                               "ORDER BY card_id, reviewed_at, uuid", part):
                if r[0] in reviews:
                    reviews[r[0]].append(ReplayLog(r[1], int(r[2]), r[3], bool(r[4]), ()))
            for card_id in part:
                if card_id in schedules:
                    yield ReplayInput(card_id, schedules[card_id], reviews[card_id])

    def stage_replayed(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Scheduling columns a replay computed for staged reviews: (prev_state, prev_interval_days, state,
        stability, difficulty, due, uuid)."""
        c = self.db.conn
        c.execute("CREATE TEMP TABLE IF NOT EXISTS sync_replayed (uuid TEXT PRIMARY KEY, prev_state INTEGER, "
                  "prev_interval_days REAL, state INTEGER, stability REAL, difficulty REAL, due TEXT)")
        c.executemany("INSERT OR REPLACE INTO temp.sync_replayed(prev_state, prev_interval_days, state, stability, "
                      "difficulty, due, uuid) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def insert_staged_reviews(self, card_ids: Sequence[str]) -> None:
        """Insert the staged new reviews of these cards into the log: with the scheduling columns a replay
        staged for them (:meth:`stage_replayed`), else as pulled (a replay of the card rewrites them)."""
        if not card_ids:
            return
        with self.db.write() as c:
            self.stage_replayed([])
            c.execute("CREATE TEMP TABLE IF NOT EXISTS sync_cards (id TEXT PRIMARY KEY)")
            c.execute("DELETE FROM temp.sync_cards")
            c.executemany("INSERT INTO temp.sync_cards(id) VALUES (?)", [(card_id,) for card_id in card_ids])
            pick = ", ".join(f"CASE WHEN d.uuid IS NULL THEN {fallback} ELSE d.{name} END"
                             for name, fallback in (("prev_state", "coalesce(s.prev_state, 0)"),
                                                    ("prev_interval_days", "s.prev_interval_days"),
                                                    ("state", "coalesce(s.state, 0)"), ("stability", "s.stability"),
                                                    ("difficulty", "s.difficulty"), ("due", "s.due")))
            c.execute(
                "INSERT INTO review_logs(uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, cram, "
                "prev_state, prev_interval_days, state, stability, difficulty, due, pushed) "
                "SELECT s.uuid, s.device, s.card_id, json_extract(s.data, '$.rating'), s.reviewed_at, "
                f"json_extract(s.data, '$.study_day'), json_extract(s.data, '$.duration_ms'), s.cram, {pick}, 1 "
                "FROM temp.sync_reviews s JOIN temp.sync_cards k ON k.id = s.card_id "
                "LEFT JOIN temp.sync_replayed d ON d.uuid = s.uuid ORDER BY s.reviewed_at, s.uuid")
            c.execute("DELETE FROM temp.sync_replayed")

    def adopt_parked(self, card_ids: Sequence[str], after: dict[str, tuple[datetime, str]]) -> int:
        """Move parked reviews of cards that now exist into the review log (those older than the card's
        last deletion, ``after``, are dropped). Returns how many were adopted."""
        adopted = 0
        with self.db.write() as c:
            for start in range(0, len(card_ids), 500):
                part = list(card_ids[start:start + 500])
                rows = c.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE kind = 'review' "
                                 f"AND card_id IN ({','.join('?' * len(part))})", part).fetchall()
                for r in rows:
                    event = _event(r)
                    c.execute("DELETE FROM events WHERE id = ?", (event.id,))
                    limit = after.get(str(event.card_id))
                    if limit is not None and (event.at, event.id) <= limit:
                        continue
                    d = event.data
                    log = list(d.get("log") or [0, None, 0, None, None, None])
                    c.execute(
                        "INSERT OR IGNORE INTO review_logs(uuid, device, card_id, rating, reviewed_at, study_day, "
                        "duration_ms, cram, prev_state, prev_interval_days, state, stability, difficulty, due, pushed) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                        (event.id, event.device, event.card_id, d["rating"], r[2], d["study_day"], d.get("duration_ms"),
                         int(bool(d.get("cram"))), *log))
                    adopted += 1
        return adopted

    def parked_cards(self, card_ids: Sequence[str]) -> list[str]:
        """Those of these cards that have events waiting for them (kept before the card existed here):
        events from other devices (this device's own, such as the ``add`` a sync just recorded, wait
        for nothing)."""
        found: list[str] = []
        for start in range(0, len(card_ids), 500):
            part = list(card_ids[start:start + 500])
            found += [r[0] for r in self.db.conn.execute(
                f"SELECT DISTINCT card_id FROM events WHERE card_id IN ({','.join('?' * len(part))}) "
                "AND device IS NOT (SELECT value FROM meta WHERE key = 'device_id')", part)]
        return found
