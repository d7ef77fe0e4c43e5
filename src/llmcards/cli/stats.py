"""``llmcards stats``."""

from __future__ import annotations

from typing import Annotated

import typer

from llmcards.cli._app import (
    JsonOption,
    TagOption,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
)


# --------------------------------------------------------------------------- stats
@app.command()
def stats(
    ctx: typer.Context,
    tag: TagOption = None,
    days: Annotated[int, typer.Option("--days", metavar="N", min=1, max=3650,
                                      help="Days in the future-due chart.")] = 30,
    json_out: JsonOption = False,
) -> None:
    """Show your progress: today, streak, card counts, what falls due, a calendar of
    reviews, retention, topics and the hardest cards.

    Example: llmcards stats --tag attention
    """
    from llmcards.stats import compute_stats

    store = open_store(ctx)
    settings = store.settings()
    result = compute_stats(store, now_utc(), settings, days=days, tag=tag)
    if json_out:
        from llmcards.stats import to_json

        print_json(to_json(result))
        return
    from llmcards.render_stats import stats_renderable

    make_console().print(stats_renderable(result))


