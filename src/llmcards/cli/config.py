"""``llmcards config``: show, set and reset the settings."""

from __future__ import annotations

from typing import Annotated

import typer

from llmcards.cli._app import (
    CommandGroup,
    JsonOption,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
)
from llmcards.errors import UserError

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
    updated = store.settings().with_value(key, value)
    text = updated.to_strings()[key]
    store.save_setting(key, text, now=now_utc())
    make_console().print(f"{key} = {text or '(none)'}", markup=False, highlight=False)


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


