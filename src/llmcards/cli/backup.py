"""``llmcards backup`` and ``llmcards restore``: your data's safety net."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmcards.cli._app import (
    JsonOption,
    YesOption,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
)
from llmcards.errors import UserError


# --------------------------------------------------------------------------- backup
@app.command()
def backup(
    ctx: typer.Context,
    to: Annotated[Path | None, typer.Option("--to", metavar="PATH",
                                            help="Write the backup to this new file (or into this folder) instead.")
                  ] = None,
    list_backups: Annotated[bool, typer.Option("--list", help="List the backups instead of making one.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Back up the store now, or list its backups.

    Backups go to the backups/ folder beside the store; one is also taken automatically
    at the first change of each study day and before an import, a delete or a restore.

    Example: llmcards backup --list
    """
    from llmcards.store.backups import read_facts

    if list_backups and to is not None:
        raise UserError("give --list or --to, not both")
    store = open_store(ctx, sync_bank=False)
    if list_backups:
        from llmcards.backup import list_backups as find_backups
        from llmcards.store.backups import backup_dir

        infos = find_backups(store)
        if json_out:
            from llmcards.render_backup import backups_json

            print_json(backups_json(infos))
            return
        console = make_console()
        if not infos:
            console.print(f"No backups yet in {backup_dir(store.path)}.", markup=False, highlight=False, soft_wrap=True)
            return
        from llmcards.render_backup import backups_table

        console.print(f"Backups in {backup_dir(store.path)}:", markup=False, highlight=False, style="dim",
                      soft_wrap=True)
        console.print(backups_table(infos))
        return
    if to is not None:
        from llmcards.backup import backup_to

        path = backup_to(store, to, now=now_utc())
    else:
        from llmcards.backup import backup_before

        path = backup_before(store, "manual", now=now_utc())
    facts = read_facts(path)
    size = path.stat().st_size
    if json_out:
        print_json({"path": str(path), "size": size, "cards": facts.cards, "reviews": facts.reviews})
        return
    from llmcards.render_backup import backup_line

    kept = "" if to is not None else f" (kept {store.settings().backup_keep_days} days)"
    make_console().print(f"Backed up to {backup_line(path, facts, size)}{kept}.", markup=False, highlight=False,
                         soft_wrap=True)


# --------------------------------------------------------------------------- restore
@app.command()
def restore(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="A backup: its path, or its name in `backup --list`.")],
    yes: YesOption = False,
) -> None:
    """Replace the store with a backup. The backup is checked first (integrity, an llmcards
    store, not from a newer llmcards), and the store as it was is backed up before the swap.

    Example: llmcards restore llmcards-20261125T201500Z-daily.db
    """
    from llmcards.backup import find_restore_source
    from llmcards.backup import restore as restore_backup
    from llmcards.render_backup import facts_text

    store = open_store(ctx, sync_bank=False)
    source = find_restore_source(store, file)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("refusing to restore without confirmation; add --yes")
        from llmcards.render import plural

        now_text = f"{plural(store.cards.count(), 'card')}, {plural(store.history.count(), 'review')}"
        question = (f"Replace the store ({now_text}) with {source.path.name} ({facts_text(source.facts)})? "
                    "The store is backed up first.")
        if not typer.confirm(question, default=False):
            make_console().print("Nothing restored.")
            raise typer.Exit(1)
    if source.path.stat().st_size > 50_000_000:  # checking it takes a few seconds: say why we wait
        make_console(stderr=True).print(f"Checking {source.path.name} and restoring it...", style="dim",
                                        markup=False, highlight=False)
    report = restore_backup(store, source, now=now_utc())
    console = make_console()
    console.print(f"Restored {report.source} ({facts_text(report.facts)}).", markup=False, highlight=False,
                  soft_wrap=True)
    console.print(f"The store as it was is backed up in {report.safety_backup}", markup=False, highlight=False,
                  style="dim", soft_wrap=True)
