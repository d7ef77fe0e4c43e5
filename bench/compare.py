"""Two versions of llmcards measured side by side, run by run, on the same machine at the same time.

    .venv/bin/python bench/compare.py --base-llmcards OLD/.venv/bin/llmcards --base-cache OLD/bench/.cache
                                      [--workloads S,M,L] [--runs 9] [--sittings 3] [--grades 100]

bench/run.py measures one version; its figures move with the machine (on this one, `python -c pass`
drifts by 20-30% within an hour), so two runs an hour apart cannot show a 10% difference. Here every
figure alternates between the two versions (old, new, new, old...) after one warm-up each, so a
drift falls on both, and the medians are compared. The harness is bench/run.py's: cold
processes, fsync'd copies, the bank import with the day's backup already taken. By default both
versions run on the stores the base's bench/run.py built (``store-<W>-*.db`` in its cache; the new
version migrates a copy once), so that both show the same cards and reviews; with ``--stores
own`` each runs on its own (two versions' stores may differ in bank text and schema).

Writes bench/compare.md and bench/compare.json (``--out`` elsewhere; ``--only`` some figures).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as rb  # noqa: E402
import workloads as wl  # noqa: E402

WORK = rb.CACHE / "compare"
SIDES = ("base", "new")


class Side:
    """One version: its ``llmcards`` and where its stores come from: the cache of built stores of
    ``cache`` (a version's bench/.cache), migrated by this version when ``migrate``."""

    def __init__(self, name: str, llmcards: Path, cache: Path, *, migrate: bool = False) -> None:
        self.name, self.llmcards, self.cache, self.migrate = name, llmcards, cache, migrate

    def store(self, workload: str) -> Path:
        found = sorted(self.cache.glob(f"store-{workload}-*.db"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise SystemExit(f"no store-{workload}-*.db in {self.cache}: run that version's bench/run.py first")
        if not self.migrate:
            return found[-1]
        migrated = WORK / f"migrated-{found[-1].stem}-{self.llmcards.stat().st_mtime_ns}.db"
        if not migrated.exists():  # opened once by this version, which upgrades its schema
            print(f"  migrating {found[-1].name} for {self.name}", file=sys.stderr, flush=True)
            tmp = rb.copy_store(found[-1], WORK / "migrating.db")
            # Opening it upgrades the schema; importing the bundled bank brings this version's bank
            # in once (else each command on a copy would, first).
            rb.run_cmd(self.argv(tmp, "import"), env())
            rb.run_cmd([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                        "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()", str(tmp)], env())
            shutil.rmtree(WORK / "backups", ignore_errors=True)  # the migration's backup
            tmp.replace(migrated)
        return migrated

    def argv(self, db: Path, *args: str) -> list[str]:
        return [str(self.llmcards), "--db", str(db), *args]


def env() -> dict[str, str]:
    return rb.clean_env(COLUMNS=str(rb.COLS), LINES=str(rb.ROWS))


def alternate(runs: int, measure: Callable[[Side], float], sides: list[Side]) -> dict[str, list[float]]:
    """One warm-up per side, then ``runs`` rounds: base, new, then new, base, and so on (so that
    neither always runs right after the other)."""
    for side in sides:
        measure(side)
    out: dict[str, list[float]] = {side.name: [] for side in sides}
    for i in range(runs):
        for side in sides if i % 2 == 0 else sides[::-1]:
            out[side.name].append(measure(side))
    return out


def first_card(side: Side, db: Path) -> float:
    p = rb.Pty(side.argv(db, "review"), env())
    p.expect(rb.FIRST_QUESTION)
    t1 = time.perf_counter()
    p.expect(rb.FOOTER_END)
    p.send(b"q")
    p.finish()
    return t1 - p.t0


def sitting(side: Side, template: Path, grades: int) -> tuple[float, float, float]:
    """(median, p99) of '3' -> next question on screen over ``grades`` grades, and 'q' -> exit.

    Keys follow each other with no time to read, so a version that copies the day's backup only
    while the person reads (llmcards.reading) finishes it at exit: the quit figure shows that."""
    db = rb.copy_store(template, WORK / f"key-{side.name}.db")
    p = rb.Pty(side.argv(db, "review"), env())
    p.expect(rb.FIRST_QUESTION)
    p.expect(rb.FOOTER_END)
    keys = []
    for i in range(grades):
        p.send(b" ")
        p.expect(rb.REVEALED)
        t1 = time.perf_counter()
        p.send(b"3")
        if p.expect([rb.next_question(i + 1), rb.SUMMARY]) == 1:
            raise RuntimeError(f"{side.name}: the queue ran out after {i + 1} grades")
        keys.append(time.perf_counter() - t1)
        p.expect(rb.FOOTER_END)
    t1 = time.perf_counter()
    p.send(b"q")
    p.finish()
    return statistics.median(keys), rb.nearest_rank(keys, 0.99), time.perf_counter() - t1


def command(side: Side, db: Path, *args: str) -> float:
    return rb.run_cmd(side.argv(db, *args), env())[0].seconds


def workload(name: str, sides: list[Side], args: argparse.Namespace, yaml_path: Path,
             record: Callable[[str, str, dict[str, list[float]]], None]) -> None:
    """Every figure of one workload, both sides."""
    ro = {s.name: rb.copy_store(s.store(name), WORK / f"ro-{name}-{s.name}.db") for s in sides}
    if "start" in args.only:
        record("time to first card", name, alternate(args.runs, lambda s: first_card(s, ro[s.name]), sides))
    if "stats" in args.only:
        record("`llmcards stats`", name, alternate(args.runs, lambda s: command(s, ro[s.name], "stats"), sides))
    if "list" in args.only:
        record("`llmcards list --due`", name,
               alternate(args.runs, lambda s: command(s, ro[s.name], "list", "--due"), sides))
    if "import" in args.only:
        imports(name, sides, args, yaml_path, record)
    if "key" in args.only:
        sittings(name, sides, args, record)


def imports(name: str, sides: list[Side], args: argparse.Namespace, yaml_path: Path,
            record: Callable[[str, str, dict[str, list[float]]], None]) -> None:
    """A fresh 10k-card file into a copy whose day's backup is taken, then the same file again."""

    again: dict[str, list[float]] = {s: [] for s in SIDES}

    def import_fresh(side: Side) -> float:
        db = rb.copy_store(side.store(name), WORK / f"import-{side.name}.db", backed_up_today=True)
        took = command(side, db, "import", str(yaml_path))
        again[side.name].append(command(side, db, "import", str(yaml_path)))
        return took

    record("import, fresh 10k-card file", name, alternate(args.runs, import_fresh, sides))
    record("re-import, unchanged file", name, {s: again[s][1:] for s in SIDES})  # less the warm-up


def sittings(name: str, sides: list[Side], args: argparse.Namespace,
             record: Callable[[str, str, dict[str, list[float]]], None]) -> None:
    """Review sittings of ``args.grades`` grades, each the day's first (it starts the day's backup)."""
    templates = {}
    for s in sides:
        templates[s.name] = rb.copy_store(s.store(name), WORK / f"keytpl-{name}-{s.name}.db")
        for key, value in (("reviews_per_day", "99999"), ("new_per_day", "9999")):
            rb.run_cmd(s.argv(templates[s.name], "config", "set", key, value), env())
    medians: dict[str, list[float]] = {s: [] for s in SIDES}
    p99s: dict[str, list[float]] = {s: [] for s in SIDES}
    quits: dict[str, list[float]] = {s: [] for s in SIDES}

    def one_sitting(side: Side) -> float:
        median, p99, quit_s = sitting(side, templates[side.name], args.grades)
        medians[side.name].append(median)
        p99s[side.name].append(p99)
        quits[side.name].append(quit_s)
        return median

    alternate(args.sittings, one_sitting, sides)
    record("key to next card, median", name, {s: medians[s][1:] for s in SIDES})
    record("key to next card, p99", name, {s: p99s[s][1:] for s in SIDES})
    record("quit after the sitting (q to exit)", name, {s: quits[s][1:] for s in SIDES})


def compare(args: argparse.Namespace) -> dict[str, Any]:
    own = args.stores == "own"
    sides = [Side("base", args.base_llmcards, args.base_cache),
             Side("new", args.llmcards, rb.CACHE if own else args.base_cache, migrate=not own)]
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def record(figure: str, workload: str, samples: dict[str, list[float]]) -> None:
        base, new = (statistics.median(samples[s]) for s in SIDES)
        rows.append({"figure": figure, "workload": workload, "base_s": base, "new_s": new, "ratio": new / base,
                     "samples_s": {s: [round(x, 5) for x in samples[s]] for s in SIDES}})
        print(f"  {workload} {figure}: base {base * 1000:.1f} ms, new {new * 1000:.1f} ms, "
              f"ratio {new / base:.2f}", file=sys.stderr, flush=True)

    if "start" in args.only:
        record("`llmcards --help`", "—",
               alternate(args.runs, lambda s: rb.run_cmd([str(s.llmcards), "--help"], env())[0].seconds, sides))
    yaml_path = rb.CACHE / "import-10k.yaml"
    if not yaml_path.exists():
        wl.write_bank_yaml(wl.generated_questions(10_000, prefix="imp", label="imported"), yaml_path)
    for name in args.workloads.split(","):
        workload(name, sides, args, yaml_path, record)
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "python": platform.python_version(),
            "base": str(args.base_llmcards), "runs": args.runs, "sittings": args.sittings, "grades": args.grades,
            "rows": rows}


def report(res: dict[str, Any], base_label: str, new_label: str) -> str:
    out = [
        "# Side by side", "",
        f"Run {res['date']}, Python {res['python']}, by `bench/compare.py`. Base: {base_label}; new: {new_label}. "
        f"Each figure is the median of {res['runs']} cold processes per side, alternating base and new after one "
        f"warm-up each (key to next card: {res['sittings']} sittings of {res['grades']} grades per side, the "
        "median of their medians and of their p99s). Ratio: new / base; below 1.00 the new code is faster.", "",
        "The last column pairs the runs of each round: in how many the new code was the slower. A real"
        " slowdown shows in nearly every round; the machine's noise, in about half.", "",
    ]
    out += [*res.get("notes", []), ""] if res.get("notes") else []
    out += ["| figure | workload | base | new | ratio | new slower in |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        flag = " **worse by more than 10%**" if r["ratio"] > 1.10 else ""
        pairs = list(zip(r["samples_s"]["base"], r["samples_s"]["new"], strict=True))
        slower = sum(1 for b, n in pairs if n > b)
        out.append(f"| {r['figure']} | {r['workload']} | {r['base_s'] * 1000:.1f} ms | {r['new_s'] * 1000:.1f} ms "
                   f"| {r['ratio']:.2f}{flag} | {slower} of {len(pairs)} rounds |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-llmcards", type=Path, help="the older version's llmcards executable")
    parser.add_argument("--base-cache", type=Path, help="its bench/.cache (with its built stores)")
    parser.add_argument("--base-label", default="the base", help="what to call it in compare.md (e.g. a commit)")
    parser.add_argument("--llmcards", type=Path, default=Path(sys.executable).with_name("llmcards"),
                        help="the new version (default: this venv's)")
    parser.add_argument("--new-label", default="this tree", help="what to call the new version in compare.md")
    parser.add_argument("--workloads", default="S,M,L")
    parser.add_argument("--runs", type=int, default=9, help="cold processes per figure and side (default 9)")
    parser.add_argument("--sittings", type=int, default=3, help="review sittings per side (default 3)")
    parser.add_argument("--grades", type=int, default=100, help="grades per sitting (default 100)")
    parser.add_argument("--stores", choices=("base", "own"), default="base",
                        help="base (default): both versions run on the base's stores, which the new version "
                             "migrates once (the same cards and reviews on both sides); own: each on its own")
    parser.add_argument("--out", type=Path, default=BENCH / "compare",
                        help="where to write NAME.md and NAME.json (default bench/compare)")
    parser.add_argument("--only", default="start,stats,list,import,key",
                        help="which figures: start, stats, list, import, key (default all)")
    parser.add_argument("--report-only", action="store_true", help="rewrite NAME.md from NAME.json")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    if args.report_only:
        res = json.loads(args.out.with_suffix(".json").read_text())
        args.out.with_suffix(".md").write_text(report(res, res.get("base_label", args.base_label),
                                                      res.get("new_label", args.new_label)))
        return
    res = compare(args)
    res.update(base_label=args.base_label, new_label=args.new_label)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    args.out.with_suffix(".md").write_text(report(res, args.base_label, args.new_label))
    print(f"wrote {args.out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
