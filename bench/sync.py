"""llmcards sync benchmark: workload M (10k cards, ~190k reviews) through a SQLite hub and PostgreSQL.

    .venv/bin/python bench/sync.py [--runs 3] [--no-pg] [--pg-url URL]

PostgreSQL: ``--pg-url`` or ``$LLMCARDS_TEST_PG_URL`` (``eval "$(bash .ci/postgres.sh start)"`` starts a
throwaway server and sets it); the password comes from ``$PGPASSWORD`` or ``$LLMCARDS_TEST_PG_PASSWORD``.
Each run gets a hub of its own (a new SQLite file, or a new PostgreSQL schema).

Writes bench/sync_results.md and bench/sync_results.json. See bench/README.md ("Sync") for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workloads as wl  # type: ignore[import-not-found, unused-ignore]  # noqa: E402

CACHE = BENCH / ".cache"
WORK = CACHE / "sync"
NOW = wl.NOW + timedelta(hours=1)
TARGETS = {  # seconds, from issue #11
    "first sync of M": 15.0,
    "a sync with nothing new (sqlite)": 0.3,
    "a sync with nothing new (postgresql)": 0.5,
    "a sync of 1,000 new reviews": 1.0,
    "replay of M's reviews": 5.0,
}


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Wall and CPU seconds of the block."""
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    out["wall"] = time.perf_counter() - wall
    out["cpu"] = time.process_time() - cpu


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def copy_store(src: Path, dst: Path) -> Path:
    fresh(dst)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


class Hubs:
    """A new hub for each run: a SQLite file, or a schema of its own on the PostgreSQL server."""

    def __init__(self, pg_url: str | None) -> None:
        self.pg_url = pg_url
        self.schemas: list[str] = []

    def new(self, kind: str, tag: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{fresh(WORK / f'hub-{tag}.db')}"
        from sqlalchemy import create_engine, text

        assert self.pg_url is not None
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.pg_url)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        self.schemas.append(schema)
        return f"{self.pg_url}?options=-csearch_path%3D{schema}"

    def drop_all(self) -> None:
        if not self.schemas:
            return
        from sqlalchemy import create_engine, text

        assert self.pg_url is not None
        engine = create_engine(self.pg_url)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def grade_many(store: Any, count: int, at: datetime) -> int:
    """``count`` reviews as the review screen makes them (live scheduler, one commit each sitting)."""
    from llmcards.models import Grade
    from llmcards.scheduler import Scheduler, study_day

    settings = store.settings()
    scheduler = Scheduler(settings)
    ids = [r[0] for r in store.conn.execute(
        "SELECT id FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 ORDER BY due LIMIT ?", (count,))]
    with store.write():
        for n, card_id in enumerate(ids):
            card = store.cards.require(card_id)
            when = at + timedelta(seconds=n)
            after = scheduler.review(card.schedule, Grade.GOOD, when, card_id=card_id)
            store.queue.record_review(card_id, card.schedule, after, rating=Grade.GOOD, reviewed_at=when,
                                      study_day=study_day(when, settings.day_starts_at), duration_ms=4000)
    return len(ids)


