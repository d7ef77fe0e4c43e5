"""Shared fixtures: real SQLite stores in temporary directories, a pinned clock."""

from __future__ import annotations

import time
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
