"""Static output: card text as Rich renderables, tables, and JSON-ready dicts.

User text never reaches Rich as markup: it goes through ``rich.text.Text`` or through
:func:`llmcards.text.markdown_source`, which escapes it for Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TypedDict

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from llmcards.models import Card, ReviewImportReport, ReviewRecord, State, SyncReport
from llmcards.text import markdown_source, plain

STATE_STYLES = {
    "new": "cyan",
    "learning": "yellow",
    "relearning": "yellow",
    "review": "green",
    "suspended": "magenta",
    "retired": "dim",
}


def format_interval(delta: timedelta) -> str:
    """A short interval like Anki's buttons: 45s, 10m, 3h, 4d, 2.1mo, 1.5y."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{int(round(seconds))}s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{int(round(minutes))}m"
    hours = minutes / 60
    if hours < 24:
        return f"{int(round(hours))}h"
    days = hours / 24
    if days < 30:
        return f"{int(round(days))}d"
    if days < 365:
        return f"{days / 30:.1f}mo".replace(".0mo", "mo")
    return f"{days / 365:.1f}y".replace(".0y", "y")


def duration(ms: int) -> str:
    """Time spent: '4m 05s', or '1h 02m' from an hour."""
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 card', '2 cards', '1,204 reviews'; ``many`` for an irregular plural."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def literal(text: str, style: str = "") -> Text:
    """User text shown exactly as written (math as Unicode, controls neutralised)."""
    return Text(plain(text), style=style)


def answer_renderable(answer: str | None, *, code_theme: str = "monokai") -> RenderableType:
    """An answer rendered as Markdown, formulas readable, everything else literal."""
    if answer is None:
        return Text("(no answer in the notes yet — `llmcards edit` to write one)", style="dim italic")
    from rich.markdown import Markdown

    return Markdown(markdown_source(answer), code_theme=code_theme, hyperlinks=False)


class CardView:
    """One card as the person reads it: the question, and the answer once revealed.

    ``llmcards show`` and the review screen both draw a card with this.
    """

    def __init__(self, card: Card, *, revealed: bool = True) -> None:
        self.card = card
        self.revealed = revealed

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.panel import Panel

        yield Panel(literal(self.card.question, "bold"), title="question", title_align="left", border_style="cyan")
        if self.revealed:
            yield Panel(answer_renderable(self.card.answer), title="answer", title_align="left", border_style="green")


def local_time(value: datetime | None, *, with_time: bool = True) -> str:
    if value is None:
        return "—"
    local = value.astimezone()
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def due_label(card: Card, now: datetime, *, short: bool = False) -> str:
    """'new', 'now', 'in 3d' or '2d ago', with the date unless ``short``."""
    if card.schedule.state == State.NEW or card.schedule.due is None:
        return "new"
    delta = card.schedule.due - now
    if abs(delta.total_seconds()) < 60:
        return "now"
    rel = f"in {format_interval(delta)}" if delta.total_seconds() > 0 else f"{format_interval(-delta)} ago"
    if short:
        return rel
    return f"{local_time(card.schedule.due, with_time=False)} ({rel})"


