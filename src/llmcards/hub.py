"""The hub: where devices leave their events for each other (SQLAlchemy Core; psycopg 3 for PostgreSQL).

A hub is a database that llmcards creates and versions itself: a SQLite file (on a network
share or a synced folder: nothing to run) or a PostgreSQL database. It holds two tables:

- ``llmcards_meta``: what it is (``kind``), its schema version, and its id (``hub_id``);
- ``llmcards_events``: every device's events, appended and never changed, each with a unique
  ``id`` and a ``seq`` the server gives in commit order, so a device asks only for what came
  after the last ``seq`` it saw.

Pushes are serialized (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so
sequence numbers become visible in order and a reader can never skip a row that commits later
with a smaller one. Only ``llmcards sync`` imports this module: SQLAlchemy and psycopg cost
about a quarter of a second to import, which the review screen must not pay.

Passwords come from the URL typed on the command line, ``$PGPASSWORD`` or ``~/.pgpass`` (libpq
reads the last two itself). They are never stored, never printed, and scrubbed from every
error message; URLs are shown with ``render_as_string(hide_password=True)``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from llmcards.config import check_hub_url
from llmcards.errors import UserError
from llmcards.models import WireEvent

HUB_SCHEMA_VERSION = 1
HUB_KIND = "llmcards hub"
_PUSH_LOCK = 0x6C6C6D63  # PostgreSQL advisory lock that serializes pushes ('llmc')
_CONNECT_TIMEOUT = 10  # seconds, PostgreSQL
_BUSY_TIMEOUT = 60  # seconds a SQLite hub waits for another device's push

metadata = MetaData()
hub_meta = Table(
    "llmcards_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
hub_events = Table(
    "llmcards_events", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("device", String(36), nullable=False),
    Column("at", String(26), nullable=False),  # UTC, YYYY-MM-DD HH:MM:SS.ffffff
    Column("kind", String(16), nullable=False),
    Column("card_id", Text),
    Column("data", Text, nullable=False),  # JSON
    UniqueConstraint("id", name="uq_llmcards_events_id"),
    sqlite_autoincrement=True,  # a seq is never reused
)
_COLUMNS = (hub_events.c.seq, hub_events.c.id, hub_events.c.device, hub_events.c.at, hub_events.c.kind,
            hub_events.c.card_id, hub_events.c.data)


class HubError(UserError):
    """A hub that cannot be used: unreachable, refused, not a hub, too new. The message never holds a password."""


@dataclass(frozen=True)
class PushResult:
    """What one push added: ``inserted`` events (``reviews`` of them reviews), whose ``seq`` are all
    in (``before``, ``after``]."""

    inserted: int
    reviews: int
    before: int
    after: int
    after_id: str | None  # the id of the event at ``after`` (None when nothing was inserted)


def hub_url(text: str) -> URL:
    """A hub URL checked (dialect, shape) and parsed; the error never repeats the text, which may hold a password."""
    try:
        normal = check_hub_url(text, allow_password=True)
    except ValueError as exc:
        raise HubError(f"hub URL: {exc}") from None
    try:
        return make_url(normal)
    except Exception:  # noqa: BLE001 - SQLAlchemy's messages repeat the URL
        raise HubError("hub URL: cannot parse it; write sqlite:///path/hub.db or "
                       "postgresql+psycopg://user@host/dbname") from None


def shown(url: URL) -> str:
    """A URL as it may be shown: without its password."""
    return url.render_as_string(hide_password=True)


class Hub:
    """An open hub. Use :meth:`open`, and :meth:`close` when done."""

    def __init__(self, engine: Engine, url: URL, hub_id: str, created: bool) -> None:
        self.engine = engine
        self.url = url
        self.hub_id = hub_id
        self.created = created  # made by this connection

    @property
    def shown(self) -> str:
        return shown(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, text: str, *, store_path: Path | None = None) -> Hub:
        """Connect to the hub at ``text``, creating its tables in an empty database or a new SQLite file.

        Raises :class:`HubError` for an unreachable server, a refused login, a database that is
        not an llmcards hub, or a hub made by a newer llmcards; nothing is written then.
        """
        url = hub_url(text)
        engine = _engine(url, store_path)
        try:
            with _translated(url, "cannot connect to the hub"):
                hub_id, created = _ensure_schema(engine, url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url, hub_id, created)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- reading
    def last_seq(self) -> int:
        """The newest event's ``seq`` (0 for an empty hub)."""
        with _translated(self.url, "lost the hub"), self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(hub_events.c.seq), 0))).scalar_one())

    def event_id_at(self, seq: int) -> str | None:
        """The id of the event at ``seq``, or None if the hub has none there."""
        with _translated(self.url, "lost the hub"), self.engine.connect() as conn:
            found = conn.execute(select(hub_events.c.id).where(hub_events.c.seq == seq)).scalar_one_or_none()
            return None if found is None else str(found)

    def pull(self, after: int, *, skip: tuple[int, int] | None = None,
             chunk: int = 5000) -> Iterator[list[tuple[int, WireEvent]]]:
        """Events with ``seq`` > ``after`` in ``seq`` order, ``chunk`` at a time, from one snapshot;
        those in the range ``skip`` = (before, after] (this device's own push, just made) are left out."""
        where = hub_events.c.seq > after
        if skip is not None and skip[1] > skip[0]:
            where = where & or_(hub_events.c.seq <= skip[0], hub_events.c.seq > skip[1])
        query = select(*_COLUMNS).where(where).order_by(hub_events.c.seq)
        with _translated(self.url, "lost the hub while pulling"), self.engine.connect() as conn, conn.begin():
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
            for part in result.partitions():
                yield [(int(r[0]), WireEvent(r[1], r[2], r[3], r[4], r[5], r[6])) for r in part]

    # ----------------------------------------------------------------- writing
    def push(self, chunks: Iterable[list[WireEvent]]) -> PushResult:
        """Append events in one transaction; ids the hub already has are skipped."""
        with _translated(self.url, "lost the hub while pushing"), self.engine.connect() as conn:
            with _write(conn, self.is_sqlite):
                before = int(conn.execute(select(func.coalesce(func.max(hub_events.c.seq), 0))).scalar_one())
                if self.is_sqlite:
                    for part in chunks:
                        if part:
                            conn.exec_driver_sql(_SQLITE_INSERT, part)
                else:
                    _copy_in(conn, chunks)
                after = int(conn.execute(select(func.coalesce(func.max(hub_events.c.seq), 0))).scalar_one())
                inserted = reviews = 0
                after_id = None
                if after > before:
                    is_review = hub_events.c.kind == "review"
                    counts = conn.execute(select(is_review, func.count()).where(hub_events.c.seq > before)
                                          .group_by(is_review)).all()
                    inserted = sum(int(n) for _, n in counts)
                    reviews = sum(int(n) for review, n in counts if review)
                    after_id = str(conn.execute(select(hub_events.c.id).where(hub_events.c.seq == after)).scalar_one())
        return PushResult(inserted, reviews, before, after, after_id)


