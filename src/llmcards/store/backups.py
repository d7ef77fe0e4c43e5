"""The SQLite side of backups: copying a store with the online backup API, naming the copies,
and reading a copy (or any file someone hands to ``restore``) without changing it.

When backups are taken, which are kept, and restoring are decided in :mod:`llmcards.backup`;
this module is here because the store is the only code that runs SQL, and because a
migration (run while a store is opened) takes its backup through it.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from llmcards.errors import UserError
from llmcards.schema import SCHEMA_VERSION
from llmcards.store.files import fsync_dir, fsync_file, os_reason, read_header_version

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

BACKUP_DIR = "backups"
REASONS = ("daily", "manual", "import", "sync", "migration", "delete", "restore", "reschedule")
STORE_TABLES = frozenset({"cards", "card_tags", "review_logs", "meta", "settings"})
_STAMP = "%Y%m%dT%H%M%SZ"
_TEMP = re.compile(r"\.(.+\.db)\.\d+-\d+\.tmp")


def backup_dir(store_path: Path) -> Path:
    """The ``backups/`` folder beside the store."""
    return store_path.parent / BACKUP_DIR


def backup_name(store_path: Path, when: datetime, reason: str) -> str:
    """``<store name>-<UTC time>-<reason>.db``, e.g. ``llmcards-20261125T201500Z-daily.db``."""
    if reason not in REASONS:
        raise ValueError(f"unknown backup reason {reason!r}")
    return f"{store_path.stem}-{when.astimezone(timezone.utc).strftime(_STAMP)}-{reason}.db"


@dataclass(frozen=True)
class BackupName:
    """What a backup's file name says: when (UTC) and why."""

    path: Path
    time: datetime
    reason: str


def parse_backup_name(store_path: Path, path: Path) -> BackupName | None:
    """The time and reason in a backup's name, or None when the file is not one of this store's backups."""
    pattern = re.escape(store_path.stem) + r"-(\d{8}T\d{6}Z)-([a-z]+)(?:-\d+)?\.db"
    match = re.fullmatch(pattern, path.name)
    if match is None or match.group(2) not in REASONS:
        return None
    try:
        when = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return BackupName(path, when, match.group(2))


