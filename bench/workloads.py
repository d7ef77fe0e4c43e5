"""Build the benchmark stores S, M and L by simulating a learner through llmcards' own API.

Cards are created with ``llmcards.sync.sync_questions`` / ``llmcards.sync.import_file`` (the same
code ``llmcards import`` runs). Every review is computed by ``llmcards.scheduler.Scheduler``
(FSRS, fuzz on) and recall is drawn from ``Scheduler.retrievability`` with a seeded RNG, so a
card's row and its history always agree.

Writing 2M reviews through ``Store.record_review`` (one fsync'd transaction per grade) would
take hours, so the bulk path below computes the same rows in Python and writes them with
``executemany`` in large transactions through ``store.conn``, with the column semantics of
``Store.record_review`` (``to_db`` datetimes, ``study_day`` from ``llmcards.scheduler``,
``prev_interval_days`` from the state before the grade). :func:`verify_bulk_path` replays a
sample through ``Store.record_review`` itself and checks that both paths write identical rows,
so a change in the store's semantics fails the build instead of silently skewing the bench.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# The pinned clock of every measurement (LLMCARDS_NOW), and the learner's history window.
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
NOW_ISO = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
HISTORY_DAYS = 3 * 365
# The learner's last session ended one day before NOW, so about one day of reviews is due.
BACKLOG = timedelta(days=1)
NEVER_STUDIED = 0.03  # share of the generated cards that are still new at NOW
RETENTION = "0.95"  # desired_retention of the simulated collection (about 20 reviews per card)
BUILD_VERSION = "1"  # bump when the simulation changes


@dataclass(frozen=True)
class Workload:
    name: str
    cards: int | None  # None: the bundled bank as it ships
    seed: int
    note: str


WORKLOADS: dict[str, Workload] = {
    "S": Workload("S", None, 1, "the bundled bank, freshly imported, no reviews"),
    "M": Workload("M", 10_000, 2, "10k cards, ~200k reviews over 3 years"),
    "L": Workload("L", 100_000, 3, "100k cards, ~2M reviews over 3 years"),
}


def cache_key(w: Workload) -> str:
    """Changes when the workload, this builder or the store's schema changes."""
    src = Path(__import__("llmcards").__file__).resolve().parent
    h = hashlib.sha256()
    h.update(f"{w}|{BUILD_VERSION}|{NOW_ISO}|{HISTORY_DAYS}|{BACKLOG}|{NEVER_STUDIED}|{RETENTION}".encode())
    for part in sorted((src / "schema").glob("*.py")):  # the schema package: its steps and models
        h.update(part.read_bytes())
    for fn in (generated_questions, _grade, simulate_card, _chunk_seed, intro_time, simulate_chunk, _create, build):
        h.update(inspect.getsource(fn).encode())
    h.update(f"{CARD_UPDATE}|{LOG_COLUMNS}".encode())
    return h.hexdigest()[:12]


def import_file_key() -> str:
    """Changes when the generated import file would change."""
    return hashlib.sha256((inspect.getsource(generated_questions) + inspect.getsource(write_bank_yaml)
                           ).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- card text
def bank_questions() -> list[Any]:
    from llmcards.bank import bundled_bank_path, load_bank

    return load_bank(bundled_bank_path())


def generated_questions(count: int, *, prefix: str, label: str) -> list[Any]:
    """``count`` distinct cards whose text, tags and sources are drawn from the bundled bank.

    Every generated card has an answer (a heavy user's collection has no unanswered cards);
    questions and answers keep the bank's Markdown, LaTeX and Chinese text.
    """
    from llmcards.models import Question

    bank = bank_questions()
    answered = [q for q in bank if q.answer]
    out = []
    for i in range(count):
        t = bank[i % len(bank)]
        a = answered[(i * 7) % len(answered)]
        out.append(Question(
            id=f"{prefix}{i:06d}-{t.id}"[:100],
            question=f"{t.question} ({label} {i})",
            answer=a.answer,
            tags=t.tags,
            sources=t.sources,
        ))
    return out


def write_bank_yaml(questions: Sequence[Any], path: Path) -> None:
    """A bank file in the documented format (block scalars for multi-line text)."""
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):  # type: ignore[misc, valid-type]
        pass

    def _str(dumper: Any, value: str) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, _str)
    doc = {"version": 1, "cards": [
        {"id": q.id, "question": q.question, "answer": q.answer, "tags": list(q.tags), "sources": list(q.sources)}
        for q in questions
    ]}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        yaml.dump(doc, fh, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=1000, default_flow_style=None)
    tmp.replace(path)