# --------------------------------------------------------------------------- connections
def _engine(url: URL, store_path: Path | None) -> Engine:
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if store_path is not None and path.exists() and _same(path, store_path):
            raise HubError(f"{shown(url)} is this device's store, not a hub; give the hub another file")
        if not path.parent.is_dir():
            raise HubError(f"cannot open the hub {shown(url)}: the folder {path.parent} does not exist")
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT})

        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun explicitly, below

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.info.pop("llmcards_begin", "BEGIN"))

        return engine
    query = dict(url.query)
    args: dict[str, Any] = {} if "connect_timeout" in query else {"connect_timeout": _CONNECT_TIMEOUT}
    return create_engine(url, connect_args=args, pool_pre_ping=False)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


@contextmanager
def _write(conn: Connection, is_sqlite: bool) -> Iterator[None]:
    """One write transaction, serialized with every other device's."""
    if is_sqlite:
        conn.info["llmcards_begin"] = "BEGIN IMMEDIATE"
    with conn.begin():
        if not is_sqlite:
            conn.execute(select(func.pg_advisory_xact_lock(_PUSH_LOCK)))
        yield


# Appending many rows: plain driver SQL (SQLAlchemy's per-row parameter handling would cost more than
# the insert itself); on PostgreSQL through COPY into a temporary table.
_SQLITE_INSERT = ("INSERT INTO llmcards_events (id, device, at, kind, card_id, data) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO NOTHING")


