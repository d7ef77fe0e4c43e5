"""Opening a store, transactions, migrations, meta and settings.

The store speaks SQL over the stdlib ``sqlite3`` driver (see :mod:`llmcards.schema.tables`
for why the tables are defined with SQLAlchemy but queried without it). Every datetime
crosses this boundary as timezone-aware UTC; inside SQLite it is naive UTC text in
SQLAlchemy's format. Writes run in ``BEGIN IMMEDIATE`` transactions under WAL with a busy
timeout, so two sessions in two terminals wait for each other instead of failing with
"database is locked".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.schema import SCHEMA_VERSION

BUSY_TIMEOUT_MS = 15000


def to_db(value: datetime | None) -> str | None:
    """Aware datetime -> naive UTC text, in the format SQLAlchemy uses for SQLite."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass timezone-aware UTC")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def from_db(value: str | None) -> datetime | None:
    """Naive UTC text from SQLite -> aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def from_db_required(value: str) -> datetime:
    """:func:`from_db` for a NOT NULL column."""
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


class Connection:
    """One open store file: the connection, its transactions, meta and settings."""

    def __init__(self, conn: sqlite3.Connection, path: Path, created: bool) -> None:
        self.conn = conn
        self.path = path
        self.created = created
        self._depth = 0  # nesting of write() blocks; only the outermost one begins and commits

    @classmethod
    def connect(cls, path: Path) -> tuple[sqlite3.Connection, bool]:
        """Open (creating directories and schema as needed) the store at ``path``.

        Returns the connection and whether the store was created now.
        """
        created = not path.exists() or path.stat().st_size == 0
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
        if version > SCHEMA_VERSION:  # checked before anything could write to the file
            conn.close()
            raise UserError(f"{path}: made by a newer llmcards (schema {version}); upgrade llmcards to open it")
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
        if version < SCHEMA_VERSION:
            from llmcards.schema.tables import ensure_schema

            ensure_schema(str(path))
            created = created or version == 0
        return conn, created

    def close(self) -> None:
        self.conn.close()

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

    # ----------------------------------------------------------------- meta and settings
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def settings_text(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM settings").fetchall())

    def settings(self) -> Settings:
        """The person's settings (defaults for anything not set)."""
        return Settings.from_strings(self.settings_text())

    def save_setting(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def reset_setting(self, key: str) -> None:
        """Back to the default: the stored value is removed."""
        with self.write() as c:
            c.execute("DELETE FROM settings WHERE key = ?", (key,))
