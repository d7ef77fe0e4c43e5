"""Sync a bank file into the store by id: add, update (keeping the schedule), retire."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmcards.errors import UserError
from llmcards.models import BANK_ORIGIN, USER_ORIGIN, ExistingCard, Question, SyncReport

if TYPE_CHECKING:
    from llmcards.store import Store

BANK_HASH_KEY = "bundled_bank_sha256"

Existing = Mapping[str, ExistingCard]


def _scope(origin: str, import_path: str | None) -> str:
    return "the bundled bank" if origin == BANK_ORIGIN and import_path is None else (
        "cards added with `llmcards add`" if import_path is None else str(import_path)
    )


def diff(
    existing: Existing,
    questions: Sequence[Question],
    hashes: Mapping[str, str],
    *,
    origin: str,
    import_path: str | None,
    source: str,
    merge: bool = False,
) -> SyncReport:
    """Compare a file's questions (``hashes``: id -> :meth:`Question.source_hash`) with the store's cards.

    A card is updated when it changed in the file since the last sync, so an edit made in
    the store (``llmcards edit``) survives syncs of a file that did not touch that card;
    when the file did change it, the file wins. A card belongs to one origin (the bundled
    bank, one user file, or ``add``); an id that already belongs to another origin is an
    error rather than a silent takeover, except with ``merge`` (a file ``llmcards export``
    wrote): such a card is listed in ``merged`` and, when its text differs from the file's,
    in ``updated``; it keeps its origin. A retired card of another origin is left alone.
    """
    report = SyncReport(source=source)
    seen: set[str] = set()
    for q in questions:
        seen.add(q.id)
        card = existing.get(q.id)
        if card is None:
            report.added.append(q.id)
            continue
        if (card.origin, card.import_path) != (origin, import_path):
            if not merge:
                raise UserError(
                    f"{source}:{q.line or 0}: id {q.id!r} already belongs to {_scope(card.origin, card.import_path)}; "
                    "give this card another id"
                )
            if card.retired:
                report.unchanged.append(q.id)
                continue
            report.merged.append(q.id)
            (report.updated if q.content_hash() != card.content_hash else report.unchanged).append(q.id)
            continue
        last_read = card.source_hash if card.source_hash is not None else card.content_hash
        if card.retired or hashes[q.id] != last_read:
            report.updated.append(q.id)
        else:
            report.unchanged.append(q.id)
    for card_id, card in existing.items():
        if (card.origin, card.import_path) == (origin, import_path) and not card.retired and card_id not in seen:
            report.retired.append(card_id)
    return report


def sync_questions(
    store: Store,
    questions: Sequence[Question],
    *,
    origin: str,
    import_path: str | None,
    now: datetime,
    source: str,
    meta: Mapping[str, str] | None = None,
    file_sha: str | None = None,
    backup_reason: str | None = None,
    merge: bool = False,
) -> SyncReport:
    """Sync ``questions`` by id into the cards of one origin, in one transaction.

    New ids are added, changed text is updated (the schedule is kept), ids missing from
    ``questions`` are retired (history kept), and ``meta`` is written in the same
    transaction (used for the bundled bank's hash). With ``file_sha`` (the file's hash),
    the sync is stamped so that an unchanged re-import can be skipped. ``merge``: the file
    is an export, whose cards may already belong elsewhere (see :func:`diff`). With
    ``backup_reason``, a sync that updates, retires or merges cards the store has backs it up
    first (one that only adds cards changes nothing that is there): the backup's snapshot is
    taken before the transaction, and the transaction commits only once the backup is on disk.

    A card the file marks ``suspended: true`` is suspended when this sync adds it, updates
    it or merges it; a sync never unsuspends a card, so a flag set in the store survives
    re-imports of a file without it (and unsuspending in the store survives re-imports of an
    unchanged file, as edits do).

    A card that other devices had first (a newer bundled bank there) gets, when it arrives, the
    edits, flags and reviews they made (:func:`llmcards.merge.adopt`).
    """
    hashes = {q.id: q.source_hash() for q in questions}
    pending = None
    if backup_reason is not None:
        existing = store.bank.existing(origin, import_path, [q.id for q in questions])
        planned = diff(existing, questions, hashes, origin=origin, import_path=import_path, source=source,
                       merge=merge)
        if planned.changes_existing:
            from llmcards.backup import start_backup

            pending = start_backup(store, backup_reason, now=now)
    try:
        with store.write():
            existing = store.bank.existing(origin, import_path, [q.id for q in questions])
            report = diff(existing, questions, hashes, origin=origin, import_path=import_path, source=source,
                          merge=merge)
            report.suspended = store.bank.apply(report, questions, hashes, origin=origin, import_path=import_path,
                                                now=now, meta=meta, file_sha=file_sha)
            if report.added:
                from llmcards.merge import adopt

                adopt(store, report.added, now=now)
            if pending is not None:
                pending.wait()  # a failed backup raises here, and the sync rolls back
                pending = None
    finally:
        if pending is not None:
            pending.abandon()
    return report


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_file(store: Store, path: Path | None, *, now: datetime, backup: bool = True) -> SyncReport:
    """Import a bank file (the bundled bank when ``path`` is None) in one transaction.

    A re-import of an unchanged file whose cards nobody changed since is recognised by the
    file's hash and skipped without parsing the YAML. An import that changes a store that
    has cards backs it up first (reason ``import``; ``backup=False`` skips that).
    """
    from llmcards.bank import bundled_bank_path, parse_bank_file, read_bytes

    bundled = bundled_bank_path()
    if path is None or _same_file(path, bundled):
        origin, import_path, source = BANK_ORIGIN, None, bundled
    else:
        origin, import_path, source = USER_ORIGIN, str(path.resolve()), path
    data = read_bytes(source)
    sha = file_hash(data)
    current = store.bank.synced_ids(origin, import_path, sha)
    if current is not None:
        return SyncReport(source=str(source), unchanged=current)
    bank = parse_bank_file(data, str(source))
    meta = {BANK_HASH_KEY: sha} if origin == BANK_ORIGIN else None
    return sync_questions(
        store, bank.questions, origin=origin, import_path=import_path, now=now, source=str(source), meta=meta,
        file_sha=sha, merge=bank.exported and origin == USER_ORIGIN, backup_reason="import" if backup else None,
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def sync_bundled_if_changed(store: Store, *, now: datetime) -> SyncReport | None:
    """Sync the bundled bank when its bytes changed since the last sync (or never synced).

    Only the file's hash is computed on the fast path; the YAML is parsed only on change.
    """
    from llmcards.bank import bundled_bank_path

    path = bundled_bank_path()
    try:
        data = path.read_bytes()
    except OSError:
        return None  # a broken install; `llmcards import` reports it properly
    if store.get_meta(BANK_HASH_KEY) == file_hash(data):
        return None
    return import_file(store, None, now=now)
