"""``llmcards import NOTES.md``: a person's Markdown notes into the store, planned before anything is written.

Three steps, so that the command can show the plan and ask before writing:

1. :func:`read_note_files` reads the file, or every ``*.md`` or ``*.markdown`` file under a folder, once; every
   error about the files themselves (missing, too large, binary, not UTF-8, a folder without
   notes, a symlink loop) is raised here, before the store is opened.
2. :func:`plan_notes_import` parses them (:mod:`llmcards.notes`) and compares them with the
   cards earlier imports of the same path made (:func:`llmcards.notes.plan_import`). Nothing
   is written. A re-import of notes that did not change since they were last imported, whose
   cards nobody deleted since, is recognised by a hash of the files and skipped without parsing.
3. :func:`apply_notes_import` writes the plan in one transaction.

The cards have the origin ``notes`` and the ``import_path`` of the file or folder (resolved),
so each path's cards are compared only with that path's notes; their ``sources`` are the
questions' locators (``<file>#<heading path>``) and their ``source_hash`` the hash of their
text as the notes gave it (:func:`llmcards.notes.note_hash`), which is how an edit made with
``llmcards edit`` survives re-imports of notes that did not change that card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from llmcards.models import NOTES_ORIGIN, ExistingNoteCard, Question
from llmcards.notes import (
    ImportPlan,
    NoteQuestion,
    PlannedCard,
    decode_note,
    find_note_files,
    plan_import,
    questions_of,
    read_note_bytes,
)

if TYPE_CHECKING:
    from llmcards.store import Store

NOTES_FORMAT: Final = "1"
"""Part of the hash that lets a re-import skip unchanged notes: bump it when the parser starts
reading the same text differently, so that notes imported by an older version are parsed again."""


@dataclass(frozen=True)
class NoteFile:
    """One notes file, read: its path, its name in locators, and its text."""

    path: Path
    name: str
    text: str


@dataclass(frozen=True)
class NoteFiles:
    """The notes one import reads, and a hash of them all."""

    path: Path  # as the person gave it
    import_path: str  # resolved: the cards' import_path
    files: tuple[NoteFile, ...]
    digest: str  # of NOTES_FORMAT and every file's name and bytes

    @property
    def shown(self) -> str:
        return str(self.path)


def read_note_files(path: Path) -> NoteFiles:
    """Read a notes file, or every ``*.md`` or ``*.markdown`` file under a folder; every file error is raised here.

    See :func:`llmcards.notes.find_note_files`, :func:`llmcards.notes.read_note_bytes` and
    :func:`llmcards.notes.decode_note` for what is read and what is refused.
    """
    found = find_note_files(path)
    digest = hashlib.sha256(f"llmcards notes {NOTES_FORMAT}\n".encode())
    files: list[NoteFile] = []
    for file, name in found:
        shown = str(file) if len(found) > 1 else str(path)
        data = read_note_bytes(file, shown)
        digest.update(f"{len(name)}:{name}:{len(data)}:".encode("utf-8", "surrogatepass"))
        digest.update(data)
        files.append(NoteFile(file, name, decode_note(data, shown)))
    return NoteFiles(path, str(path.resolve()), tuple(files), digest.hexdigest())


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as given, stripped, without blanks or repeats, in order."""
    return tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))


@dataclass
class NotesImport:
    """An import of notes: what it would do (planned) or did (``written``)."""

    notes: NoteFiles
    tags: tuple[str, ...]  # added to every card of the notes
    stamp: str  # the hash the store keeps to skip an unchanged re-import (notes and tags)
    plan: ImportPlan = field(default_factory=ImportPlan)
    existing: dict[str, ExistingNoteCard] = field(default_factory=dict)  # by id, as planned against
    refreshed: list[PlannedCard] = field(default_factory=list)  # text kept; new source or tags
    questions: list[NoteQuestion] = field(default_factory=list)  # as parsed (empty when skipped)
    skipped: int | None = None  # the live cards' count, when the notes were unchanged and not parsed
    state: str = ""  # the store's fingerprint of these cards when planned ("" without a store)
    written: bool = False

    @property
    def source(self) -> str:
        return self.notes.shown

    @property
    def changed(self) -> bool:
        """Whether applying it changes cards (the stamp aside)."""
        return self.plan.changed or bool(self.refreshed)

    @property
    def unchanged(self) -> int:
        if self.skipped is not None:
            return self.skipped
        return len(self.plan.unchanged) - len(self.refreshed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.plan.added),
            "updated": len(self.plan.updated),
            "renamed": len(self.plan.renamed),
            "retired": len(self.plan.retired),
            "refreshed": len(self.refreshed),
            "unchanged": self.unchanged,
        }

    def summary(self) -> str:
        """'3 added, 1 updated (1 renamed), 1 retired, 10 unchanged'."""
        n = self.counts()
        renamed = f" ({n['renamed']} renamed)" if n["renamed"] else ""
        refreshed = f", {n['refreshed']} with a new source or tag" if n["refreshed"] else ""
        return (f"{n['added']} added, {n['updated']} updated{renamed}, {n['retired']} retired{refreshed}, "
                f"{n['unchanged']} unchanged")


