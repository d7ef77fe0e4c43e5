"""Backups of the store: when they are taken, which are kept, listing them, and restoring one.

Every backup is a consistent copy made with SQLite's online backup API (see
:class:`llmcards.store.backups.Snapshot`), written to a temp file, fsync'd and renamed into
the ``backups/`` folder beside the store, named ``<store>-<UTC time>-<reason>.db``.

**Before an operation.** :func:`backup_before` is the one function that anything about to
change many cards or replace the store calls first: bank import (when the import changes
something), delete, restore, and the coming sync, rescheduling and review import; schema
migrations take theirs while the store is opened (:func:`llmcards.store.connection.migrate`).
It is synchronous: the operation starts only once its backup is safely on disk, so a failed
backup (a full disk) stops the operation instead of leaving it without a way back.
:func:`start_backup` is the same backup with the waiting left to the caller: the snapshot is
taken at once, the copy runs in a thread, and the operation does its work in its write
transaction meanwhile and calls ``wait()`` just before it commits (the import does this, so
at 100k cards its 700 MB copy overlaps the sync instead of preceding it).

**Once per study day, at the first write.** :func:`arm_daily_backup` asks the store to call
us just before its first write transaction (``Store.before_first_write``), so read-only
commands (``list``, ``show``, ``stats``) never take one, and a review does not take one
before its first card: its first write is the first grade. The study day rolls over at the
``day_starts_at`` setting, local time, and a day has its backup when a ``daily`` file of that
study day is in the folder. The copy runs in a background thread with its own connection:
the thread opens a read transaction (the snapshot), and the write waits only for that
(about a millisecond), not for the copy. A single-step ``backup()`` inside that read
transaction copies exactly the store as it was before the day's first change, and in WAL
mode it does not block the review's writes, so grading goes on while a 700 MB store is
copied. The copy is gentle (``Snapshot.copy_to(gentle=True)``): a few megabytes at a time,
each flushed to disk, with pauses, because a 700 MB copy made all at once leaves so much
waiting to be written that a grade's commit stalled behind it for up to a second (measured
at L: p99 key-to-next-card 0.7-1.2 s all at once, 50-80 ms gentle, on a loaded machine
where it is 40-120 ms with no backup). During a review it copies only while the person reads
(the screen has waited for a key for a moment; :mod:`llmcards.reading`), so a grade, which
comes in a key press, seldom waits behind a flush. The process waits for the thread before it exits
(:func:`wait_for_backups`, called by the CLI; the thread is also non-daemon), and from then
on the copy runs at full speed. Without WAL (where SQLite could not use it, the
store falls back to a rollback journal) a reader would block the writes, so the copy is
made there and then.
When a pre-operation backup is the day's first, it also becomes the daily one (a hard
link, so no second copy).

**Rotation** runs after each backup and never deletes the one just made: the daily backups
of the last ``backup_daily`` study days that have one are kept, plus the newest daily backup
of each of the last ``backup_weekly`` ISO weeks that have one, plus every other backup
(pre-operation and manual) younger than ``backup_keep_days`` days. (Weeks and days "that
have one", rather than calendar ones, so a month away from studying does not rotate the
old backups away.) Files in the folder that are not this store's backups are never
touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.reading import SCREEN
from llmcards.scheduler import study_day
from llmcards.store.backups import (
    BackupName,
    BadStoreFile,
    Snapshot,
    StoreFacts,
    backup_dir,
    backup_name,
    copy_store,
    free_backup_path,
    link_or_copy,
    parse_backup_name,
    read_facts,
    store_backups,
)

if TYPE_CHECKING:
    from llmcards.store import Store

DAILY = "daily"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


# ------------------------------------------------------------------------ before an operation
def backup_before(store: Store, reason: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> Path:
    """Back the store up now, before an operation (``reason``: import, sync, delete, restore,
    reschedule, manual...), then rotate. Returns the backup's path once it is on disk.

    If no daily backup exists yet for this study day, this one also becomes the day's.
    """
    return start_backup(store, reason, now=now, tz=tz).wait()


class PendingBackup:
    """A backup whose snapshot is taken and whose copy runs in a thread; :meth:`wait` for it.

    An operation can do its work in a write transaction meanwhile (in WAL mode the snapshot
    does not block it) and call :meth:`wait` before it commits: the change is then committed
    only once the backup of the store before it is safely on disk, as with
    :func:`backup_before`, but the copy and the work overlap.
    """

    def __init__(self, store: Store, reason: str, when: datetime, tz: tzinfo | None) -> None:
        self.store_path = store.path
        self.settings = store.settings()
        self.when = when
        self.tz = tz
        self.reason = reason
        self.dest = free_backup_path(store.path, when, reason)
        self.error: str | None = None
        # The day's first backup is also its daily one (a hard link, made by wait()); until then
        # the daily backup at the first write must see it coming.
        self.daily: Path | None = None
        if reason != DAILY and _daily_due(store.path, self.settings, when, tz):
            self.daily = backup_dir(store.path) / backup_name(store.path, when, DAILY)
            with _pending.lock:
                _pending.copying.add(self.daily)
        try:
            snapshot = Snapshot.begin(store.path)
        except Exception as exc:
            self._forget_daily()
            raise UserError(f"cannot back up {store.path}: {exc}") from None
        self.thread: threading.Thread | None = None
        if store.wal_mode():
            self.thread = threading.Thread(target=self._copy, args=(snapshot,), name=f"llmcards-{reason}-backup")
            self.thread.start()
        else:  # a reader would block the writer's commit: copy now
            self._copy(snapshot)

    def _copy(self, snapshot: Snapshot) -> None:
        try:
            snapshot.copy_to(self.dest)
        except Exception as exc:
            snapshot.close()
            self.error = f"cannot back up {self.store_path} to {self.dest}: {exc}"

    def wait(self) -> Path:
        """The backup's path, once it is on disk (then rotation runs); a UserError if it failed."""
        try:
            if self.thread is not None:
                self.thread.join()
                self.thread = None
            if self.error is not None:
                raise UserError(self.error)
            if self.daily is not None:
                link_or_copy(self.dest, free_backup_path(self.store_path, self.when, DAILY))
        finally:
            self._forget_daily()
        rotate(self.store_path, self.settings, now=self.when, keep=(self.dest,), tz=self.tz)
        return self.dest

    def abandon(self) -> None:
        """The operation failed before it needed the backup: let the copy finish (it is a valid
        backup of the unchanged store), without raising."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self._forget_daily()

    def _forget_daily(self) -> None:
        if self.daily is not None:
            with _pending.lock:
                _pending.copying.discard(self.daily)
            self.daily = None


def start_backup(store: Store, reason: str, *, now: datetime | None = None, tz: tzinfo | None = None) -> PendingBackup:
    """Take the snapshot for a backup now and copy it in the background; see :class:`PendingBackup`."""
    return PendingBackup(store, reason, _now(now), tz)


def backup_to(store: Store, dest: Path, *, now: datetime | None = None) -> Path:
    """A copy of the store at ``dest`` (a new file, or a folder to put it in); never overwrites."""
    dest = dest.expanduser()
    if dest.is_dir():
        dest = dest / backup_name(store.path, _now(now), "manual")
    if dest.exists():
        raise UserError(f"{dest} already exists; give a new file name (a backup never overwrites a file)")
    if not dest.parent.is_dir():
        raise UserError(f"{dest.parent}: no such folder")
    if dest.resolve() == store.path.resolve():
        raise UserError(f"{dest} is the store itself")
    return copy_store(store.path, dest, overwrite=False)


# ------------------------------------------------------------------------ once per study day
class _Pending:
    """Daily backups copying in background threads, and their failures."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.copying: set[Path] = set()  # where they go
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.hurry = threading.Event()  # set when the process is about to exit: no more pauses


