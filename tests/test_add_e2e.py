"""`llmcards add` and `delete` asking on a real pseudo-terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pexpect

from tests.helpers import expect_group, run, spawn


def _show(db: Path, card_id: str) -> Any:
    """``llmcards show ID --json``, parsed."""
    result = run("--db", str(db), "show", card_id, "--json", check=True)
    return json.loads(result.stdout)


def test_add_asks_for_question_multiline_answer_and_tags(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = spawn("--db", str(db), "add", size=(30, 100))
    child.expect("Question")
    child.sendline("什么是 KV cache?")
    child.expect("Answer")
    child.sendline("缓存之前 token 的 K 和 V。")
    child.sendline("")
    child.sendline("- 省去重复计算")
    child.sendline("")
    child.sendline("")
    child.expect("Tags")
    child.sendline("inference attention")
    card_id = expect_group(child, r"Added (kv-cache-[0-9a-f]+)")
    child.expect(pexpect.EOF)
    data = _show(db, card_id)
    assert data["question"] == "什么是 KV cache?"
    assert data["answer"] == "缓存之前 token 的 K 和 V。\n\n- 省去重复计算"
    assert data["tags"] == ["inference", "attention"]


def test_add_opens_the_editor_when_set(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys\np=sys.argv[1]\nopen(p,'w',encoding='utf-8').write("
        "'question: 编辑器里写的问题\\nanswer: |\\n  第一行\\n  第二行\\ntags: [rag]\\n')\n", encoding="utf-8")
    child = spawn("--db", str(db), "add", env={"EDITOR": f"{sys.executable} {script}"})
    card_id = expect_group(child, r"Added (card-[0-9a-f]+)")
    child.expect(pexpect.EOF)
    data = _show(db, card_id)
    assert (data["question"], data["answer"], data["tags"]) == ("编辑器里写的问题", "第一行\n第二行", ["rag"])


def test_delete_asks_for_confirmation(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run("--db", str(db), "list", check=True)
    child = spawn("--db", str(db), "delete", "bn-vs-ln")
    child.expect(r"Delete bn-vs-ln and their review history\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing deleted")
    child.expect(pexpect.EOF)
    assert _show(db, "bn-vs-ln")["id"] == "bn-vs-ln"
    child = spawn("--db", str(db), "delete", "bn-vs-ln")
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect("Deleted 1 card")
    child.expect(pexpect.EOF)
    gone = run("--db", str(db), "show", "bn-vs-ln")
    assert gone.returncode == 1 and "no card with id 'bn-vs-ln'" in gone.stderr
