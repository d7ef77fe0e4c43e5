"""Helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

DATA = Path(__file__).parent / "data"
SMALL_BANK = DATA / "small.yaml"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
SEED_NOTES = (
    "000_bed308f75df34649.txt",
    "001_75da3e7c8895a41c.txt",
    "002_f118c8686e4cc334.txt",
    "003_47dd969ecd46b6d8.txt",
    "004_1e23c5b315beb130.txt",
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(path: Path) -> bytes:
    """The store's bytes (WAL is checkpointed when the last connection closes)."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def seeds_dir() -> Path:
    """The seed notes: ``shared/seeds`` beside the repository (as CI lays it out), or $LLMCARDS_SEEDS."""
    env = os.environ.get("LLMCARDS_SEEDS")
    return Path(env) if env else Path(__file__).parents[1].parent / "shared" / "seeds"


def copy_seed_notes(folder: Path) -> Path:
    """The five seed notes copied into ``folder`` as ``.md`` files; fails (never skips) when they are missing."""
    seeds = seeds_dir()
    missing = [name for name in SEED_NOTES if not (seeds / name).is_file()]
    assert not missing, (
        f"seed notes not found in {seeds}: {missing} "
        "(CI lays shared/ beside the repository; elsewhere set LLMCARDS_SEEDS)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name in SEED_NOTES:
        shutil.copyfile(seeds / name, folder / name.replace(".txt", ".md"))
    return folder
