"""Applying a sync: the store side of :mod:`llmcards.sync` (bank files) and of
:mod:`llmcards.notes_import` (Markdown notes), which decide what changes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from llmcards.errors import UserError
from llmcards.models import BANK_ORIGIN, NOTES_ORIGIN, ExistingCard, ExistingNoteCard, Question, SyncReport
from llmcards.store.cards import changed_fields, json_list, update_text
from llmcards.store.connection import ADDS_PENDING_KEY, Connection, to_db

_EXISTING = "SELECT id, content_hash, source_hash, retired, origin, import_path FROM cards"
_INSERT = (
    "INSERT INTO cards(id, position, question, answer, tags, sources, origin, import_path, "
    "content_hash, source_hash, created_at, updated_at, suspended, retired, state, reps, lapses) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)"
)
_CHUNK = 500


def _stamp_key(origin: str, import_path: str | None) -> str:
    return f"synced:{origin}:{import_path or ''}"


class BankSync:
    """Reads what a sync compares with, and writes what it decided."""

    def __init__(self, db: Connection) -> None:
        self.db = db

    def existing(self, origin: str, import_path: str | None, ids: Sequence[str]) -> dict[str, ExistingCard]:
        """The cards of one origin, plus any other card that has one of ``ids`` (to detect clashes)."""
        c = self.db.conn
        found: dict[str, ExistingCard] = {}
        for row in c.execute(f"{_EXISTING} WHERE origin = ? AND import_path IS ?", (origin, import_path)):
            found[row[0]] = ExistingCard(row[1], row[2], bool(row[3]), row[4], row[5])
        others = [i for i in ids if i not in found]
        for start in range(0, len(others), 500):
            chunk = others[start:start + 500]
            for row in c.execute(f"{_EXISTING} WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                found[row[0]] = ExistingCard(row[1], row[2], bool(row[3]), row[4], row[5])
        return found

    def apply(
        self,
        report: SyncReport,
        questions: Sequence[Question],
        hashes: Mapping[str, str],
        *,
        origin: str,
        import_path: str | None,
        now: datetime,
        meta: Mapping[str, str] | None = None,
        file_sha: str | None = None,
    ) -> list[str]:
        """Write a sync decided by :func:`llmcards.sync.diff`, in one transaction.

        Added cards are inserted as new after every other card, updated ones get the file's
        text (their schedule is kept; a merged card's text is written as an edit, keeping its
        origin), retired ones are flagged (their history is kept), and ``meta`` is written
        too. Added, updated and merged cards the file marks suspended are suspended (never
        the reverse). With ``file_sha``, the sync is stamped so that :meth:`synced_ids` can
        skip an unchanged re-import. Returns the cards this suspended.

        A file of the person's own is known only to this device, so its changes are recorded as
        events for the other devices: ``edit`` with what changed, ``suspend``. The bundled bank is
        not: every device syncs the same bank itself. A new card's ``add`` holds its whole text, which
        the card row already holds: it is made from the card when first needed, before a sync or a
        merge reads the events (:meth:`llmcards.store.events.Events.make_missing_adds`), so that an
        import of 10k cards does not write their text twice. ``meta`` says that some may be missing.
        """
        ts = to_db(now)
        by_id = {q.id: q for q in questions}
        events = origin != BANK_ORIGIN
        with self.db.write() as c:
            old = self._texts(report.updated) if events else {}
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            new_rows = []
            for card_id in report.added:
                q = by_id[card_id]
                position += 1
                content = q.content_hash() if q.suspended else hashes[card_id]  # equal when not suspended
                new_rows.append((q.id, position, q.question, q.answer, json_list(q.tags), json_list(q.sources),
                                 origin, import_path, content, hashes[card_id], ts, ts))
            c.executemany(_INSERT, new_rows)
            c.executemany(
                "INSERT INTO card_tags(tag, card_id) VALUES (?, ?)",
                [(tag, card_id) for card_id in report.added for tag in by_id[card_id].tags],
            )
            merged = set(report.merged)
            for card_id in report.updated:
                update_text(c, by_id[card_id], ts, from_file=card_id not in merged)
            suspended: list[str] = []
            for card_id in dict.fromkeys([*report.added, *report.updated, *report.merged]):
                if by_id[card_id].suspended and c.execute(
                        "UPDATE cards SET suspended = 1, updated_at = ? WHERE id = ? AND suspended = 0",
                        (ts, card_id)).rowcount:
                    suspended.append(card_id)
            c.executemany("UPDATE cards SET retired = 1, updated_at = ? WHERE id = ?",
                          [(ts, i) for i in report.retired])
            if events:
                self._record(c, added=report.added, updated=[by_id[i] for i in report.updated], old=old,
                             retired=report.retired, suspended=suspended, now=now)
            for key, value in (meta or {}).items():
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            if file_sha is not None:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          (_stamp_key(origin, import_path), f"{file_sha}|{self._scope_state(origin, import_path)}"))
        return suspended

    def _texts(self, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Each card's question, answer, tags, sources and retired flag, before a sync changes them."""
        old: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            old.update((r[0], tuple(r[1:])) for r in self.db.conn.execute(
                f"SELECT id, question, answer, tags, sources, retired FROM cards "
                f"WHERE id IN ({','.join('?' * len(part))})", part))
        return old

    def _record(self, c: sqlite3.Connection, *, added: Sequence[str], updated: Sequence[Question],
                old: Mapping[str, tuple[Any, ...]], retired: Sequence[str], suspended: Sequence[str],
                now: datetime) -> None:
        """Record what a sync of the person's own file changed, for the other devices. The ``add`` of
        each card in ``added`` is made later, from the card (see :meth:`apply`)."""
        if added:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')", (ADDS_PENDING_KEY,))
        changes: list[tuple[str, str | None, dict[str, Any]]] = []
        for q in updated:
            fields = changed_fields(old[q.id][:4], q)
            if old[q.id][4]:
                fields["retired"] = False
            if fields:
                changes.append(("edit", q.id, fields))
        changes += [("edit", card_id, {"retired": True}) for card_id in retired]
        changes += [("suspend", card_id, {}) for card_id in suspended]
        self.db.record_events(c, changes, now)

    def _scope_state(self, origin: str, import_path: str | None) -> str:
        """Changes whenever a card of this origin is added, edited, retired or deleted."""
        row = self.db.conn.execute(
            "SELECT count(*), max(updated_at) FROM cards WHERE origin = ? AND import_path IS ?", (origin, import_path)
        ).fetchone()
        return f"{row[0]}|{row[1]}"

    def synced_ids(self, origin: str, import_path: str | None, file_sha: str) -> list[str] | None:
        """The live ids of an origin if it was last synced from a file with this hash and none of
        its cards changed since; None when a real sync is needed."""
        stamp = self.db.get_meta(_stamp_key(origin, import_path))
        if stamp != f"{file_sha}|{self._scope_state(origin, import_path)}":
            return None
        return [r[0] for r in self.db.conn.execute(
            "SELECT id FROM cards WHERE origin = ? AND import_path IS ? AND retired = 0 ORDER BY position",
            (origin, import_path))]

    # ----------------------------------------------------------------- Markdown notes
    def scope_state(self, origin: str, import_path: str | None) -> str:
        """A fingerprint of the cards of one origin: it changes when one is added, edited, retired or deleted."""
        return self._scope_state(origin, import_path)

    def _notes_stamp(self, import_path: str, file_sha: str) -> str:
        """What a notes import stamps: the notes' hash, how many cards the path has (a count over
        the origin index, so checking it reads no card), and how many of them are live."""
        total, live = self.db.conn.execute(
            "SELECT count(*), coalesce(sum(retired = 0), 0) FROM cards WHERE origin = ? AND import_path IS ?",
            (NOTES_ORIGIN, import_path),
        ).fetchone()
        return f"{file_sha}|{total}|{live}"

    def notes_synced(self, import_path: str, file_sha: str) -> int | None:
        """How many live cards the notes at ``import_path`` have, if they were last imported from notes
        with this hash and none of their cards was deleted since; None when they must be read again.

        Edits and suspensions made in the store since do not matter: re-importing unchanged notes
        keeps them. Only imports add or retire these cards, so the stamped live count stays true.
        """
        stamp = self.db.get_meta(_stamp_key(NOTES_ORIGIN, import_path))
        if stamp is None or not stamp.startswith(f"{file_sha}|"):
            return None
        total = self.db.conn.execute(
            "SELECT count(*) FROM cards WHERE origin = ? AND import_path IS ?", (NOTES_ORIGIN, import_path)
        ).fetchone()[0]
        _, stamped_total, live = stamp.split("|")
        return int(live) if int(stamped_total) == total else None

    def note_cards(self, import_path: str) -> dict[str, ExistingNoteCard]:
        """The cards that earlier imports of the notes at ``import_path`` made, retired ones included, by id."""
        rows = self.db.conn.execute(
            "SELECT id, question, answer, source_hash, retired, sources, tags FROM cards "
            "WHERE origin = ? AND import_path IS ? ORDER BY position",
            (NOTES_ORIGIN, import_path),
        )
        return {
            r[0]: ExistingNoteCard(r[1], r[2], r[3], bool(r[4]), tuple(json.loads(r[5])), tuple(json.loads(r[6])))
            for r in rows
        }

    def present_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that some card in the store has."""
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            found.update(r[0] for r in self.db.conn.execute(
                f"SELECT id FROM cards WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def apply_notes(
        self,
        import_path: str,
        *,
        added: Sequence[tuple[Question, str]],
        updated: Sequence[tuple[Question, str]],
        refreshed: Sequence[Question],
        retired: Sequence[str],
        now: datetime,
        expected_state: str,
        file_sha: str,
    ) -> None:
        """Write an import of notes decided by :func:`llmcards.notes_import.plan_notes_import`, in one transaction.

        ``added`` and ``updated`` are (card, hash of its text as the notes give it): that hash
        becomes the card's ``source_hash``. Added cards are inserted as new after every other
        card, in note order; updated ones get the notes' text and keep their schedule and
        history (a reworded question keeps its id); ``refreshed`` ones keep their text and get
        new tags or sources; retired ones are flagged, their history kept. Refused, with
        nothing written, when the cards of these notes changed since they were planned
        (``expected_state``, from :meth:`scope_state`) or a new id was taken meanwhile.
        The import is stamped with ``file_sha`` so that an unchanged re-import is skipped
        (:meth:`notes_synced`). The changes are recorded as events for the other devices (the
        adds later, as for a bank file: see :meth:`apply`).
        """
        key = _stamp_key(NOTES_ORIGIN, import_path)
        if not (added or updated or refreshed or retired):
            if self.db.get_meta(key) == self._notes_stamp(import_path, file_sha):
                return  # nothing to write, not even the stamp
        ts = to_db(now)
        with self.db.write() as c:
            if self._scope_state(NOTES_ORIGIN, import_path) != expected_state:
                raise UserError("the cards of these notes changed in the store since the preview; import again")
            clash = self.present_ids([q.id for q, _ in added])
            if clash:
                raise UserError(f"id {sorted(clash)[0]!r} was taken since the preview; import again")
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            rows = []
            for q, source_hash in added:
                position += 1
                rows.append((q.id, position, q.question, q.answer, json_list(q.tags), json_list(q.sources),
                             NOTES_ORIGIN, import_path, q.content_hash(), source_hash, ts, ts))
            c.executemany(_INSERT, rows)
            c.executemany("INSERT INTO card_tags(tag, card_id) VALUES (?, ?)",
                          [(tag, q.id) for q, _ in added for tag in q.tags])
            changed = [q for q, _ in updated] + list(refreshed)
            old = self._texts([q.id for q in changed])
            for q, source_hash in updated:
                update_text(c, q, ts, from_file=True, source_hash=source_hash)
            for q in refreshed:
                update_text(c, q, ts, from_file=False)
            c.executemany("UPDATE cards SET retired = 1, updated_at = ? WHERE id = ?", [(ts, i) for i in retired])
            self._record(c, added=[q.id for q, _ in added], updated=changed, old=old, retired=retired, suspended=(),
                         now=now)
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                      (key, self._notes_stamp(import_path, file_sha)))