NOTES_BYTES = 5 * 1024 * 1024  # the generated notes file of the notes-import figures
NOTES_STYLES = ("heading", "numbered", "indented", "bold", "bold-item", "qa", "quote", "list")


def generated_notes(target_bytes: int = NOTES_BYTES) -> str:
    """A Markdown notes file of about ``target_bytes``, in the styles of the seed notes.

    Chapters of 40 questions take turns in the styles the importer reads: headings ending
    in ？ (001), numbered headings ``## 04. …`` (003), ``### 3.`` headings with indented answers
    (002), bold numbered items ``**3、…**`` (000), ``1. **…**`` list items, ``Q:``/``A:`` pairs,
    blockquoted questions (004), and a ``## 面试题`` list of unanswered questions (004). Question
    and answer text come from the bundled bank (its Markdown, LaTeX, code, tables and Chinese),
    every other answer doubled, so a 5 MB file has about 5,000 questions.
    """
    bank = bank_questions()
    answered = [q for q in bank if q.answer]
    parts: list[str] = []
    size = 0
    i = 0
    chapter = 0
    while size < target_bytes:
        style = NOTES_STYLES[chapter % len(NOTES_STYLES)]
        chapter += 1
        lines = [f"# 第{chapter}章 {style}", ""]
        if style == "list":
            lines = [f"# 第{chapter}章", "", "## 面试题", ""]
        for k in range(1, 41):
            t = bank[i % len(bank)]
            question = f"{t.question.rstrip('?？')} ({i})？"
            a = answered[(i * 7) % len(answered)].answer or ""
            if i % 2 == 0:
                a += "\n\n" + (answered[(i * 11 + 3) % len(answered)].answer or "")
            i += 1
            if style not in ("heading", "numbered"):  # a heading would end the answer early
                a = "\n".join(line.lstrip("#").lstrip() if line.startswith("#") else line for line in a.split("\n"))
            if style == "heading":
                lines += [f"## {question}", a, ""]
            elif style == "numbered":
                lines += [f"## {chapter * 100 + k:02d}. {question}", a, ""]
            elif style == "indented":
                lines += [f"### {k}.{question}"] + [("    " + line) if line.strip() else "" for line in a.split("\n")]
                lines.append("")
            elif style == "bold":
                lines += [f"**{k}、{question}**", "", a, ""]
            elif style == "bold-item":
                lines += [f"{k}. **{question}**"] + [("   " + line) if line.strip() else "" for line in a.split("\n")]
                lines.append("")
            elif style == "qa":
                lines += [f"Q: {question}", f"A: {a}", ""]
            elif style == "quote":
                lines += [f"> {question}", "", a, ""]
            else:
                lines.append(f"{k}. {question}")
        text = "\n".join(lines) + "\n\n"
        parts.append(text)
        size += len(text.encode("utf-8"))
    return "".join(parts)


