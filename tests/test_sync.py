"""Syncing bank files into a real store: add, update, retire, idempotence, atomicity."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from llmcards.bank import load_bank
from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import CardState, Grade, Question, State, SyncReport
from llmcards.scheduler import Scheduler
from llmcards.store import CardFilter, Store
from llmcards.sync import import_file, sync_questions
from tests.helpers import NOW, SMALL_BANK, Cli, snapshot, write

TWO_CARDS = "version: 1\ncards:\n  - id: a1\n    question: q1\n  - id: a2\n    question: q2\n"


def _sync(store: Store, questions: list[Question], when: datetime = NOW) -> SyncReport:
    return sync_questions(store, questions, origin="bank", import_path=None, now=when, source="bank")


def test_first_sync_adds_everything_in_order(store: Store) -> None:
    cards = store.cards.list(CardFilter(), now=NOW)
    assert [c.id for c in cards] == ["lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal", "kv-cache"]
    assert all(c.schedule.state == State.NEW and c.origin == "bank" for c in cards)


def test_second_sync_changes_nothing(store: Store) -> None:
    report = _sync(store, load_bank(SMALL_BANK))
    assert (report.added, report.updated, report.retired) == ([], [], [])
    assert len(report.unchanged) == 5
    assert not report.changed


def _grade(store: Store, card_id: str, grade: Grade) -> CardState:
    """Grade a card at NOW (fuzz off) and commit it; returns its new state."""
    card = store.cards.require(card_id)
    after = Scheduler(Settings(), fuzz=False).review(card.schedule, grade, NOW, card_id=card_id)
    store.queue.record_review(card_id, card.schedule, after, rating=grade, reviewed_at=NOW,
                        study_day=NOW.date(), duration_ms=4000)
    return after


def test_edit_updates_text_and_keeps_schedule_and_history(store: Store) -> None:
    after = _grade(store, "bn-vs-ln", Grade.GOOD)
    questions = load_bank(SMALL_BANK)
    questions[1] = replace(questions[1], question="BN 和 LN 有什么区别？", answer="改过的答案")
    report = _sync(store, questions, NOW + timedelta(hours=1))
    assert report.updated == ["bn-vs-ln"] and not report.added and not report.retired
    edited = store.cards.require("bn-vs-ln")
    assert edited.question == "BN 和 LN 有什么区别？"
    assert edited.answer == "改过的答案"
    assert edited.schedule == after
    assert [h.rating for h in store.cards.history("bn-vs-ln")] == [Grade.GOOD]
    assert edited.created_at == NOW and edited.updated_at == NOW + timedelta(hours=1)


def test_missing_ids_are_retired_not_deleted_and_come_back(store: Store) -> None:
    after = _grade(store, "kv-cache", Grade.EASY)
    questions = [q for q in load_bank(SMALL_BANK) if q.id != "kv-cache"]
    report = _sync(store, questions)
    assert report.retired == ["kv-cache"]
    retired = store.cards.require("kv-cache")
    assert retired.retired and retired.schedule == after
    assert len(store.cards.history("kv-cache")) == 1
    assert _sync(store, questions).retired == []  # already retired: nothing to do
    back = _sync(store, load_bank(SMALL_BANK))
    assert back.updated == ["kv-cache"]
    assert not store.cards.require("kv-cache").retired


def test_user_file_cannot_take_over_a_bank_id(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: bn-vs-ln\n    question: mine\n")
    before = store.cards.require("bn-vs-ln")
    with pytest.raises(UserError, match=r"mine\.yaml:3: id 'bn-vs-ln' already belongs to the bundled bank"):
        import_file(store, path, now=NOW)
    assert store.cards.require("bn-vs-ln") == before


def test_user_file_sync_retires_only_its_own_cards(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", TWO_CARDS)
    assert import_file(store, path, now=NOW).added == ["a1", "a2"]
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1\n")
    report = import_file(store, path, now=NOW)
    assert report.retired == ["a2"]
    assert not store.cards.require("bn-vs-ln").retired


BAD_FILES = {
    "syntax": "version: 1\ncards:\n  - id: x\n    question: [\n",
    "empty-question": "version: 1\ncards:\n  - id: x\n    question: ''\n",
    "duplicate-id": "version: 1\ncards:\n  - id: x\n    question: a\n  - id: x\n    question: b\n",
    "wrong-type": "version: 1\ncards:\n  - id: x\n    question: a\n    sources: 3\n",
    "unknown-version": "version: 9\ncards: []\n",
}


@pytest.mark.parametrize("kind", [*BAD_FILES, "not-utf8", "missing"])
def test_bad_import_leaves_store_byte_for_byte_unchanged(cli: Cli, db_path: Path, tmp_path: Path, kind: str) -> None:
    assert cli("list").exit_code == 0  # creates the store and imports the bundled bank
    good = write(tmp_path / "good.yaml", "version: 1\ncards:\n  - id: x\n    question: kept\n")
    assert cli("import", str(good)).exit_code == 0
    before = snapshot(db_path)
    bad = tmp_path / "bad.yaml"
    if kind == "not-utf8":
        bad.write_bytes(b"version: 1\ncards:\n  - id: x\n    question: caf\xe9\n")
    elif kind != "missing":
        write(bad, BAD_FILES[kind])
    result = cli("import", str(bad))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.yaml" in lines[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(db_path) == before


def test_bad_card_in_the_middle_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "half.yaml",
                 "version: 1\ncards:\n  - id: ok1\n    question: fine\n  - id: bad\n    question: ''\n")
    with pytest.raises(UserError):
        import_file(store, path, now=NOW)
    assert store.cards.get("ok1") is None


def test_bundled_bank_resyncs_only_when_its_bytes_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcards.sync import sync_bundled_if_changed

    bank = write(tmp_path / "bank.yaml", SMALL_BANK.read_text(encoding="utf-8"))
    monkeypatch.setenv("LLMCARDS_BANK", str(bank))
    with Store.open(tmp_path / "s.db") as store:
        first = sync_bundled_if_changed(store, now=NOW)
        assert first is not None and len(first.added) == 5
        assert sync_bundled_if_changed(store, now=NOW) is None
        write(bank, bank.read_text(encoding="utf-8").replace("BN和LN的区别", "BN 与 LN 的区别"))
        again = sync_bundled_if_changed(store, now=NOW)
        assert again is not None and again.updated == ["bn-vs-ln"]
        assert store.cards.require("bn-vs-ln").question == "BN 与 LN 的区别"


def test_unchanged_reimport_is_recognised_without_parsing(store: Store, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import llmcards.bank

    path = write(tmp_path / "mine.yaml", TWO_CARDS)
    assert import_file(store, path, now=NOW).added == ["a1", "a2"]

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the unchanged file was parsed again")

    monkeypatch.setattr(llmcards.bank, "parse_bank_file", no_parse)
    again = import_file(store, path, now=NOW)
    assert again.unchanged == ["a1", "a2"] and not again.changed
    monkeypatch.undo()

    # After an edit in the store, the file is synced again (not skipped), and the edit survives,
    # because the file did not change that card ...
    store.cards.update(replace(load_bank(path)[0], question="edited in the store"), now=NOW + timedelta(minutes=1))
    again = import_file(store, path, now=NOW)
    assert again.unchanged == ["a1", "a2"] and not again.changed
    assert store.cards.require("a1").question == "edited in the store"
    # ... while a change to the card in the file wins.
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1 changed\n")
    report = import_file(store, path, now=NOW)
    assert (report.updated, report.retired) == (["a1"], ["a2"])
    assert store.cards.require("a1").question == "q1 changed"


def test_edits_to_bank_cards_survive_a_new_bundled_bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcards.sync import sync_bundled_if_changed

    bank = write(tmp_path / "bank.yaml", SMALL_BANK.read_text(encoding="utf-8"))
    monkeypatch.setenv("LLMCARDS_BANK", str(bank))
    with Store.open(tmp_path / "s.db") as store:
        sync_bundled_if_changed(store, now=NOW)
        mine = replace(load_bank(bank)[0], answer="my own, better answer")
        store.cards.update(mine, now=NOW + timedelta(minutes=1))
        # A new bank that changes another card: the edit stays.
        write(bank, bank.read_text(encoding="utf-8").replace("BN和LN的区别", "BN 与 LN 的区别"))
        report = sync_bundled_if_changed(store, now=NOW + timedelta(days=1))
        assert report is not None and report.updated == ["bn-vs-ln"]
        assert store.cards.require("lora-principle").answer == "my own, better answer"
        # A new bank that changes the edited card itself: the bank's new text wins.
        write(bank, bank.read_text(encoding="utf-8").replace("LoRA 的原理是什么?", "LoRA 的原理？"))
        report = sync_bundled_if_changed(store, now=NOW + timedelta(days=2))
        assert report is not None and report.updated == ["lora-principle"]
        lora = store.cards.require("lora-principle")
        assert lora.question == "LoRA 的原理？" and "低秩分解" in (lora.answer or "")
