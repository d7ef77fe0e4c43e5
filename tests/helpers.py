"""Helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcards.store import Store

DATA = Path(__file__).parent / "data"
SMALL_BANK = DATA / "small.yaml"
V2_STORE = DATA / "schemas" / "store-v2-sync.db"  # a schema-2 store made by commit b3fd81f
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(path: Path) -> bytes:
    """The store's bytes (WAL is checkpointed when the last connection closes)."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


# --------------------------------------------------------------------------- devices (llmcards sync)
def open_device(path: Path, now: datetime = NOW) -> Store:
    """A store with the small bank, as a device's first command leaves it."""
    from llmcards.store import Store
    from llmcards.sync import import_file

    store = Store.open(path)
    import_file(store, None, now=now)
    return store


def grade(store: Store, card_id: str, rating: int, at: datetime, *, cram: bool = False) -> None:
    """Grade a card as the review screen does: the live scheduler, fuzz on, one transaction."""
    from llmcards.models import Grade
    from llmcards.scheduler import Scheduler, study_day

    settings = store.settings()
    card = store.cards.require(card_id)
    after = Scheduler(settings).review(card.schedule, Grade(rating), at, card_id=card_id)
    store.queue.record_review(card_id, card.schedule, after, rating=Grade(rating), reviewed_at=at,
                              study_day=study_day(at, settings.day_starts_at), duration_ms=3000, cram=cram)


def device_state(store: Store) -> dict[str, Any]:
    """What every device must agree on after syncing: each card's text, flags and schedule, every
    review (by id, with its scheduling columns) and the shared settings."""
    c = store.conn
    return {
        "cards": {r[0]: r[1:] for r in c.execute(
            "SELECT id, question, answer, tags, sources, origin, suspended, retired, buried_until, state, step, "
            "stability, difficulty, due, last_review, reps, lapses FROM cards")},
        "reviews": sorted(c.execute(
            "SELECT uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, cram, prev_state, "
            "prev_interval_days, state, stability, difficulty, due FROM review_logs").fetchall()),
        "settings": sorted(c.execute("SELECT key, value FROM settings WHERE key != 'sync_url'").fetchall()),
    }
