"""llmcards benchmark: workloads S, M, L measured side by side with Anki and with the floor.

    .venv/bin/python bench/run.py [--workloads S,M,L] [--runs 5] [--grades 200]
                                  [--anki-python PATH | --no-anki] [--rebuild]

Writes bench/results.md (the table bench/README.md refers to) and bench/results.json.
Built stores, the Anki venv and scratch copies live in bench/.cache/ (gitignored).
See bench/README.md for what each figure means and how the workloads are built.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import platform
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workloads as wl  # noqa: E402

CACHE = BENCH / ".cache"
WORK = CACHE / "work"
ROWS, COLS = 40, 120
PEER_SCRIPT = BENCH / "anki_peer.py"
MB = 1024  # ru_maxrss is in KiB on Linux

# Screen patterns (bytes, UTF-8): the question panel's bottom-left corner, the header counter.
CORNER = "╰".encode()
DOT = "·".encode()
FIRST_QUESTION = b"question.*?" + CORNER
FOOTER_END = b"q quit"
REVEALED = b"Easy.*?q quit"
SUMMARY = rb"Reviewed \d+ card|No cards reviewed"


def next_question(done: int) -> bytes:
    return b"done " + str(done).encode() + b" " + DOT + b" left.*?question.*?" + CORNER


# ----------------------------------------------------------------------------- processes
@dataclass
class Sample:
    seconds: float
    rss_kb: int
    extra: dict[str, Any] = field(default_factory=dict)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLMCARDS_") and k not in ("NO_COLOR", "COLUMNS", "LINES", "EDITOR", "VISUAL",
                                                          "FORCE_COLOR", "PYTHONPROFILEIMPORTTIME",
                                                          # A person's Python caches compiled modules; without
                                                          # the cache every cold start compiles llmcards again.
                                                          "PYTHONDONTWRITEBYTECODE")}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color", LLMCARDS_NOW=wl.NOW_ISO)
    env.update(extra)
    return env


RSS_FILE = WORK / "maxrss.txt"


def timed(argv: list[str]) -> list[str]:
    """``argv`` under GNU time, which reports the command's own max RSS.

    (wait4 on a child of this process would not do: Linux counts the pages of the forked
    copy of this, much larger, process before exec into the child's max RSS.)
    The wrapper adds about 1 ms to every figure, floors included.
    """
    return ["/usr/bin/time", "-f", "%M", "-o", str(RSS_FILE), *argv]


def read_rss() -> int:
    return int(RSS_FILE.read_text().strip().splitlines()[-1])


def run_cmd(argv: list[str], env: dict[str, str], *, check: bool = True) -> tuple[Sample, bytes]:
    """Run to completion with output to a pipe; time spawn -> exit; max RSS from GNU time."""
    RSS_FILE.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(timed(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out, _ = proc.communicate()
    t1 = time.perf_counter()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{out.decode(errors='replace')[-2000:]}")
    return Sample(t1 - t0, read_rss() if RSS_FILE.exists() else 0), out


class Pty:
    """A child in a pseudo-terminal (ROWS x COLS) driven with pexpect; GNU time gives its max RSS."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import pexpect.fdpexpect

        RSS_FILE.unlink(missing_ok=True)
        argv = timed(argv)
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal, then become the command
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.child = pexpect.fdpexpect.fdspawn(fd, timeout=120, maxread=65536)
        if os.environ.get("BENCH_TRACE"):  # BENCH_TRACE=FILE keeps what the screen received
            self.child.logfile_read = open(os.environ["BENCH_TRACE"], "ab")

    def expect(self, pattern: Any) -> int:
        return self.child.expect(pattern)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self) -> int:
        """Wait for EOF and the exit; returns the child's max RSS in KiB."""
        import pexpect

        self.child.expect(pexpect.EOF)
        _, status = os.waitpid(self.pid, 0)
        try:
            os.close(self.fd)
        except OSError:
            pass
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"child exited {os.waitstatus_to_exitcode(status)}: "
                               f"{self.child.before[-1000:]!r}")
        return read_rss()


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def copy_store(src: Path, dst: Path, *, backed_up_today: bool = False) -> Path:
    """A fresh copy of a store, on disk before the measured command starts (no writeback of the
    copy competes with the command's own fsyncs).

    By default it has no backups beside it: a command run on it is the day's first, so a review
    sitting pays for the day's backup (copied in the background from its first grade), and the
    backups of earlier runs do not pile up in bench/.cache/work/backups. ``backed_up_today``: the
    day's backup is already there (a hard link to ``src``, the store as it was), as for every
    command after the day's first write."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    backups = dst.parent / "backups"
    shutil.rmtree(backups, ignore_errors=True)
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())
    if backed_up_today:
        backups.mkdir()
        os.link(src, backups / f"{dst.stem}-{wl.NOW.strftime('%Y%m%dT%H%M%SZ')}-daily.db")
    return dst


# ----------------------------------------------------------------------------- measurements
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.runs: int = args.runs
        self.py = str(Path(sys.executable))
        self.llmcards = str(Path(sys.executable).parent / "llmcards")
        self.env = clean_env()
        self.results: dict[str, Any] = {"workloads": {}, "floor": {}, "peer": {}, "info": {}}
        self.anki_py: str | None = None
        self.has_stats = False

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def repeat(self, name: str, once: Callable[[], Sample], runs: int | None = None) -> list[Sample]:
        """One untimed warm-up, then ``runs`` cold processes."""
        once()
        samples = [once() for _ in range(runs or self.runs)]
        med = statistics.median(s.seconds for s in samples)
        self.log(f"    {name}: median {med * 1000:.0f} ms, max RSS {max(s.rss_kb for s in samples) / MB:.0f} MB")
        return samples

    @staticmethod
    def summary(samples: list[Sample]) -> dict[str, Any]:
        return {"median_s": statistics.median(s.seconds for s in samples),
                "samples_s": [round(s.seconds, 5) for s in samples],
                "rss_mb": max(s.rss_kb for s in samples) / MB}

    # ---- llmcards commands
    def llm(self, db: Path, *args: str) -> list[str]:
        return [self.llmcards, "--db", str(db), *args]

    def first_card(self, db: Path) -> Sample:
        p = Pty(self.llm(db, "review"), self.env)
        p.expect(FIRST_QUESTION)
        t1 = time.perf_counter()
        p.expect(FOOTER_END)
        p.send(b"q")
        return Sample(t1 - p.t0, p.finish())

    def key_session(self, template: Path, scratch: Path, grades: int) -> Sample:
        """One sitting: space, then '3', ``grades`` times; time '3' -> next question on screen."""
        db = copy_store(template, scratch)
        p = Pty(self.llm(db, "review"), self.env)
        p.expect(FIRST_QUESTION)
        p.expect(FOOTER_END)
        key_ms, reveal_ms = [], []
        for i in range(grades):
            t0 = time.perf_counter()
            p.send(b" ")
            p.expect(REVEALED)
            t1 = time.perf_counter()
            p.send(b"3")
            which = p.expect([next_question(i + 1), SUMMARY])
            t2 = time.perf_counter()
            if which == 1:
                raise RuntimeError(f"the queue ran out after {i + 1} grades; need {grades}")
            p.expect(FOOTER_END)
            reveal_ms.append((t1 - t0) * 1000)
            key_ms.append((t2 - t1) * 1000)
        p.send(b"q")
        rss = p.finish()
        return Sample(statistics.median(key_ms) / 1000, rss,
                      {"key_ms": key_ms, "reveal_ms": reveal_ms, "p99_ms": nearest_rank(key_ms, 0.99)})

    def command(self, db: Path, *args: str) -> Sample:
        return run_cmd(self.llm(db, *args), clean_env(COLUMNS=str(COLS), LINES=str(ROWS)))[0]

    # ---- floors
    def floors(self) -> None:
        self.log("  floor")
        f = self.results["floor"]
        f["python -c pass"] = self.summary(self.repeat(
            "python -c pass", lambda: run_cmd([self.py, "-c", "pass"], self.env)[0]))
        f["python -c 'import typer'"] = self.summary(self.repeat(
            "import typer", lambda: run_cmd([self.py, "-c", "import typer"], self.env)[0]))

    def sqlite_floor(self, db: Path) -> dict[str, Any]:
        from llmcards.store import to_db
        from llmcards.store.cards import CARD_COLUMNS

        sql = (f"SELECT {CARD_COLUMNS} FROM cards WHERE state > 0 AND suspended = 0 AND retired = 0 "
               "AND due <= ? AND (buried_until IS NULL OR buried_until <= ?) AND answer IS NOT NULL "
               "ORDER BY due, position")
        script = ("import sqlite3, sys\n"
                  "c = sqlite3.connect(sys.argv[1])\n"
                  "rows = c.execute(sys.argv[2], (sys.argv[3], sys.argv[3])).fetchall()\n"
                  "print(len(rows))\n")
        now = to_db(wl.NOW)
        return self.summary(self.repeat(
            "sqlite3 due query", lambda: run_cmd([self.py, "-c", script, str(db), sql, str(now)], self.env)[0]))

    def commit_floor(self, template: Path, scratch: Path, n: int) -> dict[str, Any]:
        """One fsync'd write transaction per grade (UPDATE card + INSERT log), as review commits."""
        script = r"""
import sqlite3, sys, time, json, uuid
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode = WAL"); c.execute("PRAGMA synchronous = FULL")
ids = [r[0] for r in c.execute("SELECT id FROM cards ORDER BY state = 0, due, position LIMIT ?", (int(sys.argv[2]),))]
out = []
for cid in ids:
    t0 = time.perf_counter()
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE cards SET reps = reps + 1, due = '2026-07-01 09:00:00.000000' WHERE id = ?", (cid,))
    c.execute("INSERT INTO review_logs(uuid, device, card_id, rating, reviewed_at, study_day, duration_ms, "
              "prev_state, state, stability, difficulty, due, cram) VALUES (?, 'floor', ?, 3, "
              "'2026-06-01 09:00:00.000000', '2026-06-01', 5000, 2, 2, 10.0, 5.0, '2026-07-01 09:00:00.000000', 0)",
              (str(uuid.uuid4()), cid))
    c.execute("COMMIT")
    out.append((time.perf_counter() - t0) * 1000)
print(json.dumps(out))
"""
        meds, p99s = [], []
        for _ in range(self.runs):
            db = copy_store(template, scratch)
            _, out = run_cmd([self.py, "-c", script, str(db), str(n)], self.env)
            ms = json.loads(out)
            meds.append(statistics.median(ms))
            p99s.append(nearest_rank(ms, 0.99))
        self.log(f"    fsync'd commit: median {statistics.median(meds):.2f} ms, p99 {statistics.median(p99s):.2f} ms")
        return {"median_ms": statistics.median(meds), "p99_ms": statistics.median(p99s)}

    # ---- export and import (issue 10)
    def transfer(self, name: str, store: Path, key: str) -> dict[str, Any]:
        """yaml and apkg exports of ~10k cards, the revlog export of every review, and the import of
        that revlog (with the replay) into a copy of the store whose review log was emptied."""
        import sqlite3

        conn = sqlite3.connect(store)
        answered = conn.execute("SELECT count(*) FROM cards WHERE retired = 0 AND answer IS NOT NULL").fetchone()[0]
        tags = conn.execute("SELECT t.tag, count(*) FROM card_tags t JOIN cards c ON c.id = t.card_id "
                            "WHERE c.retired = 0 AND c.answer IS NOT NULL GROUP BY t.tag").fetchall()
        conn.close()
        # About 10k cards: all of them at M, at L the tag whose cards number closest to 10k.
        tag, cards = (None, answered) if answered <= 12_000 else min(tags, key=lambda t: abs(t[1] - 10_000))
        select = ["--tag", tag] if tag else []
        ro = WORK / f"ro-{name}.db"
        out: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "tag": tag, "cards": cards}
        for fmt in ("yaml", "apkg"):
            target = WORK / f"export-{name}.{fmt}"
            out[fmt] = self.summary(self.repeat(f"{name} export --format {fmt} ({cards:,} cards)", lambda: self.command(
                ro, "export", "-f", fmt, "-o", str(target), *select)))  # noqa: B023 (called at once)
        revlog = WORK / f"revlog-{name}.csv"
        out["revlog"] = self.summary(self.repeat(f"{name} export --format revlog", lambda: self.command(
            ro, "export", "-f", "revlog", "-o", str(revlog))))
        out["reviews"] = sum(1 for _ in revlog.open()) - 1
        template = CACHE / f"noreviews-{name}-{key}.db"
        if not template.exists():
            for old in CACHE.glob(f"noreviews-{name}-*"):
                old.unlink()
            tmp = copy_store(store, CACHE / f"noreviews-building-{name}.db")
            conn = sqlite3.connect(tmp)
            conn.execute("DELETE FROM review_logs")
            conn.commit()
            conn.close()
            tmp.replace(template)
        scratch = WORK / f"import-reviews-{name}.db"

        def import_once() -> Sample:
            db = copy_store(template, scratch)
            return self.command(db, "import", "--reviews", str(revlog))

        # Each run takes minutes at L, so: no warm-up (the copy warms the page cache) and 3 runs.
        runs = [import_once() for _ in range(min(self.runs, self.args.import_runs))]
        median = statistics.median(s.seconds for s in runs)
        self.log(f"    {name} import --reviews ({out['reviews']:,} reviews, replay included): median {median:.1f} s, "
                 f"max RSS {max(s.rss_kb for s in runs) / MB:.0f} MB")
        out["import_reviews"] = self.summary(runs)
        out["import_reviews"]["schedules_differing"] = self.compare_schedules(store, scratch)
        scratch.unlink(missing_ok=True)
        return out

    def compare_schedules(self, original: Path, rebuilt: Path) -> int:
        """Cards whose schedule after the import differs from the simulated one (due by more than a
        second: the revlog keeps milliseconds, the simulation had microseconds)."""
        import sqlite3

        conn = sqlite3.connect(rebuilt)
        conn.execute("ATTACH DATABASE ? AS original", (str(original),))
        differing = conn.execute(
            "SELECT count(*) FROM cards a JOIN original.cards b ON a.id = b.id WHERE a.state != b.state "
            "OR a.reps != b.reps OR a.lapses != b.lapses OR abs(julianday(a.due) - julianday(b.due)) * 86400 > 1 "
            "OR abs(a.stability - b.stability) > 1e-6").fetchone()[0]
        conn.close()
        self.log(f"    schedules rebuilt by the import that differ from the simulated ones: {differing}")
        return int(differing)

    # ---- the peer
    def ensure_anki(self) -> str | None:
        if self.args.no_anki:
            return None
        if self.args.anki_python:
            return self.args.anki_python
        venv = CACHE / "anki-venv"
        py = venv / "bin" / "python"
        if not py.exists() or subprocess.run([str(py), "-c", "import anki"], capture_output=True).returncode:
            self.log(f"  creating {venv} and installing anki (pip install anki)")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "anki"], check=True)
        return str(py)

    def anki_build(self, name: str, store: Path, key: str) -> Path:
        assert self.anki_py
        version = subprocess.run([self.anki_py, "-c", "import anki.buildinfo as b; print(b.version)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        h = hashlib.sha256(f"{key}|{version}".encode() + PEER_SCRIPT.read_bytes()).hexdigest()[:12]
        path = CACHE / f"anki-{name}-{h}.anki2"
        if not path.exists():
            for old in CACHE.glob(f"anki-{name}-*"):
                shutil.rmtree(old) if old.is_dir() else old.unlink()
            tmp = CACHE / f"anki-building-{name}.anki2"
            self.log(f"  building the Anki collection for {name} (anki {version})")
            run_cmd([self.anki_py, str(PEER_SCRIPT), "build", str(store), str(tmp), wl.NOW_ISO], self.env)
            tmp.replace(path)
            shutil.rmtree(tmp.with_suffix(".media"), ignore_errors=True)
        self.results["info"]["anki_version"] = version
        return path

    def anki_prep(self, store: Path, src: Path, dst: Path, raise_limits: bool) -> dict[str, Any]:
        assert self.anki_py
        argv = [self.anki_py, str(PEER_SCRIPT), "prep", str(store), str(src), str(dst), wl.NOW_ISO]
        _, out = run_cmd(argv + (["--raise-limits"] if raise_limits else []), self.env)
        return json.loads(out.decode().strip().splitlines()[-1])

    def anki_first(self, col: Path) -> Sample:
        assert self.anki_py
        p = Pty([self.anki_py, str(PEER_SCRIPT), "first", str(col)], self.env)
        p.expect(b"READY")
        t1 = time.perf_counter()
        return Sample(t1 - p.t0, p.finish())

    def anki_answer(self, template: Path, scratch: Path, n: int) -> Sample:
        assert self.anki_py
        shutil.copyfile(template, scratch)
        s, out = run_cmd([self.anki_py, str(PEER_SCRIPT), "answer", str(scratch), str(n)], self.env)
        d = json.loads(out.decode().strip().splitlines()[-1])
        if len(d["answer_to_next_ms"]) < n - 1:
            raise RuntimeError(f"Anki's queue ran out after {len(d['answer_to_next_ms'])} answers")
        return Sample(statistics.median(d["answer_to_next_ms"]) / 1000, s.rss_kb, {
            "answer_ms": statistics.median(d["answer_ms"]), "answer_p99_ms": nearest_rank(d["answer_ms"], 0.99),
            "next_p99_ms": nearest_rank(d["answer_to_next_ms"], 0.99)})

    # ---- one workload
    def workload(self, name: str) -> None:
        w = wl.WORKLOADS[name]
        store, manifest = wl.ensure(w, CACHE, rebuild=self.args.rebuild)
        self.log(f"  workload {name}: {manifest['cards']} cards, {manifest['reviews']} reviews, "
                 f"{manifest['due_at_now']} due at {wl.NOW_ISO}")
        r: dict[str, Any] = {"manifest": manifest}
        self.results["workloads"][name] = r
        ro = copy_store(store, WORK / f"ro-{name}.db")
        # Later sessions start from this copy with limits raised, so 200 grades fit in one sitting.
        key_tpl = copy_store(store, WORK / f"keytpl-{name}.db")
        for key, value in (("reviews_per_day", "99999"), ("new_per_day", "9999")):
            run_cmd(self.llm(key_tpl, "config", "set", key, value), self.env)
        r["first_card"] = self.summary(self.repeat(f"{name} time to first card", lambda: self.first_card(ro)))
        sessions = self.repeat(f"{name} key to next card (session median)",
                               lambda: self.key_session(key_tpl, WORK / f"key-{name}.db", self.args.grades))
        r["key_to_next"] = {
            "median_ms": statistics.median(s.seconds * 1000 for s in sessions),
            "p99_ms": statistics.median(s.extra["p99_ms"] for s in sessions),
            "worst_p99_ms": max(s.extra["p99_ms"] for s in sessions),
            "reveal_median_ms": statistics.median(statistics.median(s.extra["reveal_ms"]) for s in sessions),
            "rss_mb": max(s.rss_kb for s in sessions) / MB,
            "grades_per_session": self.args.grades,
            "session_medians_ms": [round(s.seconds * 1000, 2) for s in sessions],
            "session_p99s_ms": [round(s.extra["p99_ms"], 2) for s in sessions],
        }
        if self.has_stats:
            r["stats"] = self.summary(self.repeat(f"{name} stats", lambda: self.command(ro, "stats")))
        r["list_due"] = self.summary(self.repeat(f"{name} list --due", lambda: self.command(ro, "list", "--due")))
        r["import"], r["reimport"], r["import_first_write"] = self.imports(name, store)
        if not self.args.core:
            r["backup"], r["floor_copy"] = self.backups(name, ro)
            r["notes_import"], r["notes_reimport"] = self.notes_imports(name, store)
            if w.cards is not None:
                r["transfer"] = self.transfer(name, store, manifest["key"])
        r["floor_sqlite_due"] = self.sqlite_floor(ro)
        r["floor_commit"] = self.commit_floor(key_tpl, WORK / f"commit-{name}.db", self.args.grades)
        if self.anki_py and w.cards is not None:
            col = self.anki_build(name, store, manifest["key"])
            anki_ro = WORK / f"anki-ro-{name}.anki2"
            anki_key = WORK / f"anki-keytpl-{name}.anki2"
            r["anki_prep"] = self.anki_prep(store, col, anki_ro, False)
            self.anki_prep(store, col, anki_key, True)
            r["anki_first_card"] = self.summary(self.repeat(f"{name} Anki first card",
                                                            lambda: self.anki_first(anki_ro)))
            sessions = self.repeat(f"{name} Anki answer -> next card",
                                   lambda: self.anki_answer(anki_key, WORK / f"anki-key-{name}.anki2",
                                                            self.args.grades))
            r["anki_answer"] = {
                "answer_to_next_median_ms": statistics.median(s.seconds * 1000 for s in sessions),
                "answer_to_next_p99_ms": statistics.median(s.extra["next_p99_ms"] for s in sessions),
                "answer_card_median_ms": statistics.median(s.extra["answer_ms"] for s in sessions),
                "answer_card_p99_ms": statistics.median(s.extra["answer_p99_ms"] for s in sessions),
                "rss_mb": max(s.rss_kb for s in sessions) / MB,
            }
        for scratch in WORK.glob(f"*-{name}.*"):
            if scratch.is_file() and not scratch.name.startswith("ro-"):
                scratch.unlink()

    def backups(self, name: str, store: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """`llmcards backup --to FILE` (SQLite's online backup API, fsync'd) of the whole store, next to
        the floor: copying the file's bytes and fsync'ing them (`shutil.copyfile` + `os.fsync`)."""
        dest = WORK / f"backup-{name}.db"

        def backup() -> Sample:
            dest.unlink(missing_ok=True)
            return self.command(store, "backup", "--to", str(dest))

        script = ("import os, shutil, sys\n"
                  "shutil.copyfile(sys.argv[1], sys.argv[2])\n"
                  "fd = os.open(sys.argv[2], os.O_RDONLY); os.fsync(fd); os.close(fd)\n")

        def copy() -> Sample:
            dest.unlink(missing_ok=True)
            return run_cmd([self.py, "-c", script, str(store), str(dest)], self.env)[0]

        made = self.summary(self.repeat(f"{name} backup --to", backup))
        floor = self.summary(self.repeat(f"{name} copy + fsync (floor)", copy))
        made["bytes"] = store.stat().st_size
        dest.unlink(missing_ok=True)
        return made, floor

    def imports(self, name: str, store: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Import of a fresh 10k-card file into a copy of the store whose day's backup is taken, then
        the same file again; and the import as the day's first write (it waits for the day's backup)."""
        yaml_path = CACHE / "import-10k.yaml"
        key_path = CACHE / "import-10k.key"
        key = wl.import_file_key()
        if not yaml_path.exists() or not key_path.exists() or key_path.read_text() != key:
            wl.write_bank_yaml(wl.generated_questions(10_000, prefix="imp", label="imported"), yaml_path)
            key_path.write_text(key)
        fresh, again, first = [], [], []
        for i in range(self.runs + 1):  # the first pair is the warm-up
            db = copy_store(store, WORK / f"import-{name}.db", backed_up_today=True)
            a = self.command(db, "import", str(yaml_path))
            b = self.command(db, "import", str(yaml_path))
            db = copy_store(store, WORK / f"import-{name}.db")
            c = self.command(db, "import", str(yaml_path))
            if i:
                fresh.append(a)
                again.append(b)
                first.append(c)
        for label, samples in (("import fresh 10k", fresh), ("re-import unchanged", again),
                               ("import fresh 10k, the day's first write", first)):
            self.log(f"    {name} {label}: median {statistics.median(s.seconds for s in samples) * 1000:.0f} ms, "
                     f"max RSS {max(s.rss_kb for s in samples) / MB:.0f} MB")
        return self.summary(fresh), self.summary(again), self.summary(first)

    def notes_imports(self, name: str, store: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """`llmcards import NOTES.md --yes` of a generated 5 MB notes file into a copy of the store,
        then the same file again (nothing changed: skipped by its hash)."""
        notes_path = CACHE / "notes-5mb.md"
        key_path = CACHE / "notes-5mb.key"
        key = wl.notes_file_key()
        if not notes_path.exists() or not key_path.exists() or key_path.read_text() != key:
            notes_path.write_text(wl.generated_notes(), encoding="utf-8")
            key_path.write_text(key)
        fresh, again = [], []
        for i in range(self.runs + 1):  # the first pair is the warm-up
            db = copy_store(store, WORK / f"notes-{name}.db", backed_up_today=True)
            a = self.command(db, "import", str(notes_path), "--yes")
            b = self.command(db, "import", str(notes_path), "--yes")
            if i:
                fresh.append(a)
                again.append(b)
        for label, samples in (("notes import 5 MB", fresh), ("notes re-import unchanged", again)):
            self.log(f"    {name} {label}: median {statistics.median(s.seconds for s in samples) * 1000:.0f} ms, "
                     f"max RSS {max(s.rss_kb for s in samples) / MB:.0f} MB")
        fresh_summary = self.summary(fresh)
        fresh_summary["bytes"] = notes_path.stat().st_size
        return fresh_summary, self.summary(again)

    def notes_only(self, names: list[str]) -> None:
        """``--notes-only``: measure the notes import figures again and merge them into results.json."""
        path = BENCH / "results.json"
        results = json.loads(path.read_text())
        for name in names:
            if name not in results["workloads"]:
                raise SystemExit(f"workload {name} has no results yet; run it in full first")
            store, _ = wl.ensure(wl.WORKLOADS[name], CACHE, rebuild=self.args.rebuild)
            self.log(f"  workload {name}: notes import figures only")
            r = results["workloads"][name]
            r["notes_import"], r["notes_reimport"] = self.notes_imports(name, store)
            # The bank-file import again, in the same session: the machine's speed then, for comparison.
            yaml_import, yaml_reimport, _ = self.imports(name, store)
            r["notes_session"] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                  "import": yaml_import, "reimport": yaml_reimport}
        path.write_text(json.dumps(results, indent=1))
        (BENCH / "results.md").write_text(report(results))

    def only_transfer(self, names: list[str]) -> None:
        """``--only-transfer``: measure the export and import figures and add them to the last results."""
        previous = BENCH / "results.json"
        self.results = json.loads(previous.read_text())
        for name in names:
            w = wl.WORKLOADS[name]
            if w.cards is None:
                continue
            store, manifest = wl.ensure(w, CACHE, rebuild=self.args.rebuild)
            self.log(f"  workload {name}: export and import only")
            copy_store(store, WORK / f"ro-{name}.db")
            self.results["workloads"].setdefault(name, {"manifest": manifest})["transfer"] = \
                self.transfer(name, store, manifest["key"])
        previous.write_text(json.dumps(self.results, indent=1))
        (BENCH / "results.md").write_text(report(self.results))
        self.log(f"wrote {BENCH / 'results.md'} and results.json")

    def main(self) -> None:
        CACHE.mkdir(exist_ok=True)
        WORK.mkdir(exist_ok=True)
        names = [n.strip().upper() for n in self.args.workloads.split(",") if n.strip()]
        if self.args.only_transfer:
            WORK.mkdir(exist_ok=True)
            self.only_transfer(names)
            return
        self.has_stats = subprocess.run([self.llmcards, "stats", "--help"], capture_output=True,
                                        env=self.env).returncode == 0
        self.anki_py = self.ensure_anki()
        info = self.results["info"]
        info.update(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), python=platform.python_version(),
                    machine=f"{platform.machine()}, {os.cpu_count()} CPUs", runs=self.runs, grades=self.args.grades,
                    now=wl.NOW_ISO, stats_command=self.has_stats, terminal=f"{ROWS}x{COLS}")
        self.log(f"llmcards bench: workloads {','.join(names)}, {self.runs} runs each"
                 + ("" if self.has_stats else " (no `llmcards stats` command yet)"))
        self.floors()
        self.results["workloads"]["--help"] = {"help": self.summary(self.repeat(
            "llmcards --help", lambda: run_cmd([self.llmcards, "--help"], clean_env(COLUMNS=str(COLS)))[0]))}
        for name in names:
            self.workload(name)
            self.results["workloads"][name]["date"] = info["date"]
        previous = BENCH / "results.json"
        if previous.exists() and not self.args.fresh:  # keep workloads measured by earlier runs
            old = json.loads(previous.read_text())
            for name, r in old.get("workloads", {}).items():
                measured = self.results["workloads"].setdefault(name, r)
                if measured is not r and self.args.core:  # keep what --core did not measure again, and say so
                    for key, value in r.items():
                        if key not in measured:
                            measured[key] = value
                            measured.setdefault("carried", {})[key] = r.get("carried", {}).get(key, r.get("date"))
            order = ["--help", "S", "M", "L"]
            self.results["workloads"] = dict(sorted(self.results["workloads"].items(),
                                                    key=lambda kv: order.index(kv[0]) if kv[0] in order else 9))
        (BENCH / "results.json").write_text(json.dumps(self.results, indent=1))
        (BENCH / "results.md").write_text(report(self.results))
        self.log(f"wrote {BENCH / 'results.md'} and results.json")


# ----------------------------------------------------------------------------- the report
def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _x(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def report(res: dict[str, Any]) -> str:
    info = res["info"]
    floor = res["floor"]
    py_pass = floor["python -c pass"]["median_s"]
    typer_s = floor["python -c 'import typer'"]["median_s"]
    rows: list[list[str]] = []
    verdicts: list[tuple[str, bool]] = []
    mem_cap = 150.0

    def add(measure: str, wname: str, value: float | None, rss: float | None, target: str, ok: bool | None,
            anki: float | None, floor_value: float | None, floor_name: str, p99: float | None = None) -> None:
        status = "—" if ok is None else ("met" if ok else "**missed**")
        mem = "—" if rss is None else f"{rss:.0f} MB" + ("" if rss <= mem_cap else " **(> 150)**")
        rows.append([measure, wname, _ms(value), mem, target, status, _x(value, anki),
                     f"{_x(value, floor_value)} {floor_name}" if floor_value else "—"])
        if ok is not None:
            verdicts.append((f"{measure} ({wname}): {_ms(p99 if p99 is not None else value)}, target {target}", ok))
        if rss is not None and wname in ("L", "—"):
            label = "a review sitting" if measure.startswith("key to next") else measure
            verdicts.append((f"peak memory of {label} ({wname}): {rss:.0f} MB ≤ 150 MB", rss <= mem_cap))

    h = res["workloads"]["--help"]["help"]
    add("`llmcards --help`", "—", h["median_s"], h["rss_mb"], f"≤ 1.5× import typer ({_ms(1.5 * typer_s)})",
        h["median_s"] <= 1.5 * typer_s, None, py_pass, "python -c pass")
    for name, r in res["workloads"].items():
        if name == "--help":
            continue
        at_l = name == "L"
        sq = r["floor_sqlite_due"]["median_s"]
        anki_first = r.get("anki_first_card", {}).get("median_s")
        fc = r["first_card"]
        ttfc_target = name in ("M", "L")
        add("time to first card", name, fc["median_s"], fc["rss_mb"], "≤ Anki (1.0×)" if ttfc_target else "—",
            (anki_first is not None and fc["median_s"] <= anki_first) if ttfc_target and anki_first else None,
            anki_first, sq, "sqlite3 due query")
        k = r["key_to_next"]
        aa = r.get("anki_answer", {})
        cf = r["floor_commit"]
        add("key to next card, median", name, k["median_ms"] / 1000, k["rss_mb"], "—", None,
            aa.get("answer_to_next_median_ms", 0) / 1000 or None, cf["median_ms"] / 1000, "fsync'd commit")
        add("key to next card, p99", name, k["p99_ms"] / 1000, None, "≤ 20 ms",
            k["p99_ms"] <= 20 if at_l else None,
            aa.get("answer_to_next_p99_ms", 0) / 1000 or None, cf["p99_ms"] / 1000, "fsync'd commit")
        if "stats" in r:
            s = r["stats"]
            add("`llmcards stats`", name, s["median_s"], s["rss_mb"], "≤ 1 s", s["median_s"] <= 1 if at_l else None,
                None, py_pass, "python -c pass")
        d = r["list_due"]
        add("`llmcards list --due`", name, d["median_s"], d["rss_mb"], "≤ 0.5 s",
            d["median_s"] <= 0.5 if at_l else None, None, sq, "sqlite3 due query")
        i = r["import"]
        add("import, fresh 10k-card file", name, i["median_s"], i["rss_mb"], "≤ 2 s",
            i["median_s"] <= 2 if at_l else None, None, py_pass, "python -c pass")
        i = r["reimport"]
        add("re-import, unchanged file", name, i["median_s"], i["rss_mb"], "≤ 0.3 s",
            i["median_s"] <= 0.3 if at_l else None, None, py_pass, "python -c pass")
        if "import_first_write" in r:
            i = r["import_first_write"]
            add("import, fresh 10k-card file, as the day's first write", name, i["median_s"], i["rss_mb"], "—",
                None, None, py_pass, "python -c pass")
        if "backup" in r:
            b = r["backup"]
            add(f"`llmcards backup --to` ({b['bytes'] / 1e6:.0f} MB)", name, b["median_s"], b["rss_mb"], "≤ 3 s",
                b["median_s"] <= 3 if at_l else None, None, r["floor_copy"]["median_s"], "copy + fsync")
        if "notes_import" in r:
            i = r["notes_import"]
            add(f"import, fresh {i.get('bytes', 0) / 2**20:.0f} MB notes file", name, i["median_s"], i["rss_mb"],
                "≤ 2 s", i["median_s"] <= 2 if at_l else None, None, py_pass, "python -c pass")
            i = r["notes_reimport"]
            add("re-import, unchanged notes", name, i["median_s"], i["rss_mb"], "≤ 0.3 s",
                i["median_s"] <= 0.3 if at_l else None, None, py_pass, "python -c pass")
        if "notes_session" in r:  # measured with --notes-only, at another time than the rows above
            i = r["notes_session"]["import"]
            add("import, fresh 10k-card file, in the notes session", name, i["median_s"], None, "—", None, None,
                py_pass, "python -c pass")
            i = r["notes_session"]["reimport"]
            add("re-import, unchanged file, in the notes session", name, i["median_s"], None, "—", None, None,
                py_pass, "python -c pass")
        t = r.get("transfer")
        if t:
            limits = {"yaml": 1, "apkg": 5}
            for fmt in ("yaml", "apkg"):
                add(f"`export --format {fmt}`, {t['cards']:,} cards", name, t[fmt]["median_s"], t[fmt]["rss_mb"],
                    f"≤ {limits[fmt]} s", t[fmt]["median_s"] <= limits[fmt] if at_l else None, None, py_pass,
                    "python -c pass")
            add(f"`export --format revlog`, {t['reviews']:,} reviews", name, t["revlog"]["median_s"],
                t["revlog"]["rss_mb"], "≤ 10 s", t["revlog"]["median_s"] <= 10 if at_l else None, None, py_pass,
                "python -c pass")
            i = t["import_reviews"]
            add(f"`import --reviews`, {t['reviews']:,} reviews + replay", name, i["median_s"], i["rss_mb"],
                "≤ 60 s", i["median_s"] <= 60 if at_l else None, None, py_pass, "python -c pass")
    if "L" in res["workloads"] and "stats" not in res["workloads"]["L"]:
        verdicts.append(("`llmcards stats` (L): no such command yet", False))

    out = ["# Benchmark results", "",
           f"Last run {info['date']} on {info['machine']}, Python {info['python']}"
           + (f", Anki {info['anki_version']}" if info.get("anki_version") else "")
           + f". Each figure is the median of {info['runs']} cold processes after one warm-up; key to next "
           f"card is the median over {info['runs']} sittings of each sitting's median and p99 over "
           f"{info['grades']} grades. Peak memory is the largest max RSS of those processes. Clock pinned at "
           f"LLMCARDS_NOW={info['now']}; terminal {info['terminal']}. Produced by `.venv/bin/python bench/run.py`; "
           "see README.md for the method.", "",
           "Targets apply at L (time to first card: at M and L). ×Anki compares with Anki's library on the "
           "same cards; ×floor with the floor named.", "",
           "| measure | workload | median | peak RSS | target | status | ×Anki | ×floor |",
           "|---|---|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    dates = sorted({r["transfer"]["date"] for r in res["workloads"].values() if "transfer" in r} - {info["date"]})
    if dates:
        out += ["", f"The export and import rows were measured on {', '.join(dates)} (`--only-transfer`); each "
                "`import --reviews` figure is the median of 3 runs, each into a fresh copy of the store whose review "
                "log was emptied; the yaml and apkg exports take the cards of one tag (about 10k) at L."]
    carried: dict[str, set[str]] = {}
    for r in res["workloads"].values():
        for key, when in r.get("carried", {}).items():
            if key not in ("transfer", "notes_session", "floor_copy"):
                carried.setdefault(str(when), set()).add(key.replace("_", " "))
    for when, keys in sorted(carried.items()):
        out += ["", f"The last run measured the core figures only (`--core`): the {', '.join(sorted(keys))} rows "
                f"(and the copy floor) are those of the run of {when}."]
    out += ["", "## Targets", ""]
    for label, ok in verdicts:
        out.append(f"- {'met' if ok else '**missed**'}: {label}")
    out += ["", "## Peer and floor figures", "",
            "| figure | workload | median | p99 | peak RSS |", "|---|---|---|---|---|"]
    for label, f in floor.items():
        out.append(f"| `{label}` | — | {_ms(f['median_s'])} | — | {f['rss_mb']:.0f} MB |")
    for name, r in res["workloads"].items():
        if name == "--help":
            continue
        out.append(f"| sqlite3 script, same due query | {name} | {_ms(r['floor_sqlite_due']['median_s'])} | — | "
                   f"{r['floor_sqlite_due']['rss_mb']:.0f} MB |")
        out.append(f"| one fsync'd commit (UPDATE card + INSERT log) | {name} | "
                   f"{_ms(r['floor_commit']['median_ms'] / 1000)} | {_ms(r['floor_commit']['p99_ms'] / 1000)} | — |")
        if "floor_copy" in r:
            out.append(f"| copy the store file + fsync (`shutil.copyfile`) | {name} | "
                       f"{_ms(r['floor_copy']['median_s'])} | — | {r['floor_copy']['rss_mb']:.0f} MB |")
        if "anki_first_card" in r:
            a = r["anki_first_card"]
            out.append(f"| Anki: cold process → first queued card rendered | {name} | {_ms(a['median_s'])} | — | "
                       f"{a['rss_mb']:.0f} MB |")
            aa = r["anki_answer"]
            out.append(f"| Anki: answer_card | {name} | {_ms(aa['answer_card_median_ms'] / 1000)} | "
                       f"{_ms(aa['answer_card_p99_ms'] / 1000)} | — |")
            out.append(f"| Anki: answer → next question rendered | {name} | "
                       f"{_ms(aa['answer_to_next_median_ms'] / 1000)} | {_ms(aa['answer_to_next_p99_ms'] / 1000)} | "
                       f"{aa['rss_mb']:.0f} MB |")
        k = r["key_to_next"]
        out.append(f"| llmcards: space → answer on screen (not a target) | {name} | "
                   f"{_ms(k['reveal_median_ms'] / 1000)} | — | — |")
    out += ["", "## Workloads as built", "",
            "| workload | cards | reviews | new | due at NOW | store size | build | measured |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in res["workloads"].items():
        if name == "--help":
            continue
        m = r["manifest"]
        out.append(f"| {name} | {m['cards']:,} | {m['reviews']:,} | {m['new_cards']:,} | {m['due_at_now']:,} | "
                   f"{m['bytes'] / 1e6:.0f} MB | {m['build_seconds']:.0f} s | {r.get('date', '')} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="S,M,L", help="comma-separated: S, M, L (default all)")
    parser.add_argument("--runs", type=int, default=5, help="cold processes per figure (default 5, minimum 5)")
    parser.add_argument("--grades", type=int, default=200, help="grades per review sitting (default 200)")
    parser.add_argument("--anki-python", metavar="PATH",
                        help="a Python with `anki` installed (default: a venv created in bench/.cache/anki-venv)")
    parser.add_argument("--no-anki", action="store_true", help="skip the peer")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached stores")
    parser.add_argument("--fresh", action="store_true",
                        help="drop workloads measured by earlier runs from results.json (default: keep them)")
    parser.add_argument("--report-only", action="store_true", help="rewrite results.md from results.json")
    parser.add_argument("--notes-only", action="store_true",
                        help="measure only the notes import figures (and the bank-file import again, to compare) "
                             "and merge them into results.json")
    parser.add_argument("--import-runs", type=int, default=3, help="runs of `import --reviews` (default 3)")
    parser.add_argument("--core", action="store_true",
                        help="measure only the figures of the first benchmark (start-up, review, stats, list, bank "
                             "imports) and the peer: to compare with older code, run side by side")
    parser.add_argument("--only-transfer", action="store_true",
                        help="measure only export and import (issue 10) and add them to results.json")
    args = parser.parse_args()
    if args.report_only:
        (BENCH / "results.md").write_text(report(json.loads((BENCH / "results.json").read_text())))
        return
    if args.runs < 5:
        print("note: fewer than 5 runs; figures are not the issue's 'median of at least 5'", file=sys.stderr)
    if args.notes_only:
        CACHE.mkdir(exist_ok=True)
        WORK.mkdir(exist_ok=True)
        Bench(args).notes_only([n.strip().upper() for n in args.workloads.split(",") if n.strip()])
        return
    Bench(args).main()


if __name__ == "__main__":
    main()
