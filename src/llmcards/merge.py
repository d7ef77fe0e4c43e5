"""How another device's changes merge into this store: the conflict rules of a hub sync.

- **Reviews** from every device are kept (by id, so none is counted twice), and a card's
  schedule is the replay of the union of its reviews (:func:`llmcards.replay.replay_cards`).
  A review taken back (``unreview``) is gone everywhere, whatever order the events arrive in.
- **Edits** follow the last writer, field by field (question, answer, tags, sources,
  retired): the newest event that set a field wins, by event time, ties broken by event id.
  ``suspend``/``unsuspend`` and ``bury`` follow the last writer the same way.
- **A delete wins over older events**: edits, flags and reviews made before it are dropped.
  Whether a card exists is decided by its newest ``add`` or ``delete``; a bank card (which
  has no ``add``: every device syncs the same bank itself) exists until deleted. Reviews made
  after a delete by a device that had not heard of it wait among the events on every device,
  in case the card is added again.
- **Settings** follow the last writer, key by key; ``sync_url`` is never shared.

Every event pulled is kept in the store's events, even one for a card that is not here yet
(say, a bank card of a newer bundled bank): when the card arrives, by a later sync or by a
bank sync, :func:`adopt` applies what was waiting for it. The rules compare all known events,
so the result does not depend on the order in which devices sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmcards.models import TEXT_FIELDS, Event

if TYPE_CHECKING:
    from llmcards.store import Store


@dataclass
class MergeReport:
    """What merging the pulled events changed here."""

    added: list[str] = field(default_factory=list)  # cards made from another device's ``add``
    deleted: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)  # text or flags changed
    settings: list[str] = field(default_factory=list)
    reviews: int = 0  # reviews added to the log
    parked: int = 0  # reviews kept for cards that are not here yet
    unreviewed: int = 0  # reviews taken back
    replayed: int = 0  # cards whose schedule was rebuilt
    rescheduled: list[str] = field(default_factory=list)  # of those, cards whose schedule changed

    @property
    def cards_updated(self) -> int:
        return len(set(self.added) | set(self.deleted) | set(self.edited) | set(self.rescheduled))


def _newest(events: Sequence[Event], kinds: tuple[str, ...], key: str | None = None) -> Event | None:
    found = [e for e in events if e.kind in kinds and (key is None or key in e.data)]
    return max(found, key=lambda e: e.order) if found else None


@dataclass(frozen=True)
class CardVerdict:
    """What the known events of one card say it should be."""

    exists: bool | None  # None: no add or delete decides (a bank card never deleted)
    decided_by: Event | None
    last_delete: Event | None
    fields: dict[str, Event]  # field -> the event that last set it (after the last delete)
    suspended: Event | None
    buried: Event | None


def verdict(events: Sequence[Event]) -> CardVerdict:
    """Apply the rules to every known add, edit, suspend, unsuspend, bury and delete of one card."""
    existence = _newest(events, ("add", "delete"))
    last_delete = _newest(events, ("delete",))
    live = [e for e in events if last_delete is None or e.order > last_delete.order]
    fields = {name: e for name in TEXT_FIELDS if (e := _newest(live, ("add", "edit"), name)) is not None}
    return CardVerdict(
        exists=None if existence is None else existence.kind == "add",
        decided_by=existence,
        last_delete=last_delete,
        fields=fields,
        suspended=_newest(live, ("suspend", "unsuspend")),
        buried=_newest(live, ("bury",)),
    )


def merge_cards(store: Store, card_ids: Sequence[str], new: set[str], report: MergeReport, *,
                now: datetime, created_here: Sequence[str] = ()) -> list[str]:
    """Bring these cards in line with their known events, inside the caller's transaction.

    Only what a ``new`` event (just pulled) wins is written: a change this store made itself is
    already in the card, and a bank sync's text (which is no event) must not be undone. Cards in
    ``created_here`` were just made by a bank sync: every winning event applies to them.
    Returns the cards that now exist here and did not before (their parked reviews await).
    """
    from llmcards.store.events import NewCard

    events = store.events.card_events(card_ids)
    rows = store.events.card_rows(card_ids)
    created: list[str] = []
    creations: list[NewCard] = []
    fresh = set(created_here)
    for card_id in card_ids:
        v = verdict(events[card_id])
        row = rows.get(card_id)
        decided_now = v.decided_by is not None and v.decided_by.id in new
        if row is not None and v.exists is False and decided_now and card_id not in fresh:
            assert v.decided_by is not None
            store.events.remove_card(card_id, v.decided_by.order)
            report.deleted.append(card_id)
            continue
        if row is None:
            if not (v.exists and decided_now and "question" in v.fields):
                continue  # kept among the events until the card arrives
            add = v.decided_by
            assert add is not None
            creations.append(NewCard(
                card_id, {name: e.data[name] for name, e in v.fields.items()}, add.data.get("origin"),
                add.data.get("import_path"), add.at, v.suspended is not None and v.suspended.kind == "suspend",
                v.buried.data.get("until") if v.buried is not None else None))
            created.append(card_id)
            report.added.append(card_id)
            continue
        everything = card_id in fresh

        def applies(e: Event, everything: bool = everything) -> bool:
            return everything or e.id in new

        changed = {name: e.data[name] for name, e in v.fields.items() if applies(e) and row.field(name) != e.data[name]}
        if changed:
            store.events.set_fields(card_id, changed, at=max(v.fields[name].at for name in changed))
        suspended = None
        if v.suspended is not None and applies(v.suspended) and row.suspended != (v.suspended.kind == "suspend"):
            suspended = v.suspended.kind == "suspend"
        bury = v.buried is not None and applies(v.buried)
        if suspended is not None or bury:
            until = v.buried.data.get("until") if v.buried is not None else None
            store.events.set_flags(card_id, suspended=suspended, buried_until=until, bury=bury)
        if (changed or suspended is not None) and card_id not in report.added:
            report.edited.append(card_id)
    store.events.create_cards(creations)
    return created


def merge_settings(store: Store, keys: Sequence[str], new: set[str], report: MergeReport) -> None:
    """Each setting takes the value of its newest change, if that change was just pulled."""
    for key in keys:
        newest = _newest(store.events.setting_events(key), ("setting",))
        if newest is not None and newest.id in new:
            value: Any = newest.data.get("value")
            store.events.apply_setting(key, None if value is None else str(value))
            report.settings.append(key)


def last_deletes(store: Store, card_ids: Sequence[str]) -> dict[str, tuple[datetime, str]]:
    """The (time, id) of each card's last known deletion, for the cards that have one."""
    return {card_id: e.order for card_id, events in store.events.card_events(card_ids, kinds=("delete",)).items()
            if (e := _newest(events, ("delete",))) is not None}


def adopt(store: Store, card_ids: Sequence[str], *, now: datetime) -> MergeReport:
    """Cards just made by a bank sync get the events that waited for them (edits, flags, reviews
    from devices that had the card first), and the cards with new reviews are replayed."""
    from llmcards.replay import replay_cards

    report = MergeReport()
    with store.write():
        waiting = store.events.parked_cards(card_ids)
        if not waiting:
            return report
        store.events.make_missing_adds(waiting)  # this import's own adds take part in the merge
        merge_cards(store, waiting, set(), report, now=now, created_here=waiting)
        report.reviews = store.events.adopt_parked(waiting, last_deletes(store, waiting))
        if report.reviews:
            replayed = replay_cards(store, waiting)
            report.replayed = replayed.cards
            report.rescheduled = list(replayed.changed)
    return report
