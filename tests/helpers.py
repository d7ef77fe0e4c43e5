"""Helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

DATA = Path(__file__).parent / "data"
SMALL_BANK = DATA / "small.yaml"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(path: Path) -> bytes:
    """The store's bytes (WAL is checkpointed when the last connection closes)."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
