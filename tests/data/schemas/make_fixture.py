"""Build a small store with the llmcards release on ``PYTHONPATH`` (see README.md here).

    git worktree add /tmp/llmcards-v1 aee6296
    PYTHONPATH=/tmp/llmcards-v1/src .venv/bin/python tests/data/schemas/make_fixture.py \
        /tmp/llmcards-v1 tests/data/schemas/store-v1.db

It drives that release's own code: its CLI (through Typer's test runner) for the bank
import, ``add``, ``edit``, ``suspend``, ``delete`` and ``config set``, and its review
``Session`` for the grades, so the file is exactly what the release wrote. The clock is
pinned and fuzz is off, so the same release always writes the same rows.

It runs against the releases from before the store became a package (``llmcards.store``
was one module with ``get_card``), which shipped schemas 1 and 2, and against those since
(``store.cards.get``), which ship schema 3. A later schema gets its own fixture, made by its
own release (and, if its API changed, its own script).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)

BANK = """\
version: 1
cards:
  - id: lora-principle
    question: "LoRA 的原理是什么?"
    answer: |
      低秩分解：$W = W_0 + BA$，缩放 $\\frac{1}{\\sqrt{d_k}}$。
    tags: [peft]
    sources: ["003_47dd969ecd46b6d8.txt#01"]
  - id: bn-vs-ln
    question: "BN和LN的区别"
    answer: |
      BN 在 batch 维度归一化，LN 在特征维度归一化。
    tags: [normalization]
  - id: attention-complexity
    question: "Attention 计算复杂度以及如何改进？"
    answer: "$O(n^2 d)$，可以用 FlashAttention 改进。"
    tags: [attention, efficiency]
  - id: mask-literal
    question: "What does [mask] mean in BERT?"
    answer: "The [mask] token; 15% of tokens; C:\\\\path stays."
    tags: [nlp-basics]
  - id: kv-cache
    question: "什么是KV cache?"
    answer: null
    tags: [inference]
  - id: rope
    question: "What does RoPE rotate?"
    answer: "Query and key pairs, by an angle that grows with the position."
    tags: [attention, position]
  - id: dropout
    question: "Why does dropout help?"
    answer: "It stops units co-adapting; an implicit ensemble."
    tags: [regularization]
  - id: adam
    question: "What does Adam keep per parameter?"
    answer: "Running means of the gradient and of its square."
    tags: [optimization]
  - id: retired-card
    question: "A card that leaves the bank"
    answer: "Retired, its history kept."
    tags: [misc]
"""

USER_FILE = """\
version: 1
cards:
  - id: my-file-card
    question: "From my own bank file"
    answer: "Imported with llmcards import FILE."
    tags: [mine]
  - id: my-file-gone
    question: "Leaves my own bank file"
    answer: "Retired on the next import."
    tags: [mine]
