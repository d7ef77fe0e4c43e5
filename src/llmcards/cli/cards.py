"""Commands on cards: import, add, list, show, edit, suspend, unsuspend, delete."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmcards.cli._app import (
    IdsArgument,
    JsonOption,
    TagsOption,
    YesOption,
    app,
    make_console,
    now_utc,
    open_store,
    print_json,
    store_path,
    sync_bundled_bank,
)
from llmcards.errors import UserError

if TYPE_CHECKING:
    from llmcards.models import Question


# --------------------------------------------------------------------------- import
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Only show what the import would change; write nothing.")]
ImportTagsOption = Annotated[list[str] | None, typer.Option(
    "-t", "--tag", metavar="TAG", help="Add this tag to every card of the notes (repeatable; notes only).")]


def importer_for(path: Path | None) -> str:
    """Which importer reads ``path``: 'notes' for a .md file or a folder, 'bank' for anything else (YAML)."""
    from llmcards.models import NOTE_SUFFIXES

    if path is not None and (path.suffix.lower() in NOTE_SUFFIXES or path.is_dir()):
        return "notes"
    return "bank"


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(
        metavar="[PATH]", help="A bank YAML file; Markdown notes (a .md or .markdown file, or a folder of them); "
        "or an Anki package (.apkg, .colpkg) whose reviews to merge. Default: the bundled bank.",
        show_default=False)] = None,
    reviews: Annotated[Path | None, typer.Option("--reviews", metavar="FILE",
                                                 help="Merge a review log (CSV: card_id, review_time, review_rating, "
                                                 "review_state, review_duration), then replay those cards.")] = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    tag: ImportTagsOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import cards or reviews: a bank YAML file, Markdown notes, a review log or an Anki package.

    A bank file (the bundled bank when no PATH is given) is synced at once: new ids are
    added, edited text is updated without losing progress, and cards that left the file
    are retired (their history is kept). Reviews (--reviews FILE, or FILE.apkg / .colpkg)
    are merged by card and time, so importing a file twice changes nothing; the cards that
    got reviews are rescheduled by replaying their history.

    Notes (a .md or .markdown file, or a folder of them) are read for questions: headings ending in ?,
    numbered headings, bold numbered items, Q:/A: pairs, blockquoted questions. A table
    of what would be added, updated, renamed and retired comes first, then a question
    (--yes skips it, --dry-run only shows). Re-importing edited notes keeps every card's
    progress and any `llmcards edit` of a card the notes did not change.

    Example: llmcards import ~/notes/llm-interview.md --tag interview
    """
    anki = file is not None and file.suffix.lower() in (".apkg", ".colpkg")
    if file is not None and reviews is not None:
        raise UserError("give a PATH or --reviews, not both; run one import for each")
    if anki or reviews is not None:
        if dry_run or tag or yes:
            raise UserError("--yes, --dry-run and --tag work with Markdown notes, not with reviews")
        source = file if anki else reviews
        assert source is not None
        _import_reviews(ctx, source, anki=anki, json_out=json_out)
        return
    if importer_for(file) == "notes":
        assert file is not None
        _import_notes(ctx, file, yes=yes, dry_run=dry_run, tags=tag or [], json_out=json_out)
        return
    if dry_run or tag:
        raise UserError("--dry-run and --tag work with Markdown notes (a .md or .markdown file, or a folder), "
                        "not a bank file")
    _import_bank(ctx, file, json_out=json_out)


def _import_bank(ctx: typer.Context, file: Path | None, *, json_out: bool) -> None:
    from llmcards.sync import import_file

    store = open_store(ctx, sync_bank=file is not None)
    report = import_file(store, file, now=now_utc())
    if json_out:
        from llmcards.render import sync_report_json

        print_json(sync_report_json(report))
        return
    from llmcards.render import sync_report_text

    make_console().print(sync_report_text(report), soft_wrap=True)


def _import_reviews(ctx: typer.Context, path: Path, *, anki: bool, json_out: bool) -> None:
    from llmcards.cli.transfer import progress_bar
    from llmcards.export import import_anki, import_reviews

    store = open_store(ctx)
    with progress_bar() as progress:
        run = import_anki if anki else import_reviews
        report = run(store, path, now=now_utc(), progress=progress)
    if json_out:
        from llmcards.render import review_import_json

        print_json(review_import_json(report))
        return
    from llmcards.render import review_import_text

    make_console().print(review_import_text(report), soft_wrap=True)