def cold_sync(db: Path, url: str, env: dict[str, str]) -> float:
    """``llmcards sync`` in a new process, wall seconds from spawn to exit."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "llmcards", "--db", str(db), "sync", url],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return seconds


def floors(store_m: Path) -> dict[str, float]:
    """What Python and SQLite alone cost here, to read the figures against."""
    out: dict[str, float] = {}
    for name, code in [("python -c pass", "pass"), ("import sqlalchemy", "import sqlalchemy"),
                       ("import llmcards.cli, sqlalchemy", "import llmcards.cli, sqlalchemy")]:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - started)
        out[name] = min(times)
    # Writing M's review log into an empty copy of the table (its indexes included), and committing.
    scratch = copy_store(store_m, WORK / "floor.db")
    conn = sqlite3.connect(scratch, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    rows = conn.execute("SELECT * FROM review_logs").fetchall()
    conn.execute("DELETE FROM review_logs")
    with measured() as m:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO review_logs VALUES ({','.join('?' * len(rows[0]))})", rows)
        conn.execute("COMMIT")
    conn.close()
    fresh(scratch)
    out["insert M's review log + commit"] = m["wall"]
    return out


def run_once(kind: str, run: int, hubs: Hubs, store_m: Path, env: dict[str, str]) -> dict[str, dict[str, float]]:
    from llmcards.hubsync import sync
    from llmcards.replay import replay_cards
    from llmcards.store import Store
    from llmcards.sync import import_file

    out: dict[str, dict[str, float]] = {}
    url = hubs.new(kind, f"{run}")
    a_path = copy_store(store_m, WORK / f"a-{kind}.db")
    b_path = fresh(WORK / f"b-{kind}.db")
    with Store.open(a_path) as a:
        with measured() as m:
            result = sync(a, url, now=NOW)
        out["first sync of M"] = {**m, "events": result.pushed}
    with Store.open(b_path) as b:
        import_file(b, None, now=NOW)
        with measured() as m:
            result = sync(b, url, now=NOW)
        out["a second device joins (pulls M)"] = {**m, "events": result.pulled}
    with Store.open(a_path) as a:
        sync(a, url, now=NOW)  # the cursor moves past what b pushed (nothing)
        with measured() as m:
            result = sync(a, url, now=NOW)
        assert result.pushed == result.pulled == 0
        out[f"a sync with nothing new ({kind})"] = m
    out[f"a sync with nothing new ({kind}), cold `llmcards sync` process"] = {"wall": cold_sync(a_path, url, env)}
    with Store.open(a_path) as a:
        graded = grade_many(a, 1000, NOW + timedelta(minutes=5))
        with measured() as m:
            result = sync(a, url, now=NOW + timedelta(hours=1))
        assert result.pushed_reviews == graded == 1000, (result.pushed_reviews, graded)
        out["a sync of 1,000 new reviews"] = {**m, "side": 0}
    with Store.open(b_path) as b:
        with measured() as m:
            result = sync(b, url, now=NOW + timedelta(hours=1))
        assert result.pulled_reviews == 1000
        out["a sync of 1,000 new reviews, pulled by the other device"] = m
    if kind == "sqlite":  # the replay is the same whatever the hub
        with Store.open(a_path) as a:
            reviews = a.conn.execute("SELECT count(*) FROM review_logs WHERE cram = 0").fetchone()[0]
            with measured() as m:
                report = replay_cards(a)
            assert report.changed == (), "the live schedules are not what a replay gives"
            out["replay of M's reviews"] = {**m, "reviews": reviews}
    for path in (a_path, b_path):
        fresh(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pg", action="store_true", help="only the SQLite hub")
    parser.add_argument("--pg-url", default=os.environ.get("LLMCARDS_TEST_PG_URL"))
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.pop("LLMCARDS_BANK", None)  # M was built with the bundled bank
    if not os.environ.get("PGPASSWORD") and os.environ.get("LLMCARDS_TEST_PG_PASSWORD"):
        os.environ["PGPASSWORD"] = os.environ["LLMCARDS_TEST_PG_PASSWORD"]
    kinds = ["sqlite"] + ([] if args.no_pg or not args.pg_url else ["postgresql"])
    if "postgresql" not in kinds and not args.no_pg:
        print("no PostgreSQL (eval \"$(bash .ci/postgres.sh start)\" or --pg-url); SQLite hub only", file=sys.stderr)
    store_m, manifest = wl.ensure(wl.WORKLOADS["M"], CACHE)
    env = {**os.environ, "LLMCARDS_NOW": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a person's Python caches compiled modules
    load_before = os.getloadavg()
    hubs = Hubs(args.pg_url)
    samples: dict[str, list[dict[str, float]]] = {}
    try:
        for run in range(args.runs):
            for kind in kinds:
                print(f"run {run + 1}/{args.runs}, {kind} hub...", file=sys.stderr, flush=True)
                for name, sample in run_once(kind, run, hubs, store_m, env).items():
                    samples.setdefault(f"{name} [{kind}]" if "nothing new" not in name else name, []).append(sample)
    finally:
        hubs.drop_all()
    floor = floors(store_m)
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"SQLite {sqlite3.sqlite_version}",
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "runs": args.runs, "workload": {k: manifest[k] for k in ("cards", "reviews")},
        "samples": samples, "floors": floor,
    }
    (BENCH / "sync_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "sync_results.md").write_text(report(results))
    print(report(results))


def _target(name: str) -> float | None:
    for key, seconds in TARGETS.items():
        if name.startswith(key) and "cold" not in name and "pulled" not in name and "joins" not in name:
            return seconds
    return None


def report(res: dict[str, Any]) -> str:
    fmt: Callable[[float], str] = lambda s: f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"  # noqa: E731
    lines = [
        "# Sync benchmark results",
        "",
        f"Run {res['date']} on {res['machine']}; load average {res['load_average'][:3]} before, "
        f"{res['load_average'][3:]} after (other work shared the machine). Workload M: "
        f"{res['workload']['cards']:,} cards, {res['workload']['reviews']:,} reviews. Median of {res['runs']} runs, "
        "each with a new hub and fresh copies of the stores; times are measured around `llmcards.hubsync.sync` "
        "in one process (imports excluded) unless the row says *cold process*. Produced by "
        "`.venv/bin/python bench/sync.py`; see README.md for the method.",
        "",
        "| measure | median wall | median CPU | target | status |",
        "|---|---|---|---|---|",
    ]
    for name, runs in res["samples"].items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs) if all("cpu" in r for r in runs) else None
        target = _target(name)
        status = "—" if target is None else ("met" if wall <= target else "missed")
        lines.append(f"| {name} | {fmt(wall)} | {fmt(cpu) if cpu is not None else '—'} | "
                     f"{'—' if target is None else '≤ ' + fmt(target)} | {status} |")
    lines += ["", "Floors (the same machine, the same run):", "", "| floor | best of 3 |", "|---|---|"]
    lines += [f"| {name} | {fmt(seconds)} |" for name, seconds in res["floors"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