def store_backups(store_path: Path, *, in_progress: bool = False) -> list[BackupName]:
    """This store's backups in its ``backups/`` folder, oldest first (other files are ignored).

    ``in_progress``: instead, the backups still being written (by any process), whose
    temp files are named ``.<backup name>.<pid>-<thread>.tmp``.
    """
    folder = backup_dir(store_path)
    try:
        entries = [e for e in os.scandir(folder) if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[BackupName] = []
    for entry in entries:
        path = Path(entry.path)
        if in_progress:
            match = _TEMP.fullmatch(entry.name)
            parsed = parse_backup_name(store_path, folder / match.group(1)) if match else None
            if parsed is not None:
                found.append(BackupName(path, parsed.time, parsed.reason))
        else:
            parsed = parse_backup_name(store_path, path)
            if parsed is not None:
                found.append(parsed)
    return sorted(found, key=lambda b: (b.time, b.path.name))


def free_backup_path(store_path: Path, when: datetime, reason: str) -> Path:
    """Where a new backup goes: its name, with ``-2``, ``-3``... if one was taken the same second."""
    folder = backup_dir(store_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the backup folder {folder}: {os_reason(exc)}") from None
    name = backup_name(store_path, when, reason)
    path = folder / name
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name[:-3]}-{n}.db"
    return path


def _uri(path: Path, **params: str) -> str:
    """An SQLite ``file:`` URI for ``path`` (``%``, ``?`` and ``#`` escaped, as SQLite requires)."""
    text = str(path.resolve()).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{text}" + (f"?{query}" if query else "")


class Snapshot:
    """A consistent copy of a store in progress: a read transaction on its own connection.

    :meth:`begin` starts it; :meth:`copy_to` writes it to a file with SQLite's online backup
    API (``sqlite3.Connection.backup``, all pages in one step, inside that read transaction).
    In WAL mode a read transaction never blocks writers, so other connections (a review in
    another terminal, or this process's own store connection) keep writing while the copy
    runs, and the copy is the store as it was when the snapshot began. Both raise
    ``sqlite3.Error`` or ``OSError``; :func:`copy_store` turns those into a UserError.
    """

    def __init__(self, conn: sqlite3.Connection, source: Path) -> None:
        self.conn = conn
        self.source = source

    @classmethod
    def begin(cls, source: Path, *, immutable: bool = False) -> Snapshot:
        """Start a snapshot of ``source``. ``immutable``: a file that nothing writes to and that has
        no ``-wal`` (a backup, a copied store), read without creating ``-shm``/``-wal`` beside it."""
        params = {"mode": "ro", "immutable": "1"} if immutable else {"mode": "ro"}
        conn = sqlite3.connect(_uri(source, **params), uri=True, isolation_level=None, check_same_thread=False,
                               timeout=15)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read transaction starts here
        except BaseException:
            conn.close()
            raise
        return cls(conn, source)

    def copy_to(self, dest: Path, *, overwrite: bool = True, gentle: bool = False,
                hurry: threading.Event | None = None, turn: Callable[[], bool] | None = None) -> Path:
        """Write the snapshot to ``dest`` (a temp file beside it, fsync'd, then renamed), and close it.

        The copy is a standalone file in rollback-journal mode, so reading it later leaves
        no ``-wal`` or ``-shm`` beside it. With ``overwrite=False`` an existing ``dest`` is
        never replaced (FileExistsError).

        ``gentle``: for a copy made while the person works (the daily backup during a review).
        All at once, a 700 MB copy leaves hundreds of megabytes waiting to be written, and a
        grade's commit (which waits for the disk) can then stall behind them for a second.
        So the pages are copied a few megabytes at a time, each step flushed to disk before
        the next, with a pause between, in the same read transaction (so still one
        consistent snapshot). It takes longer, in the background; once ``hurry`` is set (the
        process is about to exit) it finishes at full speed. ``turn``: called before each step, it
        blocks until the copy may go on, and returns True to go on at full speed (the person is
        reading: :meth:`llmcards.reading.Reading.wait_turn`) or False to pause between steps as above.
        """
        import threading

        tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            target = sqlite3.connect(tmp, isolation_level=None)
            try:
                target.execute("PRAGMA journal_mode = OFF")  # a new file: nothing to roll back to
                target.execute("PRAGMA synchronous = OFF")  # fsync'd once, below
                if gentle:
                    target.execute(f"PRAGMA cache_size = {-GENTLE_STEP_KB // 2}")  # pages reach the file each step
                    flusher = _Flusher(tmp, hurry, turn)
                    try:
                        flusher.wait_turn()
                        self.conn.backup(target, pages=GENTLE_STEP_KB // (self.page_size() // 1024),
                                         progress=flusher)
                    finally:
                        flusher.close()
                else:
                    self.conn.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # the copied header says WAL; make it standalone
            finally:
                target.close()
            fsync_file(tmp)
            _rename(tmp, dest, overwrite=overwrite)
            fsync_dir(dest.parent)
        finally:
            tmp.unlink(missing_ok=True)
            self.close()
        return dest

    def page_size(self) -> int:
        return int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


GENTLE_STEP_KB = 1024  # what one step writes and flushes: a grade's commit may wait behind one flush
GENTLE_PAUSE_S = 0.005
GENTLE_SHARE = 0.25  # the part of the time the copy works; it pauses the rest


class _Flusher:
    """Between the steps of a gentle copy: write what was copied to disk, then pause three times
    as long as the step took (so the copy uses at most about a quarter of the disk and a core),
    unless ``hurry`` is set (the process is about to exit: finish at full speed), or ``turn`` says
    the person is reading (then the next step follows at once; ``turn`` blocks while they are not).

    Small steps keep a grade's commit from waiting behind a long flush: with 4 MB steps and
    equal pauses, the p99 of key to next card during the day's first sitting went from about
    6 ms to about 21 ms at 10k cards."""

    def __init__(self, path: Path, hurry: threading.Event | None, turn: Callable[[], bool] | None) -> None:
        import time

        self.path = path
        self.hurry = hurry
        self.turn = turn
        self.fd: int | None = None
        self.last = time.monotonic()

    def wait_turn(self) -> bool:
        """Before a step: wait for ``turn`` when there is one; True when the step may follow at once."""
        import time

        if self.turn is None or not self.turn():
            return False
        self.last = time.monotonic()
        return True

    def __call__(self, status: int, remaining: int, total: int) -> None:
        import time

        if self.hurry is not None and self.hurry.is_set():
            return
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDONLY)
        os.fdatasync(self.fd)
        if remaining == 0 or self.wait_turn():
            return
        took = time.monotonic() - self.last
        time.sleep(min(max(took * (1 - GENTLE_SHARE) / GENTLE_SHARE, GENTLE_PAUSE_S), 0.5))
        self.last = time.monotonic()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _rename(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest exists
    except FileExistsError:
        raise
    except OSError:  # no hard links here (e.g. a FAT USB stick)
        if dest.exists():
            raise FileExistsError(dest) from None
        os.replace(tmp, dest)


def copy_store(source: Path, dest: Path, *, overwrite: bool = True, at_rest: bool = False) -> Path:
    """A consistent copy of the store at ``source``, written to ``dest``; a UserError if it fails.

    ``at_rest``: ``source`` is a file no llmcards has open (e.g. one to restore from); unless
    a ``-wal`` sits beside it, it is read as it is on disk, creating nothing beside it (so it
    may be on read-only media).
    """
    immutable = at_rest and not Path(f"{source}-wal").exists()
    try:
        return Snapshot.begin(source, immutable=immutable).copy_to(dest, overwrite=overwrite)
    except FileExistsError:
        raise UserError(f"{dest} already exists; give a new file name (a backup never overwrites a file)") from None
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"cannot back up {source} to {dest}: {os_reason(exc)}") from None