"""


def main() -> None:
    release, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    import llmcards

    where = Path(llmcards.__file__).resolve()
    if release not in where.parents:
        sys.exit(f"llmcards comes from {where}, not from {release}; set PYTHONPATH={release}/src")
    if out.exists():
        sys.exit(f"{out} exists; remove it first")

    from typer.testing import CliRunner

    from llmcards.cli import app
    from llmcards.models import Grade
    from llmcards.session import Session, SessionOptions
    from llmcards.store import Store

    work = Path(tempfile.gettempdir()) / "llmcards-fixture"  # a fixed name: import_path is stored
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    bank = work / "bank.yaml"
    bank.write_text(BANK, encoding="utf-8")
    user_file = work / "mine.yaml"
    user_file.write_text(USER_FILE, encoding="utf-8")
    os.environ["LLMCARDS_BANK"] = str(bank)
    os.environ["TZ"] = "UTC"
    runner = CliRunner()

    def cli(when: datetime, *args: str) -> None:
        env = {"LLMCARDS_NOW": when.isoformat(), "LLMCARDS_BANK": str(bank), "NO_COLOR": "1"}
        result = runner.invoke(app, ["--db", str(out), *args], env=env)
        if result.exit_code != 0:
            sys.exit(f"llmcards {' '.join(args)} failed: {result.output}{result.exception!r}")

    day = timedelta(days=1)
    minute = timedelta(minutes=1)
    # Day 0: the first run imports the bundled bank; settings are changed; own cards added.
    cli(START, "list")
    cli(START, "config", "set", "desired_retention", "0.85")
    cli(START, "config", "set", "new_per_day", "15")
    cli(START, "config", "set", "learning_steps", "1m 10m 1h")
    cli(START, "add", "-q", "What is my own card?", "-a", "One added with llmcards add.", "-t", "mine",
        "--id", "my-own-card")
    cli(START, "add", "-q", "A card that gets deleted", "-a", "Deleted with its history.", "--id", "doomed-card")
    cli(START, "import", str(user_file))

    def grade(card_id: str, g: Grade, when: datetime, *, cram: bool = False, duration: int = 4200) -> None:
        store: Any  # that release's Store (its API differs from today's)
        with Store.open(out) as store:
            session = Session.start(store, store_settings(store), when, SessionOptions(cram=cram), fuzz=False)
            card = _get_card(store, card_id)
            session.answer(card, g, when, duration_ms=duration)

    def bury(card_id: str, when: datetime) -> None:
        store: Any
        with Store.open(out) as store:
            session = Session.start(store, store_settings(store), when, SessionOptions(), fuzz=False)
            card = _get_card(store, card_id)
            session.bury(card, when)

    t = START + timedelta(hours=1)
    # Reviews on day 0: learning steps, a card straight to review, a lapse later.
    for card_id in ("lora-principle", "attention-complexity", "rope", "dropout", "my-own-card", "retired-card",
                    "doomed-card", "mask-literal", "my-file-card"):
        grade(card_id, Grade.GOOD, t)
        t += minute
    grade("bn-vs-ln", Grade.AGAIN, t)
    grade("adam", Grade.EASY, t + minute)
    t += 15 * minute
    for card_id in ("lora-principle", "attention-complexity", "rope", "dropout", "my-own-card", "mask-literal"):
        grade(card_id, Grade.GOOD, t)
        t += minute
    t += 2 * timedelta(hours=1)
    for card_id in ("lora-principle", "attention-complexity", "rope", "dropout", "my-own-card"):
        grade(card_id, Grade.GOOD if card_id != "dropout" else Grade.HARD, t)
        t += minute
    # Day 12: reviews, one lapse into relearning, one cram review, a bury.
    t = START + 12 * day + timedelta(hours=2)
    grade("lora-principle", Grade.GOOD, t)
    grade("attention-complexity", Grade.AGAIN, t + minute)  # -> relearning
    grade("rope", Grade.GOOD, t + 2 * minute, duration=61000)  # a long answer, capped by the session
    grade("adam", Grade.GOOD, t + 3 * minute)
    grade("mask-literal", Grade.GOOD, t + 4 * minute, cram=True)  # cram: logged, schedule left alone
    grade("lora-principle", Grade.EASY, t + 5 * minute, cram=True)
    bury("rope", t + 6 * minute)
    # Day 13: flags and text changes through the CLI.
    t = START + 13 * day
    cli(t, "suspend", "dropout")
    cli(t, "edit", "adam", "-q", "What does Adam keep per parameter? (edited)", "-t", "optimization", "-t", "edited")
    cli(t, "delete", "doomed-card", "--yes")
    user_file.write_text(USER_FILE.split("  - id: my-file-gone")[0], encoding="utf-8")
    cli(t, "import", str(user_file))  # my-file-gone is retired
    bank.write_text(BANK.split("  - id: retired-card")[0], encoding="utf-8")
    cli(t, "list")  # the bundled bank changed: retired-card is retired
    check(out)


def _get_card(store: Any, card_id: str) -> Any:
    """A card by id: ``store.get_card`` before the store became a package, ``store.cards.get`` since."""
    card = store.get_card(card_id) if hasattr(store, "get_card") else store.cards.get(card_id)
    assert card is not None, card_id
    return card


def store_settings(store: Any) -> Any:
    from llmcards.config import Settings

    return Settings.from_strings(store.settings_text())


def check(out: Path) -> None:
    """Every state the fixture promises is in the file, and no -wal is left beside it."""
    conn = sqlite3.connect(out)
    states = {row[0] for row in conn.execute("SELECT state FROM cards WHERE suspended = 0 AND retired = 0")}
    assert states == {0, 1, 2, 3}, states
    counts = conn.execute(
        "SELECT sum(suspended), sum(retired), count(buried_until), sum(origin = 'user') FROM cards").fetchone()
    assert all(counts), counts
    assert conn.execute("SELECT count(*) FROM review_logs WHERE cram = 1").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM cards WHERE id = 'doomed-card'").fetchone()[0] == 0
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    for suffix in ("-wal", "-shm"):
        assert not Path(str(out) + suffix).exists(), suffix
    print(f"{out}: schema {version}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
