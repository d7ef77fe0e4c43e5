"""The hub and `llmcards sync` at the command line: bad input gets one clear line and nothing is
written on either side; passwords are never stored, printed or part of an error."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from llmcards.hub import HUB_SCHEMA_VERSION, Hub, HubError
from tests.conftest import PG_PASSWORD_ENV
from tests.helpers import snapshot

Cli = Callable[..., Result]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def fails(result: Result, *expected: str) -> str:
    """The one-line error of a failed command (checked to contain ``expected``)."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def _hub_rows(url: str) -> dict[str, Any]:
    """Everything in the hub's database (tables and rows), to check that nothing was written."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
                    for name, table in meta.tables.items()}
    finally:
        engine.dispose()


@pytest.fixture
def store_ready(cli: Cli, db_path: Path) -> Path:
    """A store that has already been used (so nothing but a sync could write to it)."""
    ok(cli("list"))
    return db_path


def test_sync_round_trip_at_the_command_line(cli: Cli, tmp_path: Path, hub_url: str) -> None:
    ok(cli("add", "-q", "What is GRPO?", "-a", "Group relative policy optimization"))
    first = ok(cli("sync", hub_url)).stdout
    assert "Created a new hub" in first and "pushed 1 (1 other change), pulled 0, 0 cards updated." in first
    again = json.loads(ok(cli("sync", hub_url, "--json")).stdout)
    assert again["pushed"]["total"] == 0 and again["pulled"]["total"] == 0 and not again["hub_created"]
    other = tmp_path / "other.db"
    joined = json.loads(ok(cli("--db", str(other), "sync", hub_url, "--json")).stdout)
    assert joined["pulled"]["events"] == 1 and joined["cards"]["added"] == [
        json.loads(ok(cli("list", "--search", "GRPO", "--json")).stdout)[0]["id"]]
    status = json.loads(ok(cli("sync", "--status", "--json")).stdout)
    assert status["last_sync"]["pushed"] == 0 and status["waiting"]["total"] == 0 and status["hub"] is None


def test_sync_uses_the_remembered_hub(cli: Cli, store_ready: Path, tmp_path: Path) -> None:
    missing = cli("sync")
    fails(missing, "no hub given", "config set sync_url")
    hub = tmp_path / "shared" / "hub.db"
    hub.parent.mkdir()
    os.chdir(tmp_path)  # a relative path is kept as an absolute one
    ok(cli("config", "set", "sync_url", "sqlite:///shared/hub.db"))
    assert json.loads(ok(cli("config", "--json")).stdout)["sync_url"] == f"sqlite:///{hub}"
    out = ok(cli("sync")).stdout
    assert f"Synced with sqlite:///{hub}" in out and hub.exists()
    text = ok(cli("sync", "--status")).stdout
    assert f"Hub:       sqlite:///{hub}" in text and "Waiting:   nothing to push" in text and "Last sync: " in text


def test_a_password_is_never_stored_in_the_settings(cli: Cli) -> None:
    secret = "n0t-in-any-output"
    result = cli("config", "set", "sync_url", f"postgresql://me:{secret}@db.example/cards")
    line = fails(result, "holds a password", "~/.pgpass", "$PGPASSWORD")
    assert secret not in result.output and secret not in line
    assert json.loads(ok(cli("config", "--json")).stdout)["sync_url"] == ""
    ok(cli("config", "set", "sync_url", "postgresql://me@db.example/cards"))
    assert json.loads(ok(cli("config", "--json")).stdout)["sync_url"] == "postgresql+psycopg://me@db.example/cards"


@pytest.mark.parametrize("url, expected", [
    ("mysql://me:s3cret-pw@host/db", "'mysql' is not a supported kind of hub"),
    ("postgresql+psycopg2://me@host/db", "'postgresql+psycopg2' is not a supported kind of hub"),
    ("sqlite://", "a SQLite hub is a file"),
    ("hub.db", "not a hub URL"),
])
def test_unsupported_hub_urls_are_refused(cli: Cli, store_ready: Path, url: str, expected: str) -> None:
    before = snapshot(store_ready)
    result = cli("sync", url)
    fails(result, expected, "write sqlite:///path/to/hub.db")
    assert "s3cret-pw" not in result.output
    assert snapshot(store_ready) == before


def test_a_sqlite_hub_that_cannot_be_used(cli: Cli, store_ready: Path, tmp_path: Path) -> None:
    before = snapshot(store_ready)
    fails(cli("sync", f"sqlite:///{tmp_path / 'no-such-folder' / 'hub.db'}"), "no-such-folder does not exist")
    text = tmp_path / "notes.db"
    text.write_text("not a database " * 100)
    fails(cli("sync", f"sqlite:///{text}"), "is not an llmcards hub (not a SQLite database)")
    assert text.read_text() == "not a database " * 100
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
    other_bytes = other.read_bytes()
    fails(cli("sync", f"sqlite:///{other}"), "is not an llmcards hub (it has other tables: contacts)")
    assert other.read_bytes() == other_bytes
    fails(cli("sync", f"sqlite:///{store_ready}"), "is this device's store, not a hub")
    assert snapshot(store_ready) == before
    a_store = tmp_path / "another-store.db"
    ok(cli("--db", str(a_store), "list"))
    fails(cli("sync", f"sqlite:///{a_store}"), "is an llmcards store, not a hub")
    assert snapshot(store_ready) == before


def test_a_hub_from_a_newer_llmcards_is_refused(cli: Cli, store_ready: Path, hub_url: str) -> None:
    Hub.open(hub_url).close()
    from sqlalchemy import create_engine, text

    engine = create_engine(hub_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE llmcards_meta SET value = :v WHERE key = 'schema_version'"),
                     {"v": str(HUB_SCHEMA_VERSION + 1)})
    engine.dispose()
    hub_before = _hub_rows(hub_url)
    before = snapshot(store_ready)
    fails(cli("sync", hub_url), f"made by a newer llmcards (hub schema {HUB_SCHEMA_VERSION + 1}", "upgrade llmcards")
    assert snapshot(store_ready) == before and _hub_rows(hub_url) == hub_before


def test_a_postgresql_database_that_is_not_a_hub(cli: Cli, store_ready: Path, pg_schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_schema)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id int)"))
    engine.dispose()
    before, hub_before = snapshot(store_ready), _hub_rows(pg_schema)
    fails(cli("sync", pg_schema), "is not an llmcards hub (it has other tables: invoices)")
    assert snapshot(store_ready) == before and _hub_rows(pg_schema) == hub_before


def test_an_unreachable_postgresql_server(cli: Cli, store_ready: Path, pg_schema: str) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = snapshot(store_ready)
    line = fails(cli("sync", f"postgresql+psycopg://llmcards@127.0.0.1:{port}/llmcards_test"),
                 "cannot connect to the hub", f"127.0.0.1:{port}")
    assert "refused" in line.lower()
    assert snapshot(store_ready) == before


def test_a_wrong_password_is_named_but_never_shown(cli: Cli, store_ready: Path, pg_schema: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "Wr0ng-but-secret-9182"
    user_url = pg_schema.replace("://llmcards@", f"://llmcards:{wrong}@")
    assert wrong in user_url
    before, hub_before = snapshot(store_ready), _hub_rows(pg_schema)
    typed = cli("sync", user_url)
    fails(typed, "password authentication failed", "$PGPASSWORD or ~/.pgpass")
    assert wrong not in typed.output and "llmcards:***@" in typed.output
    monkeypatch.setenv("PGPASSWORD", wrong)
    from_env = cli("sync", pg_schema)
    fails(from_env, "password authentication failed")
    assert wrong not in from_env.output
    assert snapshot(store_ready) == before and _hub_rows(pg_schema.replace(
        "://llmcards@", f"://llmcards:{os.environ[PG_PASSWORD_ENV]}@")) == hub_before


def test_the_right_password_typed_in_the_url_works_and_is_not_printed(cli: Cli, pg_schema: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    password = os.environ[PG_PASSWORD_ENV]
    monkeypatch.delenv("PGPASSWORD")
    with_password = pg_schema.replace("://llmcards@", f"://llmcards:{password}@")
    result = ok(cli("sync", with_password))
    assert password not in result.output and "llmcards:***@" in result.output
    status = ok(cli("sync", "--status", with_password))
    assert password not in status.output


def test_hub_errors_never_hold_the_password() -> None:
    from llmcards.hub import _scrub

    assert _scrub("failed for p%40ss%3Aword and p@ss:word", "p@ss:word") == "failed for *** and ***"
    with pytest.raises(HubError) as info:
        Hub.open("postgresql+psycopg://me:p@ss-w0rd@127.0.0.1:notaport/db")
    assert "p@ss-w0rd" not in str(info.value)


@pytest.mark.parametrize("args", [["stats"], ["list", "--due"], ["sync", "--status"]])
def test_only_a_sync_imports_sqlalchemy_and_psycopg(args: list[str], tmp_path: Path) -> None:
    """Review, stats and the rest stay as fast as they were: the hub's libraries load for a sync only."""
    import subprocess
    import sys

    env = {**os.environ, "LLMCARDS_DB": str(tmp_path / "s.db")}
    subprocess.run([sys.executable, "-m", "llmcards", "list"], check=True, capture_output=True, env=env)  # made
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmcards", *args], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "llmcards.cli" in modules
    for heavy in ("sqlalchemy", "psycopg", "llmcards.hub"):
        assert heavy not in modules, f"{heavy} imported by llmcards {' '.join(args)}"
