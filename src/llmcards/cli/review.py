"""``llmcards review``: the daily session on the interactive screen."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmcards.cli._app import (
    TagsOption,
    app,
    make_console,
    now_utc,
    open_store,
)
from llmcards.errors import UserError


# --------------------------------------------------------------------------- review
@app.command()
def review(
    ctx: typer.Context,
    tag: TagsOption = None,
    limit: Annotated[int | None, typer.Option("-n", "--limit", metavar="N", help="At most N cards.", min=1)] = None,
    no_new: Annotated[bool, typer.Option("--no-new", help="No new cards, only due ones.")] = False,
    cram: Annotated[bool, typer.Option("--cram",
                                       help="Practise cards even if not due; the schedule is not changed.")] = False,
    include_unanswered: Annotated[bool, typer.Option("--include-unanswered",
                                                     help="Also show cards with no answer yet.")] = False,
) -> None:
    """Review the cards due today, then new ones (the daily session).

    Keys: space shows the answer, 1-4 grade it (Again, Hard, Good, Easy), u undoes,
    s suspends, b buries until tomorrow, e edits, ? helps, q quits. Each grade is saved
    at once.

    Example: llmcards review --tag attention --limit 20
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("review needs an interactive terminal; run it directly in a terminal, not through a pipe")
    from llmcards.cards import edit_card
    from llmcards.session import Session, SessionOptions
    from llmcards.ui import ReviewScreen, summary_renderable, terminal

    store = open_store(ctx)
    known = set(store.cards.all_tags())
    for t in tag or ():
        if t not in known:
            raise UserError(f"no card has the tag {t!r}; tags: {', '.join(sorted(known)) or '(none)'}")
    settings = store.settings()
    options = SessionOptions(tags=tuple(tag or ()), limit=limit, no_new=no_new, cram=cram,
                             include_unanswered=include_unanswered)
    session = Session.start(store, settings, now_utc(), options)
    console = make_console()

    def first_read() -> None:
        if store.before_first_write is not None:  # the first grade starts the day's backup: load its code now
            import llmcards.backup  # noqa: F401

    screen = ReviewScreen(session, console, now_utc,
                          edit=lambda card: edit_card(store, card.id, now=now_utc()), first_read=first_read)
    try:
        with terminal(console) as keyboard:
            screen.run(keyboard)
    except KeyboardInterrupt:
        pass
    console.print(summary_renderable(session.summary(now_utc()), now_utc()))


