"""``llmcards sync``: several devices, one history, through a hub."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from llmcards.cli._app import JsonOption, app, make_console, now_utc, open_store, print_json
from llmcards.errors import UserError

if TYPE_CHECKING:
    from llmcards.hubsync import Progress

LARGE = 2000  # events: a sync this big shows a progress bar (on a terminal)


@app.command("sync")
def sync_cmd(
    ctx: typer.Context,
    hub: Annotated[str | None, typer.Argument(
        metavar="[HUB]", show_default=False,
        help="sqlite:///path/hub.db or postgresql+psycopg://user@host/dbname. Default: the sync_url setting.")] = None,
    status: Annotated[bool, typer.Option("--status", help="Show the hub, the last sync and what waits to be "
                                                          "pushed, without connecting.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Sync this device with your others through a hub: push your reviews and changes, pull
    theirs, and rebuild the schedules they touch.

    The hub is a SQLite file (on a network share or a synced folder) or a PostgreSQL database;
    the first sync creates it. A PostgreSQL password comes from the URL, $PGPASSWORD or
    ~/.pgpass, and is never stored or printed.

    Example: llmcards sync sqlite:///mnt/share/llmcards-hub.db
    """
    from llmcards import hubsync

    store = open_store(ctx, sync_bank=not status)
    url = hub or store.settings().sync_url or None
    if status:
        state = hubsync.status(store, url)
        if json_out:
            from llmcards.render_sync import sync_status_json

            print_json(sync_status_json(state))
        else:
            from llmcards.render_sync import sync_status_text

            make_console().print(sync_status_text(state), soft_wrap=True)
        return
    if url is None:
        raise UserError("no hub given; run `llmcards sync sqlite:///path/hub.db` (or a postgresql+psycopg:// URL), "
                        "or remember one with `llmcards config set sync_url URL`")
    with _progress_bar(enabled=not json_out) as progress:
        result = hubsync.sync(store, url, now=now_utc(), progress=progress)
    if json_out:
        from llmcards.render_sync import sync_result_json

        print_json(sync_result_json(result))
        return
    from llmcards.render_sync import sync_result_text

    make_console().print(sync_result_text(result), soft_wrap=True)


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr for a large sync, when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=make_console(stderr=True), transient=True)
    tasks: dict[str, TaskID] = {}
    labels = {"push": "pushing", "pull": "pulling", "replay": "replaying"}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            if total < LARGE:
                return
            if not bar.live.is_started:
                bar.start()
            tasks[phase] = bar.add_task(labels.get(phase, phase), total=total)
        bar.update(tasks[phase], completed=done, total=max(total, done))

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()
