"""Opening a store, migrations, transactions, meta and settings.

The store speaks SQL over the stdlib ``sqlite3`` driver (see :mod:`llmcards.schema.tables`
for why the tables are described with SQLAlchemy but queried without it). Every datetime
crosses this boundary as timezone-aware UTC; inside SQLite it is naive UTC text in
SQLAlchemy's format. Writes run in ``BEGIN IMMEDIATE`` transactions under WAL with a busy
timeout, so two sessions in two terminals wait for each other instead of failing with
"database is locked".

Opening a store brings its schema up to date with the steps of
:mod:`llmcards.schema.migrations`: a backup first (reason ``migration``; not for a new,
empty store), then each step in its own transaction, its ``user_version`` bump included.
A store from a newer llmcards is refused before SQLite opens it, so its file is left
byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmcards.config import LOCAL_SETTINGS, SCHEDULING_SETTINGS, Settings
from llmcards.errors import UserError
from llmcards.models import uuid7
from llmcards.schema import SCHEMA_VERSION
from llmcards.store.files import fsync_dir, read_header_version

BUSY_TIMEOUT_MS = 15000
INSERT_EVENT = "INSERT INTO events(id, device, at, kind, card_id, data, pushed) VALUES (?, ?, ?, ?, ?, ?, 0)"
# In meta: cards imported from a file of the person's own may still lack their ``add`` event, made
# from the card before anything reads it (:meth:`llmcards.store.events.Events.make_missing_adds`).
ADDS_PENDING_KEY = "adds_pending"


def to_db(value: datetime | None) -> str | None:
    """Aware datetime -> naive UTC text, in the format SQLAlchemy uses for SQLite."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass timezone-aware UTC")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps would make one per call


def dump(data: Any) -> str:
    """Event data (and card tags and sources) as compact JSON."""
    return _COMPACT.encode(data)


def from_db(value: str | None) -> datetime | None:
    """Naive UTC text from SQLite -> aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def from_db_required(value: str) -> datetime:
    """:func:`from_db` for a NOT NULL column."""
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _newer(path: Path, version: int) -> UserError:
    return UserError(f"{path}: made by a newer llmcards (schema {version}; this one knows up to {SCHEMA_VERSION}); "
                     "upgrade llmcards to open it")


def migrate(conn: sqlite3.Connection, path: Path, *, now: datetime | None = None) -> Path | None:
    """Apply the schema steps the store lacks, each in one transaction, after one backup of the
    store as it was (none for a new store: there is nothing to lose). Returns the backup's path.

    Another process may migrate the same store at the same time: each step re-reads the
    version inside its transaction and is skipped if it was applied meanwhile.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return None  # (the steps' module is loaded only when one is due)
    from llmcards.schema.migrations import MIGRATIONS
    from llmcards.store.backups import copy_store, free_backup_path

    pending = [m for m in MIGRATIONS if m.version > version]

    backup = None
    if version > 0:
        when = now or datetime.now(timezone.utc)
        backup = copy_store(path, free_backup_path(path, when, "migration"))
    for step in pending:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise _newer(path, current)
            if current < step.version:
                for statement in step.statements:
                    conn.execute(statement)
                if step.run is not None:
                    step.run(conn)
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                             (str(step.version),))
                conn.execute(f"PRAGMA user_version = {int(step.version)}")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            kept = f"; it is backed up in {backup}" if backup is not None else ""
            raise UserError(f"migrating {path} to schema {step.version} ({step.name}) failed: {exc}; "
                            f"the store is left at schema {current}{kept}") from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return backup


