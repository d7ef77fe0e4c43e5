"""How backups are shown: the ``backup --list`` table and its JSON, one backup in a line."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from llmcards.render import plural

if TYPE_CHECKING:
    from rich.table import Table

    from llmcards.backup import BackupInfo
    from llmcards.store.backups import StoreFacts


class BackupJson(TypedDict):
    file: str
    path: str
    time: str  # UTC, ISO 8601
    reason: str
    size: int
    schema: int | None
    cards: int | None
    reviews: int | None
    problem: str | None


def size_text(size: int) -> str:
    """'812 B', '82 KB', '736 MB', '1.4 GB': three digits at most (powers of 1000, as file managers show)."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 999.5:
            return f"{value:.0f} {unit}" if value >= 10 or unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.0f} GB" if value >= 10 else f"{value:.1f} GB"


def facts_text(facts: StoreFacts) -> str:
    """'1,204 cards, 18,310 reviews'."""
    return f"{plural(facts.cards, 'card')}, {plural(facts.reviews, 'review')}"


def backup_line(path: Path, facts: StoreFacts, size: int) -> str:
    return f"{path} ({facts_text(facts)}, {size_text(size)})"


def backups_json(infos: list[BackupInfo]) -> list[BackupJson]:
    return [
        BackupJson(
            file=b.path.name,
            path=str(b.path),
            time=b.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            reason=b.reason,
            size=b.size,
            schema=b.facts.schema if b.facts else None,
            cards=b.facts.cards if b.facts else None,
            reviews=b.facts.reviews if b.facts else None,
            problem=b.problem,
        )
        for b in infos
    ]


def backups_table(infos: list[BackupInfo]) -> Table:
    """One row per backup, oldest first; times in local time; unreadable ones say why."""
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold", box=None, pad_edge=False, collapse_padding=True)
    table.add_column("time (local)", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column("cards", justify="right")
    table.add_column("reviews", justify="right")
    table.add_column("file", no_wrap=True)
    for b in infos:
        when = b.time.astimezone().strftime("%Y-%m-%d %H:%M")
        if b.facts is not None:
            cards, reviews = f"{b.facts.cards:,}", f"{b.facts.reviews:,}"
            name = Text(b.path.name)
        else:
            cards = reviews = "—"
            name = Text(b.path.name)
            name.append(f"  {b.problem}", style="red")
        table.add_row(when, b.reason, size_text(b.size), cards, reviews, name)
    return table
