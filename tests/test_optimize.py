"""`llmcards optimize`: fitting parameters to a synthetic learner, scoring, saving, rescheduling,
retention advice, and what it refuses."""

from __future__ import annotations

import io
import json
import math
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, cast

import fsrs
import fsrs_rs_python
import pexpect
import pytest
from rich.console import Console
from typer.testing import Result

from llmcards import optimize
from llmcards.cli._app import ProgressBar
from llmcards.config import Settings
from llmcards.models import CardState, Grade, State
from llmcards.scheduler import Scheduler
from llmcards.session import Session
from llmcards.stats import compute_stats
from llmcards.store import Store
from tests import helpers
from tests.helpers import NOW, snapshot
from tests.synthetic import START, TRUE_PARAMETERS, SyntheticReview, load_revlog, simulate, write_revlog_csv

CUTOFF = START + timedelta(days=300)  # the store holds the reviews before; later ones are held out
CUTOFF_ENV = {"LLMCARDS_NOW": CUTOFF.strftime("%Y-%m-%dT%H:%M:%SZ")}
DEFAULTS = Settings().fsrs_parameters

Cli = Callable[..., object]


def run(cli: Cli, *args: str, env: dict[str, str] | None = None) -> Result:
    return cast(Result, cli(*args, env=env))


def run_json(cli: Cli, *args: str) -> Any:
    result = run(cli, *args, "--json", env=CUTOFF_ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[SyntheticReview], Path]]:
    """The synthetic learner's year, and a store file with its reviews before CUTOFF (built once)."""
    with pytest.MonkeyPatch.context() as mp:  # the autouse TZ fixture is per test; this runs before it
        mp.setenv("TZ", "UTC")
        time.tzset()
        directory = tmp_path_factory.mktemp("synthetic")
        history = simulate()
        revlog = write_revlog_csv(history, directory / "revlog.csv")
        path = directory / "synthetic.db"
        with Store.open(path) as store:
            load_revlog(store, revlog, now=START, until=CUTOFF)
    time.tzset()
    yield history, path


@pytest.fixture
def learner(synthetic: tuple[list[SyntheticReview], Path], db_path: Path) -> list[SyntheticReview]:
    """A fresh copy of the synthetic store at ``db_path`` (what the ``cli`` fixture opens)."""
    history, path = synthetic
    db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, db_path)
    return history


def held_out(history: list[SyntheticReview], parameters: tuple[float, ...]) -> list[tuple[float, float, bool]]:
    """(predicted recall under ``parameters``, true recall, recalled) of each review after CUTOFF made
    at least a day after the card's previous one, from py-fsrs's own formulas (not fsrs-rs's)."""
    scheduler = Scheduler(Settings(fsrs_parameters=parameters), fuzz=False)
    by_card: dict[str, list[SyntheticReview]] = {}
    for r in history:
        by_card.setdefault(r.card_id, []).append(r)
    out = []
    for card_id, reviews in by_card.items():
        state = CardState()
        for r in reviews:
            if (r.reviewed_at >= CUTOFF and r.true_r is not None and state.last_review is not None
                    and (r.reviewed_at - state.last_review).days >= 1):
                out.append((scheduler.retrievability(state, r.reviewed_at), r.true_r, r.rating > Grade.AGAIN))
            state = scheduler.review(state, r.rating, r.reviewed_at, card_id=card_id)
    return out


def log_loss(predictions: list[tuple[float, float, bool]]) -> float:
    return -sum(math.log(p if recalled else 1 - p) for p, _, recalled in predictions) / len(predictions)


def error_from_truth(predictions: list[tuple[float, float, bool]]) -> float:
    return sum(abs(p - true) for p, true, _ in predictions) / len(predictions)


# ----------------------------------------------------------------------------- fitting
def test_fitted_parameters_predict_held_out_reviews_better_than_the_defaults(
        learner: list[SyntheticReview], cli: Cli, db_path: Path) -> None:
    data = run_json(cli, "optimize", "--yes")

    fit = data["fit"]
    assert fit["better"] and not fit["kept_defaults"] and data["saved"]["fsrs_parameters"]
    assert fit["cards"] == 500 and fit["reviews"] == sum(1 for r in learner if r.reviewed_at < CUTOFF)
    assert fit["fitted"]["log_loss"] < fit["current"]["log_loss"]
    with Store.open(db_path) as store:
        fitted = store.settings().fsrs_parameters
    assert fitted == tuple(fit["parameters"]) and fitted != DEFAULTS

    # On the reviews after CUTOFF, which the store never held:
    mine, defaults = held_out(learner, fitted), held_out(learner, DEFAULTS)
    assert len(mine) > 300
    assert log_loss(mine) < log_loss(defaults)
    assert error_from_truth(mine) < error_from_truth(defaults)
    # ...and nearer the truth than the defaults by a clear margin, though short of the true parameters.
    truth = held_out(learner, TRUE_PARAMETERS)
    assert error_from_truth(truth) < error_from_truth(mine) < 0.75 * error_from_truth(defaults)


