"""Store files as bytes on disk: the SQLite header, fsync. No SQL, so opening a store needs
nothing heavier than this to refuse a file it must not touch."""

from __future__ import annotations

import os
from pathlib import Path

from llmcards.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"


def read_header_version(path: Path) -> int | None:
    """``user_version`` from the file's header, reading bytes only (no SQLite, no lock, no -wal).

    None when the file is empty or missing; a UserError when it is not an SQLite file.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({os_reason(exc)})") from None
    if not header:
        return None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise UserError(f"{path}: not an llmcards store (not an SQLite database)")
    return int.from_bytes(header[60:64], "big", signed=True)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows it)."""
    try:
        fsync_file(folder)
    except OSError:
        pass


def os_reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
