"""``llmcards optimize``: fit the FSRS parameters to the person's history, advise on the desired
retention, reschedule."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from llmcards.cli._app import (
    JsonOption,
    ProgressBar,
    YesOption,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
)
from llmcards.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console


def _ask(console: Console, question: str) -> bool:
    console.print()
    return bool(typer.confirm(question, default=False))


def _preview_title(parameters: object, retention: float | None) -> str:
    changes = [text for text, changed in (("the fitted parameters", parameters is not None),
                                          (f"desired retention {retention:.2f}" if retention else "", retention))
               if changed]
    return f"If you saved {' and '.join(changes)}:" if changes else "Under the current settings:"


# --------------------------------------------------------------------------- optimize
@app.command()
def optimize(
    ctx: typer.Context,
    reschedule: Annotated[bool, typer.Option(
        "--reschedule", help="Also recompute every card's due date from its history under the saved settings "
        "(a backup is taken first).")] = False,
    retention: Annotated[bool, typer.Option(
        "--retention", help="Also suggest a desired retention from a simulated year of study.")] = False,
    fit: Annotated[bool, typer.Option(
        "--fit/--no-fit", help="Fit parameters (default), or keep the current ones for --reschedule or "
        "--retention.")] = True,
    yes: YesOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show everything, change nothing.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Fit the FSRS model to your own reviews, so intervals follow how you remember.

    It needs at least 400 reviews made on a later day than the card's previous review (about a
    month of daily study, or 1,000 reviews); with fewer it refuses and changes nothing. It shows
    how well the current and the fitted parameters predict your later reviews (log loss and
    RMSE, lower is better), then asks before saving the fitted ones to the fsrs_parameters
    setting; `llmcards config reset fsrs_parameters` goes back to the defaults. Saved parameters
    apply to new intervals and stats at once; --reschedule also moves the due dates of cards
    already scheduled. Without a terminal to ask on, nothing is saved unless you add --yes.

    Example: llmcards optimize --reschedule --retention
    """
    from llmcards import optimize as opt

    if yes and dry_run:
        raise UserError("--yes and --dry-run contradict each other; choose one")
    if not fit and not (reschedule or retention):
        raise UserError("--no-fit leaves nothing to do; add --reschedule or --retention")
    console = make_console()
    store = open_store(ctx, sync_bank=False)
    now = now_utc()
    settings = store.settings()
    result: opt.Fit | None = None
    if fit:
        with ProgressBar("Fitting your parameters") as bar:
            result = opt.fit_parameters(store, now, settings, progress=bar)
    offered = result.parameters if result is not None and result.better else None
    parameters = offered or settings.fsrs_parameters
    advice: opt.RetentionAdvice | None = None
    if retention:
        advice = opt.advise_retention(store, settings, parameters)
    suggested = advice.suggested if advice is not None and advice.suggested != settings.desired_retention else None

    if not json_out:
        from llmcards.render_optimize import fit_renderable, retention_renderable

        if result is not None:
            console.print(fit_renderable(result))
        if advice is not None:
            console.print()
            console.print(retention_renderable(advice))

    can_ask = not json_out and sys.stdin.isatty()
    save_parameters = save_retention = do_reschedule = False
    notes: list[str] = []
    wanted = offered is not None or suggested is not None or (reschedule and not fit)
    if dry_run or not wanted:
        pass
    elif yes:
        save_parameters, save_retention, do_reschedule = offered is not None, suggested is not None, reschedule
    elif can_ask:
        if offered is not None:
            save_parameters = _ask(console, "Save the fitted parameters?")
        if suggested is not None:
            save_retention = _ask(console, f"Set desired_retention to {suggested:.2f} "
                                           f"(now {settings.desired_retention:g})?")
        if reschedule and not fit and not save_retention:
            do_reschedule = _ask(console, "Reschedule every card under the current settings?")
        else:
            do_reschedule = reschedule and (save_parameters or save_retention)
    else:
        why = "--json does not ask" if json_out else "there is no terminal to ask on"
        notes.append(f"Nothing was saved: {why}. Run it again with --yes to save, or --dry-run to only look.")
    if reschedule and not dry_run and not do_reschedule and (yes or can_ask):
        notes.append("Nothing was rescheduled: no setting changed. `llmcards optimize --no-fit --reschedule` "
                     "reschedules under the current settings.")

    preview: opt.RescheduleReport | None = None
    if reschedule and dry_run:
        new = opt.with_parameters(settings, parameters)
        if suggested is not None:
            new = new.with_value("desired_retention", f"{suggested:g}")
        with ProgressBar("Replaying your reviews") as bar:
            preview = opt.reschedule(store, new, now, dry_run=True, progress=bar)
    applied: opt.Applied | None = None
    if save_parameters or save_retention or do_reschedule:
        with ProgressBar("Rescheduling your cards") as bar:
            applied = opt.apply(store, now, parameters=offered if save_parameters else None,
                                retention=suggested if save_retention else None, reschedule_cards=do_reschedule,
                                progress=bar)
    moved = applied.reschedule if applied is not None and applied.reschedule is not None else preview

    if json_out:
        print_json({
            "fit": opt.fit_json(result) if result is not None else None,
            "retention": opt.retention_json(advice) if advice is not None else None,
            "reschedule": opt.reschedule_json(moved) if moved is not None else None,
            "saved": {"fsrs_parameters": save_parameters, "desired_retention": save_retention},
            "dry_run": dry_run,
            "notes": notes,
        })
        return
    from rich.text import Text

    from llmcards.render_optimize import reschedule_renderable

    if applied is not None:
        saved = [name for name, done in (("fsrs_parameters", save_parameters), ("desired_retention", save_retention))
                 if done]
        if saved:
            console.print(Text(f"Saved {' and '.join(saved)}.", style="green"))
            if not do_reschedule:
                console.print(Text("New intervals follow them now; cards already scheduled keep their due dates "
                                   "until `llmcards optimize --reschedule --no-fit`.", style="dim"))
    if moved is not None:
        console.print()
        if preview is not None:
            console.print(Text(_preview_title(offered, suggested), style="dim"))
        console.print(reschedule_renderable(moved))
    if dry_run:
        console.print(Text("Dry run: nothing was saved.", style="dim"))
    for note in notes:
        console.print(Text(note, style="yellow"))
