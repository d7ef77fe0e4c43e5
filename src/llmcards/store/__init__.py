"""The review store: the only code that runs queries, split by its callers.

- :mod:`~llmcards.store.connection`: opening, transactions, migrations, meta and settings;
- :mod:`~llmcards.store.cards`: card reads and writes (``store.cards``);
- :mod:`~llmcards.store.queue`: the review queue (``store.queue``);
- :mod:`~llmcards.store.banksync`: applying a bank sync (``store.bank``);
- :mod:`~llmcards.store.stats`: the stats aggregates (``store.stats``);
- :mod:`~llmcards.store.history`: the review log card by card, and replayed schedules (``store.history``);
- :mod:`~llmcards.store.backups`: consistent copies with the online backup API, backup names, reading a
  backup without changing it (:mod:`llmcards.backup` decides when and which to keep).
- :mod:`~llmcards.store.events`: events to share with other devices, and applying a hub sync (``store.events``).

The store imports only :mod:`llmcards.models`, :mod:`llmcards.config`,
:mod:`llmcards.errors` and :mod:`llmcards.schema`.
"""

from __future__ import annotations

import sqlite3
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from llmcards.store.cards import CardFilter, Cards
from llmcards.store.connection import Connection, from_db, to_db
from llmcards.store.queue import Queue, QueueFilter, StudiedOn

if TYPE_CHECKING:
    from llmcards.store.banksync import BankSync
    from llmcards.store.events import Events
    from llmcards.store.history import History
    from llmcards.store.stats import StatsQueries

__all__ = ["CardFilter", "QueueFilter", "Store", "StudiedOn", "from_db", "to_db"]


class Store(Connection):
    """A SQLite review store. Open with :meth:`Store.open`; close when done.

    Its parts share one connection, so a ``with store.write():`` block spans them all.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, created: bool) -> None:
        super().__init__(conn, path, created)
        self.cards = Cards(self)
        self.queue = Queue(self)

    # The parts a review session does not need are imported when first used (start-up time).
    @cached_property
    def bank(self) -> BankSync:
        from llmcards.store.banksync import BankSync

        return BankSync(self)

    @cached_property
    def stats(self) -> StatsQueries:
        from llmcards.store.stats import StatsQueries

        return StatsQueries(self)

    @cached_property
    def history(self) -> History:
        from llmcards.store.history import History

        return History(self)

    @cached_property
    def events(self) -> Events:
        from llmcards.store.events import Events

        return Events(self)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating directories and schema as needed) the store at ``path``."""
        conn, created, migration_backup = cls.connect_and_migrate(path)
        store = cls(conn, path, created)
        store.migration_backup = migration_backup
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
