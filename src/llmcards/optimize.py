"""Fitting FSRS parameters to a person's own review history, advice on the desired retention,
and rescheduling every card under new settings.

Fitting uses fsrs-rs-python (Rust; imported only inside the functions here that need it).
The review log becomes one ``FSRSItem`` per review that follows an earlier study day's review
of the same card: the card's reviews up to and including that one, each with ``delta_t``, the
whole study days since the card's previous review (local time, days rolling over at
``day_starts_at``; 0 for the first review and for same-day reviews). Those long-term reviews
are what the model learns to predict, as fsrs-rs's own examples train. Same-day reviews stay
in the histories but are not predicted.

The fit is judged out of sample, as fsrs-rs's ``evaluate_with_time_series_splits`` does:
the predicted reviews, in time order, are cut into six segments; the model fitted on the
first k segments predicts segment k + 1, for k = 1..5. The current parameters predict the
same held-out reviews, so both scores are comparable (log loss and RMSE over fsrs-rs's bins).
The folds are fitted here one by one rather than in that one call: the Rust code holds the
GIL, so a progress bar can only move between calls, and that call would hold the training sets
of all five folds in memory at once. Past ``EVAL_LIMIT`` predicted reviews, the folds use an
even sample of the cards (every card's whole history, or none of it), which keeps the
evaluation's time and memory bounded; the fit that is saved always uses every review.

Prefix items are built only while fsrs-rs reads them (:class:`_Items`), from each card's
history: holding 2M of them at once would take about 400 MB.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any, TypedDict, overload

from llmcards.config import Settings, format_parameters
from llmcards.errors import UserError
from llmcards.models import Grade, State
from llmcards.scheduler import day_start, forgetting_curve, next_day_start, study_day

if TYPE_CHECKING:
    from llmcards.store import Store

MIN_REVIEWS = 400  # long-term reviews (a card's review on a later study day than its previous one)
SPLITS = 5  # time-series folds, as fsrs-rs's evaluate_with_time_series_splits
EVAL_LIMIT = 300_000  # predicted reviews in the evaluation's folds; beyond, a sample of the cards
SHOWN_RETENTIONS = (0.80, 0.85, 0.90, 0.95)
SIMULATED_DAYS = 365
FUTURE_DAYS = 30
MAX_DURATION_MS = 20 * 60 * 1000  # longer reviews count as this long in the simulator's costs

Progress = Callable[[float], None]  # called with the share of the work done, 0.0 to 1.0

# Relative costs of the fitting stages, per row read, per review fitted and per review predicted,
# measured on the L benchmark store, so that the progress bar moves at an even pace.
_READ_COST, _FIT_COST, _PREDICT_COST = 1.0, 5.0, 3.0


class NotEnoughHistoryError(UserError):
    """Too few long-term reviews to fit parameters; nothing was changed."""

    def __init__(self, have: int, need: int, reviews: int) -> None:
        super().__init__(
            f"not enough review history to fit your parameters yet: {have:,} of the {need:,} reviews it needs "
            f"(reviews made on a later day than the card's previous review; {reviews:,} reviews in all); "
            "nothing was changed")
        self.have = have
        self.need = need


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Excluded:
    """Review log rows left out of the fit, by reason (each row counts once, first reason first)."""

    cram: int = 0
    retired: int = 0  # reviews of retired cards
    unreadable_time: int = 0
    future: int = 0  # reviewed after now
    bad_rating: int = 0  # outside 1-4
    negative_duration: int = 0

    @property
    def impossible(self) -> int:
        return self.unreadable_time + self.future + self.bad_rating + self.negative_duration

    @property
    def total(self) -> int:
        return self.cram + self.retired + self.impossible


@dataclass(frozen=True)
class Score:
    """How well parameters predict recall: lower is better for both."""

    log_loss: float
    rmse_bins: float


@dataclass(frozen=True)
class ReviewProfile:
    """How this person grades and how long a review takes, for the simulator (None: too few to tell)."""

    first_ratings: tuple[float, float, float, float] | None  # Again/Hard/Good/Easy shares of first grades
    pass_ratings: tuple[float, float, float] | None  # Hard/Good/Easy shares of passed long-term reviews
    seconds: tuple[tuple[float | None, ...], ...]  # mean seconds: learning, review, relearning x grade


@dataclass(frozen=True)
class Fit:
    """The fitted parameters and how they compare with the current ones."""

    parameters: tuple[float, ...]  # fitted (rounded to 4 decimals, within fsrs's bounds)
    current: tuple[float, ...]
    reviews: int  # log rows used
    cards: int  # cards with a used review
    predicted: int  # long-term reviews the model learns from
    held_out: int  # of those, predicted out of sample in the evaluation
    evaluated_cards: int  # cards whose reviews the evaluation used (all of them up to EVAL_LIMIT reviews)
    excluded: Excluded
    current_score: Score
    fitted_score: Score
    kept_defaults: bool  # fsrs-rs fell back to its defaults (too few reviews left after its outlier filter)

    @property
    def better(self) -> bool:
        """The fitted parameters predict the held-out reviews better (lower log loss)."""
        return not self.kept_defaults and self.fitted_score.log_loss < self.current_score.log_loss


@dataclass(frozen=True)
class RetentionOption:
    """A year simulated at one desired retention."""

    retention: float
    reviews_per_day: float  # reviews and new cards, on average
    minutes_per_day: float
    retained: float  # knowledge retained at the end: the cards' summed chance of recall


@dataclass(frozen=True)
class RetentionAdvice:
    suggested: float  # fsrs-rs's optimal_retention: least study time per card remembered
    current: float
    deck: int  # cards in the simulated deck
    new_per_day: int
    days: int
    options: tuple[RetentionOption, ...]  # the shown retentions, the suggestion and the current one


@dataclass(frozen=True)
class RescheduleReport:
    """What replaying every card's history under new settings moved."""

    cards: int  # cards replayed
    reviews: int
    earlier: int  # active cards now due earlier
    later: int
    first_day: date  # the study day ``before[0]`` and ``after[0]`` count (today, backlog included)
    before: tuple[int, ...]  # active cards due on each study day
    after: tuple[int, ...]
    dry_run: bool

    @property
    def before_per_day(self) -> float:
        return sum(self.before) / len(self.before) if self.before else 0.0

    @property
    def after_per_day(self) -> float:
        return sum(self.after) / len(self.after) if self.after else 0.0


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` changed."""

    parameters: tuple[float, ...] | None  # saved, or None
    retention: float | None  # saved, or None
    reschedule: RescheduleReport | None


# ----------------------------------------------------------------------------- the history
def _ints() -> array[int]:
    return array("i")


@dataclass
class _History:
    """Each card's usable reviews, and the long-term reviews to predict, in time order.

    Everything per review is kept in compact arrays: at 2M reviews, a Python object per value
    would cost hundreds of megabytes.
    """

    histories: list[list[Any]] = field(default_factory=list)  # per card: its FSRSReviews
    item_card: array[int] = field(default_factory=_ints)  # a predicted review's card (index into histories)
    item_pos: array[int] = field(default_factory=_ints)  # its position in its card's history
    item_delta: array[int] = field(default_factory=_ints)  # its delta_t
    item_label: array[int] = field(default_factory=lambda: array("b"))  # 1: recalled (rating > 1)
    item_bin: array[int] = field(default_factory=lambda: array("q"))  # its RMSE bin, see _score
    reviews: int = 0
    excluded: Excluded = field(default_factory=Excluded)


class _Items(Sequence[Any]):
    """The FSRSItems of some predicted reviews (indices into the _History), built as they are read."""

    def __init__(self, h: _History, indices: Sequence[int]) -> None:
        self.h = h
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> _Items: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return _Items(self.h, self.indices[i])
        return self._item(self.indices[i])

    def _item(self, k: int) -> Any:
        from fsrs_rs_python import FSRSItem

        return FSRSItem(self.h.histories[self.h.item_card[k]][:self.h.item_pos[k] + 1])

    def __iter__(self) -> Iterator[Any]:
        from fsrs_rs_python import FSRSItem

        histories, card, pos = self.h.histories, self.h.item_card, self.h.item_pos
        for k in self.indices:
            yield FSRSItem(histories[card[k]][:pos[k] + 1])

    def card_ids(self) -> array[int]:
        card = self.h.item_card
        return array("i", [card[k] for k in self.indices])


def _read_history(store: Store, now: datetime, settings: Settings, tz: tzinfo | None,
                  progress: Callable[[int], None] | None) -> _History:
    from fsrs_rs_python import FSRSReview

    h = _History()
    retired = store.cards.retired_ids()
    hour = settings.day_starts_at
    now_s = now.timestamp()
    cram_n = retired_n = unreadable = future = bad_rating = negative = 0
    index: dict[str, int] = {}
    histories = h.histories
    # One FSRSReview object per (rating, delta_t): histories are lists of a few hot objects, so
    # building millions of prefix items stays in the CPU's cache (twice as fast at 2M reviews).
    shared: dict[tuple[int, int], Any] = {}
    last_day: list[int] = []
    long_count: list[int] = []
    lapses: list[int] = []
    day = 0
    day_begin = day_end = -math.inf
    item_card, item_pos, item_delta = h.item_card, h.item_pos, h.item_delta
    item_label, item_bin = h.item_label, h.item_bin
    rows = reviews = 0
    for card_id, rating, at, duration_ms, cram in store.history.rows_in_time_order():
        rows += 1
        if progress is not None and not rows % 50000:
            progress(rows)
        if cram:
            cram_n += 1
            continue
        if card_id in retired:
            retired_n += 1
            continue
        if at is None:
            unreadable += 1
            continue
        if at > now_s:
            future += 1
            continue
        if rating is None or not 1 <= rating <= 4:
            bad_rating += 1
            continue
        if duration_ms is not None and duration_ms < 0:
            negative += 1
            continue
        if not day_begin <= at < day_end:  # rows come in time order: a new study day
            moment = datetime.fromtimestamp(at, timezone.utc)
            d = study_day(moment, hour, tz)
            day = d.toordinal()
            day_begin = day_start(d, hour, tz).timestamp()
            day_end = next_day_start(moment, hour, tz).timestamp()
        c = index.get(card_id)
        if c is None:
            c = index[card_id] = len(histories)
            histories.append([])
            last_day.append(day)
            long_count.append(0)
            lapses.append(0)
            delta = 0
        else:
            delta = day - last_day[c]
            last_day[c] = day
        history = histories[c]
        review = shared.get((rating, delta))
        if review is None:
            review = shared[rating, delta] = FSRSReview(rating, delta)
        history.append(review)
        reviews += 1
        if delta > 0:
            long_count[c] += 1
            item_card.append(c)
            item_pos.append(len(history) - 1)
            item_delta.append(delta)
            item_label.append(rating > 1)
            item_bin.append((delta << 32) | (long_count[c] << 16) | lapses[c])
            if rating == 1:
                lapses[c] += 1
    h.reviews = reviews
    h.excluded = Excluded(cram=cram_n, retired=retired_n, unreadable_time=unreadable, future=future,
                          bad_rating=bad_rating, negative_duration=negative)
    return h


# ----------------------------------------------------------------------------- scoring
@cache
def _log_bin(x: int, base: float, scale: float) -> int:
    return round(scale * base ** math.floor(math.log(x, base)))


def _bin(delta_t: int, length: int, lapses: int) -> tuple[int, int, int]:
    """fsrs-rs's bin of a prediction (``FSRSItem::r_matrix_index``), for RMSE (bins)."""
    return (_log_bin(delta_t, 3.62, 248.0) if delta_t > 0 else 0, _log_bin(length, 1.89, 1.99),
            _log_bin(lapses, 1.73, 1.65) if lapses else 0)


def _predict(h: _History, parameters: Sequence[float], ks: Sequence[int]) -> array[float]:
    """The chance of recall of the predicted reviews ``ks`` under ``parameters``: the forgetting
    curve at each one's delta_t, from the stability after its card's previous review."""
    from fsrs_rs_python import FSRS

    latest: dict[int, int] = {}  # card -> its latest item in ks, whose history covers the others
    item_card, item_pos, delta = h.item_card, h.item_pos, h.item_delta
    for k in ks:
        latest[item_card[k]] = k
    model = FSRS(list(parameters))
    states: dict[int, list[Any]] = {}
    cards = list(latest)
    for start in range(0, len(cards), 5000):
        part = cards[start:start + 5000]
        batch = model.historical_memory_state_batch(_Items(h, [latest[c] for c in part]))
        states.update(zip(part, batch, strict=True))
    decay, factor = forgetting_curve(parameters)
    return array("d", [(1 + factor * delta[k] / states[item_card[k]][item_pos[k] - 1].stability) ** -decay
                       for k in ks])


def _score(h: _History, ks: Sequence[int], predictions: Sequence[float]) -> Score:
    """Log loss and RMSE (bins) of the predictions of reviews ``ks``, weighted equally, as fsrs-rs's
    time-series evaluation weighs them."""
    loss = 0.0
    keys: dict[int, list[float]] = {}  # item_bin -> predicted, recalled, count
    label, item_bin, log = h.item_label, h.item_bin, math.log
    for k, p in zip(ks, predictions, strict=True):
        y = label[k]
        loss -= log(p) if y else log(1 - p)
        b = keys.get(item_bin[k])
        if b is None:
            b = keys[item_bin[k]] = [0.0, 0.0, 0.0]
        b[0] += p
        b[1] += y
        b[2] += 1
    n = len(predictions)
    if n == 0:
        return Score(math.nan, math.nan)
    bins: dict[tuple[int, int, int], list[float]] = {}  # fsrs-rs's bins each gather several keys
    for key, (predicted, recalled, count) in keys.items():  # key: delta_t, long-term reviews, lapses
        b = bins.setdefault(_bin(key >> 32, ((key >> 16) & 0xFFFF) + 1, key & 0xFFFF), [0.0, 0.0, 0.0])
        b[0] += predicted
        b[1] += recalled
        b[2] += count
    rmse = math.sqrt(sum((b[0] / b[2] - b[1] / b[2]) ** 2 * b[2] for b in bins.values()) / n)
    return Score(loss / n, rmse)


def _segments(n: int) -> list[tuple[int, int]]:
    """(start, end) of each fold's test segment, as fsrs-rs's ``TimeSeriesSplit::split``."""
    size = n // (SPLITS + 1)
    if size == 0:
        return []
    return [((i + 1) * size, n if i == SPLITS - 1 else (i + 2) * size) for i in range(SPLITS)]


def _bounded(parameters: Sequence[float]) -> tuple[float, ...]:
    """Rounded to 4 decimals (as Anki shows them) and kept within fsrs's bounds: fsrs-rs works in
    32-bit floats, so a parameter at a bound can come back a hair outside it."""
    from fsrs.scheduler import LOWER_BOUNDS_PARAMETERS, UPPER_BOUNDS_PARAMETERS

    return tuple(min(max(round(float(p), 4), low), high)
                 for p, low, high in zip(parameters, LOWER_BOUNDS_PARAMETERS, UPPER_BOUNDS_PARAMETERS, strict=True))


# ----------------------------------------------------------------------------- use cases
def fit_parameters(store: Store, now: datetime, settings: Settings, *, tz: tzinfo | None = None,
                   minimum: int = MIN_REVIEWS, progress: Progress | None = None) -> Fit:
    """Fit FSRS parameters to the review log as of ``now``, and score them against the current ones.

    Raises :class:`NotEnoughHistoryError` (changing nothing) below ``minimum`` long-term reviews.
    ``tz=None`` means the machine's time zone.
    """
    from fsrs_rs_python import DEFAULT_PARAMETERS, FSRS

    now = now.astimezone(timezone.utc)
    total_rows = max(1, store.history.count())
    work = {"done": 0.0, "total": float(total_rows) * _READ_COST}

    def report(done: float) -> None:
        work["done"] = done
        if progress is not None:
            progress(min(1.0, done / work["total"]))

    h = _read_history(store, now, settings, tz, lambda rows: report(rows * _READ_COST))
    n = len(h.item_card)
    need = max(minimum, 2 * (SPLITS + 1))  # each time-series segment needs a review or two
    if n < need:
        raise NotEnoughHistoryError(n, need, h.reviews)
    stride = -(-n // EVAL_LIMIT)  # 1: every card; k: every k-th card (in order of first review)
    sample: Sequence[int] = range(n) if stride == 1 else array(
        "i", [k for k, c in enumerate(h.item_card) if c % stride == 0])
    segments = _segments(len(sample))
    first_test = segments[0][0]
    held_out = sample[first_test:]
    work["total"] = (total_rows * _READ_COST + (sum(start for start, _ in segments) + n) * _FIT_COST
                     + 2 * len(held_out) * _PREDICT_COST)
    report(total_rows * _READ_COST)
    relearning = max(1, len(settings.relearning_steps))

    def fit(items: Sequence[Any], card_ids: Sequence[int]) -> list[float]:
        fitted = FSRS(list(settings.fsrs_parameters)).compute_parameters(
            items, card_ids=card_ids, num_relearning_steps=relearning)
        report(work["done"] + len(items) * _FIT_COST)
        return [float(p) for p in fitted]

    # The folds' items are built once and sliced; past EVAL_LIMIT they are a sample of the cards.
    folds_items = list(_Items(h, sample))
    folds_cards = _Items(h, sample).card_ids()
    fitted_predictions = array("d")
    for start, end in segments:
        fold = fit(folds_items[:start], folds_cards[:start])
        fitted_predictions += _predict(h, fold, sample[start:end])
        report(work["done"] + (end - start) * _PREDICT_COST)
    fitted_score = _score(h, held_out, fitted_predictions)
    current = tuple(settings.fsrs_parameters)
    current_score = _score(h, held_out, _predict(h, current, held_out))
    report(work["done"] + len(held_out) * _PREDICT_COST)
    if stride == 1:
        final = fit(folds_items, folds_cards)
    else:  # every review, each item built as fsrs-rs reads it: holding them all would take ~400 MB at 2M
        del folds_items
        final = fit(_Items(h, range(n)), h.item_card)
    kept_defaults = [float(p) for p in DEFAULT_PARAMETERS] == final
    report(work["total"])
    return Fit(
        parameters=current if kept_defaults else _bounded(final),
        current=current,
        reviews=h.reviews,
        cards=len(h.histories),
        predicted=n,
        held_out=len(held_out),
        evaluated_cards=len({h.item_card[k] for k in sample}),
        excluded=h.excluded,
        current_score=current_score,
        fitted_score=fitted_score,
        kept_defaults=kept_defaults,
    )


def review_profile(store: Store) -> ReviewProfile:
    """How the person grades and how long reviews take, from the review log (cram left out):
    shares of grades from at least 100 reviews, mean seconds from at least 5."""
    first = [0, 0, 0, 0]
    passed = [0, 0, 0]
    ms = [[0, 0, 0, 0] for _ in range(3)]
    timed = [[0, 0, 0, 0] for _ in range(3)]
    for row in store.history.grades_and_times(max_duration_ms=MAX_DURATION_MS):
        kind = {State.NEW: 0, State.LEARNING: 0, State.REVIEW: 1, State.RELEARNING: 2}[row.state]
        g = int(row.rating) - 1
        ms[kind][g] += row.duration_ms
        timed[kind][g] += row.timed
        if row.state == State.NEW:
            first[g] += row.reviews
        elif row.state == State.REVIEW and row.rating != Grade.AGAIN:
            passed[g - 1] += row.reviews
    first_total, passed_total = sum(first), sum(passed)
    return ReviewProfile(
        (first[0] / first_total, first[1] / first_total, first[2] / first_total, first[3] / first_total)
        if first_total >= 100 else None,
        (passed[0] / passed_total, passed[1] / passed_total, passed[2] / passed_total) if passed_total >= 100 else None,
        tuple(tuple(total / n / 1000 if n >= 5 else None for total, n in zip(row_ms, row_n, strict=True))
              for row_ms, row_n in zip(ms, timed, strict=True)),
    )


def _simulator_config(settings: Settings, deck: int, profile: ReviewProfile) -> Any:
    from fsrs_rs_python import default_simulator_config

    config = default_simulator_config()
    config.deck_size = deck
    config.learn_span = SIMULATED_DAYS
    config.max_cost_perday = 24 * 3600.0
    config.max_ivl = float(settings.maximum_interval)
    config.learn_limit = settings.new_per_day
    config.review_limit = settings.reviews_per_day
    config.learning_step_count = len(settings.learning_steps)
    config.relearning_step_count = len(settings.relearning_steps)
    if profile.first_ratings is not None:
        config.first_rating_prob = list(profile.first_ratings)
    if profile.pass_ratings is not None:
        config.review_rating_prob = list(profile.pass_ratings)
    if profile.seconds:
        config.state_rating_costs = [
            [default if mine is None else mine for mine, default in zip(row, defaults, strict=True)]
            for row, defaults in zip(profile.seconds, config.state_rating_costs, strict=True)]
    return config


def advise_retention(store: Store, settings: Settings, parameters: Sequence[float]) -> RetentionAdvice:
    """fsrs-rs's suggested desired retention for ``parameters``, and a simulated year at the
    shown retentions: a deck of the person's active cards, introduced at their ``new_per_day``
    and graded as they grade. Nothing is changed."""
    from fsrs_rs_python import optimal_retention, simulate

    counts = store.stats.card_counts()
    deck = max(1, counts.new + counts.learning + counts.young + counts.mature - counts.unanswered)
    deck = min(deck, max(1, settings.new_per_day) * SIMULATED_DAYS)  # no more can be introduced in the span
    config = _simulator_config(settings, deck, review_profile(store))
    w = list(parameters)
    suggested = round(float(optimal_retention(config, w)), 2)
    options = []
    for retention in sorted({*SHOWN_RETENTIONS, suggested, round(settings.desired_retention, 2)}):
        result = simulate(w, retention, config, 42)
        days = len(result.cost_per_day) or 1
        options.append(RetentionOption(
            retention=retention,
            reviews_per_day=(sum(result.review_cnt_per_day) + sum(result.learn_cnt_per_day)) / days,
            minutes_per_day=sum(result.cost_per_day) / days / 60,
            retained=float(result.memorized_cnt_per_day[-1]) if result.memorized_cnt_per_day else 0.0,
        ))
    return RetentionAdvice(suggested, settings.desired_retention, deck, settings.new_per_day, SIMULATED_DAYS,
                           tuple(options))


def _day_ends(now: datetime, settings: Settings, tz: tzinfo | None) -> list[datetime]:
    """When each of the next FUTURE_DAYS study days ends, today first."""
    today = study_day(now, settings.day_starts_at, tz)
    return [day_start(today + timedelta(days=i + 1), settings.day_starts_at, tz) for i in range(FUTURE_DAYS)]


def reschedule(store: Store, settings: Settings, now: datetime, *, tz: tzinfo | None = None,
               dry_run: bool = False, progress: Progress | None = None) -> RescheduleReport:
    """Replay every card's history under ``settings`` (its parameters and retention) and report what
    moved. A ``dry_run`` does the same in a transaction that is rolled back: its report is what
    the reschedule would do, computed by the same code.

    This writes schedules only; saving settings and taking a backup is :func:`apply`'s job.
    """
    from llmcards.replay import UnreplayableRows, reschedule_cards

    now = now.astimezone(timezone.utc)
    ends = _day_ends(now, settings, tz)
    with store.trial() if dry_run else store.write():
        before = store.queue.due_per_day(ends)
        total = max(1, store.queue.keep_dues())  # for the progress bar only
        reported = 0

        def tick(done: int) -> None:
            nonlocal reported
            if progress is not None and (done - reported >= 500 or done >= total):
                reported = done
                progress(min(1.0, done / total))

        # Every card with a review (damaged rows are looked for on the way, before anything is
        # written); the review rows keep the scheduling columns they were given when the person studied.
        try:
            replayed = reschedule_cards(store, settings, progress=tick)
        except UnreplayableRows as e:
            raise UserError(f"{e}; nothing was rescheduled") from None
        after = store.queue.due_per_day(ends)
        earlier, later = store.queue.moved()
    return RescheduleReport(
        cards=replayed.cards,
        reviews=replayed.reviews,
        earlier=earlier,
        later=later,
        first_day=study_day(now, settings.day_starts_at, tz),
        before=tuple(before),
        after=tuple(after),
        dry_run=dry_run,
    )


def apply(store: Store, now: datetime, *, parameters: Sequence[float] | None = None,
          retention: float | None = None, reschedule_cards: bool = False, tz: tzinfo | None = None,
          progress: Progress | None = None) -> Applied:
    """Save new parameters and/or desired retention and, with ``reschedule_cards``, replay every
    card under them: all in one transaction, after a backup when cards are rescheduled."""
    settings = store.settings()
    texts: dict[str, str] = {}
    if parameters is not None:
        texts["fsrs_parameters"] = format_parameters(tuple(parameters))
    if retention is not None:
        texts["desired_retention"] = f"{retention:g}"
    for key, text in texts.items():
        settings = settings.with_value(key, text)  # validated as `config set` validates
    report = None
    pending = None
    if reschedule_cards:
        from llmcards.backup import start_backup

        # The copy runs in a thread while the cards are replayed; the transaction commits only
        # once it is on disk (a failed backup raises in wait() and rolls the reschedule back).
        pending = start_backup(store, "reschedule", now=now)
    try:
        with store.write() as c:
            for key in texts:
                store.save_setting(key, settings.to_strings()[key], now=now)
            if reschedule_cards:
                # From now on, every review before this moment is replayed under these settings, here
                # and on the devices this store syncs with (Connection.settings_timeline).
                store.record_event(c, "reschedule", None, {}, now)
                report = reschedule(store, settings, now, tz=tz, progress=progress)
            if pending is not None:
                pending.wait()
                pending = None
    finally:
        if pending is not None:
            pending.abandon()
    return Applied(settings.fsrs_parameters if parameters is not None else None,
                   settings.desired_retention if retention is not None else None, report)


def with_parameters(settings: Settings, parameters: Sequence[float]) -> Settings:
    """``settings`` with other FSRS parameters (for a dry run's reschedule preview)."""
    return replace(settings, fsrs_parameters=tuple(parameters))


# ----------------------------------------------------------------------------- JSON
class ScoreJson(TypedDict):
    log_loss: float
    rmse_bins: float


class FitJson(TypedDict):
    parameters: list[float]
    current_parameters: list[float]
    reviews: int
    cards: int
    predicted_reviews: int
    held_out_reviews: int
    evaluated_cards: int
    excluded: dict[str, int]
    current: ScoreJson
    fitted: ScoreJson
    better: bool
    kept_defaults: bool


class RetentionOptionJson(TypedDict):
    retention: float
    reviews_per_day: float
    minutes_per_day: float
    retained: float


class RetentionJson(TypedDict):
    suggested: float
    current: float
    deck: int
    new_per_day: int
    days: int
    options: list[RetentionOptionJson]


class RescheduleJson(TypedDict):
    dry_run: bool
    cards: int
    reviews: int
    earlier: int
    later: int
    first_day: str
    due_per_day_before: list[int]
    due_per_day_after: list[int]


def _score_json(s: Score) -> ScoreJson:
    return {"log_loss": s.log_loss, "rmse_bins": s.rmse_bins}


def fit_json(fit: Fit) -> FitJson:
    e = fit.excluded
    return {
        "parameters": list(fit.parameters),
        "current_parameters": list(fit.current),
        "reviews": fit.reviews,
        "cards": fit.cards,
        "predicted_reviews": fit.predicted,
        "held_out_reviews": fit.held_out,
        "evaluated_cards": fit.evaluated_cards,
        "excluded": {"cram": e.cram, "retired": e.retired, "unreadable_time": e.unreadable_time, "future": e.future,
                     "bad_rating": e.bad_rating, "negative_duration": e.negative_duration},
        "current": _score_json(fit.current_score),
        "fitted": _score_json(fit.fitted_score),
        "better": fit.better,
        "kept_defaults": fit.kept_defaults,
    }


def retention_json(advice: RetentionAdvice) -> RetentionJson:
    return {
        "suggested": advice.suggested,
        "current": advice.current,
        "deck": advice.deck,
        "new_per_day": advice.new_per_day,
        "days": advice.days,
        "options": [{"retention": o.retention, "reviews_per_day": o.reviews_per_day,
                     "minutes_per_day": o.minutes_per_day, "retained": o.retained} for o in advice.options],
    }


def reschedule_json(report: RescheduleReport) -> RescheduleJson:
    return {
        "dry_run": report.dry_run,
        "cards": report.cards,
        "reviews": report.reviews,
        "earlier": report.earlier,
        "later": report.later,
        "first_day": report.first_day.isoformat(),
        "due_per_day_before": list(report.before),
        "due_per_day_after": list(report.after),
    }
