"""Helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import pexpect
from rich.cells import cell_len
from rich.console import Console, RenderableType
from typer.testing import Result

from llmcards.config import Settings
from llmcards.models import CardState, Grade, State
from llmcards.scheduler import study_day
from llmcards.stats import Stats, compute_stats
from llmcards.store import Store

DATA = Path(__file__).parent / "data"
SMALL_BANK = DATA / "small.yaml"
V2_STORE = DATA / "schemas" / "store-v2-sync.db"  # a schema-2 store made by commit b3fd81f
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # a Monday; with the default rollover, study day 03-02
NOW_ENV = {"LLMCARDS_NOW": "2026-03-02T12:00:00Z"}  # NOW, for a CLI run
PTY_TIMEOUT = 20  # seconds a pseudo-terminal test waits for the text it expects
SEED_NOTES = (
    "000_bed308f75df34649.txt",
    "001_75da3e7c8895a41c.txt",
    "002_f118c8686e4cc334.txt",
    "003_47dd969ecd46b6d8.txt",
    "004_1e23c5b315beb130.txt",
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(path: Path) -> bytes:
    """The store's bytes (WAL is checkpointed when the last connection closes)."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


# ----------------------------------------------------------------------------- running llmcards
class Cli(Protocol):
    """The ``cli`` fixture: ``llmcards --db DB ARGS`` in-process, through Typer's CliRunner."""

    def __call__(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result: ...


def ok(result: Result) -> Result:
    """``result``, after checking that its command succeeded."""
    assert result.exit_code == 0, result.output
    return result


def run(*args: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m llmcards ARGS`` as a separate process without a terminal; text output captured.

    The environment is the test's (the autouse fixtures pin TZ, the bank and the store) plus ``env``.
    """
    return subprocess.run([sys.executable, "-m", "llmcards", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit that; a person's
    # terminal delivers Ctrl-C, so the child gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, size: tuple[int, int] = (40, 100), now: str | None = None,
          env: Mapping[str, str] | None = None) -> pexpect.spawn[str]:
    """``python -m llmcards ARGS`` in a pseudo-terminal of ``size`` (rows, columns), as a person runs it.

    The environment is the test's (the autouse fixtures pin TZ, the bank and the store), with a
    colour terminal whose size llmcards reads from the terminal itself ($COLUMNS and $LINES are
    removed); ``now`` pins the clock ($LLMCARDS_NOW) and ``env`` adds or replaces variables.
    """
    child_env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "COLUMNS", "LINES"):
        child_env.pop(name, None)
    if now is not None:
        child_env["LLMCARDS_NOW"] = now
    child_env.update(env or {})
    return pexpect.spawn(sys.executable, ["-m", "llmcards", *args], env=child_env, dimensions=size,
                         encoding="utf-8", timeout=PTY_TIMEOUT, preexec_fn=_default_sigint)


def expect_group(child: pexpect.spawn[str], pattern: str, group: int = 1) -> str:
    """Wait for ``pattern`` on the screen; the text its ``group`` matched."""
    child.expect(pattern)
    assert isinstance(child.match, re.Match), child.match
    return child.match.group(group)


# ----------------------------------------------------------------------------- text on a screen
def render(renderable: RenderableType, width: int) -> str:
    """What ``renderable`` prints on a terminal ``width`` cells wide, without colour."""
    file = io.StringIO()
    Console(width=width, file=file, color_system=None, legacy_windows=False).print(renderable)
    return file.getvalue()


def fits(text: str, width: int) -> bool:
    """No line of ``text`` is wider than ``width`` cells (a Chinese character takes two)."""
    return all(cell_len(line) <= width for line in text.splitlines())


def too_wide(text: str, width: int) -> str:
    """The lines of ``text`` wider than ``width`` cells, for an assertion's message."""
    return "\n".join(line for line in text.splitlines() if cell_len(line) > width)


# ----------------------------------------------------------------------------- a review history
UTC = timezone.utc
SETTINGS = Settings()  # day_starts_at = 4
LONG_ZH = "请详细解释旋转位置编码（RoPE）的原理，以及它为什么能够外推到比训练时更长的上下文长度，并与绝对位置编码比较"


def at(text: str) -> datetime:
    """``"2026-03-02 03:30"`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def review_state(last: str, days: float, stability: float, *, state: State = State.REVIEW,
                 reps: int = 1, lapses: int = 0) -> CardState:
    """A schedule reviewed at ``last`` and due ``days`` later."""
    last_review = at(last)
    return CardState(state=state, step=None if state == State.REVIEW else 0, stability=stability,
                     difficulty=5.0, due=last_review + timedelta(days=days), last_review=last_review,
                     reps=reps, lapses=lapses)


def record_grade(store: Store, card_id: str, when: str, rating: Grade, after: CardState, *,
                 ms: int, cram: bool = False) -> None:
    """Log a grade at ``when`` (UTC) that left the card at ``after``."""
    before = store.cards.require(card_id).schedule
    reviewed_at = at(when)
    store.queue.record_review(card_id, before, after, rating=rating, reviewed_at=reviewed_at,
                              study_day=study_day(reviewed_at, SETTINGS.day_starts_at, UTC), duration_ms=ms,
                              cram=cram)


def stats_at(store: Store, now: datetime = NOW, *, days: int = 30, tag: str | None = None) -> Stats:
    """``llmcards stats`` figures at ``now`` in UTC, with the default settings."""
    return compute_stats(store, now, SETTINGS, days=days, tag=tag, tz=UTC)


def seeds_dir() -> Path:
    """The seed notes: ``shared/seeds`` beside the repository (as CI lays it out), or $LLMCARDS_SEEDS."""
    env = os.environ.get("LLMCARDS_SEEDS")
    return Path(env) if env else Path(__file__).parents[1].parent / "shared" / "seeds"


def copy_seed_notes(folder: Path) -> Path:
    """The five seed notes copied into ``folder`` as ``.md`` files; fails (never skips) when they are missing."""
    seeds = seeds_dir()
    missing = [name for name in SEED_NOTES if not (seeds / name).is_file()]
    assert not missing, (
        f"seed notes not found in {seeds}: {missing} "
        "(CI lays shared/ beside the repository; elsewhere set LLMCARDS_SEEDS)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name in SEED_NOTES:
        shutil.copyfile(seeds / name, folder / name.replace(".txt", ".md"))
    return folder


# --------------------------------------------------------------------------- devices (llmcards sync)
def open_device(path: Path, now: datetime = NOW) -> Store:
    """A store with the small bank, as a device's first command leaves it."""
    from llmcards.store import Store
    from llmcards.sync import import_file

    store = Store.open(path)
    import_file(store, None, now=now)
    return store


def grade(store: Store, card_id: str, rating: int, at: datetime, *, cram: bool = False) -> None:
    """Grade a card as the review screen does: the live scheduler, fuzz on, one transaction."""
    from llmcards.models import Grade
    from llmcards.scheduler import Scheduler, study_day

    settings = store.settings()
    card = store.cards.require(card_id)
    after = Scheduler(settings).review(card.schedule, Grade(rating), at, card_id=card_id)
    store.queue.record_review(card_id, card.schedule, after, rating=Grade(rating), reviewed_at=at,
                              study_day=study_day(at, settings.day_starts_at), duration_ms=3000, cram=cram)


def device_state(store: Store) -> dict[str, Any]:
    """What every device must agree on after syncing: each card's text, flags and schedule, every
    review (by id, with its scheduling columns) and the shared settings."""
    c = store.conn
    return {
        "cards": {r[0]: r[1:] for r in c.execute(
            "SELECT id, question, answer, tags, sources, origin, suspended, retired, buried_until, state, step, "
            "stability, difficulty, due, last_review, reps, lapses FROM cards")},
        "reviews": sorted(c.execute(
            "SELECT uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, cram, prev_state, "
            "prev_interval_days, state, stability, difficulty, due FROM review_logs").fetchall()),
        "settings": sorted(c.execute("SELECT key, value FROM settings WHERE key != 'sync_url'").fetchall()),
    }
