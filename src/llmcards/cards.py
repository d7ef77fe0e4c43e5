"""Adding, editing and deleting cards: ids, the editor format, and $EDITOR itself."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmcards.bank import ID_RE, dump_card, parse_card
from llmcards.errors import DuplicateQuestionError, UserError
from llmcards.models import Question

if TYPE_CHECKING:
    from llmcards.store import Store

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+")


def make_id(question: str, exists: Callable[[str], bool]) -> str:
    """A stable, readable id: the question's ASCII words plus a short hash of its text.

    ``什么是 LoRA 微调?`` -> ``lora-1b4e2c``. The same question always gives the same id;
    a clash (another card already has it) lengthens the hash.
    """
    words = [w.lower() for w in _WORD_RE.findall(question)][:5]
    stem = "-".join(words)[:40].strip("-") or "card"
    digest = hashlib.sha1(question.strip().encode("utf-8")).hexdigest()
    for size in (6, 8, 12, 40):
        candidate = f"{stem}-{digest[:size]}"
        if not exists(candidate):
            return candidate
    raise UserError("could not make a unique id for this question; pass one with --id")


TEMPLATE = """\
# Write the card below. Lines starting with '#' at the top are ignored.
# The answer is Markdown; $LaTeX$ and $$...$$ are shown as Unicode.
question: {question}
answer: |
  {answer}
tags: [{tags}]
"""


def editor_command() -> list[str] | None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    return shlex.split(editor) if editor else None


def run_editor(text: str, *, suffix: str = ".yaml") -> str:
    """Open ``text`` in $VISUAL/$EDITOR and return what was saved."""
    command = editor_command()
    if not command:
        raise UserError("no editor: set $EDITOR (e.g. export EDITOR=nano), or pass -q/-a/-t")
    fd, name = tempfile.mkstemp(prefix="llmcards-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            result = subprocess.run([*command, str(path)])
        except OSError as exc:
            raise UserError(f"cannot run editor {command[0]!r}: {exc.strerror}") from None
        if result.returncode != 0:
            raise UserError(f"editor {command[0]!r} exited with status {result.returncode}; nothing saved")
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def edit_in_editor(card: Question) -> Question | None:
    """Edit one card as YAML in $EDITOR; None when nothing changed.

    If the edited text does not parse, it is kept in a file whose path the error gives,
    so no typing is lost.
    """
    original = "# Edit the card; its id cannot change. Save and quit to apply.\n" + dump_card(card)
    edited = run_editor(original)
    if edited == original:
        return None
    try:
        result = parse_card(edited, "edited card")
    except UserError as exc:
        raise UserError(f"{exc.message} (your text is saved in {_keep(edited)})") from None
    if result.id != card.id:
        raise UserError(f"the id cannot change (was {card.id!r}); use `llmcards add` for a new card")
    return result


def _keep(text: str) -> str:
    fd, name = tempfile.mkstemp(prefix="llmcards-unsaved-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return name


def new_card_in_editor() -> Question | None:
    """Write a new card in $EDITOR; None when the question is left empty."""
    text = run_editor(TEMPLATE.format(question='""', answer="", tags=""))
    try:
        return parse_card(text, "new card", card_id="new-card")
    except UserError as exc:
        if "missing or empty question" in exc.message:
            return None
        raise UserError(f"{exc.message} (your text is saved in {_keep(text)})") from None


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as given, stripped, without blanks or repeats, in order."""
    return tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))


def add_card(store: Store, *, question: str, answer: str | None, tags: Sequence[str], now: datetime,
             card_id: str | None = None) -> Question:
    """Add a card of the person's own; returns it with its id (made from the question unless given).

    Refuses an empty question, an exact duplicate of another card's question, and a taken
    or malformed id.
    """
    question = question.strip()
    if not question:
        raise UserError("the question is empty")
    duplicate = store.cards.find_question(question)
    if duplicate is not None:
        raise DuplicateQuestionError(duplicate)
    if card_id is not None:
        if not ID_RE.match(card_id):
            raise UserError(f"id {card_id!r} must be a lowercase slug of letters, digits, '-', '_' or '.'")
        if store.cards.get(card_id) is not None:
            raise UserError(f"id {card_id!r} is taken; choose another")
    new_id = card_id or make_id(question, lambda i: store.cards.get(i) is not None)
    text = answer.strip("\n") if answer and answer.strip() else None
    card = Question(id=new_id, question=question, answer=text, tags=clean_tags(tags))
    with store.write():
        store.cards.add(card, now=now)
        from llmcards.merge import adopt

        adopt(store, [card.id], now=now)  # a card added again gets what other devices did to it since
    return card


def edit_card(store: Store, card_id: str, *, now: datetime, question: str | None = None,
              answer: str | None = None, tags: Sequence[str] | None = None) -> Question | None:
    """Apply an edit from options or $EDITOR; returns the new Question, or None if unchanged."""
    card = store.cards.require(card_id)
    current = Question(id=card.id, question=card.question, answer=card.answer, tags=card.tags, sources=card.sources)
    if question is None and answer is None and tags is None:
        edited = edit_in_editor(current)
        if edited is None:
            return None
    else:
        if question is not None and not question.strip():
            raise UserError("the question cannot be empty")
        edited = replace(
            current,
            question=question.strip() if question is not None else current.question,
            answer=(answer.strip("\n") or None) if answer is not None else current.answer,
            tags=clean_tags(tags) if tags is not None else current.tags,
        )
    if edited.question != current.question:
        duplicate = store.cards.find_question(edited.question)
        if duplicate is not None and duplicate != card_id:
            raise DuplicateQuestionError(duplicate)
    changed = store.cards.update(edited, now=now)
    return edited if changed else None


def delete_cards(store: Store, ids: Sequence[str], *, now: datetime) -> int:
    """Delete cards with their review history, after a backup of the store (reason ``delete``).

    Returns how many were deleted.
    """
    from llmcards.backup import backup_before

    backup_before(store, "delete", now=now)
    return store.cards.delete(ids, now=now)
