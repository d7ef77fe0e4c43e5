"""`llmcards import NOTES.md` end to end: the real CLI on real stores, the preview in a pseudo-terminal,
re-imports of edited notes, and every kind of bad input leaving the store as it was."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pytest

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import NOTES_ORIGIN, Grade
from llmcards.notes import note_hash, read_notes
from llmcards.notes_import import apply_notes_import, plan_notes_import, read_note_files
from llmcards.scheduler import Scheduler
from llmcards.store import Store
from tests.helpers import NOW, copy_seed_notes, snapshot, spawn, write

Cli = Callable[..., Any]

NOTE = """# Attention

## What does the KV cache store?
The keys and values of past tokens.

## Why scale attention scores by $\\sqrt{d_k}$?
Dot products grow with $d_k$; dividing keeps the softmax out of its flat regions.

## What is multi-query attention?
All heads share one key and one value projection.

## What does FlashAttention change?
It tiles the computation so the attention matrix never leaves on-chip memory.

# Fine-tuning

**1. What is LoRA?**

A low-rank update $W + BA$ is trained instead of the full weight matrix.

**2. Which layers does LoRA usually adapt?**

# Quantisation

Q: What does QLoRA add to LoRA?
A: A frozen 4-bit base model, double quantisation and paged optimisers.
"""


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def said(result: Any) -> str:
    """What a command printed, on one line (the console wraps long lines at its width)."""
    return " ".join(ok(result).stdout.split())


def failed(result: Any) -> str:
    """The one-line error of a command that failed."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return str(lines[0])


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def notes_cards(db: Path) -> dict[str, dict[str, Any]]:
    """The notes cards in the store, by question."""
    found = rows(db, "SELECT id, question, answer, retired, sources, tags, source_hash, import_path, reps, state "
                     "FROM cards WHERE origin = ? ORDER BY position", NOTES_ORIGIN)
    keys = ("id", "question", "answer", "retired", "sources", "tags", "source_hash", "import_path", "reps", "state")
    return {r[1]: dict(zip(keys, r, strict=True)) for r in found}


def history(db: Path, card_id: str) -> list[tuple[Any, ...]]:
    return rows(db, "SELECT rating, reviewed_at FROM review_logs WHERE card_id = ? ORDER BY id", card_id)


def review(db: Path, card_id: str, grade: Grade = Grade.GOOD) -> None:
    """Grade a card at NOW (fuzz off) through the store, as a review session does."""
    with Store.open(db) as store:
        card = store.cards.require(card_id)
        after = Scheduler(Settings(), fuzz=False).review(card.schedule, grade, NOW, card_id=card_id)
        store.queue.record_review(card_id, card.schedule, after, rating=grade, reviewed_at=NOW,
                                  study_day=NOW.date(), duration_ms=3000)


def plan_json(cli: Cli, path: Path, *args: str) -> dict[str, Any]:
    return json.loads(ok(cli("import", str(path), "--dry-run", "--json", *args)).stdout)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- first import


