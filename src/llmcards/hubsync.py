"""``llmcards sync``: exchange events with a hub, then rebuild what changed.

One sync:

1. **push** the events this store has and the hub lacks (one hub transaction; ids the hub
   already has are skipped), after making the ``add`` of each card imported since the last sync
   (:meth:`llmcards.store.events.Events.make_missing_adds`);
2. **pull** the hub's events after this store's cursor for that hub, leaving out the range
   this push just wrote, into temporary tables (no lock on the store meanwhile);
3. **apply**, in ONE store transaction: mark what was pushed, keep the pulled events, merge
   them by the rules of :mod:`llmcards.merge`, add the pulled reviews, replay the cards they
   touch (:func:`llmcards.replay.replay_cards`), and move the cursor.

Killed at any moment, nothing is lost: the hub keeps a push whole or not at all, the store
keeps step 3 whole or not at all, and the next sync pushes again (the hub skips what it has)
and pulls again from the old cursor (the store skips what it knows). Syncing twice changes
nothing.

The store remembers, per hub, the last ``seq`` it saw and that event's id. If the hub no longer
has that event there (a SQLite hub replaced by an older copy, say by a synced folder), the
store pushes everything it has and pulls everything again, so nothing the hub lost is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcards.errors import UserError
from llmcards.merge import MergeReport, last_deletes, merge_cards, merge_settings
from llmcards.models import WireEvent
from llmcards.schema import REPLAY_PENDING

if TYPE_CHECKING:
    from llmcards.store import Store
    from llmcards.store.events import PulledReview

LAST_SYNC_KEY = "sync_last"  # JSON: the last sync's hub, time and counts
PUSHED_TO_KEY = "sync_pushed_to"  # the hub whose content the ``pushed`` flags describe

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def cursor_key(hub_id: str) -> str:
    return f"sync_cursor:{hub_id}"


@dataclass
class SyncResult:
    """What one sync did."""

    hub: str  # the hub's URL, without a password
    hub_id: str
    created: bool  # the hub was made by this sync
    pushed_reviews: int = 0  # new to the hub
    pushed_events: int = 0  # new to the hub
    pulled_reviews: int = 0  # new to this store
    pulled_events: int = 0  # new to this store
    restarted: bool = False  # the hub had lost events this store saw; everything was pushed again
    merge: MergeReport = field(default_factory=MergeReport)
    seconds: float = 0.0
    backup: Path | None = None  # taken before applying what was pulled, when it changed or removed something

    @property
    def pushed(self) -> int:
        return self.pushed_reviews + self.pushed_events

    @property
    def pulled(self) -> int:
        return self.pulled_reviews + self.pulled_events


@dataclass(frozen=True)
class SyncStatus:
    """``llmcards sync --status``: read from the store alone (no connection to the hub)."""

    hub: str | None  # the hub that would be used, without a password
    last: dict[str, Any] | None  # the last sync (hub, at, pushed, pulled, cards_updated)
    waiting_reviews: int
    waiting_events: int
    device_id: str


_NO_LOG = (None,) * 6


def parse_review(event: WireEvent) -> PulledReview:
    """A pulled review event, ready to stage: JSON is parsed here only for cram reviews, whose
    scheduling columns a replay does not recompute (the rest SQLite reads out of the JSON)."""
    from llmcards.store.events import PulledReview

    if '"cram"' not in event.data:
        return PulledReview(event.id, event.device, event.at, str(event.card_id), event.data, False, _NO_LOG)
    data = json.loads(event.data)
    cram = bool(data.get("cram"))
    log = tuple(data["log"]) if cram and data.get("log") else _NO_LOG
    return PulledReview(event.id, event.device, event.at, str(event.card_id), event.data, cram, log)


def status(store: Store, url: str | None) -> SyncStatus:
    """Which hub, when the last sync was, and what waits to be pushed."""
    from llmcards.config import check_hub_url

    shown: str | None = None
    if url:
        try:
            normal = check_hub_url(url, allow_password=True)
        except ValueError as exc:
            raise UserError(f"hub URL: {exc}") from None
        shown = _hide_password(normal)
    last_text = store.get_meta(LAST_SYNC_KEY)
    last = json.loads(last_text) if last_text else None
    everything = last is None or store.get_meta(PUSHED_TO_KEY) != last.get("hub_id")
    waiting = store.events.waiting(everything=everything)
    return SyncStatus(shown, last, waiting.reviews, waiting.events, store.device_id)


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    location, slash, tail = rest.partition("/")
    userinfo, at, host = location.rpartition("@")
    if at and ":" in userinfo:
        location = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"{scheme}{sep}{location}{slash}{tail}"


def sync(store: Store, url: str, *, now: datetime, progress: Progress | None = None) -> SyncResult:
    """Push, pull and apply (see the module's documentation). Raises UserError (HubError) for a hub
    that cannot be used; then nothing is written on either side."""
    from llmcards.hub import Hub

    started = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    with Hub.open(url, store_path=store.path) as hub:
        result = SyncResult(hub=hub.shown, hub_id=hub.hub_id, created=hub.created)
        key = cursor_key(hub.hub_id)
        cursor, cursor_id = _cursor(store.get_meta(key))
        everything = store.get_meta(PUSHED_TO_KEY) != hub.hub_id
        last = hub.last_seq()
        if cursor and (cursor > last or hub.event_id_at(cursor) != cursor_id):
            cursor, cursor_id, everything, result.restarted = 0, "", True, True

        # 1. push
        pushed_reviews: list[tuple[int, str, str]] = []
        pushed_events: list[str] = []
        push = None
        store.events.make_missing_adds()  # cards imported since the last sync
        with store.read():
            waiting = store.events.waiting(everything=everything)
            if waiting.total:
                def chunks() -> Iterator[list[WireEvent]]:
                    for wire, reviews, events in store.events.outgoing(everything=everything):
                        pushed_reviews.extend(reviews)
                        pushed_events.extend(events)
                        report("push", len(pushed_reviews) + len(pushed_events), waiting.total)
                        yield wire

                push = hub.push(chunks())
        if push is not None:
            result.pushed_reviews, result.pushed_events = push.reviews, push.inserted - push.reviews

        # 2. pull
        store.events.start_staging()
        newest, newest_id = cursor, cursor_id
        if push is not None and push.after > newest and push.after_id is not None:
            newest, newest_id = push.after, push.after_id
        total = max(0, last - cursor)
        if last > cursor or (push is not None and push.after > cursor):
            done = 0
            skip = (push.before, push.after) if push is not None else None
            for part in hub.pull(cursor, skip=skip):
                events = [(seq, e) for seq, e in part if e.kind != "review"]
                reviews = [parse_review(e) for _, e in part if e.kind == "review"]
                store.events.stage(events, reviews)
                if part[-1][0] > newest:
                    newest, newest_id = part[-1][0], part[-1][1].id
                done += len(part)
                report("pull", done, max(total, done))

    # 3. apply, in one transaction. What changes or removes something here (another device's edits,
    # deletes, settings, grades taken back, or the first sync's rebuild of every schedule) commits only
    # once a backup of the store as it was is on disk; the copy runs while the changes are applied.
    # New reviews alone only add to the history, and take no backup.
    first = store.get_meta(REPLAY_PENDING) is not None
    pending = None
    if store.events.staged_changes() or (first and store.history.count()):
        from llmcards.backup import start_backup

        pending = start_backup(store, "sync", now=now)
    try:
        with store.write():
            _apply(store, result, pushed_reviews, pushed_events, now=now, replay_all=first, progress=report)
            if first:
                store.delete_meta(REPLAY_PENDING)
            store.set_meta(key, f"{newest} {newest_id}")
            store.set_meta(PUSHED_TO_KEY, result.hub_id)
            result.seconds = time.perf_counter() - started
            store.set_meta(LAST_SYNC_KEY, json.dumps({
                "hub": result.hub, "hub_id": result.hub_id, "at": now.isoformat(timespec="seconds"),
                "pushed": result.pushed, "pulled": result.pulled, "cards_updated": result.merge.cards_updated}))
            if pending is not None:
                result.backup = pending.wait()  # a failed backup raises here, and nothing is applied
                pending = None
    finally:
        if pending is not None:
            pending.abandon()
    return result


def _cursor(text: str | None) -> tuple[int, str]:
    if not text:
        return 0, ""
    seq, _, event_id = text.partition(" ")
    return int(seq), event_id


def _apply(store: Store, result: SyncResult, pushed_reviews: list[tuple[int, str, str]], pushed_events: list[str],
           *, now: datetime, replay_all: bool, progress: Progress) -> None:
    """Step 3 of a sync, inside the caller's transaction."""
    from llmcards.config import SCHEDULING_SETTINGS
    from llmcards.replay import replay_cards, replay_staged
    from llmcards.store import to_db
    from llmcards.store.events import CARD_KINDS

    merge = result.merge
    store.events.make_missing_adds()  # cards another process imported while this one pushed: merged with them
    gone = store.events.mark_pushed(pushed_reviews, pushed_events)
    with store.write() as c:
        for review, card_id in gone:  # taken back by another process while this sync pushed it
            if store.cards.get(card_id) is not None:
                store.record_event(c, "unreview", card_id, {"review": review}, now)

    new = store.events.keep_staged()
    new_ids = {e.id for e in new}
    result.pulled_events = len(new)
    cards = list(dict.fromkeys(e.card_id for e in new if e.kind in CARD_KINDS and e.card_id))
    created = merge_cards(store, cards, new_ids, merge, now=now) if cards else []
    keys = list(dict.fromkeys(str(e.data.get("key")) for e in new if e.kind == "setting"))
    merge_settings(store, keys, new_ids, merge)

    whole: set[str] = set()  # cards to replay from their first review
    unreviews = [str(e.data.get("review")) for e in new if e.kind == "unreview"]
    if unreviews:
        touched = store.events.remove_reviews(unreviews)
        merge.unreviewed = len(touched)
        whole |= touched
    staged, inserted, merge.reviews, merge.parked = store.events.take_staged_reviews()
    result.pulled_reviews = merge.reviews + merge.parked
    if created and store.events.adopt_parked(created, last_deletes(store, created)):
        whole |= set(created)
    # A scheduling setting changed elsewhere changes how every later review is replayed.
    since = [str(to_db(e.at)) for e in new if e.kind == "setting" and e.data.get("key") in SCHEDULING_SETTINGS]
    if since:
        whole |= set(store.history.card_ids_reviewed_since(min(since)))
    # A reschedule elsewhere (`optimize --reschedule`) puts every earlier review under new settings.
    if any(e.kind == "reschedule" for e in new):
        whole |= set(store.history.card_ids_with_reviews())
    # A card whose new reviews all come after its last one here goes on from its stored schedule (the
    # replay of the earlier ones), and its new reviews are written once, with their scheduling columns.
    # Any other card is replayed from its first review. A store migrated from schema 2 replays every
    # card at its first sync (older llmcards drew fuzz differently), so that the devices agree.
    forward = [] if replay_all else sorted(card_id for card_id in staged if card_id not in whole)
    store.events.insert_staged_reviews(sorted(set(staged) - set(forward)))
    total = len(forward)
    if forward:
        replayed = replay_staged(store, forward, progress=lambda done: progress("replay", done, total))
        merge.replayed += replayed.cards
        merge.rescheduled += replayed.changed
    ids = store.history.card_ids_with_reviews() if replay_all else sorted((whole | inserted) - set(forward))
    if ids:
        replayed = replay_cards(store, ids, progress=lambda done: progress("replay", len(forward) + done,
                                                                          len(forward) + len(ids)))
        merge.replayed += replayed.cards
        merge.rescheduled += replayed.changed