def test_scores_are_fsrs_rs_own_time_series_evaluation(learner: list[SyntheticReview], db_path: Path) -> None:
    with Store.open(db_path) as store:
        settings = store.settings()
        fit = optimize.fit_parameters(store, CUTOFF, settings, tz=timezone.utc)
        h = optimize._read_history(store, CUTOFF, settings, timezone.utc, None)
    items = list(optimize._Items(h, range(len(h.item_card))))
    assert len(items) == fit.predicted

    # The fitted score: fsrs-rs's own evaluate_with_time_series_splits, fold for fold.
    theirs = fsrs_rs_python.evaluate_with_time_series_splits(items, card_ids=h.item_card)
    assert fit.fitted_score.log_loss == pytest.approx(theirs.log_loss, rel=1e-5)
    assert fit.fitted_score.rmse_bins == pytest.approx(theirs.rmse_bins, rel=1e-4)
    # The current score: the same held-out reviews, each predicted by fsrs-rs's evaluate (one
    # review alone has weight 1, so its log loss is -log p or -log(1 - p)).
    model = fsrs_rs_python.FSRS(list(DEFAULTS))
    held = items[len(items) - fit.held_out:]
    current = sum(model.evaluate([item]).log_loss for item in held) / len(held)
    assert fit.current_score.log_loss == pytest.approx(current, rel=1e-5)


def test_too_little_history_is_refused_and_nothing_changes(store: Store, db_path: Path, cli: Cli) -> None:
    scheduler = Scheduler(Settings(), fuzz=False)
    for card in store.cards.list(optimize_filter(), now=NOW)[:5]:
        state = CardState()
        for day in (0, 1, 3, 8):
            at = NOW - timedelta(days=30 - day)
            after = scheduler.review(state, Grade.GOOD, at, card_id=card.id)
            store.queue.record_review(card.id, state, after, rating=Grade.GOOD, reviewed_at=at,
                                      study_day=at.date(), duration_ms=4000)
            state = after
    store.close()
    before = snapshot(db_path)

    result = run(cli, "optimize", "--yes", "--reschedule")

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "not enough review history" in lines[0] and "15 of the 400" in lines[0] and "nothing was changed" in lines[0]
    assert snapshot(db_path) == before


def test_fsrs_rs_falling_back_to_its_defaults_is_detected(store: Store) -> None:
    scheduler = Scheduler(Settings(), fuzz=False)
    for card in store.cards.list(optimize_filter(), now=NOW)[:4]:  # 4 cards x 3 later days: 12 predictions
        state = CardState()
        for day in (0, 2, 5, 11):
            at = NOW - timedelta(days=30 - day)
            after = scheduler.review(state, Grade.GOOD, at, card_id=card.id)
            store.queue.record_review(card.id, state, after, rating=Grade.GOOD, reviewed_at=at,
                                      study_day=at.date(), duration_ms=4000)
            state = after
    custom = Settings(fsrs_parameters=TRUE_PARAMETERS)

    fit = optimize.fit_parameters(store, NOW, custom, tz=timezone.utc, minimum=12)

    assert fit.predicted == 12 and fit.kept_defaults and not fit.better
    assert fit.parameters == TRUE_PARAMETERS == fit.current  # nothing new to offer
    with pytest.raises(optimize.NotEnoughHistoryError, match="12 of the 13"):
        optimize.fit_parameters(store, NOW, custom, tz=timezone.utc, minimum=13)


def optimize_filter() -> Any:
    from llmcards.store import CardFilter

    return CardFilter()


