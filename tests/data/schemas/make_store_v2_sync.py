"""Make tests/data/schemas/store-v2-sync.db: a schema-2 store written by llmcards at commit b3fd81f.

Run it with that release's code on the path, from a checkout of this repository:

    git worktree add /tmp/llmcards-b3fd81f b3fd81f
    PYTHONPATH=/tmp/llmcards-b3fd81f/src .venv/bin/python tests/data/schemas/make_store_v2_sync.py
    git worktree remove /tmp/llmcards-b3fd81f

The store holds what a migration must keep: bank cards in every state (new, learning, review,
relearning), a card of the person's own (``add``), cards imported from a file of their own (one
of them retired), a bank card edited in the store, a suspended card, a buried card, reviews
(cram included) and changed settings. Times are pinned, so the store's content is reproducible
(SQLite's file layout aside).
"""

# mypy: ignore-errors
# (This script runs against the API of commit b3fd81f, not against the code beside it.)

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import llmcards
from llmcards.bank import load_bank
from llmcards.models import Grade, Question
from llmcards.scheduler import Scheduler, study_day
from llmcards.store import Store
from llmcards.sync import sync_questions

HERE = Path(__file__).resolve().parent
OUT = HERE / "store-v2-sync.db"
BANK = HERE.parent / "small.yaml"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def main() -> None:
    from llmcards.schema import SCHEMA_VERSION

    if SCHEMA_VERSION != 2:
        sys.exit(f"run this with the code of commit b3fd81f (schema 2), not {llmcards.__file__} "
                 f"(schema {SCHEMA_VERSION})")
    for suffix in ("", "-wal", "-shm"):
        Path(str(OUT) + suffix).unlink(missing_ok=True)
    store = Store.open(OUT)
    sync_questions(store, load_bank(BANK), origin="bank", import_path=None, now=T0, source=str(BANK))
    store.save_setting("new_per_day", "7")
    store.save_setting("learning_steps", "2m 15m")
    settings = store.settings()
    sched = Scheduler(settings, fuzz=True)

    def grade(card_id: str, g: Grade, at: datetime, *, cram: bool = False) -> None:
        card = store.cards.require(card_id)
        after = sched.review(card.schedule, g, at, card_id=card_id)
        store.queue.record_review(card_id, card.schedule, after, rating=g, reviewed_at=at,
                                  study_day=study_day(at, settings.day_starts_at, timezone.utc),
                                  duration_ms=4200, cram=cram)

    # lora-principle: review state after three reviews; bn-vs-ln: relearning after a lapse;
    # attention-complexity: learning; mask-literal and kv-cache stay new.
    grade("lora-principle", Grade.GOOD, T0)
    grade("lora-principle", Grade.GOOD, T0 + timedelta(minutes=16))
    grade("lora-principle", Grade.EASY, T0 + timedelta(days=3, hours=2))
    grade("bn-vs-ln", Grade.EASY, T0 + timedelta(hours=1))
    grade("bn-vs-ln", Grade.AGAIN, T0 + timedelta(days=9))
    grade("attention-complexity", Grade.AGAIN, T0 + timedelta(days=9, minutes=5))
    grade("attention-complexity", Grade.GOOD, T0 + timedelta(days=9, minutes=8), cram=True)

    # The person's own cards: one added, two imported from their file (one later retired).
    store.cards.add(Question(id="my-own-card", question="What is RLHF?", answer="Reward model + PPO",
                             tags=("alignment",)), now=T0 + timedelta(days=10))
    mine = Path("/home/someone/cards.yaml")
    own = [Question(id="mine-one", question="Mine one?", answer="One", tags=("mine",), sources=("book p.1",)),
           Question(id="mine-two", question="Mine two?", answer="Two")]
    sync_questions(store, own, origin="user", import_path=str(mine), now=T0 + timedelta(days=11), source=str(mine))
    sync_questions(store, own[:1], origin="user", import_path=str(mine), now=T0 + timedelta(days=12), source=str(mine))
    grade("my-own-card", Grade.GOOD, T0 + timedelta(days=12, hours=1))

    # A bank card edited in the store, a suspended card, a buried card.
    card = store.cards.require("mask-literal")
    store.cards.update(Question(id=card.id, question=card.question, answer="Edited in the store.", tags=card.tags,
                                sources=card.sources), now=T0 + timedelta(days=13))
    store.cards.set_suspended(["kv-cache"], True, now=T0 + timedelta(days=14))
    store.cards.bury("attention-complexity", T0 + timedelta(days=15))
    store.close()
    print(f"wrote {OUT} with {llmcards.__file__}")


if __name__ == "__main__":
    main()