def test_seed_notes_into_a_fresh_store(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    folder = copy_seed_notes(tmp_path / "seeds")
    expected = read_notes(folder)
    assert not db_path.exists()
    out = said(cli("import", str(folder), "--yes"))
    assert f"Imported {folder}: {len(expected)} added, 0 updated, 0 retired, 0 unchanged" in out
    cards = rows(db_path, "SELECT id, question, answer, sources, source_hash, import_path, retired, state "
                          "FROM cards WHERE origin = 'notes' ORDER BY position")
    assert [(c[0], c[1], c[2]) for c in cards] == [(q.id, q.question, q.answer) for q in expected]
    for card, q in zip(cards, expected, strict=True):
        assert json.loads(card[3]) == [q.locator]
        assert card[4] == note_hash(q.question, q.answer)
        assert card[5] == str(folder.resolve())
        assert card[6:] == (0, 0)  # live and new
    assert rows(db_path, "SELECT count(*) FROM cards WHERE origin = 'bank'") == [(5,)]  # the bundled bank, too
    first = expected[0]
    shown = said(cli("show", first.id))
    assert first.locator in shown  # "000_bed308f75df34649.md#1、大模型微调如何选择基座？"
    assert first.locator.startswith("000_bed308f75df34649.md#")
    assert "notes" in shown


def test_reimport_of_unchanged_notes_changes_nothing(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    folder = copy_seed_notes(tmp_path / "seeds")
    ok(cli("import", str(folder), "--yes"))
    before = snapshot(db_path)
    again = said(cli("import", str(folder), "--yes"))
    assert "unchanged since the last import" in again
    assert snapshot(db_path) == before
    assert plan_json(cli, folder)["skipped"] is True


def test_a_deleted_card_comes_back_on_the_next_import(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("import", str(note), "--yes"))
    lora = notes_cards(db_path)["What is LoRA?"]["id"]
    ok(cli("delete", lora, "--yes"))
    out = said(cli("import", str(note), "--yes"))  # the notes did not change, but the store did
    assert "1 added, 0 updated, 0 retired, 6 unchanged" in out
    assert notes_cards(db_path)["What is LoRA?"]["id"] == lora
    assert "unchanged since the last import (7 cards)" in said(cli("import", str(note), "--yes"))


def test_a_file_and_its_locators(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "notes" / "llm.md", NOTE)
    plan = plan_json(cli, note)
    assert [c["question"] for c in plan["added"]] == [
        "What does the KV cache store?", "Why scale attention scores by $\\sqrt{d_k}$?",
        "What is multi-query attention?", "What does FlashAttention change?", "What is LoRA?",
        "Which layers does LoRA usually adapt?", "What does QLoRA add to LoRA?",
    ]
    assert [c["source"] for c in plan["added"]][::3] == [
        "llm.md#Attention/What does the KV cache store?", "llm.md#Attention/What does FlashAttention change?",
        "llm.md#Quantisation/What does QLoRA add to LoRA?",
    ]
    assert (plan["written"], plan["skipped"], plan["import_path"]) == (False, False, str(note.resolve()))
    assert not db_path.exists()  # a dry run does not even create the store
    ok(cli("import", str(note), "--yes"))
    cards = notes_cards(db_path)
    assert cards["Which layers does LoRA usually adapt?"]["answer"] is None  # unanswered
    lora = cards["What is LoRA?"]
    assert lora["answer"] == "A low-rank update $W + BA$ is trained instead of the full weight matrix."
    assert json.loads(lora["sources"]) == ["llm.md#Fine-tuning/1. What is LoRA?"]


# --------------------------------------------------------------------------- re-import of edited notes


def test_reimport_of_edited_notes_keeps_progress(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("import", str(note), "--yes"))
    cards = notes_cards(db_path)
    kv, scale, mqa, flash = (cards[q]["id"] for q in (
        "What does the KV cache store?", "Why scale attention scores by $\\sqrt{d_k}$?",
        "What is multi-query attention?", "What does FlashAttention change?"))
    for card_id in (kv, scale, mqa, flash):
        review(db_path, card_id)
    reviewed = {c["id"]: (c["reps"], c["state"], history(db_path, c["id"])) for c in notes_cards(db_path).values()}
    assert reviewed[kv][0] == 1

    edited = (NOTE
              .replace("The keys and values of past tokens.", "The keys and values of every past token, per layer.")
              .replace("## What is multi-query attention?\nAll heads share one key and one value projection.\n\n", "")
              .replace("## What does FlashAttention change?", "## How does FlashAttention save memory?")
              .replace("# Fine-tuning", "## What is grouped-query attention?\nGroups of heads share keys and values."
                                        "\n\n# Fine-tuning"))
    write(note, edited)
    plan = plan_json(cli, note)
    assert [c["question"] for c in plan["added"]] == ["What is grouped-query attention?"]
    assert [c["id"] for c in plan["updated"]] == [kv, flash]
    assert [(r["id"], r["old_question"], r["new_question"], r["similarity"]) for r in plan["renamed"]] == [
        (flash, "What does FlashAttention change?", "How does FlashAttention save memory?", 1.0)]
    assert plan["retired"] == [{"id": mqa, "question": "What is multi-query attention?"}]
    assert plan["unchanged"] == 4

    out = said(cli("import", str(note), "--yes"))
    assert "1 added, 2 updated (1 renamed), 1 retired" in out and "4 unchanged" in out
    after = {c["id"]: c for c in notes_cards(db_path).values()}
    assert after[kv]["answer"] == "The keys and values of every past token, per layer."  # the changed answer
    assert after[flash]["question"] == "How does FlashAttention save memory?"  # renamed: same id, new question
    assert json.loads(after[flash]["sources"]) == ["llm.md#Attention/How does FlashAttention save memory?"]
    assert after[mqa]["retired"] == 1  # removed: retired
    for card_id in (kv, scale, mqa, flash):  # progress and history kept, whatever happened to the card
        assert (after[card_id]["reps"], after[card_id]["state"], history(db_path, card_id)) == reviewed[card_id]
    assert len(after) == 8  # the 7 (one retired) and the new one

    write(note, NOTE)  # the removed question comes back, under its old id, with its history
    ok(cli("import", str(note), "--yes"))
    back = {c["id"]: c for c in notes_cards(db_path).values()}
    assert back[mqa]["retired"] == 0 and history(db_path, mqa) == reviewed[mqa][2]
    assert back[flash]["question"] == "What does FlashAttention change?"


def test_an_edit_in_the_store_survives_a_reimport(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("import", str(note), "--yes"))
    kv = notes_cards(db_path)["What does the KV cache store?"]["id"]
    ok(cli("edit", kv, "-a", "Past keys and values (my own words)."))
    write(note, NOTE.replace("on-chip memory", "SRAM"))  # another card changes
    plan = plan_json(cli, note)
    assert [c["question"] for c in plan["updated"]] == ["What does FlashAttention change?"]
    ok(cli("import", str(note), "--yes"))
    cards = notes_cards(db_path)
    assert cards["What does the KV cache store?"]["answer"] == "Past keys and values (my own words)."
    assert cards["What does FlashAttention change?"]["answer"].endswith("never leaves SRAM.")
    again = said(cli("import", str(note), "--yes"))
    assert "unchanged since the last import" in again
    # When the notes change that card, the notes win.
    write(note, NOTE.replace("on-chip memory", "SRAM").replace("of past tokens", "of all past tokens"))
    ok(cli("import", str(note), "--yes"))
    assert notes_cards(db_path)["What does the KV cache store?"]["answer"] == "The keys and values of all past tokens."


def test_tags(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("import", str(note), "--yes", "--tag", "interview", "-t", "llm", "-t", "interview"))
    assert {c["tags"] for c in notes_cards(db_path).values()} == {'["interview", "llm"]'}
    kv = notes_cards(db_path)["What does the KV cache store?"]["id"]
    ok(cli("edit", kv, "-a", "Edited."))
    plan = plan_json(cli, note, "--tag", "round-2")
    assert (plan["added"], plan["updated"], len(plan["refreshed"]), plan["unchanged"]) == ([], [], 7, 0)
    out = said(cli("import", str(note), "--yes", "--tag", "round-2"))
    assert "7 with a new source or tag" in out
    cards = notes_cards(db_path)
    assert {c["tags"] for c in cards.values()} == {'["interview", "llm", "round-2"]'}
    assert cards["What does the KV cache store?"]["answer"] == "Edited."  # text kept
    listed = json.loads(ok(cli("list", "--json", "--tag", "round-2")).stdout)
    assert len(listed) == 7
    assert "unchanged since the last import" in said(cli("import", str(note), "--yes", "--tag", "round-2"))
    # Without the tag, the notes are read again (the tags are part of what was imported), nothing changes
    # (tags are only ever added), and the next import without it is recognised as unchanged.
    before = {c["id"]: c for c in notes_cards(db_path).values()}
    assert "0 added, 0 updated, 0 retired, 7 unchanged" in said(cli("import", str(note), "--yes"))
    assert {c["id"]: c for c in notes_cards(db_path).values()} == before
    assert "unchanged since the last import" in said(cli("import", str(note), "--yes"))


def test_the_same_question_in_another_file_gets_its_own_card(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "notes.md", NOTE)
    b = write(tmp_path / "b" / "notes.md", NOTE)
    ok(cli("import", str(a), "--yes"))
    ok(cli("import", str(b), "--yes"))
    ids = rows(db_path, "SELECT import_path, count(DISTINCT id) FROM cards WHERE origin = 'notes' "
                        "GROUP BY import_path ORDER BY import_path")
    assert ids == [(str(a.resolve()), 7), (str(b.resolve()), 7)]
    write(a, "# Only\n\n## What is left?\nThis.\n")
    out = said(cli("import", str(a), "--yes"))
    assert "7 retired" in out  # a's cards only
    assert rows(db_path, "SELECT count(*) FROM cards WHERE origin = 'notes' AND retired = 0") == [(8,)]


def test_the_plan_is_checked_again_when_written(db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    with Store.open(db_path) as store:
        notes = read_note_files(note)
        apply_notes_import(store, plan_notes_import(store, notes), now=NOW)
        write(note, NOTE + "\n## What is speculative decoding?\nA draft model proposes, the big one checks.\n")
        notes = read_note_files(note)
        planned = plan_notes_import(store, notes)
        card_id = planned.plan.unchanged[0].id
        store.cards.delete([card_id], now=NOW)  # another process changes these cards meanwhile
        before = snapshot(db_path)
        with pytest.raises(UserError, match="changed in the store since the preview"):
            apply_notes_import(store, planned, now=NOW)
        assert snapshot(db_path) == before


# --------------------------------------------------------------------------- preview and confirmation


def test_dry_run_writes_nothing(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("list"))  # the store exists
    before = snapshot(db_path)
    out = said(cli("import", str(note), "--dry-run"))
    assert "llm.md: 7 to add, 0 to update, 0 to retire, 0 unchanged" in out
    assert "What is LoRA?" in out and "Dry run: nothing written." in out
    assert snapshot(db_path) == before


def test_preview_lists_at_most_a_dozen_of_each(cli: Cli, tmp_path: Path) -> None:
    note = write(tmp_path / "many.md", "".join(f"## Question {i}?\nAnswer {i}.\n" for i in range(30)))
    out = said(cli("import", str(note), "--dry-run"))
    assert "Question 11?" in out and "Question 12?" not in out
    assert "… and 18 more to add" in out


def test_without_a_terminal_it_asks_for_yes_or_dry_run(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    ok(cli("list"))
    before = snapshot(db_path)
    message = failed(cli("import", str(note)))
    assert "pass --yes to import, or --dry-run" in message
    assert "--yes" in failed(cli("import", str(note), "--json"))
    assert snapshot(db_path) == before


def test_json_after_writing(cli: Cli, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    result = json.loads(ok(cli("import", str(note), "--yes", "--json", "-t", "x")).stdout)
    assert (result["written"], result["skipped"], result["tags"], result["files"]) == (True, False, ["x"], ["llm.md"])
    assert len(result["added"]) == 7


def _spawn(db: Path, *args: str) -> pexpect.spawn[str]:
    return spawn("--db", str(db), "import", *args, size=(40, 100), env={"NO_COLOR": "1"})


def test_confirmation_in_a_terminal(db_path: Path, tmp_path: Path) -> None:
    note = write(tmp_path / "llm.md", NOTE)
    child = _spawn(db_path, str(note))  # no store yet: answering no must not create one
    child.expect("7 to add")
    child.expect("What is LoRA")
    child.expect(r"Import these changes\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing imported")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert not db_path.exists()

    with Store.open(db_path):
        pass  # an existing store: answering no leaves it byte for byte
    before = snapshot(db_path)
    child = _spawn(db_path, str(note))
    child.expect(r"Import these changes\? \[y/N\]")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert snapshot(db_path) == before

    child = _spawn(db_path, str(note), "-t", "mine")
    child.expect(r"Import these changes\? \[y/N\]")
    child.sendline("y")
    child.expect("Imported")
    child.expect("7 added")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert rows(db_path, "SELECT count(*) FROM cards WHERE origin = 'notes' AND tags = '[\"mine\"]'") == [(7,)]


# --------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Every kind of bad input the issue lists: (path, what the one-line error says)."""
    cases: dict[str, tuple[Path, str]] = {}
    png = tmp_path / "bad" / "figure.md"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    cases["binary"] = (png, "a binary file (a PNG image), not Markdown notes")
    gbk = tmp_path / "bad" / "gbk.md"
    gbk.write_bytes("## 什么是注意力机制？\n注意力机制让模型关注输入中相关的部分。\n".encode("gbk"))
    cases["not utf-8"] = (gbk, "not UTF-8 text (it looks like GB18030/GBK (Simplified Chinese))")
    prose = write(tmp_path / "bad" / "prose.md", "# Diary\n\nToday I read about attention.\n")
    cases["no questions"] = (prose, "no questions found; looked for headings ending in ?")
    huge = tmp_path / "bad" / "huge.md"
    with open(huge, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB, sparse: nothing is written to the disk
    cases["50 MB"] = (huge, "50 MB is over the 20 MB limit for a notes file; split it")
    empty = tmp_path / "bad" / "no-notes"
    write(empty / "readme.txt", "## What is this?\nNot a .md file.\n")
    cases["folder without .md"] = (empty, "no .md or .markdown files in this folder or below it")
    loop = tmp_path / "bad" / "loop"
    write(loop / "a.md", "## What is a loop?\nA way back.\n")
    (loop / "again").symlink_to(loop)
    cases["symlink loop"] = (loop, "symlink loop")
    self_link = tmp_path / "bad" / "self.md"
    self_link.symlink_to(self_link)
    cases["self link"] = (self_link, "symlink loop")
    cases["missing"] = (tmp_path / "bad" / "nowhere.md", "no such file or folder")
    return cases


def test_bad_input_is_one_line_and_writes_nothing(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "llm.md", NOTE)
    ok(cli("import", str(good), "--yes"))
    before = snapshot(db_path)
    for name, (path, says) in _bad_inputs(tmp_path).items():
        message = failed(cli("import", str(path), "--yes"))
        assert says in message, (name, message)
        assert snapshot(db_path) == before, name


def test_bad_input_does_not_create_a_store(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    for name, (path, says) in _bad_inputs(tmp_path).items():
        assert says in failed(cli("import", str(path), "--yes")), name
        assert says in failed(cli("import", str(path), "--dry-run")), name
    assert not db_path.exists()


# --------------------------------------------------------------------------- bank files are unchanged


def test_yaml_files_keep_their_meaning(cli: Cli, tmp_path: Path) -> None:
    bank = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: a1\n    question: q1\n")
    out = said(cli("import", str(bank)))
    assert "1 added" in out
    assert "--dry-run and --tag work with Markdown notes" in failed(cli("import", str(bank), "--dry-run"))
    assert "--dry-run and --tag work with Markdown notes" in failed(cli("import", str(bank), "-t", "x"))
    ok(cli("import", str(bank), "--yes"))


def test_importer_is_chosen_by_suffix_or_folder(tmp_path: Path) -> None:
    from llmcards.cli.cards import importer_for

    assert importer_for(None) == "bank"
    assert importer_for(tmp_path / "cards.yaml") == "bank"
    assert importer_for(tmp_path / "cards.yml") == "bank"
    assert importer_for(tmp_path / "notes.md") == "notes"
    assert importer_for(tmp_path / "NOTES.MD") == "notes"
    assert importer_for(tmp_path / "notes.markdown") == "notes"
    assert importer_for(tmp_path) == "notes"