def cards_table(cards: Sequence[Card], now: datetime, *, total: int | None = None) -> CardsTable:
    """``llmcards list``: one row per card; ``total`` is how many matched (when more than shown)."""
    return CardsTable(cards, now, total=total)


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells: cut with ``…`` when longer (a Chinese
    character takes two cells and is never cut in half)."""
    if cell_len(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += cell_len(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def share_widths(naturals: Sequence[int], room: int) -> list[int]:
    """Widths for columns that want ``naturals`` cells and must share ``room``: the widest are
    narrowed first, to one common width, so that narrow columns keep their whole text."""
    if sum(naturals) <= room:
        return list(naturals)
    cap = 1
    while sum(min(n, cap + 1) for n in naturals) <= room:
        cap += 1
    return [min(n, cap) for n in naturals]


class CardsTable:
    """Cards as a table that fits the terminal: ids and tags are never wrapped in the middle,
    but shortened with ``…`` when they do not fit; the question wraps and gets at least a third
    of the room the state and due columns leave."""

    GAP = 2  # cells between two columns

    def __init__(self, cards: Sequence[Card], now: datetime, *, total: int | None = None) -> None:
        self.cards = cards
        self.now = now
        self.total = total

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        dues = [due_label(card, self.now, short=True) for card in self.cards]
        state_w = max([len("state"), *(cell_len(card.status) for card in self.cards)])
        due_w = max([len("due"), *(cell_len(due) for due in dues)])
        room = options.max_width - state_w - due_w - 4 * self.GAP
        id_natural = max([len("id"), *(cell_len(card.id) for card in self.cards)])
        tag_natural = max([len("tags"), *(cell_len(tag) for card in self.cards for tag in card.tags)])
        id_w, tags_w = share_widths([id_natural, tag_natural], room - max(16, room // 3))
        question_w = max(8, room - id_w - tags_w)

        table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, self.GAP // 2))
        table.add_column("id", style="bold", no_wrap=True, overflow="ellipsis", width=id_w)
        table.add_column("question", overflow="fold", width=question_w)
        table.add_column("tags", no_wrap=True, overflow="ellipsis", width=tags_w)  # one tag a line
        table.add_column("state", no_wrap=True, width=state_w)
        table.add_column("due", no_wrap=True, width=due_w)
        for card, due in zip(self.cards, dues, strict=True):
            question = plain(card.question)
            table.add_row(
                Text(shorten(card.id, id_w)),
                Text(question if len(question) <= 160 else question[:157] + "…"),
                Text("\n".join(shorten(plain(tag), tags_w) for tag in card.tags), style="dim"),
                Text(card.status, style=STATE_STYLES.get(card.status, "")),
                Text(due),
            )
        shown = len(self.cards)
        caption = plural(shown, "card")
        if self.total is not None and self.total > shown:
            caption += f" (of {self.total}; --limit 0 shows all)"
        table.caption = caption
        yield table


class ReviewJson(TypedDict):
    """One review in ``show --json``'s ``history``."""

    reviewed_at: str | None
    rating: str
    duration_ms: int | None
    state: str
    stability: float | None
    difficulty: float | None
    due: str | None
    cram: bool


class CardJson(TypedDict):
    """One card in ``list --json`` (and the base of ``show --json``)."""

    id: str
    question: str
    answer: str | None
    tags: list[str]
    sources: list[str]
    origin: str
    status: str
    suspended: bool
    retired: bool
    state: str
    step: int | None
    stability: float | None
    difficulty: float | None
    due: str | None
    last_review: str | None
    reps: int
    lapses: int
    created_at: str | None
    updated_at: str | None


class CardDetailJson(CardJson):
    """One card in ``show --json``: the card and its review history."""

    history: list[ReviewJson]


def card_json(card: Card) -> CardJson:
    s = card.schedule
    return {
        "id": card.id,
        "question": card.question,
        "answer": card.answer,
        "tags": list(card.tags),
        "sources": list(card.sources),
        "origin": card.origin,
        "status": card.status,
        "suspended": card.suspended,
        "retired": card.retired,
        "state": s.state.label,
        "step": s.step,
        "stability": s.stability,
        "difficulty": s.difficulty,
        "due": iso(s.due),
        "last_review": iso(s.last_review),
        "reps": s.reps,
        "lapses": s.lapses,
        "created_at": iso(card.created_at),
        "updated_at": iso(card.updated_at),
    }