def link_or_copy(source: Path, dest: Path) -> Path:
    """``dest`` as a second name for the finished backup ``source`` (a hard link; a copy where
    the file system has none)."""
    try:
        os.link(source, dest)
    except FileExistsError:
        raise
    except OSError:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            import shutil

            shutil.copyfile(source, tmp)
            fsync_file(tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    fsync_dir(dest.parent)
    return dest


# ------------------------------------------------------------------------ reading a backup
@dataclass(frozen=True)
class StoreFacts:
    """What a store file holds, read without changing it."""

    schema: int
    cards: int
    reviews: int


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never writes to ``path`` or creates files beside it
    (``immutable``: the file is read as it is on disk)."""
    return sqlite3.connect(_uri(path, mode="ro", immutable="1"), uri=True, isolation_level=None)


class BadStoreFile(UserError):
    """A file that cannot be restored or listed as a store; ``reason`` is the message without the path."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def read_facts(path: Path, *, check_integrity: bool = False) -> StoreFacts:
    """The schema version and card and review counts of the llmcards store at ``path``.

    Raises UserError (one line) when the file is missing, not an SQLite file, corrupt
    (with ``check_integrity``: ``PRAGMA integrity_check``), not an llmcards store, or from
    a newer schema than this llmcards knows.
    """
    if not path.is_file():
        raise BadStoreFile(path, "no such file" if not path.exists() else "not a file")
    try:
        version = read_header_version(path)
    except UserError:
        raise BadStoreFile(path, "not an llmcards store (not an SQLite database)") from None
    if version is None:
        raise BadStoreFile(path, "not an llmcards store (an empty file)")
    try:
        conn = open_read_only(path)
    except sqlite3.Error as exc:
        raise BadStoreFile(path, f"cannot open it ({exc})") from None
    try:
        if version > SCHEMA_VERSION:
            raise BadStoreFile(path, f"made by a newer llmcards (schema {version}; this one knows up to "
                                     f"{SCHEMA_VERSION}); upgrade llmcards to use it")
        if check_integrity:
            # A row may hold several lines ("*** in database main ***\nPage 17: ..."): one line for the error.
            problems = [" ".join(str(r[0]).split()) for r in conn.execute("PRAGMA integrity_check(3)")]
            if problems != ["ok"]:
                raise BadStoreFile(path, f"corrupt (integrity check: {'; '.join(problems)[:160]})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 or not STORE_TABLES <= tables:
            raise BadStoreFile(path, "not an llmcards store (an SQLite file without the llmcards tables)")
        cards = int(conn.execute("SELECT count(*) FROM cards").fetchone()[0])
        reviews = int(conn.execute("SELECT count(*) FROM review_logs").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BadStoreFile(path, f"corrupt ({exc})") from None
    finally:
        conn.close()
    return StoreFacts(version, cards, reviews)
