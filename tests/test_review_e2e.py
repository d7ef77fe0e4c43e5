"""The real `llmcards review` driven in a pseudo-terminal, as a person would use it."""

from __future__ import annotations

import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.helpers import expect_group, run, spawn, write

NOW = "2026-03-02T12:00:00Z"


def _spawn(db: Path, *args: str, now: str | None = NOW, env: dict[str, str] | None = None,
           size: tuple[int, int] = (40, 100)) -> pexpect.spawn[str]:
    """``llmcards --db DB review ARGS`` on a terminal of ``size`` (rows, columns), at ``now``."""
    return spawn("--db", str(db), "review", *args, size=size, now=now, env=env)


def _query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _logs(db: Path) -> list[tuple[Any, ...]]:
    return _query(db, "SELECT card_id, rating FROM review_logs ORDER BY id")


def _state(db: Path, card_id: str) -> tuple[Any, ...]:
    return _query(db, "SELECT state, reps FROM cards WHERE id = ?", card_id)[0]


def _reveal_and_grade(child: pexpect.spawn[str], question: str, key: str) -> None:
    """Wait for ``question``, show its answer, wait for the grade buttons, press ``key``."""
    child.expect(question)
    child.send(" ")
    child.expect("Again")
    child.send(key)


def test_reveal_grade_undo_quit(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = _spawn(db)
    child.expect("LoRA 的原理是什么")
    child.expect("show answer")
    child.send(" ")
    child.expect("1/√\\(d_k\\)")  # the formula, readable
    child.expect("Again")
    child.expect("Good")
    child.send("3")
    child.expect("BN和LN的区别")
    child.send(" ")
    child.expect("归一化")
    child.send("4")
    child.expect("Attention 计算复杂度")
    child.send("u")
    child.expect("BN和LN的区别")  # the undone card is back on screen ...
    child.expect("Undid the grade of bn-vs-ln")  # ... with a note below it
    child.send("q")
    child.expect("Reviewed 1 card")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _logs(db) == [("lora-principle", 3)]
    assert _state(db, "lora-principle") == (1, 1)  # learning, one review
    assert _state(db, "bn-vs-ln") == (0, 0)  # undone: new again


def test_sigkill_mid_session_keeps_every_grade(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = _spawn(db)
    expected = []
    for question, card_id, key in [("LoRA 的原理是什么", "lora-principle", "3"), ("BN和LN的区别", "bn-vs-ln", "1"),
                                   ("Attention 计算复杂度", "attention-complexity", "4")]:
        _reveal_and_grade(child, question, key)
        expected.append((card_id, int(key)))
    child.expect("What does \\[mask\\] mean in BERT")  # the fourth card is on screen, its text literal
    child.send(" ")
    child.expect("The \\[mask\\] token; 15% of tokens")
    child.kill(signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGKILL
    assert _logs(db) == expected
    assert _query(db, "PRAGMA integrity_check") == [("ok",)]


def test_ctrl_c_quits_cleanly_with_a_summary(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = _spawn(db)
    _reveal_and_grade(child, "LoRA 的原理是什么", "2")
    child.expect("BN和LN的区别")
    child.sendintr()
    child.expect("Reviewed 1 card")
    child.expect("Hard 1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _logs(db) == [("lora-principle", 2)]


def test_two_sessions_at_once_lose_no_grade(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = _spawn(db)
    first.expect("LoRA 的原理是什么")
    second = _spawn(db, "--cram")
    second.expect("CRAM")
    for _ in range(3):
        for child in (first, second):
            child.send(" ")
            child.expect("Again")
            child.send("3")
            child.expect("(question|Reviewed)")
    for child in (first, second):
        child.send("q")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    logs = _logs(db)
    assert len(logs) == 6
    assert _query(db, "SELECT count(*) FROM review_logs WHERE cram = 1") == [(3,)]


def test_nothing_due_says_when_and_how_to_cram(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = _spawn(db, "--no-new")
    child.expect("No cards reviewed")
    child.expect("llmcards review --cram")
    child.expect(pexpect.EOF)


def test_review_without_a_terminal_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess

    result = run("--db", str(tmp_path / "s.db"), "review", stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: review needs an interactive terminal")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("width", [40, 100])
def test_long_chinese_answer_wraps_and_scrolls(tmp_path: Path, width: int) -> None:
    point = "大模型的训练需要大量的数据和计算资源，注意力机制的复杂度是平方级别的。"
    long_answer = "\n".join(f"      - 第{i}点：{point}" for i in range(60))
    bank = write(tmp_path / "bank.yaml",
                 f"version: 1\ncards:\n  - id: long\n    question: 长答案\n    answer: |\n{long_answer}\n")
    child = _spawn(tmp_path / "s.db", now=None, env={"LLMCARDS_BANK": str(bank)}, size=(24, width))
    child.expect("长答案")
    child.send(" ")
    child.expect("scroll — lines 1-")
    total = int(expect_group(child, "of (\\d+)"))
    child.send("\x1b[6~")  # PgDn
    child.expect("第\\d+点")
    child.expect(f"scroll — lines \\d+-\\d+ of {total}")
    child.send("q")
    child.expect(pexpect.EOF)


def test_edit_suspend_and_bury_keys(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = tmp_path / "ed.py"
    script.write_text("import sys\np=sys.argv[1]\ns=open(p,encoding='utf-8').read()\n"
                      "open(p,'w',encoding='utf-8').write(s.replace('LoRA 的原理是什么?','LoRA 原理（改）'))\n",
                      encoding="utf-8")
    child = _spawn(db, env={"EDITOR": f"{sys.executable} {script}"})
    child.expect("LoRA 的原理是什么")
    child.send("e")
    child.expect("LoRA 原理（改）")  # the edited card is back on screen
    child.send("s")
    child.expect("BN和LN的区别")
    child.expect("Suspended lora-principle")
    child.send("b")
    child.expect("Attention 计算复杂度")
    child.expect("Buried bn-vs-ln until tomorrow")
    child.send("q")
    child.expect(pexpect.EOF)
    assert _query(db, "SELECT question, suspended FROM cards WHERE id = 'lora-principle'") == [("LoRA 原理（改）", 1)]
    assert _query(db, "SELECT buried_until FROM cards WHERE id = 'bn-vs-ln'") == [("2026-03-03 04:00:00.000000",)]
    assert _logs(db) == []


def test_screen_redraws_when_the_terminal_is_resized(tmp_path: Path) -> None:
    child = _spawn(tmp_path / "s.db")
    assert len(expect_group(child, "╰─+╯", 0)) == 100
    child.setwinsize(30, 50)
    assert len(expect_group(child, "╰─+╯", 0)) == 50
    child.send("q")
    child.expect(pexpect.EOF)


def test_a_review_takes_the_days_backup_at_its_first_grade_and_finishes_it_before_exit(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    child = _spawn(db, now="2026-03-02T12:00:00Z")  # the first run creates the store: no backup of nothing
    child.expect("show answer")
    child.send("q")
    child.expect(pexpect.EOF)
    assert not (tmp_path / "backups").exists()
    child = _spawn(db, now="2026-03-02T12:05:00Z")
    child.expect("LoRA 的原理是什么")
    child.expect("show answer")
    assert not (tmp_path / "backups").exists()  # the first card is on screen before any copy
    child.send(" ")
    child.expect("Again")
    child.send("3")
    _reveal_and_grade(child, "BN和LN的区别", "3")
    child.expect("Attention 计算复杂度")
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name == "s-20260302T120500Z-daily.db"
    assert _query(backup, "SELECT count(*) FROM review_logs") == [(0,)]  # the store before the day's first grade
    assert _query(backup, "SELECT count(*) FROM cards") == [(5,)]
    assert len(_logs(db)) == 2
