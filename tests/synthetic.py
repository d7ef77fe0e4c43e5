"""A synthetic learner whose memory follows known FSRS parameters, for testing the optimizer.

The learner's true memory follows py-fsrs's formulas with :data:`TRUE_PARAMETERS`: at each
review it recalls the card with probability equal to the card's retrievability under those
parameters. Its reviews are scheduled by llmcards' own scheduler with fsrs's *default*
parameters, as a person's are before they optimize. Everything is drawn from one seeded
generator, so a seed always gives the same history.

The history is written as a revlog CSV file, the layout ``llmcards import --reviews`` reads:
``card_id, review_time`` (ms since the epoch, UTC), ``review_rating`` (1-4), ``review_state``
(the card's state before the review, 0-3) and ``review_duration`` (ms).

    python -m tests.synthetic out.csv   # the default learner: 500 cards over 365 days
"""

from __future__ import annotations

import csv
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmcards.config import Settings
from llmcards.models import CardState, Grade, Question, State
from llmcards.scheduler import Scheduler

# A learner unlike fsrs's defaults: first memories last longer, but grow more slowly with
# each success, and the forgetting curve has another shape (decay 0.1542 -> 0.35).
TRUE_PARAMETERS: tuple[float, ...] = (
    0.8, 2.5, 5.0, 18.0,  # initial stability per first grade
    6.0, 0.7, 2.5, 0.01,  # difficulty
    1.3, 0.25, 1.1,  # stability after a success
    1.8, 0.09, 0.35, 1.5,  # stability after a lapse
    0.45, 2.2,  # Hard penalty, Easy bonus
    0.6, 0.1, 0.1,  # same-day reviews
    0.35,  # decay of the forgetting curve
)
START = datetime(2025, 1, 1, 0, 0, tzinfo=timezone.utc)
REVLOG_HEADER = ("card_id", "review_time", "review_rating", "review_state", "review_duration")


@dataclass(frozen=True)
class SyntheticReview:
    """One review of the synthetic learner, with the truth behind it."""

    card_id: str
    reviewed_at: datetime
    rating: Grade
    state_before: State
    duration_ms: int
    true_r: float | None  # the chance of recall it was drawn with (None: a new card, nothing to recall)


def _first_grade(rng: random.Random) -> Grade:
    x = rng.random()
    return Grade.AGAIN if x < 0.2 else Grade.HARD if x < 0.3 else Grade.EASY if x > 0.9 else Grade.GOOD


def _pass_grade(rng: random.Random) -> Grade:
    x = rng.random()
    return Grade.HARD if x < 0.1 else Grade.EASY if x > 0.92 else Grade.GOOD


def simulate(*, cards: int = 500, days: int = 365, seed: int = 20261122,
             true_parameters: Sequence[float] = TRUE_PARAMETERS, start: datetime = START,
             settings: Settings | None = None) -> list[SyntheticReview]:
    """The learner's reviews of ``cards`` cards over ``days`` days, in time order.

    Cards are introduced evenly over the first two thirds of the span. Each card is reviewed
    when it falls due: learning steps a few minutes later, review cards at some time during
    the day they fall due. ``settings`` schedule the reviews (default: fsrs's defaults).
    """
    rng = random.Random(seed)
    schedule = Scheduler(settings or Settings(), fuzz=True)
    truth = Scheduler(Settings(fsrs_parameters=tuple(true_parameters)), fuzz=False)
    end = start + timedelta(days=days)
    intro_span = timedelta(days=days * 2 / 3)
    out: list[SyntheticReview] = []
    for i in range(cards):
        card_id = f"syn-{i:04d}"
        t = start + intro_span * (i + rng.random()) / cards + timedelta(hours=8)
        scheduled, true = CardState(), CardState()
        while t < end:
            if scheduled.state == State.NEW:
                grade, true_r = _first_grade(rng), None
            else:
                true_r = truth.retrievability(true, t)
                grade = _pass_grade(rng) if rng.random() < true_r else Grade.AGAIN
            duration = int(1500 + rng.expovariate(1 / 6000))
            out.append(SyntheticReview(card_id, t, grade, scheduled.state, duration, true_r))
            after = schedule.review(scheduled, grade, t, card_id=card_id)
            true = truth.review(true, grade, t, card_id=card_id)
            scheduled = after
            due = after.due or t
            if after.state == State.REVIEW:
                t = max(due, t) + timedelta(seconds=rng.uniform(0, 14 * 3600))
            else:
                t = max(due, t) + timedelta(seconds=rng.uniform(5, 600))
    out.sort(key=lambda r: (r.reviewed_at, r.card_id))
    return out


def write_revlog_csv(reviews: Iterable[SyntheticReview], path: Path) -> Path:
    """The reviews as a revlog CSV file (times in ms UTC), in time order."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(REVLOG_HEADER)
        for r in reviews:
            out.writerow((r.card_id, round(r.reviewed_at.timestamp() * 1000), int(r.rating), int(r.state_before),
                          r.duration_ms))
    return path


@dataclass(frozen=True)
class RevlogRow:
    card_id: str
    reviewed_at: datetime
    rating: int
    state: int
    duration_ms: int


def read_revlog_csv(path: Path) -> list[RevlogRow]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [RevlogRow(row["card_id"], datetime.fromtimestamp(int(row["review_time"]) / 1000, timezone.utc),
                          int(row["review_rating"]), int(row["review_state"]), int(row["review_duration"]))
                for row in csv.DictReader(fh)]


def load_revlog(store: object, path: Path, *, now: datetime, until: datetime | None = None) -> int:
    """Put the revlog's cards and reviews (those before ``until``) into ``store``, the way a person
    would: the cards are created (``sync_questions``), then the reviews go through
    ``llmcards.export.import_reviews`` -- what ``llmcards import --reviews`` runs -- which merges them
    and replays every card through the store's scheduler. Returns how many reviews were added.
    """
    from llmcards.export import import_reviews
    from llmcards.store import Store
    from llmcards.sync import sync_questions

    assert isinstance(store, Store)
    rows = [r for r in read_revlog_csv(path) if until is None or r.reviewed_at < until]
    questions = [Question(id=cid, question=f"Synthetic card {cid}", answer="a")
                 for cid in sorted({r.card_id for r in rows})]
    sync_questions(store, questions, origin="user", import_path=str(path), now=now, source=str(path))
    subset = path.with_name(f"{path.stem}-loaded.csv")  # the file's own lines, those before ``until``
    with open(path, newline="", encoding="utf-8") as source, open(subset, "w", newline="", encoding="utf-8") as fh:
        reader = csv.reader(source)
        header = next(reader)
        time_column = header.index("review_time")
        out = csv.writer(fh)
        out.writerow(header)
        limit_ms = None if until is None else until.timestamp() * 1000
        out.writerows(line for line in reader if limit_ms is None or int(line[time_column]) < limit_ms)
    latest = max((r.reviewed_at for r in rows), default=now)
    report = import_reviews(store, subset, now=max(now, latest + timedelta(seconds=1)))
    return report.added


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic-revlog.csv")
    history = simulate()
    write_revlog_csv(history, target)
    print(f"{len(history)} reviews of {len({r.card_id for r in history})} cards -> {target}")
