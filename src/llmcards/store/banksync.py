"""Applying a bank sync: the store side of :mod:`llmcards.sync`, which decides what changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from llmcards.models import ExistingCard, Question, SyncReport
from llmcards.store.cards import json_list, update_text
from llmcards.store.connection import Connection, to_db

_EXISTING = "SELECT id, content_hash, source_hash, retired, origin, import_path FROM cards"


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
        """
        ts = to_db(now)
        by_id = {q.id: q for q in questions}
        with self.db.write() as c:
            position = c.execute("SELECT coalesce(max(position), 0) FROM cards").fetchone()[0]
            new_rows = []
            for card_id in report.added:
                q = by_id[card_id]
                position += 1
                new_rows.append((q.id, position, q.question, q.answer, json_list(q.tags), json_list(q.sources),
                                 origin, import_path, q.content_hash(), hashes[card_id], ts, ts))
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
            for key, value in (meta or {}).items():
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            if file_sha is not None:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          (_stamp_key(origin, import_path), f"{file_sha}|{self._scope_state(origin, import_path)}"))
        return suspended

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