def plan_notes_import(
    store: Store | None,
    notes: NoteFiles,
    *,
    tags: Sequence[str] = (),
    questions: Sequence[NoteQuestion] | None = None,
) -> NotesImport:
    """What importing ``notes`` into ``store`` would do; nothing is written.

    ``store`` None plans against an empty store (a dry run before the store exists).
    ``questions``: the notes already parsed by an earlier plan (to plan again, e.g. once
    the store has been created). Raises :class:`~llmcards.errors.UserError` when the notes
    have no question.
    """
    tags = clean_tags(tags)
    stamp = hashlib.sha256(f"{notes.digest}\ntags:{sorted(tags)!r}".encode("utf-8", "surrogatepass")).hexdigest()
    result = NotesImport(notes=notes, tags=tags, stamp=stamp)
    if store is not None and questions is None:
        live = store.bank.notes_synced(notes.import_path, stamp)
        if live is not None:
            result.skipped = live
            return result
    parsed = list(questions) if questions is not None else questions_of(
        [(f.text, f.name) for f in notes.files], notes.shown)
    result.questions = parsed
    if store is None:
        result.plan = plan_import({}, parsed)
        return result
    with store.read():
        result.existing = store.bank.note_cards(notes.import_path)
        result.state = store.bank.scope_state(NOTES_ORIGIN, notes.import_path)
        result.plan = plan_import(result.existing, parsed, taken=_taken(store, parsed))
    result.refreshed = [
        card for card in result.plan.unchanged
        if result.existing[card.id].sources != (card.note.locator,)
        or not set(tags) <= set(result.existing[card.id].tags)
    ]
    return result


def _taken(store: Store, questions: Sequence[NoteQuestion]) -> Callable[[str], bool]:
    """Whether an id is used by any card in the store: the parsed ids are looked up at once."""
    asked = {q.id for q in questions}
    present = store.bank.present_ids(list(asked))

    def taken(card_id: str) -> bool:
        if card_id in asked:
            return card_id in present
        return bool(store.bank.present_ids([card_id]))

    return taken


def apply_notes_import(store: Store, planned: NotesImport, *, now: datetime) -> NotesImport:
    """Write a plan made by :func:`plan_notes_import` with this store, in one transaction.

    Added cards get the notes' text and the import's tags; updated ones (the notes changed
    them, or a retired one came back) get the notes' text and keep their tags, schedule and
    history; renamed ones also keep their id; refreshed ones keep their text and get their new
    source and the import's tags; retired ones keep their history. Returns the import, written.
    """
    if planned.skipped is not None:
        return planned
    plan, existing, tags = planned.plan, planned.existing, planned.tags

    def merged(card_id: str) -> tuple[str, ...]:
        return clean_tags([*existing[card_id].tags, *tags])

    store.bank.apply_notes(
        planned.notes.import_path,
        added=[(c.note.to_question(c.id, tags), c.source_hash) for c in plan.added],
        updated=[(c.note.to_question(c.id, merged(c.id)), c.source_hash) for c in plan.updated],
        refreshed=[
            Question(id=c.id, question=existing[c.id].question, answer=existing[c.id].answer, tags=merged(c.id),
                     sources=(c.note.locator,))
            for c in planned.refreshed
        ],
        retired=plan.retired,
        now=now,
        expected_state=planned.state,
        file_sha=planned.stamp,
    )
    return replace(planned, written=True)