def test_bad_rows_are_skipped_and_counted(learner: list[SyntheticReview], cli: Cli, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    columns = ("card_id, rating, reviewed_at, study_day, duration_ms, prev_state, state, cram, uuid, device")
    bad = [
        ("syn-0001", 7, "2025-06-01 10:00:00.000000", "2025-06-01", 1000, 2, 2, 0),  # rating outside 1-4
        ("syn-0001", 0, "2025-06-02 10:00:00.000000", "2025-06-02", 1000, 2, 2, 0),
        ("syn-0002", 3, "2027-01-01 10:00:00.000000", "2027-01-01", 1000, 2, 2, 0),  # in the future
        ("syn-0002", 3, "2025-06-03 10:00:00.000000", "2025-06-03", -5, 2, 2, 0),  # negative duration
        ("syn-0003", 3, "not a time", "2025-06-03", 1000, 2, 2, 0),  # unreadable time
        ("syn-0003", 1, "2025-06-04 10:00:00.000000", "2025-06-04", 1000, 2, 2, 1),  # cram
    ]
    conn.executemany(f"INSERT INTO review_logs({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'elsewhere')",
                     [(*row, f"bad-row-{i}") for i, row in enumerate(bad)])
    conn.execute("UPDATE cards SET retired = 1 WHERE id = 'syn-0004'")
    retired = conn.execute("SELECT count(*) FROM review_logs WHERE card_id = 'syn-0004'").fetchone()[0]
    conn.commit()
    conn.close()
    stored = sum(1 for r in learner if r.reviewed_at < CUTOFF)

    data = run_json(cli, "optimize", "--dry-run")

    assert data["fit"]["excluded"] == {"cram": 1, "retired": retired, "unreadable_time": 1, "future": 1,
                                       "bad_rating": 2, "negative_duration": 1}
    assert data["fit"]["reviews"] == stored - retired and data["fit"]["cards"] == 499
    # A reschedule cannot replay rows it cannot read: a clear refusal, not a traceback.
    before = snapshot(db_path)
    refused = run(cli, "optimize", "--no-fit", "--reschedule", "--yes", env=CUTOFF_ENV)
    assert refused.exit_code == 1 and "3 review log rows cannot be replayed" in refused.output
    assert "Traceback" not in refused.output and snapshot(db_path) == before


# ----------------------------------------------------------------------------- saving
def test_saved_parameters_change_previews_and_stats_together(learner: list[SyntheticReview], cli: Cli,
                                                             db_path: Path) -> None:
    with Store.open(db_path) as store:
        card = store.cards.require("syn-0100")
        defaults = store.settings()
        preview_before = Session.start(store, defaults, CUTOFF, tz=timezone.utc, fuzz=False).preview(card, CUTOFF)
        known_before = compute_stats(store, CUTOFF, defaults, tz=timezone.utc).memory.known

    run_json(cli, "optimize", "--yes")

    with Store.open(db_path) as store:
        fitted = store.settings()
        preview = Session.start(store, fitted, CUTOFF, tz=timezone.utc, fuzz=False).preview(card, CUTOFF)
        memory = compute_stats(store, CUTOFF, fitted, tz=timezone.utc).memory
        studied = [c for c in store.cards.list(optimize_filter(), now=CUTOFF) if c.schedule.state != State.NEW]
    assert fitted.fsrs_parameters != DEFAULTS
    # The grade buttons follow py-fsrs with the fitted parameters...
    theirs = fsrs.Scheduler(parameters=fitted.fsrs_parameters, enable_fuzzing=False)
    fsrs_card = fsrs.Card(card_id=1, state=fsrs.State(int(card.schedule.state)), step=card.schedule.step,
                          stability=card.schedule.stability, difficulty=card.schedule.difficulty,
                          due=card.schedule.due, last_review=card.schedule.last_review)
    assert preview[Grade.GOOD] == theirs.review_card(fsrs_card, fsrs.Rating.Good, CUTOFF)[0].due - CUTOFF
    assert preview != preview_before
    # ...and so does stats' retrievability, card for card.
    scheduler = Scheduler(fitted)
    assert memory.known == pytest.approx(sum(scheduler.retrievability(c.schedule, CUTOFF) for c in studied),
                                         rel=1e-9)
    assert memory.known != pytest.approx(known_before, rel=1e-3)


def test_without_a_terminal_nothing_is_saved_and_it_says_how(learner: list[SyntheticReview], cli: Cli,
                                                             db_path: Path) -> None:
    before = snapshot(db_path)
    result = run(cli, "optimize", "--retention", env=CUTOFF_ENV)
    assert result.exit_code == 0, result.output
    assert "Nothing was saved" in result.output and "--yes" in result.output
    assert "log loss" in result.output and "suggested" in result.output
    assert snapshot(db_path) == before


def test_on_a_terminal_it_asks_before_saving(learner: list[SyntheticReview], db_path: Path) -> None:
    def spawn() -> pexpect.spawn[str]:
        child = helpers.spawn("--db", str(db_path), "optimize", "--reschedule", size=(40, 120),
                              env={**CUTOFF_ENV, "NO_COLOR": "1"})
        child.timeout = 120  # fitting, evaluating and replaying take a while on a busy machine
        return child

    before = snapshot(db_path)
    declined = spawn()
    declined.expect(r"Save the fitted parameters\? \[y/N\]")
    declined.sendline("n")
    declined.expect(pexpect.EOF)
    declined.close()
    assert declined.exitstatus == 0 and snapshot(db_path) == before

    accepted = spawn()
    accepted.expect(r"Save the fitted parameters\? \[y/N\]")
    accepted.sendline("y")
    accepted.expect("Saved fsrs_parameters")
    accepted.expect(r"Rescheduled .*?500 cards")
    accepted.expect(pexpect.EOF)
    accepted.close()
    assert accepted.exitstatus == 0
    with Store.open(db_path) as store:
        assert store.settings().fsrs_parameters != DEFAULTS


def test_dry_run_and_yes_contradict(cli: Cli) -> None:
    result = run(cli, "optimize", "--yes", "--dry-run")
    assert result.exit_code == 1 and "contradict" in result.output


# ----------------------------------------------------------------------------- rescheduling
def schedules(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        cards = conn.execute("SELECT id, state, step, stability, difficulty, due, last_review, reps, lapses "
                             "FROM cards ORDER BY id").fetchall()
        logs = conn.execute("SELECT id, prev_state, prev_interval_days, state, stability, difficulty, due "
                            "FROM review_logs ORDER BY id").fetchall()
        return cards, logs
    finally:
        conn.close()


def test_reschedule_does_what_its_dry_run_showed_and_is_idempotent(learner: list[SyntheticReview], cli: Cli,
                                                                   db_path: Path) -> None:
    original = schedules(db_path)
    preview = run_json(cli, "optimize", "--reschedule", "--dry-run")
    assert schedules(db_path) == original and not preview["saved"]["fsrs_parameters"]
    assert not (db_path.parent / "backups").exists()  # a dry run writes nothing, so it takes no backup

    done = run_json(cli, "optimize", "--reschedule", "--yes")

    assert done["saved"]["fsrs_parameters"]
    moved = done["reschedule"]
    assert moved["cards"] == 500 and moved["earlier"] + moved["later"] > 100
    for key in ("cards", "reviews", "earlier", "later", "due_per_day_after"):
        assert moved[key] == preview["reschedule"][key], key
    assert moved["due_per_day_before"] == preview["reschedule"]["due_per_day_before"]
    assert moved["due_per_day_after"] != moved["due_per_day_before"]
    first = schedules(db_path)
    assert first != original

    again = run_json(cli, "optimize", "--no-fit", "--reschedule", "--yes")
    assert again["fit"] is None and again["reschedule"]["earlier"] == again["reschedule"]["later"] == 0
    assert schedules(db_path) == first


# ----------------------------------------------------------------------------- retention
def test_retention_advice_changes_the_setting_only_when_asked(learner: list[SyntheticReview], cli: Cli,
                                                              db_path: Path) -> None:
    data = run_json(cli, "optimize", "--no-fit", "--retention", "--yes")

    advice = data["retention"]
    shown = [o["retention"] for o in advice["options"]]
    assert {0.8, 0.85, 0.9, 0.95} <= set(shown) and advice["suggested"] in shown
    assert 0.7 <= advice["suggested"] <= 0.95 and advice["deck"] == 500
    workload = [o["reviews_per_day"] for o in advice["options"]]
    assert workload == sorted(workload)  # higher retention, more reviews
    with Store.open(db_path) as store:
        assert store.settings().desired_retention == advice["suggested"]
        assert store.settings().fsrs_parameters == DEFAULTS
    assert data["saved"] == {"fsrs_parameters": False, "desired_retention": advice["suggested"] != 0.9}


def test_config_set_desired_retention_says_due_dates_keep_the_old_retention(store: Store, cli: Cli) -> None:
    card = store.cards.require("bn-vs-ln")
    after = Scheduler(Settings(), fuzz=False).review(CardState(), Grade.EASY, NOW, card_id=card.id)
    store.queue.record_review(card.id, CardState(), after, rating=Grade.EASY, reviewed_at=NOW, study_day=NOW.date(),
                              duration_ms=1000)
    result = run(cli, "config", "set", "desired_retention", "0.85")
    assert result.exit_code == 0, result.output
    assert "desired_retention = 0.85" in result.output
    assert "1 card already scheduled: their due dates were set for 0.9" in result.output
    assert "`llmcards optimize --reschedule --no-fit`" in result.output


# ----------------------------------------------------------------------------- the progress bar
def test_progress_bar_shows_only_on_a_terminal_and_after_its_delay() -> None:
    terminal = io.StringIO()
    with ProgressBar("Fitting", delay=0.0, console=Console(file=terminal, force_terminal=True, width=60)) as bar:
        bar(0.5)
    assert "Fitting" in terminal.getvalue() and "50%" in terminal.getvalue()

    pipe = io.StringIO()
    with ProgressBar("Fitting", delay=0.0, console=Console(file=pipe, force_terminal=False, width=60)) as bar:
        bar(0.5)
    assert pipe.getvalue() == ""

    slow = io.StringIO()
    with ProgressBar("Fitting", delay=3600.0, console=Console(file=slow, force_terminal=True, width=60)) as bar:
        bar(0.5)
    assert slow.getvalue() == ""
