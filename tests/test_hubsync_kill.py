"""`llmcards sync` as separate processes: killed with SIGKILL at random moments, then a clean sync
loses nothing; two devices syncing at the same moment end up alike. Against both kinds of hub."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from llmcards.hubsync import sync
from llmcards.models import Question
from llmcards.store import Store
from llmcards.sync import sync_questions
from tests.helpers import NOW, device_state, grade, open_device, run, spawn

CARDS = 150


def _busy_device(path: Path, *, reviews_per_card: int = 8, shift: timedelta = timedelta()) -> Store:
    """A device with CARDS cards of its own and CARDS * reviews_per_card reviews, so that a first
    sync takes a while."""
    store = open_device(path)
    own = [Question(id=f"own-{i}", question=f"Question {i}?", answer=f"Answer {i}") for i in range(CARDS)]
    with store.write():
        sync_questions(store, own, origin="user", import_path=str(path.parent / "own.yaml"), now=NOW, source="own")
        for i in range(CARDS):
            for k in range(reviews_per_card):
                grade(store, f"own-{i}", 3 if (i + k) % 5 else 1, NOW + shift + timedelta(days=2 * k, minutes=i))
    return store


def _sync_process(db: Path, hub_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LLMCARDS_NOW": "2026-06-01T09:00:00Z"}
    return subprocess.Popen([sys.executable, "-m", "llmcards", "--db", str(db), "sync", hub_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_sync_killed_at_random_moments_loses_nothing(hub_url: str, tmp_path: Path) -> None:
    a = _busy_device(tmp_path / "a" / "llmcards.db")
    reviews = len(device_state(a)["reviews"])
    a.close()
    db = tmp_path / "a" / "llmcards.db"

    # How long a whole sync takes here, measured on a copy against a hub of its own.
    (tmp_path / "probe").mkdir()
    probe = tmp_path / "probe" / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(probe) as dst:
        src.backup(dst)
    started = time.perf_counter()
    run = _sync_process(probe, f"sqlite:///{tmp_path / 'probe' / 'hub.db'}")
    assert run.wait(120) == 0, run.stderr.read() if run.stderr else b""
    whole = time.perf_counter() - started

    rng = random.Random(20261125)
    killed_running = 0
    for round_ in range(6):
        proc = _sync_process(db, hub_url)
        time.sleep(rng.uniform(0.25, 1.0) * whole)
        if proc.poll() is None:
            killed_running += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _integrity(db) == "ok"
        with Store.open(db) as store:  # nothing lost locally; keep studying between attempts
            assert len(device_state(store)["reviews"]) == reviews + round_
            grade(store, "lora-principle", 3, NOW + timedelta(days=100 + round_))
    assert killed_running >= 2, f"only {killed_running} of the kills hit a running sync ({whole:.2f} s each)"

    with Store.open(db) as a, open_device(tmp_path / "b" / "llmcards.db") as b:
        sync(a, hub_url, now=NOW + timedelta(days=200))
        assert a.events.waiting().total == 0
        sync(b, hub_url, now=NOW + timedelta(days=200))
        assert device_state(a) == device_state(b)
        assert len(device_state(b)["reviews"]) == reviews + 6
        assert sync(a, hub_url, now=NOW + timedelta(days=201)).pulled == 0


def test_two_devices_syncing_at_the_same_moment_as_processes(hub_url: str, tmp_path: Path) -> None:
    paths = {name: tmp_path / name / "llmcards.db" for name in "ab"}
    for name, path in paths.items():
        store = _busy_device(path, reviews_per_card=2, shift=timedelta(hours=1 if name == "a" else 2))
        store.close()
    for round_ in range(3):
        procs = [_sync_process(path, hub_url) for path in paths.values()]
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
        for name, path in paths.items():
            with Store.open(path) as store:
                grade(store, "bn-vs-ln" if name == "a" else "attention-complexity", 3,
                      NOW + timedelta(days=30 + round_, hours=1 if name == "a" else 2))
    with Store.open(paths["a"]) as a, Store.open(paths["b"]) as b:
        for store in (a, b, a):
            sync(store, hub_url, now=NOW + timedelta(days=60))
        assert device_state(a) == device_state(b)
        assert len(device_state(a)["reviews"]) == 2 * CARDS * 2 + 6


def test_a_large_sync_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    import pexpect

    _busy_device(tmp_path / "a.db", reviews_per_card=16).close()  # 2,550 events: a large sync
    (tmp_path / "hubs").mkdir()
    args = ["--db", str(tmp_path / "a.db"), "sync"]
    child = spawn(*args, f"sqlite:///{tmp_path / 'hubs' / 'hub.db'}", size=(24, 100))
    child.timeout = 120  # a large push on a slow machine
    child.expect("pushing")
    child.expect("2550/2550")
    child.expect("pushed 2,550")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    piped = run(*args, f"sqlite:///{tmp_path / 'hubs' / 'another-hub.db'}")  # the same large push, to a pipe
    assert piped.returncode == 0 and "pushed 2,550" in piped.stdout
    assert "pushing" not in piped.stderr and "\x1b" not in piped.stdout + piped.stderr