def _import_notes(ctx: typer.Context, path: Path, *, yes: bool, dry_run: bool, tags: list[str],
                  json_out: bool) -> None:
    from llmcards.notes_import import apply_notes_import, plan_notes_import, read_note_files
    from llmcards.render_notes import done_line, notes_import_json, plan_preview

    if not (yes or dry_run) and (json_out or not sys.stdin.isatty()):
        why = "with --json" if json_out else "without a terminal"
        raise UserError(f"cannot ask before importing {why}; pass --yes to import, or --dry-run to see the changes")
    notes = read_note_files(path)
    # Nothing is written before the person says yes: the store is created, and the bundled
    # bank synced, only then.
    store = open_store(ctx, sync_bank=False) if store_path(ctx).exists() else None
    planned = plan_notes_import(store, notes, tags=tags)
    console = make_console()
    if not json_out:
        console.print(plan_preview(planned))
    if dry_run:
        if json_out:
            print_json(notes_import_json(planned))
        else:
            console.print("Dry run: nothing written.", style="dim")
        return
    if planned.changed:
        if not yes and not typer.confirm("Import these changes?", default=False):
            make_console(stderr=True).print("Nothing imported.")
            raise typer.Exit(1)
        if store is None:
            store = open_store(ctx)  # first use: creates the store and imports the bundled bank
            planned = plan_notes_import(store, notes, tags=tags, questions=planned.questions)
        else:
            sync_bundled_bank(store)
            if planned.plan.updated or planned.plan.retired:  # adding cards changes nothing that is there
                from llmcards.backup import backup_before

                backup_before(store, "import")
    if store is not None and planned.skipped is None:
        planned = apply_notes_import(store, planned, now=now_utc())  # with no change, it only stamps the notes
    if json_out:
        print_json(notes_import_json(planned))
    elif planned.written:
        console.print(done_line(planned))


# --------------------------------------------------------------------------- add
@app.command()
def add(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Option("-q", "--question", metavar="TEXT", help="The question.")] = None,
    answer: Annotated[str | None, typer.Option("-a", "--answer", metavar="TEXT",
                                               help="The answer (Markdown, $LaTeX$ allowed).")] = None,
    answer_file: Annotated[Path | None, typer.Option("--answer-file", help="Read the answer from a file; - for stdin.",
                                                        metavar="FILE", allow_dash=True)] = None,
    tag: Annotated[list[str] | None, typer.Option("-t", "--tag", metavar="TAG", help="A tag (repeatable).")] = None,
    card_id: Annotated[str | None, typer.Option("--id", metavar="ID",
                                                help="Choose the id instead of generating one.")] = None,
) -> None:
    """Add a card of your own.

    With no options it asks for the card (or opens $EDITOR when set).

    Example: llmcards add -q "What does KV cache store?" -a "Past keys and values" -t inference
    """
    from llmcards.cards import add_card

    if answer is not None and answer_file is not None:
        raise UserError("give the answer with -a or --answer-file, not both")
    if answer_file is not None:
        answer = _read_answer_file(answer_file)
    tags = list(tag or [])
    store = open_store(ctx)
    if question is None:
        if answer is not None or tags:
            raise UserError("missing -q/--question")
        drafted = _ask_card()
        if drafted is None:
            make_console(stderr=True).print("Nothing added (empty question).")
            raise typer.Exit(1)
        question, answer, tags = drafted.question, drafted.answer, list(drafted.tags)
    card = add_card(store, question=question, answer=answer, tags=tags, card_id=card_id, now=now_utc())
    make_console().print(f"Added {card.id}", markup=False, highlight=False)


def _read_answer_file(path: Path) -> str:
    from llmcards.bank import read_bytes

    if str(path) == "-":
        return sys.stdin.read()
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def _ask_card() -> Question | None:
    """Draft a card in $EDITOR, or by prompting on the terminal."""
    from llmcards import cards
    from llmcards.models import Question

    if cards.editor_command():
        return cards.new_card_in_editor()
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask on; pass -q/--question and -a/--answer")
    question = typer.prompt("Question").strip()
    if not question:
        return None
    typer.echo("Answer (Markdown; finish with an empty line twice, or Ctrl-D):")
    lines: list[str] = []
    blank = 0
    while True:
        try:
            line = input()
        except EOFError:
            break
        blank = blank + 1 if not line.strip() else 0
        if blank >= 2:
            break
        lines.append(line)
    raw_tags = typer.prompt("Tags (space-separated, optional)", default="", show_default=False)
    answer = "\n".join(lines).strip("\n") or None
    return Question(id="new-card", question=question, answer=answer, tags=tuple(raw_tags.split()))


