"""What ``llmcards sync`` prints: a sync's summary and ``--status``, as text or JSON."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from rich.text import Text

from llmcards.render import plural

if TYPE_CHECKING:
    from llmcards.hubsync import SyncResult, SyncStatus


class SyncResultJson(TypedDict):
    hub: str
    hub_created: bool
    pushed: dict[str, int]
    pulled: dict[str, int]
    cards_updated: int
    cards: dict[str, list[str]]
    settings: list[str]
    reviews_taken_back: int
    reviews_waiting_for_cards: int
    restarted: bool
    backup: str | None
    seconds: float


def sync_result_json(r: SyncResult) -> SyncResultJson:
    m = r.merge
    return {
        "hub": r.hub,
        "hub_created": r.created,
        "pushed": {"reviews": r.pushed_reviews, "events": r.pushed_events, "total": r.pushed},
        "pulled": {"reviews": r.pulled_reviews, "events": r.pulled_events, "total": r.pulled},
        "cards_updated": m.cards_updated,
        "cards": {"added": m.added, "deleted": m.deleted, "edited": m.edited, "rescheduled": m.rescheduled},
        "settings": m.settings,
        "reviews_taken_back": m.unreviewed,
        "reviews_waiting_for_cards": m.parked,
        "restarted": r.restarted,
        "backup": None if r.backup is None else str(r.backup),
        "seconds": round(r.seconds, 3),
    }


def _changes(reviews: int, events: int) -> str:
    parts = [plural(reviews, "review")] if reviews else []
    if events:
        parts.append(plural(events, "other change"))
    return f" ({', '.join(parts)})" if parts else ""


def sync_result_text(r: SyncResult) -> Text:
    """``Synced with HUB: pushed N (...), pulled M (...), K cards updated.`` plus notes."""
    m = r.merge
    out = Text()
    if r.created:
        out.append(f"Created a new hub at {r.hub}.\n", style="bold")
    if r.restarted:
        out.append("The hub had lost events this device had seen (an older copy?); everything was sent again.\n",
                   style="yellow")
    out.append(f"Synced with {r.hub}: ")
    out.append(f"pushed {r.pushed:,}{_changes(r.pushed_reviews, r.pushed_events)}, ")
    out.append(f"pulled {r.pulled:,}{_changes(r.pulled_reviews, r.pulled_events)}, ")
    out.append(f"{plural(m.cards_updated, 'card')} updated.", style="bold")
    details = []
    if m.added:
        details.append(f"{len(m.added):,} added")
    if m.edited:
        details.append(f"{len(m.edited):,} edited")
    if m.deleted:
        details.append(f"{len(m.deleted):,} deleted")
    if m.rescheduled:
        details.append(f"{len(m.rescheduled):,} rescheduled by replaying their reviews")
    if m.unreviewed:
        details.append(f"{plural(m.unreviewed, 'review')} taken back")
    if details:
        out.append(f"\nCards: {', '.join(details)}.", style="dim")
    if m.settings:
        out.append(f"\nSettings changed on another device: {', '.join(m.settings)}.", style="dim")
    if m.parked:
        out.append(f"\n{plural(m.parked, 'review')} of cards this device does not have yet are kept for when "
                   "they arrive (a newer bundled bank?).", style="dim")
    if r.backup is not None:
        out.append(f"\nBacked up before applying: {r.backup}", style="dim")
    return out


class SyncStatusJson(TypedDict):
    hub: str | None
    device: str
    last_sync: dict[str, object] | None
    waiting: dict[str, int]


def sync_status_json(s: SyncStatus) -> SyncStatusJson:
    return {
        "hub": s.hub,
        "device": s.device_id,
        "last_sync": s.last,
        "waiting": {"reviews": s.waiting_reviews, "events": s.waiting_events,
                    "total": s.waiting_reviews + s.waiting_events},
    }


def sync_status_text(s: SyncStatus) -> Text:
    out = Text()
    out.append("Hub:       ")
    out.append(s.hub or "none (give one, or: llmcards config set sync_url URL)")
    out.append("\nLast sync: ")
    if s.last:
        at = datetime.fromisoformat(str(s.last["at"])).astimezone().strftime("%Y-%m-%d %H:%M")
        out.append(f"{at} with {s.last['hub']}: pushed {s.last['pushed']:,}, pulled {s.last['pulled']:,}, "
                   f"{plural(int(s.last['cards_updated']), 'card')} updated")
    else:
        out.append("never")
    out.append("\nWaiting:   ")
    waiting = s.waiting_reviews + s.waiting_events
    out.append(f"{waiting:,} to push{_changes(s.waiting_reviews, s.waiting_events)}" if waiting else "nothing to push")
    out.append(f"\nDevice:    {s.device_id}", style="dim")
    return out