_pending = _Pending()


def arm_daily_backup(store: Store, clock: Callable[[], datetime], *, tz: tzinfo | None = None) -> None:
    """Take the day's backup just before the store's first write, if this study day has none yet.

    A store created by this process has nothing to lose, so it gets none.
    """
    if not store.created:
        store.before_first_write = lambda: take_daily_backup(store, clock(), tz=tz)


def take_daily_backup(store: Store, now: datetime, *, tz: tzinfo | None = None) -> None:
    """:func:`start_daily_backup` for the first-write hook: a failure never stops the person's
    work; it is reported by :func:`wait_for_backups`."""
    try:
        start_daily_backup(store, now, tz=tz)
    except Exception as exc:
        with _pending.lock:
            _pending.errors.append(exc.message if isinstance(exc, UserError) else f"the daily backup failed: {exc}")


def start_daily_backup(store: Store, now: datetime, *, tz: tzinfo | None = None) -> Path | None:
    """Start the day's backup if it is due; returns where it will be (None if not due).

    The snapshot is taken before this returns; the copy finishes in a background thread
    when the store runs in WAL mode (see the module's docstring), at once otherwise.
    """
    settings = store.settings()
    when = _now(now)
    if not _daily_due(store.path, settings, when, tz):
        return None
    dest = free_backup_path(store.path, when, DAILY)
    try:
        snapshot = Snapshot.begin(store.path)
    except Exception as exc:
        raise UserError(f"the daily backup could not start: {exc}") from None
    if not store.wal_mode():
        _finish_daily(snapshot, dest, store.path, settings, when, tz)
        return dest
    thread = threading.Thread(target=_finish_daily, args=(snapshot, dest, store.path, settings, when, tz),
                              name="llmcards-daily-backup", daemon=False)
    with _pending.lock:
        _pending.threads.append(thread)
        _pending.copying.add(dest)
    thread.start()
    return dest


