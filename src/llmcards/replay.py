"""Rebuilding schedules from the review history: the history is the truth.

A card's schedule is what replaying its reviews in time order through the scheduler gives.
Because the scheduler draws its fuzz from a seed made of the card id and the review count
(:func:`llmcards.scheduler.fuzz_seed`), the replay of a history recorded by ``llmcards
review`` gives back exactly the stored schedule, ``due`` included. Importing reviews,
syncing and rescheduling after new parameters all rebuild schedules here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmcards.models import CardState, ReviewRecord
from llmcards.scheduler import Scheduler

if TYPE_CHECKING:
    from llmcards.store import Store
    from llmcards.store.history import LogUpdate


def replay_card(
    card_id: str, reviews: Sequence[ReviewRecord], scheduler: Scheduler
) -> tuple[CardState, list[LogUpdate]]:
    """The card's schedule after ``reviews`` (any order; cram reviews leave it alone), and each
    non-cram review's state before and after it."""
    from llmcards.store.history import LogUpdate

    state = CardState()
    logs: list[LogUpdate] = []
    for review in sorted(reviews, key=lambda r: (r.reviewed_at, r.id)):
        if review.cram:
            continue
        after = scheduler.review(state, review.rating, review.reviewed_at, card_id=card_id)
        logs.append(LogUpdate(review.id, state, after))
        state = after
    return state, logs


@dataclass(frozen=True)
class ReplayReport:
    """What a replay changed."""

    cards: int  # cards replayed
    reviews: int  # reviews replayed
    changed: tuple[str, ...]  # cards whose schedule differs from what was stored


def replay_cards(store: Store, card_ids: Iterable[str] | None = None, *, scheduler: Scheduler | None = None,
                 progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Rebuild the schedules of ``card_ids`` (every card with a review when ``None``) from their
    history, in one transaction. ``progress`` is called with the number of cards done so far."""
    scheduler = scheduler or Scheduler(store.settings())
    ids = list(card_ids) if card_ids is not None else None
    counts = {"cards": 0, "reviews": 0}
    changed: list[str] = []

    def updates() -> Iterator[tuple[str, CardState, list[LogUpdate]]]:
        for card_id, reviews in store.history.reviews_by_card(ids):
            state, logs = replay_card(card_id, reviews, scheduler)
            card = store.cards.get(card_id)
            if card is None:
                continue
            if card.schedule != state:
                changed.append(card_id)
            counts["cards"] += 1
            counts["reviews"] += len(logs)
            if progress is not None:
                progress(counts["cards"])
            yield card_id, state, logs

    with store.write():
        store.history.rewrite(updates())
    return ReplayReport(counts["cards"], counts["reviews"], tuple(changed))