def card_detail_json(card: Card, history: Sequence[ReviewRecord]) -> CardDetailJson:
    history_json: list[ReviewJson] = [
        {
            "reviewed_at": iso(r.reviewed_at),
            "rating": r.rating.label.lower(),
            "duration_ms": r.duration_ms,
            "state": r.state.label,
            "stability": r.stability,
            "difficulty": r.difficulty,
            "due": iso(r.due),
            "cram": r.cram,
        }
        for r in history
    ]
    return {**card_json(card), "history": history_json}


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def card_detail(card: Card, history: Sequence[ReviewRecord], now: datetime, retrievability: float) -> Group:
    """Everything about one card, for ``llmcards show``."""

    s = card.schedule
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("id", Text(card.id))
    facts.add_row("tags", Text(", ".join(card.tags) or "—"))
    facts.add_row("sources", Text("\n".join(card.sources) or "—"))
    facts.add_row("origin", Text(card.origin))
    facts.add_row("status", Text(card.status, style=STATE_STYLES.get(card.status, "")))
    if s.state != State.NEW:
        facts.add_row("due", Text(due_label(card, now)))
        facts.add_row("stability", Text(f"{s.stability:.2f} days" if s.stability is not None else "—"))
        facts.add_row("difficulty", Text(f"{s.difficulty:.2f} / 10" if s.difficulty is not None else "—"))
        facts.add_row("retrievability", Text(f"{retrievability:.0%}"))
        facts.add_row("reviews", Text(f"{s.reps} ({plural(s.lapses, 'lapse')})"))
    if card.buried_until and card.buried_until > now:
        facts.add_row("buried until", Text(local_time(card.buried_until)))

    parts: list[RenderableType] = [CardView(card), facts]
    if history:
        log = Table(title="review history", title_justify="left", header_style="bold")
        for col in ("when", "grade", "time", "state after", "next due"):
            log.add_column(col)
        for r in history:
            log.add_row(
                local_time(r.reviewed_at),
                r.rating.label + (" (cram)" if r.cram else ""),
                f"{r.duration_ms / 1000:.0f}s" if r.duration_ms is not None else "—",
                r.state.label,
                local_time(r.due),
            )
        parts.append(log)
    else:
        parts.append(Text("not reviewed yet", style="dim"))
    return Group(*parts)


class SyncReportJson(TypedDict):
    """``llmcards import --json``."""

    source: str
    added: list[str]
    updated: list[str]
    unchanged: int
    retired: list[str]
    suspended: list[str]


def sync_report_json(report: SyncReport) -> SyncReportJson:
    return {"source": report.source, "added": report.added, "updated": report.updated,
            "unchanged": len(report.unchanged), "retired": report.retired, "suspended": report.suspended}


def sync_report_text(report: SyncReport, *, first_run: bool = False) -> Text:
    out = Text()
    if first_run:
        out.append("First run: imported the bundled question bank. ", style="bold")
    out.append(f"{report.source}: ", style="dim")
    out.append(report.summary())
    return out


class ReviewImportJson(TypedDict):
    """``llmcards import --reviews FILE --json`` and ``llmcards import FILE.apkg --json``."""

    source: str
    kind: str
    read: int
    added: int
    already_in_store: int
    repeated_in_file: int
    unknown: int
    unknown_cards: list[str]
    bad: int
    bad_examples: list[str]
    skipped: int
    cram: int
    replayed_cards: int
    changed_schedules: int


def review_import_json(r: ReviewImportReport) -> ReviewImportJson:
    return {"source": r.source, "kind": r.kind, "read": r.read, "added": r.added, "already_in_store": r.already,
            "repeated_in_file": r.repeated, "unknown": r.unknown, "unknown_cards": list(r.unknown_cards),
            "bad": r.bad, "bad_examples": r.bad_examples, "skipped": r.skipped, "cram": r.cram,
            "replayed_cards": r.cards, "changed_schedules": r.changed}


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def review_import_text(r: ReviewImportReport) -> Text:
    """What an import of reviews did, on a few lines; problems in yellow."""
    anki = r.kind == "anki"
    out = Text()
    out.append(f"{r.source}: ", style="dim")
    read = plural(r.read, "Anki review log entry", "Anki review log entries") if anki else plural(r.read, "review")
    out.append(f"{read} read: {r.added:,} added")
    details = [f"{r.already:,} already in the store"]
    if r.repeated:
        details.append(f"{r.repeated:,} repeated in the file")
    if r.cram:
        details.append(f"{r.cram:,} from filtered decks, as cram")
    if r.skipped:
        details.append(f"{plural(r.skipped, 'manual entry', 'manual entries')} skipped (rescheduling, not reviews)")
    out.append(", " + ", ".join(details) + ".")
    if r.unknown:
        what = f"{plural(len(r.unknown_cards), 'note')} not from llmcards" if anki else \
            f"{plural(len(r.unknown_cards), 'card')} not in the store"
        out.append(f"\n{plural(r.unknown, 'review')} of {what}, not imported: {_names(r.unknown_cards)}",
                   style="yellow")
    if r.bad:
        out.append(f"\n{plural(r.bad, 'bad row')}, not imported: {'; '.join(r.bad_examples)}"
                   + ("; ..." if r.bad > len(r.bad_examples) else ""), style="yellow")
    if r.added:
        out.append(f"\nReplayed {plural(r.cards, 'card')}: {plural(r.changed, 'schedule')} changed.")
    return out