def _finish_daily(snapshot: Snapshot, dest: Path, store_path: Path, settings: Settings, now: datetime,
                  tz: tzinfo | None) -> None:
    try:
        snapshot.copy_to(dest, gentle=True, hurry=_pending.hurry, turn=lambda: SCREEN.wait_turn(_pending.hurry))
        rotate(store_path, settings, now=now, keep=(dest,), tz=tz)
    except Exception as exc:  # reported by wait_for_backups
        snapshot.close()
        with _pending.lock:
            _pending.errors.append(f"the daily backup to {dest} failed: {exc}")
    finally:
        with _pending.lock:
            _pending.copying.discard(dest)


def wait_for_backups(*, on_slow: Callable[[], object] | None = None, slow_after: float = 0.5) -> list[str]:
    """Wait until every daily backup started by this process is on disk; returns what failed.

    ``on_slow`` is called once if that takes longer than ``slow_after`` seconds (to say why
    the process has not exited yet).
    """
    import time

    _pending.hurry.set()
    SCREEN.wake()
    deadline = time.monotonic() + slow_after
    while True:
        with _pending.lock:
            threads, _pending.threads = _pending.threads, []
        if not threads:
            break
        for thread in threads:
            if on_slow is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    on_slow()
                    on_slow = None
            thread.join()
    with _pending.lock:
        errors, _pending.errors = _pending.errors, []
    _pending.hurry.clear()
    return errors


def _daily_due(store_path: Path, settings: Settings, now: datetime, tz: tzinfo | None) -> bool:
    if settings.backup_daily <= 0:
        return False
    today = study_day(now, settings.day_starts_at, tz)
    with _pending.lock:  # this process's, about to start or copying
        copying = [b for b in (parse_backup_name(store_path, p) for p in _pending.copying
                               if p.parent == backup_dir(store_path)) if b is not None]
    others = store_backups(store_path, in_progress=True)  # other processes' (a review in another terminal)
    return not any(b.reason == DAILY and study_day(b.time, settings.day_starts_at, tz) == today
                   for b in [*store_backups(store_path), *copying, *others])


