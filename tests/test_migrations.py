"""Migrations: the steps build what the models describe, every shipped schema opens with nothing
lost, a newer store is refused untouched, and a step is all or nothing."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.schema import SCHEMA_VERSION
from llmcards.schema.migrations import MIGRATIONS, Migration
from llmcards.store import Store
from llmcards.store.backups import store_backups
from tests.helpers import DATA

SCHEMAS = DATA / "schemas"
FIXTURES = sorted(p for p in SCHEMAS.glob("store-v*.db") if re.fullmatch(r"store-v\d+\.db", p.name))


def describe(conn: sqlite3.Connection) -> dict[str, Any]:
    """Tables with their columns (type, NOT NULL, primary key), foreign keys and indexes (columns,
    unique, partial-index predicate), in a form that ignores column order and SQL spelling."""
    out: dict[str, Any] = {}
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for table in tables:
        columns = {r[1]: (r[2].upper(), bool(r[3]), r[5]) for r in conn.execute(f"PRAGMA table_info({table})")}
        fks = sorted((r[3], r[2], r[4], r[6]) for r in conn.execute(f"PRAGMA foreign_key_list({table})"))
        indexes = {}
        for r in conn.execute(f"PRAGMA index_list({table})"):
            name, unique, origin = r[1], bool(r[2]), r[3]
            if origin == "pk":
                continue
            cols = [x[2] for x in conn.execute(f"PRAGMA index_xinfo({name})") if x[5]]
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0] or ""
            where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None
            indexes[name] = (cols, unique, None if where is None else re.sub(r"\s+", " ", where.strip()))
        out[table] = {"columns": columns, "foreign_keys": fks, "indexes": indexes}
    return out


def test_a_store_built_by_the_steps_is_what_the_models_describe(tmp_path: Path) -> None:
    from llmcards.schema.tables import Base, engine_for

    with Store.open(tmp_path / "migrated.db") as store:
        migrated = describe(store.conn)
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == MIGRATIONS[-1].version
    engine = engine_for(str(tmp_path / "models.db"))
    Base.metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(tmp_path / "models.db")
    modelled = describe(conn)
    conn.close()
    assert migrated == modelled
    # The comparison sees what matters: partial-index predicates, types and nullability.
    assert migrated["review_logs"]["indexes"]["ix_review_logs_retention"][2] == "prev_state = 2 AND cram = 0"
    assert migrated["cards"]["columns"]["source_hash"] == ("VARCHAR", False, 0)
    assert migrated["cards"]["columns"]["question"] == ("TEXT", True, 0)


def test_steps_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.name and (m.statements or m.run) for m in MIGRATIONS)


def test_migrating_never_imports_sqlalchemy(tmp_path: Path) -> None:
    import subprocess
    import sys

    fixture = tmp_path / "v1.db"
    shutil.copyfile(SCHEMAS / "store-v1.db", fixture)
    code = ("import sys; from pathlib import Path; from llmcards.store import Store\n"
            f"Store.open(Path({str(fixture)!r})).close()\n"
            "print('sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert sqlite3.connect(fixture).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# --------------------------------------------------------------------------- every schema ever shipped
def _rows(conn: sqlite3.Connection, table: str, order: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
    return [d[0] for d in cur.description], cur.fetchall()


def _contents(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    out = {
        "cards": _rows(conn, "cards", "id"),
        "review_logs": _rows(conn, "review_logs", "id"),
        "card_tags": _rows(conn, "card_tags", "card_id, tag"),
        "settings": _rows(conn, "settings", "key"),
        "meta": _rows(conn, "meta", "key"),
        "version": conn.execute("PRAGMA user_version").fetchone()[0],
    }
    conn.close()
    return out


def test_there_is_a_fixture_for_every_schema_shipped() -> None:
    assert [p.name for p in FIXTURES] == [f"store-v{m.version}.db" for m in MIGRATIONS]
    for path in FIXTURES:
        assert _contents(path)["version"] == int(path.stem.removeprefix("store-v"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_every_shipped_schema_opens_with_nothing_lost(fixture: Path, tmp_path: Path) -> None:
    before = _contents(fixture)
    copy = tmp_path / "llmcards.db"
    shutil.copyfile(fixture, copy)
    with Store.open(copy) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # Through the store's own API: every card reads back, with its flags and schedule.
        for row in before["cards"][1]:
            card = dict(zip(before["cards"][0], row, strict=True))
            got = store.cards.require(card["id"])
            assert (got.question, got.answer, got.suspended, got.retired) == (
                card["question"], card["answer"], bool(card["suspended"]), bool(card["retired"]))
            assert int(got.schedule.state) == card["state"] and got.schedule.reps == card["reps"]
        assert store.history.count() == len(before["review_logs"][1])
        assert store.settings() == Settings.from_strings(dict(before["settings"][1]))
        assert store.settings() != Settings()  # the fixture changed settings: they were read, not defaulted
        migrated = store.migration_backup
    after = _contents(copy)
    # Every column that existed keeps every value, in every row of every table.
    for table in ("cards", "review_logs", "card_tags", "settings"):
        names, rows = before[table]
        new_names, new_rows = after[table]
        assert len(new_rows) == len(rows), table
        picked = [[dict(zip(new_names, r, strict=True))[n] for n in names] for r in new_rows]
        assert picked == [list(r) for r in rows], table
    old_meta = {k: v for k, v in before["meta"][1] if k != "schema_version"}
    new_meta = {k: v for k, v in after["meta"][1] if k != "schema_version"}
    assert old_meta.items() <= new_meta.items()  # kept; schema 3 adds the device id and a replay flag
    assert set(new_meta) - set(old_meta) <= {"device_id", "replay_pending"}
    assert dict(after["meta"][1])["schema_version"] == str(SCHEMA_VERSION)
    # The fixture covers what it says it covers.
    cards = [dict(zip(before["cards"][0], r, strict=True)) for r in before["cards"][1]]
    assert {c["state"] for c in cards if not c["suspended"] and not c["retired"]} == {0, 1, 2, 3}
    assert any(c["suspended"] for c in cards) and any(c["retired"] for c in cards)
    assert any(c["buried_until"] for c in cards) and any(c["origin"] == "user" for c in cards)
    logs = [dict(zip(before["review_logs"][0], r, strict=True)) for r in before["review_logs"][1]]
    assert any(r["cram"] for r in logs) and len(logs) > 20
    # An older schema was backed up before it was migrated, as it was.
    if before["version"] < SCHEMA_VERSION:
        assert migrated is not None and [b.reason for b in store_backups(copy)] == ["migration"]
        assert _contents(migrated) == before
    else:
        assert migrated is None and not (tmp_path / "backups").exists()
    from llmcards.schema.tables import Base, engine_for  # and the result is the current schema

    engine = engine_for(str(tmp_path / "models.db"))
    Base.metadata.create_all(engine)
    engine.dispose()
    modelled, migrated_conn = sqlite3.connect(tmp_path / "models.db"), sqlite3.connect(copy)
    assert describe(migrated_conn) == describe(modelled)
    modelled.close()
    migrated_conn.close()


def test_a_v1_store_keeps_its_edits_meaning_after_migration(tmp_path: Path) -> None:
    """source_hash is unknown (NULL) in a migrated v1 store, and the sync falls back to content_hash."""
    copy = tmp_path / "llmcards.db"
    shutil.copyfile(SCHEMAS / "store-v1.db", copy)
    with Store.open(copy) as store:
        hashes = store.conn.execute("SELECT count(*), count(source_hash) FROM cards").fetchone()
    assert hashes[0] > 0 and hashes[1] == 0


# --------------------------------------------------------------------------- newer stores, failed steps
def _newer_store(tmp_path: Path) -> Path:
    path = tmp_path / "newer.db"
    with Store.open(path) as store:
        store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    return path


def test_a_store_from_a_newer_schema_is_refused_byte_for_byte_untouched(tmp_path: Path) -> None:
    path = _newer_store(tmp_path)
    before = path.read_bytes()
    with pytest.raises(UserError, match=rf"made by a newer llmcards \(schema {SCHEMA_VERSION + 1};"):
        Store.open(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.db"]  # no -wal, -shm or backups/


def test_the_cli_refuses_a_newer_store_in_one_line(tmp_path: Path, cli: Callable[..., Result]) -> None:
    path = _newer_store(tmp_path)
    before = path.read_bytes()
    for args in (["list"], ["backup"], ["stats"]):
        result = cli("--db", str(path), *args)
        assert result.exit_code == 1
        assert result.output.strip().count("\n") == 0 and "made by a newer llmcards" in result.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("newer")) == ["newer.db"]


def test_a_failing_step_changes_nothing_and_a_new_step_is_just_appended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llmcards.schema.migrations as migrations
    import llmcards.store.connection as connection

    path = tmp_path / "llmcards.db"
    with Store.open(path) as store:
        store.save_setting("new_per_day", "7")
    broken = Migration(SCHEMA_VERSION + 1, "a step that fails halfway", (
        "CREATE TABLE next_table (id INTEGER PRIMARY KEY)", "INSERT INTO no_such_table VALUES (1)"))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(connection, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(UserError, match=f"migrating .* to schema {SCHEMA_VERSION + 1} .* failed: no such table"):
        Store.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'next_table'").fetchone()[0] == 0
    conn.close()
    assert [b.reason for b in store_backups(path)] == ["migration"]  # taken before the step ran

    good = Migration(SCHEMA_VERSION + 1, "next table", ("CREATE TABLE next_table (id INTEGER PRIMARY KEY)",))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, good))
    with Store.open(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert store.conn.execute("SELECT count(*) FROM next_table").fetchone()[0] == 0
        assert store.settings().new_per_day == 7
        assert store.migration_backup is not None
