"""`llmcards add` and `delete` asking on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.helpers import SMALL_BANK


def _env() -> dict[str, str]:
    env = {**os.environ, "LLMCARDS_BANK": str(SMALL_BANK), "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    return env


def _show(db: Path, card_id: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, "-m", "llmcards", "--db", str(db), "show", card_id, "--json"],
                         capture_output=True, text=True, env=_env(), check=True).stdout
    return json.loads(out)


def test_add_asks_for_question_multiline_answer_and_tags(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = pexpect.spawn(sys.executable, ["-m", "llmcards", "--db", str(db), "add"], env=_env(),
                          encoding="utf-8", timeout=20, dimensions=(30, 100))
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
    child.expect(r"Added (kv-cache-[0-9a-f]+)")
    card_id = child.match.group(1)
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
    env = {**_env(), "EDITOR": f"{sys.executable} {script}"}
    child = pexpect.spawn(sys.executable, ["-m", "llmcards", "--db", str(db), "add"], env=env,
                          encoding="utf-8", timeout=20)
    child.expect(r"Added (card-[0-9a-f]+)")
    card_id = child.match.group(1)
    child.expect(pexpect.EOF)
    data = _show(db, card_id)
    assert (data["question"], data["answer"], data["tags"]) == ("编辑器里写的问题", "第一行\n第二行", ["rag"])


def test_delete_asks_for_confirmation(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    base = [sys.executable, "-m", "llmcards", "--db", str(db)]
    subprocess.run([*base, "list"], env=_env(), check=True, capture_output=True)
    child = pexpect.spawn(base[0], [*base[1:], "delete", "bn-vs-ln"], env=_env(), encoding="utf-8", timeout=20)
    child.expect(r"Delete bn-vs-ln and their review history\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing deleted")
    child.expect(pexpect.EOF)
    assert _show(db, "bn-vs-ln")["id"] == "bn-vs-ln"
    child = pexpect.spawn(base[0], [*base[1:], "delete", "bn-vs-ln"], env=_env(), encoding="utf-8", timeout=20)
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect("Deleted 1 card")
    child.expect(pexpect.EOF)
    gone = subprocess.run([*base, "show", "bn-vs-ln"], env=_env(), capture_output=True, text=True)
    assert gone.returncode == 1 and "no card with id 'bn-vs-ln'" in gone.stderr
