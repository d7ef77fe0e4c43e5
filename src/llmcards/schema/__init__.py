"""The store's schema: its version here, the tables in :mod:`llmcards.schema.tables`.

The version is kept apart from the SQLAlchemy models so that opening a store (which
compares it with ``PRAGMA user_version``) never imports SQLAlchemy; the models are
loaded only when a store is created or migrated.
"""

SCHEMA_VERSION = 3  # 1: first release; 2: covering indexes for stats, cards.source_hash;
# 3: review ids and devices, the events table (sync between devices; see llmcards.schema.v3)
REPLAY_PENDING = "replay_pending"  # meta: rebuild every schedule from its history at the first hub sync
