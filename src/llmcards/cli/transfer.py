"""``llmcards export``, and the progress bar that exports and imports of reviews draw."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmcards.cli._app import TagsOption, app, make_console, now_utc, open_store
from llmcards.errors import UserError

if TYPE_CHECKING:
    from llmcards.export import Progress

PROGRESS_AFTER_S = 0.5  # a bar appears only once the work has taken this long
LABELS = {"cards": "cards", "reviews": "reviews", "replay": "replaying"}


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A progress callback drawing a Rich bar on stderr, only when stderr is a terminal and the
    work takes more than half a second; otherwise it does nothing."""
    if not sys.stderr.isatty():
        yield lambda what, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
              console=make_console(stderr=True), transient=True)
    tasks: dict[str, object] = {}
    started = time.monotonic()

    def update(what: str, done: int, total: int | None) -> None:
        if not bar.live.is_started:
            if time.monotonic() - started < PROGRESS_AFTER_S:
                return
            bar.start()
        if what not in tasks:
            tasks[what] = bar.add_task(LABELS.get(what, what), total=total)
        bar.update(tasks[what], completed=done, total=total)  # type: ignore[arg-type]

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


class Format(str, Enum):
    yaml = "yaml"
    csv = "csv"
    revlog = "revlog"
    apkg = "apkg"


# --------------------------------------------------------------------------- export
@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("-f", "--format", help="yaml: the bank format (re-importable); csv: one row "
                                        "per card; revlog: the review history (FSRS tools' CSV); apkg: an Anki "
                                        "package.", case_sensitive=False)],
    output: Annotated[str | None, typer.Option("-o", "--output", metavar="PATH",
                                               help="Where to write; - for stdout (yaml, csv, revlog). Default: "
                                               "llmcards-YYYYMMDD.<ext> (llmcards-revlog-YYYYMMDD.csv) here.",
                                               show_default=False)] = None,
    tag: TagsOption = None,
    include_unanswered: Annotated[bool, typer.Option("--include-unanswered",
                                                     help="Also export cards with no answer yet.")] = False,
    deck: Annotated[str | None, typer.Option("--deck", metavar="NAME",
                                             help="apkg: the Anki deck's name (default: llmcards).")] = None,
) -> None:
    """Export cards (yaml, csv, apkg) or the review history (revlog) to a file.

    Retired cards are never exported, and cards with no answer only with
    --include-unanswered. The file is written under a temporary name and renamed, so a
    failed export leaves nothing half-written.

    Example: llmcards export --format apkg --deck "LLM interviews" -o llm.apkg
    """
    from llmcards.export import Selection, default_path
    from llmcards.export import export as run_export

    if deck is not None and fmt is not Format.apkg:
        raise UserError("--deck is only for --format apkg")
    if deck is not None and not deck.strip():
        raise UserError("--deck needs a name")
    now = now_utc()
    out = None if output == "-" else Path(output) if output is not None else default_path(fmt.value, now)
    store = open_store(ctx)
    with progress_bar() as progress:
        report = run_export(store, fmt.value, out, Selection(tuple(tag or ()), include_unanswered), now=now,
                            deck_name=deck, progress=progress)
    count, noun = (report.reviews, "review") if fmt is Format.revlog else (report.cards, "card")
    where = "stdout" if report.path is None else report.path
    # typer.echo, not Rich: a plain line, without importing Rich's console for it.
    typer.echo(f"Exported {count:,} {noun}{'' if count == 1 else 's'} to {where}.", err=report.path is None)
