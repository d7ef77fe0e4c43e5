"""Shared fixtures: real SQLite stores in temporary directories, a pinned clock."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmcards.bank import load_bank
from llmcards.store import Store
from llmcards.sync import sync_questions
from tests.helpers import NOW, SMALL_BANK


@pytest.fixture(autouse=True)
def _pinned_timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in UTC, whatever the machine's zone: TZ is set for this process and its
    children, and ``time.tzset()`` makes this process use it now. Tests about other zones pass
    their own ``tz``."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test uses the small bank as the bundled bank and never touches the real store."""
    monkeypatch.setenv("LLMCARDS_BANK", str(SMALL_BANK))
    monkeypatch.setenv("LLMCARDS_DB", str(tmp_path / "default" / "llmcards.db"))
    monkeypatch.delenv("LLMCARDS_NOW", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "cards.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path)
    sync_questions(s, load_bank(SMALL_BANK), origin="bank", import_path=None, now=NOW, source="small.yaml")
    yield s
    s.close()


@pytest.fixture
def cli(db_path: Path) -> Callable[..., object]:
    """Run the real CLI (in-process) against ``db_path``; returns the click Result."""
    from llmcards.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> object:
        return runner.invoke(app, ["--db", str(db_path), *args], input=input, env=env)

    return run


# --------------------------------------------------------------------------- hubs (llmcards sync)
PG_URL_ENV = "LLMCARDS_TEST_PG_URL"  # set by `eval "$(bash .ci/postgres.sh start)"`
PG_PASSWORD_ENV = "LLMCARDS_TEST_PG_PASSWORD"
PG_HOW = ('PostgreSQL hub tests need a server: eval "$(bash .ci/postgres.sh start)", run pytest, '
          "then bash .ci/postgres.sh stop")


def postgres_url() -> str:
    """The test server's URL (no password), or skip (fail in CI, where it must run)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but ${PG_URL_ENV} is not set: .ci/run must start PostgreSQL (.ci/postgres.sh)")
        pytest.skip(PG_HOW)
    return url


@pytest.fixture
def pg_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A hub URL on the test server, in a schema of its own (dropped afterwards). The password
    reaches libpq through $PGPASSWORD, as a person's would; ~/.pgpass is kept out of it."""
    url = postgres_url()
    monkeypatch.setenv("PGPASSWORD", os.environ.get(PG_PASSWORD_ENV, ""))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each hub test runs against a SQLite hub and against PostgreSQL."""
    if request.param == "sqlite":
        (tmp_path / "hubs").mkdir(exist_ok=True)
        return f"sqlite:///{tmp_path / 'hubs' / 'hub.db'}"
    return str(request.getfixturevalue("pg_schema"))
