"""The store's schema: the steps that build it in :mod:`llmcards.schema.migrations`, the tables
as SQLAlchemy models in :mod:`llmcards.schema.tables`.

The version is the last step's, kept apart from the steps and the SQLAlchemy models so that
opening a store (which compares it with ``PRAGMA user_version``) loads neither, and migrating
one never imports SQLAlchemy; the models serve SQLAlchemy users (tests and tools).
"""

__all__ = ["REPLAY_PENDING", "SCHEMA_VERSION"]

# The last step's version (a test holds it equal to MIGRATIONS[-1].version). Written out, so that
# opening a store that is up to date does not even load the steps.
SCHEMA_VERSION = 3  # 1: first release; 2: covering indexes for stats, cards.source_hash;
# 3: review ids and devices, the events table (sync between devices)
REPLAY_PENDING = "replay_pending"  # meta: rebuild every schedule from its history at the first hub sync