def notes_file_key() -> str:
    """Changes when the generated notes file would change."""
    return hashlib.sha256((inspect.getsource(generated_notes) + repr(NOTES_STYLES) + str(NOTES_BYTES)
                           ).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- the learner
def _grade(rng: random.Random, is_new: bool, recall: float) -> int:
    """A self-grade: recall is drawn from FSRS retrievability; a pass is Hard/Good/Easy."""
    if is_new:
        x = rng.random()
        return 1 if x < 0.2 else 2 if x < 0.3 else 4 if x > 0.9 else 3
    if rng.random() >= recall:
        return 1
    x = rng.random()
    return 2 if x < 0.10 else 4 if x > 0.95 else 3


def simulate_card(sched: Any, rng: random.Random, card_id: str, start: datetime, end: datetime,
                  day_starts_at: int, emit: Callable[..., None]) -> Any:
    """Review one card from ``start`` until the next review would fall at or after ``end``.

    ``emit(card_id, before, after, grade, reviewed_at, study_day, duration_ms)`` receives each
    grade; the final CardState is returned. Reviews happen when due: learning steps within
    minutes, review cards at some time during the day they fall due.
    """
    from llmcards.models import CardState, Grade, State
    from llmcards.scheduler import study_day

    state = CardState()
    t = start
    while t < end:
        recall = sched.retrievability(state, t)
        grade = Grade(_grade(rng, state.state == State.NEW, recall))
        after = sched.review(state, grade, t, card_id=card_id)
        duration = int(min(60_000, 1500 + rng.expovariate(1 / 7000)))
        emit(card_id, state, after, grade, t, study_day(t, day_starts_at), duration)
        state = after
        due = after.due or t
        if after.state == State.REVIEW:
            t = max(due, t) + timedelta(seconds=rng.uniform(0, 20 * 3600))
        else:
            t = max(due, t) + timedelta(seconds=rng.uniform(5, 300))
    return state


def _chunk_seed(seed: int, chunk: int) -> str:
    return f"llmcards-bench:{seed}:{chunk}"


def intro_time(index: int, introduced: int, t0: datetime, t_end: datetime, rng: random.Random) -> datetime:
    """Cards are introduced in bank order, evenly over the history window."""
    span = (t_end - t0).total_seconds() - 86400
    return t0 + timedelta(seconds=(index + rng.random()) / introduced * span)


def simulate_chunk(args: tuple) -> tuple[list[tuple], list[tuple]]:
    """Worker: simulate cards ``[(card_id, index), ...]``; return card rows and log rows.

    The rows follow ``Store.record_review``: the card gets ``_schedule_params(after)``; the
    log gets rating, reviewed_at, study_day, duration_ms, prev_state, prev_interval_days,
    state, stability, difficulty, due and cram=0.
    """
    cards, introduced, seed, chunk, settings_text, device = args
    from llmcards.config import Settings
    from llmcards.models import uuid7
    from llmcards.scheduler import Scheduler
    from llmcards.store import to_db

    settings = Settings.from_strings(settings_text)
    sched = Scheduler(settings, fuzz=True)
    random.seed(_chunk_seed(seed, chunk))  # fsrs draws its fuzz from the global RNG
    rng = random.Random(_chunk_seed(seed, chunk) + ":learner")
    t0 = NOW - timedelta(days=HISTORY_DAYS)
    t_end = NOW - BACKLOG
    logs: list[tuple] = []

    def emit(card_id: str, before: Any, after: Any, grade: Any, at: datetime, day: Any, duration: int) -> None:
        prev_interval = None
        if before.due is not None and before.last_review is not None:
            prev_interval = (before.due - before.last_review).total_seconds() / 86400
        logs.append((card_id, int(grade), to_db(at), day.isoformat(), duration, int(before.state), prev_interval,
                     int(after.state), after.stability, after.difficulty, to_db(after.due), 0, uuid7(at), device))

    rows = []
    for card_id, index in cards:
        start = intro_time(index, introduced, t0, t_end, rng)
        s = simulate_card(sched, rng, card_id, start, t_end, settings.day_starts_at, emit)
        rows.append((int(s.state), s.step, s.stability, s.difficulty, to_db(s.due), to_db(s.last_review),
                     s.reps, s.lapses, card_id))
    return rows, logs


CARD_UPDATE = ("UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
               "last_review = ?, reps = ?, lapses = ? WHERE id = ?")
LOG_COLUMNS = ("card_id, rating, reviewed_at, study_day, duration_ms, prev_state, prev_interval_days, "
               "state, stability, difficulty, due, cram, uuid, device")


# ----------------------------------------------------------------------------- building
def _log(msg: str) -> None:
    print(f"  [build] {msg}", file=sys.stderr, flush=True)


def _create(path: Path, w: Workload, t_created: datetime) -> tuple[Any, list[tuple[str, int]], int]:
    """A new store with the bundled bank (and the generated cards); returns the cards to study."""
    from llmcards.store import Store
    from llmcards.sync import import_file, sync_questions

    store = Store.open(path)
    if w.cards is not None:
        store.save_setting("desired_retention", RETENTION, now=t_created)  # in effect for the whole history
    import_file(store, None, now=t_created)  # the bundled bank, exactly as `llmcards import`
    if w.cards is None:
        return store, [], 0
    bank_n = store.cards.count()
    generated = generated_questions(w.cards - bank_n, prefix="g", label="card")
    sync_questions(store, generated, origin="user", import_path=str(path.parent / f"{w.name}-generated.yaml"),
                         now=t_created, source=f"generated {w.name}")
    ordered = [(r[0], r[1] is not None) for r in
               store.conn.execute("SELECT id, answer FROM cards ORDER BY position")]
    introduced = int(round(len(ordered) * (1 - NEVER_STUDIED)))
    # Unanswered bank cards never reach the review queue, so the learner never studies them.
    todo = [(cid, i) for i, (cid, answered) in enumerate(ordered[:introduced]) if answered]
    return store, todo, introduced


def build(w: Workload, path: Path, *, jobs: int | None = None) -> dict[str, Any]:
    """Build workload ``w`` at ``path`` (replaced if present); returns its manifest."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = NOW - timedelta(days=HISTORY_DAYS)
    store, todo, introduced = _create(path, w, t0 if w.cards is not None else NOW - timedelta(hours=1))
    conn = store.conn
    reviews = 0
    if todo:
        conn.execute("PRAGMA synchronous = OFF")  # build only; measured commands open with FULL
        settings_text = store.settings_text()
        # Log indexes are dropped during the bulk load and recreated (same SQL) afterwards.
        index_sql = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'review_logs' AND sql IS NOT NULL")]
        index_names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'review_logs' AND sql IS NOT NULL")]
        conn.execute(f"CREATE TEMP TABLE staged_logs AS SELECT {LOG_COLUMNS} FROM review_logs WHERE 0")
        size = 2000
        chunks = [(todo[i:i + size], introduced, w.seed, i // size, settings_text, store.device_id)
                  for i in range(0, len(todo), size)]
        jobs = jobs or min(len(chunks), os.cpu_count() or 1)
        _log(f"{w.name}: simulating {len(todo)} cards in {len(chunks)} chunks on {jobs} processes")
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            done = 0
            for rows, logs in pool.imap(simulate_chunk, chunks):
                with store.write() as c:
                    c.executemany(CARD_UPDATE, rows)
                    c.executemany(f"INSERT INTO temp.staged_logs({LOG_COLUMNS}) VALUES ({','.join('?' * 14)})", logs)
                reviews += len(logs)
                done += len(rows)
                if done % 20000 < size:
                    _log(f"{w.name}: {done}/{len(todo)} cards, {reviews} reviews, "
                         f"{time.perf_counter() - started:.0f}s")
        # The log gets its rows in time order, as a real store does (ids grow with time).
        with store.write() as c:
            for name in index_names:
                c.execute(f'DROP INDEX "{name}"')
            c.execute(f"INSERT INTO review_logs({LOG_COLUMNS}) SELECT {LOG_COLUMNS} FROM temp.staged_logs "
                      "ORDER BY reviewed_at")
            c.execute("DROP TABLE temp.staged_logs")
            for sql in index_sql:
                c.execute(sql)
        conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = dict(conn.execute(
        "SELECT 'cards', count(*) FROM cards UNION ALL SELECT 'reviews', count(*) FROM review_logs "
        "UNION ALL SELECT 'new', count(*) FROM cards WHERE state = 0 "
        "UNION ALL SELECT 'review_state', count(*) FROM cards WHERE state = 2").fetchall())
    due_now = store.queue.count_due(NOW)
    store.close()
    manifest = {
        "workload": w.name, "note": w.note, "cards": counts["cards"], "reviews": counts["reviews"],
        "new_cards": counts["new"], "review_state_cards": counts["review_state"], "due_at_now": due_now,
        "now": NOW_ISO, "build_seconds": round(time.perf_counter() - started, 1),
        "bytes": path.stat().st_size, "key": cache_key(w),
    }
    _log(f"{w.name}: built in {manifest['build_seconds']}s: {counts['cards']} cards, {counts['reviews']} reviews, "
         f"{due_now} due at {NOW_ISO}, {manifest['bytes'] / 1e6:.0f} MB")
    return manifest


def verify_bulk_path(tmpdir: Path, cards: int = 40) -> None:
    """Replay the same learner through ``Store.record_review`` and compare every column.

    Two stores get the same cards; one is written by the bulk path, the other by one
    ``Store.record_review`` call per grade (the path ``llmcards review`` uses). Any difference
    in the cards table or the review log (apart from row ids) fails the build.
    """
    from llmcards.config import Settings
    from llmcards.scheduler import Scheduler

    w = Workload("verify", 300, 99, "verification")
    a_path, b_path = tmpdir / "verify-bulk.db", tmpdir / "verify-api.db"
    for p in (a_path, b_path):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    t0 = NOW - timedelta(days=HISTORY_DAYS)
    a, todo, introduced = _create(a_path, w, t0)
    b, _, _ = _create(b_path, w, t0)
    todo = todo[::max(1, len(todo) // cards)][:cards]
    settings_text = a.settings_text()
    rows, logs = simulate_chunk((todo, introduced, w.seed, 0, settings_text, a.device_id))
    with a.write() as c:
        c.executemany(CARD_UPDATE, rows)
        c.executemany(f"INSERT INTO review_logs({LOG_COLUMNS}) VALUES ({','.join('?' * 14)})", logs)

    b.conn.execute("PRAGMA synchronous = OFF")
    settings = Settings.from_strings(settings_text)
    sched = Scheduler(settings, fuzz=True)
    random.seed(_chunk_seed(w.seed, 0))
    rng = random.Random(_chunk_seed(w.seed, 0) + ":learner")
    t_end = NOW - BACKLOG

    def emit(card_id: str, before: Any, after: Any, grade: Any, at: datetime, day: Any, duration: int) -> None:
        b.queue.record_review(card_id, before, after, rating=grade, reviewed_at=at, study_day=day, duration_ms=duration)

    for card_id, index in todo:
        start = intro_time(index, introduced, t0, t_end, rng)
        simulate_card(sched, rng, card_id, start, t_end, settings.day_starts_at, emit)

    def dump(s: Any) -> tuple[list, list]:
        cols = [r[1] for r in s.conn.execute("PRAGMA table_info(cards)")]
        # Row ids, review ids (random bits) and devices (one per store) differ between the two stores.
        lcols = [r[1] for r in s.conn.execute("PRAGMA table_info(review_logs)") if r[1] not in ("id", "uuid", "device")]
        return (s.conn.execute(f"SELECT {', '.join(cols)} FROM cards ORDER BY id").fetchall(),
                s.conn.execute(f"SELECT {', '.join(lcols)} FROM review_logs ORDER BY card_id, reviewed_at").fetchall())

    ca, la = dump(a)
    cb, lb = dump(b)
    a.close()
    b.close()
    if len(la) < cards or ca != cb or la != lb:
        def first_difference(x: list[Any], y: list[Any]) -> object:
            """The first pair of rows that differ; the lengths, when one list is a prefix of the other."""
            return next(((p, q) for p, q in zip(x, y, strict=False) if p != q), (len(x), len(y)))

        diff_c = first_difference(ca, cb) if ca != cb else None
        diff_l = first_difference(la, lb) if la != lb else None
        raise SystemExit(f"bulk build path disagrees with Store.record_review: cards {diff_c} logs {diff_l}")
    _log(f"bulk path verified against Store.record_review ({len(todo)} cards, {len(la)} grades)")
    for p in (a_path, b_path):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)


def ensure(w: Workload, cache: Path, *, rebuild: bool = False) -> tuple[Path, dict[str, Any]]:
    """The cached store for ``w`` (built when missing or stale) and its manifest."""
    key = cache_key(w)
    path = cache / f"store-{w.name}-{key}.db"
    manifest_path = path.with_suffix(".json")
    if not rebuild and path.exists() and manifest_path.exists():
        return path, json.loads(manifest_path.read_text())
    for old in cache.glob(f"store-{w.name}-*"):
        old.unlink()
    if w.cards is not None:
        verify_bulk_path(cache)
    tmp = cache / f"building-{w.name}.db"
    manifest = build(w, tmp)
    tmp.replace(path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return path, manifest


if __name__ == "__main__":  # python bench/workloads.py M  -- build one workload
    cache_dir = Path(__file__).resolve().parent / ".cache"
    for name in sys.argv[1:] or ["S", "M"]:
        print(ensure(WORKLOADS[name], cache_dir, rebuild=True)[1])