# ------------------------------------------------------------------------ rotation
def plan_rotation(backups: Sequence[BackupName], settings: Settings, *, now: datetime,
                  keep: Sequence[Path] = (), tz: tzinfo | None = None) -> list[Path]:
    """The backups that rotation deletes (see the module's docstring for what is kept).

    Daily backups count by study day: if two processes each took one on the same day, the
    newer one is that day's.
    """
    dailies = sorted((b for b in backups if b.reason == DAILY), key=lambda b: b.time, reverse=True)
    kept: set[Path] = set()
    days: list[date] = []
    weeks: list[tuple[int, int]] = []
    for b in dailies:  # newest first: the first backup seen in a day or a week is its newest
        day = study_day(b.time, settings.day_starts_at, tz)
        week = (day.isocalendar()[0], day.isocalendar()[1])
        if day not in days:
            days.append(day)
            if len(days) <= settings.backup_daily:
                kept.add(b.path)
        if week not in weeks:
            weeks.append(week)
            if len(weeks) <= settings.backup_weekly:
                kept.add(b.path)
    cutoff = now - timedelta(days=settings.backup_keep_days)
    kept.update(b.path for b in backups if b.reason != DAILY and b.time >= cutoff)
    kept.update(keep)
    return [b.path for b in backups if b.path not in kept]


def rotate(store_path: Path, settings: Settings, *, now: datetime, keep: Sequence[Path] = (),
           tz: tzinfo | None = None) -> list[Path]:
    """Delete the backups that :func:`plan_rotation` does not keep, and temp files left a day ago
    by a backup that never finished (a killed process); returns what was deleted."""
    doomed = plan_rotation(store_backups(store_path), settings, now=now, keep=keep, tz=tz)
    doomed += [b.path for b in store_backups(store_path, in_progress=True) if b.time < now - timedelta(days=1)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# ------------------------------------------------------------------------ listing
@dataclass(frozen=True)
class BackupInfo:
    """One backup in the list: its file, what its name says, and what it holds (or why it cannot be read)."""

    path: Path
    time: datetime
    reason: str
    size: int
    facts: StoreFacts | None
    problem: str | None = None


def list_backups(store: Store) -> list[BackupInfo]:
    """The store's backups, oldest first, each read read-only (a corrupt one says so)."""
    out: list[BackupInfo] = []
    for b in store_backups(store.path):
        try:
            size = b.path.stat().st_size
        except OSError:
            continue  # rotated away meanwhile
        try:
            facts: StoreFacts | None = read_facts(b.path)
            problem = None
        except BadStoreFile as exc:
            facts, problem = None, exc.reason
        out.append(BackupInfo(b.path, b.time, b.reason, size, facts, problem))
    return out


# ------------------------------------------------------------------------ restoring
@dataclass(frozen=True)
class RestoreSource:
    """A checked file to restore: where it is and what it holds."""

    path: Path
    facts: StoreFacts


@dataclass(frozen=True)
class RestoreReport:
    source: Path
    facts: StoreFacts
    safety_backup: Path  # the store as it was before the restore


def find_restore_source(store: Store, name: str) -> RestoreSource:
    """``name`` as a path, else as a file in the store's backups folder; checked to be a readable
    llmcards store of this or an older schema (a UserError saying why not, otherwise)."""
    given = Path(name).expanduser()
    path = given if given.exists() else backup_dir(store.path) / name
    if not path.exists():
        raise UserError(f"{name}: no such file (and no backup of that name; see `llmcards backup --list`)")
    if path.resolve() == store.path.resolve():
        raise UserError(f"{path} is the store itself; give a backup")
    return RestoreSource(path, read_facts(path))


def restore(store: Store, source: RestoreSource, *, now: datetime | None = None) -> RestoreReport:
    """Replace the store with ``source``: a copy of it is staged beside the store and checked
    (``PRAGMA integrity_check``), then the store is backed up (reason ``restore``), then the
    copy is swapped in atomically. On any error the store is left as it was.

    The store's connection is closed afterwards.
    """
    folder = store.path.parent
    staged = folder / f".{store.path.name}.restore.tmp"
    try:
        try:
            copy_store(source.path, staged, at_rest=True)
        except UserError:
            raise BadStoreFile(source.path, "corrupt (it cannot be copied)") from None
        try:
            facts = read_facts(staged, check_integrity=True)
        except BadStoreFile as exc:
            raise BadStoreFile(source.path, exc.reason) from None
        safety = backup_before(store, "restore", now=now)
        store.replace_file(staged)
    finally:
        staged.unlink(missing_ok=True)
    return RestoreReport(source.path, facts, safety)