# --------------------------------------------------------------------------- list
@app.command("list")
def list_cmd(
    ctx: typer.Context,
    tag: TagsOption = None,
    search: Annotated[str | None, typer.Option("-s", "--search", metavar="TEXT",
                                               help="Text in the question, answer or id (any language).")] = None,
    due: Annotated[bool, typer.Option("--due", help="Only cards due now.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Only cards never studied.")] = False,
    suspended: Annotated[bool, typer.Option("--suspended", help="Only suspended cards.")] = False,
    unanswered: Annotated[bool, typer.Option("--unanswered", help="Only cards with no answer yet.")] = False,
    retired: Annotated[bool, typer.Option("--retired",
                                          help="Show retired cards (gone from their bank file) instead.")] = False,
    limit: Annotated[int | None, typer.Option(
        "-n", "--limit", metavar="N", min=0,
        help="At most N cards (0 = all). Default: 50 in the table, all with --json.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List cards, filtered.

    Example: llmcards list --tag attention --search 复杂度
    """
    from llmcards.store import CardFilter

    store = open_store(ctx)
    now = now_utc()
    effective = limit if limit is not None else (None if json_out else 50)
    flt = CardFilter(tags=tuple(tag or ()), search=search, due=due, new=new, suspended=suspended,
                     unanswered=unanswered, retired=retired, limit=effective or None)
    found = store.cards.list(flt, now=now)
    if json_out:
        from llmcards.render import card_json

        print_json([card_json(c) for c in found])
        return
    truncated = flt.limit is not None and len(found) >= flt.limit
    total = store.cards.count_matching(flt, now=now) if truncated else len(found)
    from llmcards.render import cards_table

    make_console().print(cards_table(found, now, total=total))


# --------------------------------------------------------------------------- show
@app.command()
def show(
    ctx: typer.Context,
    card_id: Annotated[str, typer.Argument(metavar="ID", help="The card's id.")],
    json_out: JsonOption = False,
) -> None:
    """Show one card: question, rendered answer, tags, sources, schedule and history.

    Example: llmcards show lora-principle
    """
    store = open_store(ctx)
    card = store.cards.require(card_id)
    history = store.cards.history(card_id)
    if json_out:
        from llmcards.render import card_detail_json

        print_json(card_detail_json(card, history))
        return
    from llmcards.render import card_detail
    from llmcards.scheduler import Scheduler

    now = now_utc()
    settings = store.settings()
    r = Scheduler(settings).retrievability(card.schedule, now)
    make_console().print(card_detail(card, history, now, r))


# --------------------------------------------------------------------------- edit
@app.command()
def edit(
    ctx: typer.Context,
    card_id: Annotated[str, typer.Argument(metavar="ID", help="The card's id.")],
    question: Annotated[str | None, typer.Option("-q", "--question", metavar="TEXT", help="New question text.")] = None,
    answer: Annotated[str | None, typer.Option("-a", "--answer", metavar="TEXT", help="New answer text.")] = None,
    tag: Annotated[list[str] | None, typer.Option("-t", "--tag", metavar="TAG",
                                                  help="Replace the tags (repeatable).")] = None,
) -> None:
    """Edit a card's text in $EDITOR (as YAML), or with -q/-a/-t; its progress is kept.

    Example: llmcards edit lora-principle -t peft -t finetuning
    """
    store = open_store(ctx)
    from llmcards.cards import edit_card

    edited = edit_card(store, card_id, question=question, answer=answer, tags=tag, now=now_utc())
    if edited is None:
        make_console().print(f"No changes to {card_id}.", markup=False, highlight=False)
    else:
        make_console().print(f"Updated {card_id}; its schedule is unchanged.", markup=False, highlight=False)


# --------------------------------------------------------------------------- suspend / delete
@app.command()
def suspend(
    ctx: typer.Context,
    card_ids: IdsArgument,
) -> None:
    """Suspend cards: they stay in the store but leave the review.

    Example: llmcards suspend bn-vs-ln lora-principle
    """
    _set_suspended(ctx, card_ids, True)


@app.command()
def unsuspend(
    ctx: typer.Context,
    card_ids: IdsArgument,
) -> None:
    """Bring suspended cards back into the review.

    Example: llmcards unsuspend bn-vs-ln
    """
    _set_suspended(ctx, card_ids, False)


def _set_suspended(ctx: typer.Context, card_ids: list[str], suspended: bool) -> None:
    from llmcards.render import plural

    store = open_store(ctx)
    ids = store.cards.require_ids(card_ids)
    changed = store.cards.set_suspended(ids, suspended, now=now_utc())
    verb, already = ("Suspended", "already suspended") if suspended else ("Unsuspended", "were not suspended")
    note = f" ({len(ids) - changed} {already})" if changed < len(ids) else ""
    make_console().print(f"{verb} {plural(changed, 'card')}{note}.", markup=False, highlight=False)


@app.command()
def delete(
    ctx: typer.Context,
    card_ids: IdsArgument,
    yes: YesOption = False,
) -> None:
    """Delete cards and their review history (suspend keeps the history). The store is
    backed up first; `llmcards restore` brings them back.

    Example: llmcards delete my-card-1b4e2c --yes
    """
    store = open_store(ctx)
    ids = store.cards.require_ids(card_ids)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("refusing to delete without confirmation; add --yes")
        names = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        if not typer.confirm(f"Delete {names} and their review history?", default=False):
            make_console().print("Nothing deleted.")
            raise typer.Exit(1)
    from llmcards.cards import delete_cards
    from llmcards.render import plural

    deleted = delete_cards(store, ids, now=now_utc())
    make_console().print(f"Deleted {plural(deleted, 'card')}.")