def _copy_in(conn: Connection, chunks: Iterable[list[WireEvent]]) -> None:
    """PostgreSQL: COPY the events into a temporary table, then add those the hub lacks, in order."""
    conn.exec_driver_sql("CREATE TEMPORARY TABLE llmcards_incoming (n bigint, id varchar(36), device varchar(36), "
                         "at varchar(26), kind varchar(16), card_id text, data text) ON COMMIT DROP")
    raw = conn.connection.driver_connection
    assert raw is not None
    n = 0
    with raw.cursor() as cursor:
        with cursor.copy("COPY llmcards_incoming (n, id, device, at, kind, card_id, data) FROM STDIN") as copy:
            for part in chunks:
                for e in part:
                    n += 1
                    copy.write_row((n, *e))
    conn.exec_driver_sql("INSERT INTO llmcards_events (id, device, at, kind, card_id, data) "
                         "SELECT id, device, at, kind, card_id, data FROM llmcards_incoming ORDER BY n "
                         "ON CONFLICT (id) DO NOTHING")


def _ensure_schema(engine: Engine, url: URL) -> tuple[str, bool]:
    """The hub's id, after checking what the database is (and creating the hub in an empty one)."""
    with engine.connect() as conn:
        meta = _read_meta(conn, url)
        if meta is not None:
            return meta, False
        conn.rollback()
        with _write(conn, url.get_backend_name() == "sqlite"):
            meta = _read_meta(conn, url)  # another device may have just made it
            if meta is not None:
                return meta, False
            hub_id = str(uuid.uuid4())
            metadata.create_all(conn)
            conn.execute(hub_meta.insert(), [
                {"key": "kind", "value": HUB_KIND},
                {"key": "schema_version", "value": str(HUB_SCHEMA_VERSION)},
                {"key": "hub_id", "value": hub_id},
                {"key": "created_at", "value": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            ])
        return hub_id, True


def _read_meta(conn: Connection, url: URL) -> str | None:
    """The hub id if this database is an llmcards hub this version can use; None if it is empty."""
    tables = set(inspect(conn).get_table_names())
    if "llmcards_meta" not in tables:
        others = sorted(tables - {"llmcards_events"})
        if "cards" in tables and "review_logs" in tables:
            raise HubError(f"{shown(url)} is an llmcards store, not a hub; give a new file or an empty database")
        if tables:
            raise HubError(f"{shown(url)} is not an llmcards hub (it has other tables: {', '.join(others[:5])}"
                           f"{'...' if len(others) > 5 else ''}); give an empty database or a new SQLite file")
        return None
    meta = {str(k): str(v) for k, v in conn.execute(select(hub_meta.c.key, hub_meta.c.value))}
    if meta.get("kind") != HUB_KIND or "hub_id" not in meta:
        raise HubError(f"{shown(url)} is not an llmcards hub (its llmcards_meta table is not ours)")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise HubError(f"{shown(url)} is not an llmcards hub (no schema version)") from None
    if version > HUB_SCHEMA_VERSION:
        raise HubError(f"{shown(url)} was made by a newer llmcards (hub schema {version}; this one knows "
                       f"{HUB_SCHEMA_VERSION}); upgrade llmcards on this device")
    return meta["hub_id"]


# --------------------------------------------------------------------------- errors
@contextmanager
def _translated(url: URL, doing: str) -> Iterator[None]:
    """Database and network errors as one line for the person, without the password."""
    try:
        yield
    except HubError:
        raise
    except SQLAlchemyError as exc:
        _fail(url, doing, getattr(exc, "orig", None) or exc)
    except OSError as exc:
        _fail(url, doing, exc)


def _fail(url: URL, doing: str, exc: BaseException) -> NoReturn:
    text = str(exc).strip()
    if not text:
        text = type(exc).__name__
    text = ". ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())  # one line
    text = re.sub(r"^(connection failed|connection is bad): ", "", text)
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1].strip()
    elif " failed: " in text and url.get_backend_name() != "sqlite":
        text = text.rsplit(" failed: ", 1)[1].strip()
    if "file is not a database" in text:
        raise HubError(f"{shown(url)} is not an llmcards hub (not a SQLite database)")
    hint = ""
    if "password authentication failed" in text or "no password supplied" in text:
        hint = " (llmcards takes the password from the URL, $PGPASSWORD or ~/.pgpass)"
    raise HubError(_scrub(f"{doing} {shown(url)}: {text}{hint}", url.password))


def _scrub(message: str, password: object) -> str:
    """``message`` without any trace of the password."""
    for secret in (str(password) if password else "", os.environ.get("PGPASSWORD", "")):
        if len(secret) >= 4:  # shorter ones would mangle the message, and say nothing anyway
            for value in {secret, quote(secret, safe="")}:
                message = message.replace(value, "***")
    return message
