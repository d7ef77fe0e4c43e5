"""Shared fixtures: real SQLite stores in temporary directories, a pinned clock and time zone."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmcards.bank import load_bank
from llmcards.models import Grade, Question, State
from llmcards.store import Store
from llmcards.sync import sync_questions
from tests.helpers import LONG_ZH, NOW, SMALL_BANK, Cli, record_grade, review_state


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
def cli(db_path: Path) -> Cli:
    """Run the real CLI (in-process) against ``db_path``; returns the click Result."""
    from llmcards.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        return runner.invoke(app, ["--db", str(db_path), *args], input=input, env=env)

    return run


@pytest.fixture
def history(store: Store) -> Store:
    """The small bank plus two user cards, with ten reviews (what the stats tests measure):

    | # | UTC time         | study day  | card                 | grade | before     | interval before | cram |  ms   |
    |---|------------------|------------|----------------------|-------|------------|-----------------|------|-------|
    | 1 | 01-01 10:00      | 01-01      | lora-principle       | Good  | new        |                 |      | 10000 |
    | 2 | 01-31 10:00      | 01-31      | lora-principle       | Good  | review     | 30 d (mature)   |      |  8000 |
    | 3 | 02-27 10:00      | 02-27      | bn-vs-ln             | Good  | new        |                 |      | 12000 |
    | 4 | 02-28 10:00      | 02-28      | zh-long              | Good  | new        |                 |      |  6000 |
    | 5 | 03-02 03:30      | 03-01 (!)  | bn-vs-ln             | Again | review     | 3 d (young)     |      | 15000 |
    | 6 | 03-02 04:30      | 03-02      | bn-vs-ln             | Good  | relearning | 10 min          |      |  5000 |
    | 7 | 03-02 09:00      | 03-02      | attention-complexity | Good  | new        |                 |      | 20000 |
    | 8 | 03-02 09:10      | 03-02      | attention-complexity | Again | learning   | 10 min          |      |  7000 |
    | 9 | 03-02 10:00      | 03-02      | zh-long              | Good  | review     | 2 d (young)     |      |  9000 |
    |10 | 03-02 11:00      | 03-02      | lora-principle       | Easy  | review     | 60 d (mature)   | cram |  3000 |

    Then zh-long (8 lapses: a leech) is suspended and old-card is retired. At NOW:
    lora mature (due 04-01), bn young (due 03-03 03:30, still study day 03-02), attention
    learning and overdue (due 09:11), zh-long suspended, mask-literal and kv-cache new
    (kv-cache has no answer), old-card retired.
    """
    s = store
    s.cards.add(Question(id="zh-long", question=LONG_ZH, answer="旋转矩阵", tags=("位置编码",)), now=NOW)
    sync_questions(s, [Question(id="old-card", question="旧卡片", tags=("peft",))], origin="user",
                   import_path="old.yaml", now=NOW, source="old.yaml")
    sync_questions(s, [], origin="user", import_path="old.yaml", now=NOW, source="old.yaml")

    grade = record_grade
    grade(s, "lora-principle", "2026-01-01 10:00", Grade.GOOD, review_state("2026-01-01 10:00", 30, 30), ms=10000)
    grade(s, "lora-principle", "2026-01-31 10:00", Grade.GOOD,
          review_state("2026-01-31 10:00", 60, 60, reps=2), ms=8000)
    grade(s, "bn-vs-ln", "2026-02-27 10:00", Grade.GOOD, review_state("2026-02-27 10:00", 3, 3), ms=12000)
    grade(s, "zh-long", "2026-02-28 10:00", Grade.GOOD, review_state("2026-02-28 10:00", 2, 2, lapses=7), ms=6000)
    grade(s, "bn-vs-ln", "2026-03-02 03:30", Grade.AGAIN,
          review_state("2026-03-02 03:30", 10 / 1440, 1.0, state=State.RELEARNING, reps=2, lapses=1), ms=15000)
    grade(s, "bn-vs-ln", "2026-03-02 04:30", Grade.GOOD,
          review_state("2026-03-02 04:30", 23 / 24, 1.5, reps=3, lapses=1), ms=5000)
    grade(s, "attention-complexity", "2026-03-02 09:00", Grade.GOOD,
          review_state("2026-03-02 09:00", 10 / 1440, 2.0, state=State.LEARNING), ms=20000)
    grade(s, "attention-complexity", "2026-03-02 09:10", Grade.AGAIN,
          review_state("2026-03-02 09:10", 1 / 1440, 1.2, state=State.LEARNING, reps=2), ms=7000)
    grade(s, "zh-long", "2026-03-02 10:00", Grade.GOOD,
          review_state("2026-03-02 10:00", 10, 10, reps=2, lapses=8), ms=9000)
    grade(s, "lora-principle", "2026-03-02 11:00", Grade.EASY,
          review_state("2026-03-02 11:00", 200, 200, reps=3), ms=3000, cram=True)
    s.cards.set_suspended(["zh-long"], True, now=NOW)
    return s


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
