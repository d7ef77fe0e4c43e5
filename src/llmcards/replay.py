"""Rebuilding schedules from the review history: the history is the truth.

A card's schedule is what replaying its reviews in time order through the scheduler gives.
The scheduler draws its fuzz from the card id and the review count
(:func:`llmcards.scheduler.fuzz_uniform`), so the replay of a history recorded by
``llmcards review`` gives back exactly the stored schedule, ``due`` included. Importing
reviews, syncing and rescheduling after new parameters all rebuild schedules here, with
:class:`llmcards.fastfsrs.FastScheduler` (fsrs's arithmetic, about 30x faster per review).

Each review row also keeps the scheduling columns it was given (state before and after,
stability, difficulty, due). ``rewrite_logs=True`` recomputes them too, which a merge of
histories needs (a review pulled from another device changes what every later review saw);
a rescheduling under new parameters leaves them as they were when the person studied.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.fastfsrs import NEW, Fast, FastScheduler, to_card_state, to_us
from llmcards.models import CardState, ReviewRecord

if TYPE_CHECKING:
    from llmcards.store import Store
    from llmcards.store.history import ReplayInput

_EPOCH = datetime(1970, 1, 1)  # stored times are naive UTC text
_US = timedelta(microseconds=1)


def _us(stored: str) -> int:
    return (datetime.fromisoformat(stored) - _EPOCH) // _US


def _text(us: int | None) -> str | None:
    """µs since the epoch -> the store's text format (``to_db``'s, always with microseconds)."""
    return None if us is None else (_EPOCH + timedelta(microseconds=us)).isoformat(" ", "microseconds")


def _columns(f: Fast) -> tuple[Any, ...]:
    """A replayed state as the card's schedule columns (what ``store.queue.schedule_params`` writes)."""
    return (f[0], f[1], f[2], f[3], _text(f[4]), _text(f[5]), f[6], f[7])


def _interval_days(f: Fast) -> float | None:
    """The interval a card had when it was reviewed (due - last review), in days, as the log stores it."""
    if f[4] is None or f[5] is None:
        return None
    return (f[4] - f[5]) / 1_000_000 / 86400


def replay_card(card_id: str, reviews: Sequence[ReviewRecord], settings: Settings, *,
                fuzz: bool = True) -> CardState:
    """The card's schedule after ``reviews`` (any order; cram reviews leave it alone)."""
    fast = FastScheduler(settings, fuzz=fuzz)
    state: Fast = NEW
    for review in sorted(reviews, key=lambda r: (r.reviewed_at, r.uuid, r.id)):
        if not review.cram:
            state = fast.review(state, int(review.rating), to_us(review.reviewed_at), card_id)
    return to_card_state(state)


@dataclass(frozen=True)
class ReplayReport:
    """What a replay changed."""

    cards: int  # cards replayed
    reviews: int  # reviews replayed
    changed: tuple[str, ...]  # cards whose schedule differs from what was stored
    before: Mapping[str, CardState]  # the stored schedule of each changed card
    after: Mapping[str, CardState]  # and its replayed one


