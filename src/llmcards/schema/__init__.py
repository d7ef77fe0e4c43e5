"""The store's schema: the steps that build it in :mod:`llmcards.schema.migrations`, the tables
as SQLAlchemy models in :mod:`llmcards.schema.tables`.

The version is the last step's, kept apart from the SQLAlchemy models so that opening a
store (which compares it with ``PRAGMA user_version``) and migrating one never import
SQLAlchemy; the models serve SQLAlchemy users (tests and tools).
"""

from llmcards.schema.migrations import MIGRATIONS, REPLAY_PENDING

__all__ = ["MIGRATIONS", "REPLAY_PENDING", "SCHEMA_VERSION"]

SCHEMA_VERSION = MIGRATIONS[-1].version  # 1: first release; 2: covering indexes for stats, cards.source_hash;
# 3: review ids and devices, the events table (sync between devices)