class Connection:
    """One open store file: the connection, its transactions, meta and settings."""

    def __init__(self, conn: sqlite3.Connection, path: Path, created: bool) -> None:
        self.conn = conn
        self.path = path
        self.created = created
        self._depth = 0  # nesting of write() blocks; only the outermost one begins and commits
        self._device: str | None = None
        self.migration_backup: Path | None = None  # the backup taken before migrating, when this open migrated
        # Called once, just before the first write transaction begins (see llmcards.backup's daily backup).
        self.before_first_write: Callable[[], None] | None = None

    @classmethod
    def connect(cls, path: Path) -> tuple[sqlite3.Connection, bool]:
        """Open (creating directories and schema as needed) the store at ``path``.

        Returns the connection and whether the store was created now.
        """
        conn, created, _ = cls.connect_and_migrate(path)
        return conn, created

    @classmethod
    def connect_and_migrate(cls, path: Path) -> tuple[sqlite3.Connection, bool, Path | None]:
        """:meth:`connect`, also returning the backup taken before a migration (None if none ran)."""
        header_version = read_header_version(path)  # bytes only: a newer store is refused untouched
        if header_version is not None and header_version > SCHEMA_VERSION:
            raise _newer(path, header_version)
        created = header_version is None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the directory for the store {path}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not an llmcards store ({exc})") from None
        if version > SCHEMA_VERSION:  # a -wal newer than the header; nothing was written
            conn.close()
            raise _newer(path, version)
        if version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                conn.close()
                raise UserError(f"{path}: this SQLite file is not an llmcards store; choose another --db path")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":  # e.g. a read-only directory
            conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            backup = migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn, created or version == 0, backup

    def close(self) -> None:
        self.conn.close()

    def wal_mode(self) -> bool:
        """Whether the store runs in WAL mode (readers never block writers)."""
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"

    def replace_file(self, staged: Path) -> None:
        """Make ``staged`` (a complete, fsync'd store file in the same folder) this store's file,
        atomically, and close this connection.

        The WAL is checkpointed into the old file and the store left in rollback-journal mode
        first, which SQLite allows only when no other connection has the store open; so a
        review running in another terminal is never pulled from under its feet, and no stale
        ``-wal`` or ``-shm`` can be applied to the new file.
        """
        self.conn.execute("PRAGMA busy_timeout = 2000")
        try:
            mode = str(self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
        except sqlite3.OperationalError:
            mode = "busy"
        if mode != "delete":
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            raise UserError("the store is open in another llmcards process (a review?); close it and try again")
        self.conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        os.replace(staged, self.path)
        fsync_dir(self.path.parent)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: it all happens, or none of it does.

        Blocks nest: an inner ``write()`` joins the outer transaction, so a use case can
        read, decide and write several parts of the store atomically.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        hook = self.before_first_write
        if hook is not None:
            self.before_first_write = None
            hook()
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    @contextmanager
    def trial(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that is always rolled back: a dry run computes what a change would
        do with the very code that makes it. It holds the write lock meanwhile, and being no
        write, it takes no backup. ``write()`` blocks inside it join it."""
        if self._depth:
            raise RuntimeError("a trial cannot run inside a write transaction")
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        finally:
            self._depth = 0
            self.conn.execute("ROLLBACK")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        if self._depth:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # ----------------------------------------------------------------- device
    @property
    def device_id(self) -> str:
        """This store's id among the devices that sync through a hub: a UUID made on first use."""
        if self._device is None:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()
            if row is None:
                with self.write() as c:
                    import uuid

                    c.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('device_id', ?)", (str(uuid.uuid4()),))
                    row = c.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()
            self._device = str(row[0])
        return self._device

    def record_event(self, c: sqlite3.Connection, kind: str, card_id: str | None, data: dict[str, Any],
                     at: datetime) -> str:
        """Record a change made here as an event, inside the caller's transaction (the change's own),
        so that nothing changes without its event. Returns the event's id."""
        event_id = uuid7(at)
        c.execute(INSERT_EVENT, (event_id, self.device_id, to_db(at), kind, card_id, dump(data)))
        return event_id

    def record_events(self, c: sqlite3.Connection, changes: Iterable[tuple[str, str | None, dict[str, Any]]],
                      at: datetime) -> None:
        """:meth:`record_event` for many changes made at once (``(kind, card_id, data)``, in order)."""
        device, when = self.device_id, to_db(at)
        c.executemany(INSERT_EVENT, ((uuid7(at), device, when, kind, card_id, dump(data))
                                     for kind, card_id, data in changes))

    # ----------------------------------------------------------------- meta and settings
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        with self.write() as c:
            c.execute("DELETE FROM meta WHERE key = ?", (key,))

    def settings_text(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM settings").fetchall())

    def settings(self) -> Settings:
        """The person's settings (defaults for anything not set)."""
        return Settings.from_strings(self.settings_text())

    def settings_timeline(self) -> list[tuple[str | None, Settings]]:
        """The settings in effect over time, from the setting events: ``[(since, settings), ...]``,
        oldest first, ``since`` as stored UTC text (None: from the beginning). Only a change of a
        setting that scheduling reads starts a new period. A replay grades each review under the
        settings of its time, as the review screen did, on every device alike. A ``reschedule``
        event (``llmcards optimize --reschedule``) puts every review before it under the settings
        in effect at that moment, as that rescheduling did."""
        values: dict[str, str] = {}
        periods: list[tuple[str | None, Settings]] = [(None, Settings())]
        for at, kind, data in self.conn.execute(
                "SELECT at, kind, data FROM events WHERE kind IN ('setting', 'reschedule') ORDER BY at, id"):
            if kind == "reschedule":  # `optimize --reschedule`: every earlier review under the settings of then
                periods = [(None, periods[-1][1])]
                continue
            change = json.loads(data)
            key, value = change.get("key"), change.get("value")
            if key not in SCHEDULING_SETTINGS:
                continue
            if value is None:
                values.pop(key, None)
            else:
                values[key] = str(value)
            settings = Settings.from_strings(values)
            if settings == periods[-1][1]:
                continue
            if periods[-1][0] == at:
                periods[-1] = (at, settings)
            else:
                periods.append((at, settings))
        return periods

    def save_setting(self, key: str, value: str, *, now: datetime | None = None) -> None:
        """Store a setting (checked by the caller); shared with other devices unless it is local."""
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))
            if key not in LOCAL_SETTINGS:
                self.record_event(c, "setting", None, {"key": key, "value": value}, now or datetime.now(timezone.utc))

    def reset_setting(self, key: str, *, now: datetime | None = None) -> None:
        """Back to the default: the stored value is removed."""
        with self.write() as c:
            removed = c.execute("DELETE FROM settings WHERE key = ?", (key,)).rowcount
            if removed and key not in LOCAL_SETTINGS:
                self.record_event(c, "setting", None, {"key": key, "value": None}, now or datetime.now(timezone.utc))
