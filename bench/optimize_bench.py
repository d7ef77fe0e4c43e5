"""Benchmarks of `llmcards optimize`: fitting on 30k and ~2M reviews, rescheduling 100k cards,
replay throughput, and py-fsrs's torch optimizer on the same 30k reviews.

    .venv/bin/python bench/optimize_bench.py [--runs 5] [--reschedule-runs 3] [--no-torch] [--skip-l]
                                             [--baseline-src DIR]

Writes bench/results-optimize.md and bench/results-optimize.json (the figures of issue 12; the
main results.md is left alone). With --no-torch, the torch figure of the previous results is
carried over (and said to be). --baseline-src DIR (a `src` folder of another llmcards, e.g.
`git archive main src | tar -x -C /tmp/main`) also times that code's reschedule at L, once, for
a before/after comparison on the same machine. Stores come from bench/workloads.py (M and L, cached in
bench/.cache/); the 30k-review store is cut from M: its first cards in bank order, with their
whole histories, until 30,000 reviews. The torch peer runs in bench/.cache/torch-venv (torch
2.13.0 CPU and fsrs[optimizer]), created on first use unless --no-torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as rb  # noqa: E402
import workloads as wl  # noqa: E402

CACHE = BENCH / ".cache"
WORK = CACHE / "work"
TORCH_VENV = CACHE / "torch-venv"
SMALL_REVIEWS = 30_000

TORCH_SCRIPT = r"""
import json, sqlite3, sys, time
from datetime import datetime, timezone
t0 = time.perf_counter()
from fsrs import Optimizer, Rating, ReviewLog
conn = sqlite3.connect(sys.argv[1])
ids = {}
logs = []
for card_id, rating, at, duration in conn.execute(
        "SELECT card_id, rating, reviewed_at, duration_ms FROM review_logs WHERE cram = 0 ORDER BY reviewed_at, id"):
    when = datetime.fromisoformat(at).replace(tzinfo=timezone.utc)
    logs.append(ReviewLog(card_id=ids.setdefault(card_id, len(ids) + 1), rating=Rating(rating),
                          review_datetime=when, review_duration=duration))
t1 = time.perf_counter()
parameters = Optimizer(logs).compute_optimal_parameters()
t2 = time.perf_counter()
print(json.dumps({"reviews": len(logs), "read_s": t1 - t0, "fit_s": t2 - t1, "parameters": list(parameters)}))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


TIME_FILE = WORK / "time.txt"


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, bytes]:
    """Wall seconds (spawn to exit), CPU seconds (user + system) and max RSS in KiB from GNU time,
    and the output. CPU time shows the command's own cost when the machine is busy."""
    TIME_FILE.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", str(TIME_FILE), *argv], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout.decode()[-2000:]}")
    rss, user, system = TIME_FILE.read_text().split()[-3:]
    return wall, float(user) + float(system), int(rss), proc.stdout


def small_store(m_store: Path) -> Path:
    """The first cards of M in bank order, whole histories, until SMALL_REVIEWS reviews."""
    path = CACHE / f"store-30k-{m_store.stem.split('-')[-1]}.db"
    if path.exists():
        return path
    tmp = CACHE / "building-30k.db"
    rb.copy_store(m_store, tmp)
    conn = sqlite3.connect(tmp)
    keep: list[str] = []
    total = 0
    for card_id, n in conn.execute("SELECT c.id, count(l.id) FROM cards c JOIN review_logs l ON l.card_id = c.id "
                                   "GROUP BY c.id ORDER BY c.position"):
        if total >= SMALL_REVIEWS:
            break
        keep.append(card_id)
        total += n
    conn.execute("CREATE TEMP TABLE keep(id TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO keep VALUES (?)", [(k,) for k in keep])
    conn.execute("DELETE FROM review_logs WHERE card_id NOT IN (SELECT id FROM keep)")
    conn.execute("DELETE FROM card_tags WHERE card_id NOT IN (SELECT id FROM keep)")
    conn.execute("DELETE FROM cards WHERE id NOT IN (SELECT id FROM keep)")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    tmp.replace(path)
    log(f"  built {path.name}: {len(keep)} cards, {total} reviews")
    return path


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


class OptimizeBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.llmcards = str(Path(sys.executable).parent / "llmcards")
        self.env = rb.clean_env(COLUMNS="120")
        self.results: dict[str, Any] = {"info": {}, "figures": {}}

    def cold(self, name: str, argv: list[str], runs: int, fresh: Path | None = None,
             template: Path | None = None) -> dict[str, Any]:
        """``runs`` cold processes after one warm-up (none when runs == 1); a fresh copy of
        ``template`` at ``fresh`` before each when given."""
        samples: list[tuple[float, float, int, bytes]] = []
        for i in range(runs + (1 if runs > 1 else 0)):
            if fresh is not None and template is not None:
                rb.copy_store(template, fresh)
            sample = run_timed(argv, self.env)
            if runs == 1 or i:
                samples.append(sample)
        med = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        rss = max(s[2] for s in samples) / rb.MB
        log(f"    {name}: median {med:.2f} s wall, {cpu:.2f} s CPU over {len(samples)}, max RSS {rss:.0f} MB")
        out = samples[-1][3].decode().strip()
        return {"median_s": med, "cpu_s": cpu, "samples_s": [round(s[0], 3) for s in samples], "rss_mb": rss,
                "output": json.loads(out) if out.startswith("{") else None}

    def optimize(self, name: str, db: Path) -> dict[str, Any]:
        ro = rb.copy_store(db, WORK / f"opt-{name}.db")
        r = self.cold(f"{name} optimize --dry-run --json", [self.llmcards, "--db", str(ro), "optimize", "--dry-run",
                                                           "--json"], self.args.runs)
        fit = (r.pop("output") or {}).get("fit") or {}
        r.update(reviews=fit.get("reviews"), predicted=fit.get("predicted_reviews"),
                 held_out=fit.get("held_out_reviews"), evaluated_cards=fit.get("evaluated_cards"),
                 current=fit.get("current"), fitted=fit.get("fitted"))
        return r

    def reschedule(self, db: Path, src: Path | None = None) -> dict[str, Any]:
        """``optimize --no-fit --reschedule --yes`` on a fresh copy of ``db`` each run (no warm-up when
        runs == 1: the copy warms the page cache); with ``src``, that code instead of this one, once."""
        template = rb.copy_store(db, WORK / "resched-template.db")
        fresh = WORK / "resched.db"
        argv = [sys.executable, "-m", "llmcards", "--db", str(fresh), "optimize", "--no-fit", "--reschedule",
                "--yes", "--json"]
        env = self.env
        if src is not None:
            self.env = {**env, "PYTHONPATH": str(src)}
        try:
            r = self.cold(f"L optimize --no-fit --reschedule --yes{' (baseline)' if src else ''}", argv,
                          1 if src else self.args.reschedule_runs, fresh=fresh, template=template)
        finally:
            self.env = env
        out = r.pop("output") or {}
        moved = out.get("reschedule") or {}
        r.update(cards=moved.get("cards"), reviews=moved.get("reviews"))
        return r

    def replay_throughput(self, db: Path, cards: int | None) -> dict[str, Any]:
        """replay_cards (log rows rewritten, as an import or a sync does) on M's first ``cards`` cards
        with reviews (every one when None), in-process (no CLI): wall and CPU time, per review too."""
        template = rb.copy_store(db, WORK / "replay-template.db")
        script = (
            "import json, os, sys, time\n"
            "from pathlib import Path\n"
            "from llmcards.replay import replay_cards\n"
            "from llmcards.store import Store\n"
            "s = Store.open(Path(sys.argv[1]))\n"
            "n = int(sys.argv[2])\n"
            "ids = s.history.card_ids_with_reviews()[:n] if n else None\n"
            "t0, c0 = time.perf_counter(), os.times()\n"
            "r = replay_cards(s, ids)\n"
            "t1, c1 = time.perf_counter(), os.times()\n"
            "print(json.dumps({'cards': r.cards, 'reviews': r.reviews, 'changed': len(r.changed),\n"
            "                  'wall_s': t1 - t0, 'cpu_s': (c1.user + c1.system) - (c0.user + c0.system)}))\n")
        runs = []
        for _ in range(3):
            db_copy = rb.copy_store(template, WORK / "replay.db")
            _, out = rb.run_cmd([sys.executable, "-c", script, str(db_copy), str(cards or 0)], self.env)
            runs.append(json.loads(out.decode().strip().splitlines()[-1]))
        best = min(runs, key=lambda d: d["wall_s"])
        per_review_us = best["cpu_s"] / best["reviews"] * 1e6
        log(f"    replay_cards: {best['cards']} cards, {best['reviews']} reviews, {best['wall_s']:.2f} s wall, "
            f"{best['cpu_s']:.2f} s CPU, {per_review_us:.1f} µs CPU per review (best of 3)")
        return {**best, "cpu_us_per_review": per_review_us}

    def torch_python(self) -> str | None:
        if self.args.no_torch:
            return None
        py = TORCH_VENV / "bin" / "python"
        probe = [str(py), "-c", "import torch, fsrs.optimizer; print(torch.__version__)"]
        if not py.exists() or subprocess.run(probe, capture_output=True).returncode:
            log(f"  creating {TORCH_VENV} (torch 2.13.0 CPU, fsrs[optimizer])")
            subprocess.run([sys.executable, "-m", "venv", str(TORCH_VENV)], check=True)
            # Exactly this version: its CPU build is on this machine's disk; no CUDA build is pulled.
            subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0", "fsrs[optimizer]==6.3.2"],
                           check=True)
        version = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        self.results["info"]["torch"] = version
        return str(py)

    def torch_peer(self, py: str, db: Path) -> dict[str, Any]:
        wall, cpu, rss, out = run_timed([py, "-c", TORCH_SCRIPT, str(db)], self.env)
        d = json.loads(out.decode().strip().splitlines()[-1])
        log(f"    py-fsrs torch optimizer: {wall:.1f} s end to end, {cpu:.1f} s CPU (fit {d['fit_s']:.1f} s), "
            f"max RSS {rss / rb.MB:.0f} MB, {d['reviews']} reviews")
        return {"median_s": wall, "cpu_s": cpu, "fit_s": d["fit_s"], "rss_mb": rss / rb.MB,
                "reviews": d["reviews"], "parameters": d["parameters"]}

    def reschedule_only(self) -> None:
        """``--reschedule-only``: the L reschedule again (and the baseline's), into the last results."""
        WORK.mkdir(parents=True, exist_ok=True)
        path = BENCH / "results-optimize.json"
        self.results = json.loads(path.read_text())
        l_store, _ = wl.ensure(wl.WORKLOADS["L"], CACHE)
        figures = self.results["figures"]
        figures["reschedule_L"] = self.reschedule(l_store)
        figures["reschedule_L"]["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if self.args.baseline_src:
            figures["reschedule_L_baseline"] = self.reschedule(l_store, self.args.baseline_src)
            self.results["info"]["baseline_src"] = str(self.args.baseline_src)
            self.results["info"]["baseline_label"] = self.args.baseline_label
        path.write_text(json.dumps(self.results, indent=1))
        (BENCH / "results-optimize.md").write_text(report(self.results))
        log(f"wrote {BENCH / 'results-optimize.md'}")

    def main(self) -> None:
        if self.args.reschedule_only:
            self.reschedule_only()
            return
        WORK.mkdir(parents=True, exist_ok=True)
        info = self.results["info"]
        info.update(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    machine=f"{os.uname().machine}, {os.cpu_count()} CPUs", runs=self.args.runs,
                    load=os.getloadavg()[0])
        figures = self.results["figures"]
        m_store, _ = wl.ensure(wl.WORKLOADS["M"], CACHE)
        small = small_store(m_store)
        info["30k"] = {"cards": count(small, "SELECT count(*) FROM cards"),
                       "reviews": count(small, "SELECT count(*) FROM review_logs")}
        log(f"optimize bench: 30k store {info['30k']}, {self.args.runs} runs per figure, "
            f"load average {info['load']:.1f}")
        figures["optimize_30k"] = self.optimize("30k", small)
        torch_py = self.torch_python()
        if torch_py:
            figures["torch_30k"] = self.torch_peer(torch_py, small)
        else:
            previous = BENCH / "results-optimize.json"
            old = json.loads(previous.read_text()) if previous.exists() else {}
            if "torch_30k" in old.get("figures", {}):
                carried = old["figures"]["torch_30k"]
                figures["torch_30k"] = {**carried, "carried_from": carried.get("carried_from", old["info"]["date"])}
                info.setdefault("torch", old["info"].get("torch"))
        figures["replay_M"] = self.replay_throughput(m_store, 2000)
        figures["replay_M_all"] = self.replay_throughput(m_store, None)
        if not self.args.skip_l:
            l_store, manifest = wl.ensure(wl.WORKLOADS["L"], CACHE)
            info["L"] = {"cards": manifest["cards"], "reviews": manifest["reviews"]}
            figures["optimize_L"] = self.optimize("L", l_store)
            figures["reschedule_L"] = self.reschedule(l_store)
            if self.args.baseline_src:
                figures["reschedule_L_baseline"] = self.reschedule(l_store, self.args.baseline_src)
                info["baseline_src"] = str(self.args.baseline_src)
        info["load_end"] = os.getloadavg()[0]
        for scratch in WORK.glob("*"):
            if scratch.is_file() and scratch.name.startswith(("opt-", "resched", "replay")):
                scratch.unlink()
        (BENCH / "results-optimize.json").write_text(json.dumps(self.results, indent=1))
        (BENCH / "results-optimize.md").write_text(report(self.results))
        log(f"wrote {BENCH / 'results-optimize.md'}")


def report(res: dict[str, Any]) -> str:
    info, f = res["info"], res["figures"]

    def row(measure: str, figure: dict[str, Any], target: str, ok: bool | None, note: str) -> str:
        status = "—" if ok is None else ("met" if ok else "**missed**")
        return (f"| {measure} | {figure['median_s']:.2f} s | {figure['cpu_s']:.2f} s | {figure['rss_mb']:.0f} MB "
                f"| {target} | {status} | {note} |")

    out = ["# `llmcards optimize` benchmark", "",
           f"Run {info['date']} on {info['machine']} (load average {info['load']:.1f} at the start), "
           f"{info['runs']} cold processes per figure after one warm-up unless noted. Produced by "
           "`.venv/bin/python bench/optimize_bench.py`.", "",
           "| measure | median wall | CPU (user + sys) | peak RSS | target | status | note |",
           "|---|---|---|---|---|---|---|"]
    o30 = f["optimize_30k"]
    out.append(row(f"`optimize --dry-run --json`, {o30['reviews']:,} reviews", o30, "≤ 1.5 s",
                   o30["median_s"] <= 1.5, "cold process, end to end"))
    if "torch_30k" in f:
        t = f["torch_30k"]
        carried = f"; measured {t['carried_from']}, not rerun" if "carried_from" in t else ""
        out.append(row(f"py-fsrs torch optimizer, same {t['reviews']:,} reviews", t, "—", None,
                       f"1 run; ×{t['median_s'] / o30['median_s']:.0f} llmcards' wall time, "
                       f"×{t['cpu_s'] / o30['cpu_s']:.0f} its CPU, ×{t['rss_mb'] / o30['rss_mb']:.1f} its memory "
                       f"(torch {info.get('torch', '?')}, fit alone {t['fit_s']:.1f} s{carried})"))
    if "optimize_L" in f:
        ol = f["optimize_L"]
        out.append(row(f"`optimize --dry-run --json`, L ({ol['reviews']:,} reviews)", ol, "≤ 60 s, < 1 GB",
                       ol["median_s"] <= 60 and ol["rss_mb"] < 1024,
                       f"evaluation on {ol['evaluated_cards']:,} sampled cards, {ol['held_out']:,} held-out reviews"))
        rs = f["reschedule_L"]
        out.append(row(f"`optimize --no-fit --reschedule --yes`, L ({rs['cards']:,} cards, {rs['reviews']:,} reviews)",
                       rs, "≤ 10 s", rs["median_s"] <= 10,
                       f"{len(rs['samples_s'])} run(s) ({', '.join(f'{x:.1f}' for x in rs['samples_s'])} s), "
                       "each on a fresh copy, backup included"))
        if "reschedule_L_baseline" in f:
            b = f["reschedule_L_baseline"]
            label = info.get("baseline_label", "the same, before (main's replay, one review at a time)")
            out.append(row(label, b, "—", None,
                           f"1 run; ×{b['median_s'] / rs['median_s']:.1f} the wall time, "
                           f"×{b['cpu_s'] / rs['cpu_s']:.1f} the CPU"))
    load_end = f" and {info['load_end']:.1f} at the end" if "load_end" in info else ""
    out += ["", "Wall time includes waiting for a CPU: this machine may be shared with other jobs (load average "
            f"{info['load']:.1f} at the start{load_end}). CPU time (user + system, from GNU time) is the "
            "command's own cost; with a CPU to itself, wall time is close to it."]
    out += ["", "`replay_cards` in-process, log rows rewritten (as `import --reviews` and sync do), on a fresh copy "
            "of M each run, best of 3:", ""]
    for key in ("replay_M", "replay_M_all"):
        if key in f:
            rp = f[key]
            out.append(f"- {rp['cards']:,} cards, {rp['reviews']:,} reviews ({rp['changed']:,} schedules changed): "
                       f"{rp['wall_s']:.2f} s wall, {rp['cpu_s']:.2f} s CPU, **{rp['cpu_us_per_review']:.1f} µs of "
                       "CPU per review replayed**.")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold processes per optimize figure (default 5)")
    parser.add_argument("--reschedule-runs", type=int, default=3, help="runs of the L reschedule (default 3)")
    parser.add_argument("--baseline-src", type=Path, help="also time the L reschedule with this `src` folder, once")
    parser.add_argument("--no-torch", action="store_true", help="skip py-fsrs's torch optimizer")
    parser.add_argument("--skip-l", action="store_true", help="skip the L figures")
    parser.add_argument("--baseline-label", default="the same, with the baseline's code",
                        help="what results-optimize.md calls --baseline-src's row")
    parser.add_argument("--reschedule-only", action="store_true",
                        help="measure only the L reschedule (and --baseline-src's) and merge it into the last results")
    parser.add_argument("--report-only", action="store_true", help="rewrite results-optimize.md from the .json")
    args = parser.parse_args()
    if args.report_only:
        (BENCH / "results-optimize.md").write_text(report(json.loads((BENCH / "results-optimize.json").read_text())))
        return
    OptimizeBench(args).main()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    log(f"done in {time.perf_counter() - started:.0f} s")