class _States(Mapping[str, CardState]):
    """Cards' states kept as schedule columns, made into CardStates when looked up (a replay of
    100k cards under new parameters changes nearly all of them, and few callers look)."""

    def __init__(self, columns: dict[str, tuple[Any, ...]]) -> None:
        self._columns = columns

    def __getitem__(self, card_id: str) -> CardState:
        return _stored_state(self._columns[card_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


# A replay of at least this many cards goes through llmcards.fastreplay (numpy, every card's
# k-th review at once); fewer are replayed one review at a time (numpy's import alone costs more).
BULK_CARDS = 200
BULK_CHUNK_REVIEWS = 500_000  # a bulk replay's cards are replayed about this many reviews at a time
BULK_WRITE_CARDS = 20_000  # and compared with the stored schedules, and written, this many cards at a time


def replay_cards(store: Store, card_ids: Iterable[str] | None = None, *, settings: Settings | None = None,
                 fuzz: bool = True, rewrite_logs: bool = True,
                 progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Rebuild the schedules of ``card_ids`` (every card with a review when ``None``) from their
    history under ``settings``, in one transaction.

    Only what changed is written. ``progress`` is called with the number of cards done so far.

    Without ``settings``, each review is replayed under the settings in effect when it was made
    (:meth:`~llmcards.store.connection.Connection.settings_timeline`), as the review screen
    graded it: so a settings change does not rewrite the past, and every device that replays
    a card gets what the device that reviewed it got.

    Many cards under one set of settings (the usual case: no scheduling setting changed since the
    first review, or since the last ``optimize --reschedule``) go through :mod:`llmcards.fastreplay`.
    """
    ids = list(card_ids) if card_ids is not None else None
    periods = [(None, settings)] if settings is not None else _in_use(store.settings_timeline(),
                                                                        store.history.first_review_time())
    with store.write():
        if len(periods) == 1 and (ids is None or len(ids) >= BULK_CARDS):
            report = _replay_bulk(store, ids, FastScheduler(periods[0][1], fuzz=fuzz), rewrite_logs, progress)
            if report is not None:
                return report
        return _replay(store, store.history.replay_input(ids), periods=periods, fuzz=fuzz,
                       rewrite_logs=rewrite_logs, progress=progress, from_stored=False,
                       write=store.history.write_replay)


def _in_use(periods: list[tuple[str | None, Settings]], first: str | None) -> list[tuple[str | None, Settings]]:
    """The periods of a settings timeline that some review falls in: those that ended before the
    first review (``first``, stored text) are dropped, so that a setting changed once before any
    review (the usual case) leaves one period, which the bulk replay takes."""
    if first is None:
        return periods[-1:]
    while len(periods) > 1 and str(periods[1][0]) <= first:
        periods = periods[1:]
    return [(None, periods[0][1]), *periods[1:]]


def replay_staged(store: Store, card_ids: Sequence[str], *,
                  progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Reviews a sync pulled and staged (:meth:`llmcards.store.events.Events.take_staged_reviews`),
    of cards whose new reviews all follow their last one here: replayed from each card's stored
    schedule, then written into the review log with their scheduling columns, in one pass (rather
    than inserted, read back and rewritten). Runs inside the caller's transaction."""
    def write(cards: list[tuple[Any, ...]], logs: list[tuple[Any, ...]]) -> None:
        store.history.write_replay(cards, [])
        store.events.stage_replayed(logs)

    with store.write():
        report = _replay(store, store.events.staged_replay_input(card_ids), periods=store.settings_timeline(),
                         fuzz=True, rewrite_logs=True, progress=progress, from_stored=True, write=write)
        store.events.insert_staged_reviews(card_ids)
    return report


class UnreplayableRows(UserError):
    """Review rows that cannot be replayed: a rating outside 1-4, a state outside 0-3, or an unreadable time."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"{rows:,} review log row{'' if rows == 1 else 's'} cannot be replayed (a rating outside "
                         "1-4, a state outside 0-3 or an unreadable time)")
        self.rows = rows


def reschedule_cards(store: Store, settings: Settings, *,
                     progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Replay every card with a review under ``settings``, writing the cards' schedules only (the
    review rows keep the columns they were given when the person studied), in one transaction.

    Raises :class:`UnreplayableRows`, before writing anything, if a row of the log cannot be
    replayed (what ``store.history.unreadable_rows`` counts, cram rows included).
    """
    fast = FastScheduler(settings)
    with store.write():
        report = _replay_bulk(store, None, fast, False, progress, strict=True)
        if report is None:  # a row the bulk replay does not take: is it one nothing can replay?
            damaged = store.history.unreadable_rows()
            if damaged:
                raise UnreplayableRows(damaged)
            report = _replay(store, store.history.replay_input(None), periods=[(None, settings)], fuzz=True,
                             rewrite_logs=False, progress=progress, from_stored=False,
                             write=store.history.write_replay)
        return report


def _replay_bulk(store: Store, ids: list[str] | None, fast: FastScheduler, rewrite_logs: bool,
                 progress: Callable[[int], None] | None, *, strict: bool = False) -> ReplayReport | None:
    """:func:`replay_cards` through :mod:`llmcards.fastreplay`; None (nothing written) for a history
    it does not take, which is then replayed one review at a time.

    Every card is replayed before anything is written (replayed log columns wait in a temporary
    table), so giving up half-way leaves the store as it was.
    """
    import sqlite3

    import numpy as np

    from llmcards import fastreplay

    history = store.history
    try:
        given = fastreplay.read_bulk(history, ids, strict=strict)
        offsets = given.offsets()
        final = fastreplay.States.new(len(given.card_ids))
        # Cards a chunk at a time, so that what is kept per review (a rewrite's log columns) stays bounded.
        bounds = [0, *np.searchsorted(offsets, np.arange(BULK_CHUNK_REVIEWS, offsets[-1], BULK_CHUNK_REVIEWS),
                                      side="right").tolist(), len(given.card_ids)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            if a >= b:
                continue
            lo, hi = int(offsets[a]), int(offsets[b])

            def tick(done: int, first: int = a) -> None:
                if progress is not None:
                    progress(first + done)

            replayed = fastreplay.replay(fast, given.card_ids[a:b], given.counts[a:b], given.ratings[lo:hi],
                                         given.times[lo:hi], logs=rewrite_logs, progress=tick)
            final.put(np.arange(a, b), replayed.final)
            if replayed.logged is not None:
                history.stage_replayed_logs(fastreplay.log_rows(replayed.logged, given.log_ids[lo:hi]))
    except (fastreplay.Unsupported, sqlite3.DataError, sqlite3.OperationalError, UnicodeError):
        history.drop_staged_logs()  # e.g. a stored time that is not UTF-8 text, which SQLite cannot concatenate
        return None

    card_ids = given.card_ids
    if ids is not None:  # cards asked for that have no review: back to new
        reviewed = set(card_ids)
        never = list(dict.fromkeys(i for i in ids if i not in reviewed))
        card_ids = card_ids + never
        final = fastreplay.States.concatenate([final, fastreplay.States.new(len(never))])
    counts = given.counts.tolist() + [0] * (len(card_ids) - len(given.card_ids))
    before: dict[str, tuple[Any, ...]] = {}
    after: dict[str, int] = {}
    cards = reviews = 0
    for start in range(0, len(card_ids), BULK_WRITE_CARDS):
        part = card_ids[start:start + BULK_WRITE_CARDS]
        # Without ids, the cards come from the card index: in the order of SQLite's ids.
        stored = {row[0]: tuple(row[1:]) for row in history.replay_schedules(part, in_order=ids is None)}
        changes: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        columns = fastreplay.schedule_columns(final.take(np.arange(start, start + len(part))))
        for i, (card_id, new) in enumerate(zip(part, columns, strict=True)):
            old = stored.get(card_id)
            if old is None:
                continue  # not a card (any more)
            cards += 1
            reviews += counts[start + i]
            if new != old:
                differ = tuple(j for j in range(len(new)) if new[j] != old[j])
                changes.setdefault(differ, []).append((*(new[j] for j in differ), card_id))
                before[card_id] = old
                after[card_id] = start + i
        history.write_schedule_columns(changes)
    if rewrite_logs:
        history.write_staged_logs()
    changed = tuple(before)
    if ids is not None:  # in the order asked for
        rank = {card_id: i for i, card_id in reversed(list(enumerate(ids)))}
        changed = tuple(sorted(changed, key=rank.__getitem__))
    return ReplayReport(cards, reviews, changed, _States(before), _FinalStates(after, final))


class _FinalStates(Mapping[str, CardState]):
    """Replayed states kept as arrays (see :class:`_States`)."""

    def __init__(self, index: dict[str, int], final: Any) -> None:
        self._index = index
        self._final = final

    def __getitem__(self, card_id: str) -> CardState:
        import numpy as np

        return to_card_state(self._final.take(np.array([self._index[card_id]])).tuples()[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _replay(store: Store, items: Iterable[ReplayInput], *, periods: Sequence[tuple[str | None, Settings]],
            fuzz: bool, rewrite_logs: bool, progress: Callable[[int], None] | None, from_stored: bool,
            write: Callable[[list[tuple[Any, ...]], list[tuple[Any, ...]]], None]) -> ReplayReport:
    """A replay one review at a time: each card's reviews in order through fsrs's arithmetic, each
    under the settings of its ``periods`` entry (``(since, settings)``, oldest first), from a new
    card (or, ``from_stored``, from its stored schedule), writing what changed through
    ``write(card rows, log rows)``."""
    schedulers = [FastScheduler(s, fuzz=fuzz) for _, s in periods]
    starts = [str(since) for since, _ in periods[1:]]
    fast = schedulers[-1] if not starts else schedulers[0]
    reviews = 0
    cards = 0
    before: dict[str, CardState] = {}
    after: dict[str, CardState] = {}
    card_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        write(card_rows, log_rows)
        card_rows.clear()
        log_rows.clear()

    with store.write():
        for item in items:
            state: Fast = _stored_fast(item.schedule) if from_stored else NEW
            for log in item.reviews:
                if log.cram:
                    continue
                if starts:
                    fast = schedulers[bisect_right(starts, log.reviewed_at)]
                new = fast.review(state, log.rating, _us(log.reviewed_at), item.card_id)
                if rewrite_logs:
                    derived = (state[0], _interval_days(state), new[0], new[2], new[3], _text(new[4]))
                    if derived != log.derived:
                        log_rows.append((*derived, log.log_id))
                state = new
                reviews += 1
            columns = _columns(state)
            if columns != item.schedule:
                card_rows.append((*columns, item.card_id))
                before[item.card_id] = _stored_state(item.schedule)
                after[item.card_id] = to_card_state(state)
            cards += 1
            if len(log_rows) > 50_000 or len(card_rows) > 5_000:
                flush()
            if progress is not None:
                progress(cards)
        flush()
    return ReplayReport(cards, reviews, tuple(before), before, after)


def _stored_fast(columns: tuple[Any, ...]) -> Fast:
    """A card's stored schedule columns as the replay's state tuple."""
    return (columns[0], columns[1], columns[2], columns[3],
            None if columns[4] is None else _us(columns[4]), None if columns[5] is None else _us(columns[5]),
            columns[6], columns[7])


def _stored_state(columns: tuple[Any, ...]) -> CardState:
    return to_card_state(_stored_fast(columns))
