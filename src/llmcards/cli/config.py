"""``llmcards config``: show, set and reset the settings."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from llmcards.cli._app import (
    CommandGroup,
    JsonOption,
    ProgressBar,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
)
from llmcards.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from llmcards.store import Store

config_app = typer.Typer(
    cls=CommandGroup,
    help="Show or change the review settings.\n\nExample: llmcards config set new_per_day 10",
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.add_typer(config_app, name="config")


# --------------------------------------------------------------------------- config
@config_app.callback()
def config_show(
    ctx: typer.Context,
    json_out: JsonOption = False,
) -> None:
    """Show or change the review settings.

    Example: llmcards config set new_per_day 10
    """
    if ctx.invoked_subcommand is not None:
        return
    from llmcards.config import DESCRIPTIONS, Settings

    store = open_store(ctx, sync_bank=False)
    values = store.settings().to_strings()
    if json_out:
        print_json(values)
        return
    from rich.table import Table

    defaults = Settings().to_strings()
    table = Table(header_style="bold")
    table.add_column("key")
    table.add_column("value")
    table.add_column("default", style="dim")
    table.add_column("meaning", style="dim")
    for key, value in values.items():
        table.add_row(key, value or "(none)", defaults[key] or "(none)", DESCRIPTIONS[key])
    console = make_console()
    console.print(table)
    console.print(f"store: {store.path}", markup=False, highlight=False, style="dim")


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The setting, e.g. desired_retention.")],
    value: Annotated[str, typer.Argument(help="Its new value, e.g. 0.9 or '1m 10m'.")],
) -> None:
    """Change one setting; the value is checked first.

    Example: llmcards config set learning_steps "1m 10m 1h"
    """

    store = open_store(ctx, sync_bank=False)
    before = store.settings()
    updated = before.with_value(key, value)
    text = updated.to_strings()[key]
    store.save_setting(key, text, now=now_utc())
    console = make_console()
    console.print(f"{key} = {text or '(none)'}", markup=False, highlight=False)
    if key == "desired_retention" and updated.desired_retention != before.desired_retention:
        _offer_reschedule(store, console, before.desired_retention)


def _offer_reschedule(store: Store, console: Console, old: float) -> None:
    """New intervals follow a new retention at once; cards already due somewhere keep their dates."""
    from rich.text import Text

    from llmcards.render import plural

    counts = store.stats.card_counts()
    scheduled = counts.learning + counts.young + counts.mature
    if not scheduled:
        return
    console.print(Text(f"{plural(scheduled, 'card')} already scheduled: their due dates were set for {old:g} and stay "
                       "until you reschedule them with `llmcards optimize --reschedule --no-fit`.", style="dim"),
                  soft_wrap=True)
    if not sys.stdin.isatty() or not typer.confirm("Reschedule them now?", default=False):
        return
    from llmcards.optimize import apply
    from llmcards.render_optimize import reschedule_renderable

    with ProgressBar("Rescheduling your cards") as bar:
        report = apply(store, now_utc(), reschedule_cards=True, progress=bar).reschedule
    if report is not None:
        console.print(reschedule_renderable(report))


@config_app.command("reset")
def config_reset(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="The settings to reset, e.g. fsrs_parameters.")],
) -> None:
    """Put settings back to their defaults.

    Example: llmcards config reset fsrs_parameters
    """
    from llmcards.config import PARSERS, Settings

    for key in keys:
        if key not in PARSERS:
            raise UserError(f"unknown setting {key!r}; known settings: {', '.join(PARSERS)}")
    store = open_store(ctx, sync_bank=False)
    defaults = Settings().to_strings()
    with store.write():
        for key in dict.fromkeys(keys):
            store.reset_setting(key, now=now_utc())
    for key in dict.fromkeys(keys):
        make_console().print(f"{key} = {defaults[key] or '(none)'} (default)", markup=False, highlight=False)


