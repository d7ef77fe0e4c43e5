"""The command line: parse options, open the store, call one function, render its result.

Heavy libraries (SQLAlchemy, fsrs, rich.markdown, pylatexenc) are imported inside the
commands that need them, so ``llmcards --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

from llmcards.errors import DuplicateQuestionError, UnknownCardError, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from llmcards.models import Question
    from llmcards.store import Store

NOW_ENV = "LLMCARDS_NOW"


class _Group(TyperGroup):
    """Turns a UserError into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _fail(_with_hint(exc), exc.exit_code)
        except Exception as exc:
            sqlite3 = sys.modules.get("sqlite3")  # not imported for --help; only a store raises this
            if sqlite3 is not None and isinstance(exc, sqlite3.OperationalError):
                if "locked" in str(exc) or "busy" in str(exc):
                    _fail("the store is busy in another llmcards process; try again in a moment")
                _fail(f"store error: {exc}")
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


def _with_hint(exc: UserError) -> str:
    """The error's message, plus the command that helps, where there is one."""
    if isinstance(exc, UnknownCardError) and not exc.suggestions:
        return f"{exc.message}; see `llmcards list --search TEXT`"
    if isinstance(exc, DuplicateQuestionError):
        return f"{exc.message}; edit it with `llmcards edit {exc.card_id}`"
    return exc.message


def _fail(message: str, code: int = 1) -> NoReturn:
    err = _console(stderr=True)
    err.print(f"error: {message}", markup=False, highlight=False, style="red", soft_wrap=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    name="llmcards",
    help="Spaced-repetition flashcards for LLM / ML interviews, in the terminal.\n\n"
    "Example: llmcards review",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(
    cls=_Group,
    help="Show or change the review settings.\n\nExample: llmcards config set new_per_day 10",
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_app, name="config")


# Options shared by several commands.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TagsOption = Annotated[Optional[list[str]], typer.Option("-t", "--tag", metavar="TAG",
                                                         help="Only cards with this tag (repeatable: all must match).")]
TagOption = Annotated[Optional[str], typer.Option("-t", "--tag", metavar="TAG", help="Only cards with this tag.")]
IdsArgument = Annotated[list[str], typer.Argument(metavar="ID...", help="Card ids.")]
YesOption = Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")]


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, ensure_ascii=False, indent=2))


class _State:
    def __init__(self, db: Optional[Path]) -> None:
        self.db = db


def _console(stderr: bool = False) -> "Console":
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def now_utc() -> datetime:
    """The current time, or ``$LLMCARDS_NOW`` (ISO 8601) when set, for reproducible runs."""
    pinned = os.environ.get(NOW_ENV)
    if pinned:
        try:
            value = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(f"{NOW_ENV}={pinned!r} is not an ISO 8601 time like 2026-11-22T08:00:00Z") from None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def open_store(ctx: typer.Context, *, sync_bank: bool = True) -> "Store":
    """Open the store for this command; on first use (or a new bundled bank) sync the bank."""
    from llmcards.config import resolve_db_path
    from llmcards.store import Store
    from llmcards.sync import sync_bundled_if_changed

    state: _State = ctx.find_root().obj or _State(None)
    store = Store.open(resolve_db_path(state.db))
    ctx.call_on_close(store.close)
    if sync_bank:
        first = store.cards.count() == 0
        report = sync_bundled_if_changed(store, now=now_utc())
        if report is not None and (first or report.changed):
            from llmcards.render import sync_report_text

            message = sync_report_text(report, first_run=first)
            if first:
                message.append(f"\nYour store is {store.path}", style="dim")
            _console(stderr=True).print(message)
    return store


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"llmcards {version('llmcards')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="The review store (SQLite). Default: $LLMCARDS_DB, else the user data directory.",
                     metavar="PATH", show_default=False),
    ] = None,
) -> None:
    """Spaced-repetition flashcards for LLM / ML interviews, in the terminal.

    Example: llmcards review
    """
    ctx.obj = _State(db)


# --------------------------------------------------------------------------- review
@app.command()
def review(
    ctx: typer.Context,
    tag: TagsOption = None,
    limit: Annotated[Optional[int], typer.Option("-n", "--limit", metavar="N", help="At most N cards.", min=1)] = None,
    no_new: Annotated[bool, typer.Option("--no-new", help="No new cards, only due ones.")] = False,
    cram: Annotated[bool, typer.Option("--cram", help="Practise cards even if not due; the schedule is not changed.")] = False,
    include_unanswered: Annotated[bool, typer.Option("--include-unanswered", help="Also show cards with no answer yet.")] = False,
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
    console = _console()
    screen = ReviewScreen(session, console, now_utc,
                          edit=lambda card: edit_card(store, card.id, now=now_utc()))
    try:
        with terminal(console) as keyboard:
            screen.run(keyboard)
    except KeyboardInterrupt:
        pass
    console.print(summary_renderable(session.summary(now_utc()), now_utc()))


# --------------------------------------------------------------------------- import
@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Optional[Path], typer.Argument(help="A bank YAML file. Default: the bundled bank.",
                                                   show_default=False)] = None,
    json_out: JsonOption = False,
) -> None:
    """Sync a bank file into the store by id (the bundled bank when no FILE is given).

    New ids are added, edited text is updated without losing progress, and cards that
    left the file are retired (their history is kept).

    Example: llmcards import my-cards.yaml
    """
    from llmcards.sync import import_file

    store = open_store(ctx, sync_bank=file is not None)
    report = import_file(store, file, now=now_utc())
    if json_out:
        from llmcards.render import sync_report_json

        print_json(sync_report_json(report))
        return
    from llmcards.render import sync_report_text

    _console().print(sync_report_text(report))


# --------------------------------------------------------------------------- add
@app.command()
def add(
    ctx: typer.Context,
    question: Annotated[Optional[str], typer.Option("-q", "--question", metavar="TEXT", help="The question.")] = None,
    answer: Annotated[Optional[str], typer.Option("-a", "--answer", metavar="TEXT", help="The answer (Markdown, $LaTeX$ allowed).")] = None,
    answer_file: Annotated[Optional[Path], typer.Option("--answer-file", help="Read the answer from a file; - for stdin.",
                                                        metavar="FILE", allow_dash=True)] = None,
    tag: Annotated[Optional[list[str]], typer.Option("-t", "--tag", metavar="TAG", help="A tag (repeatable).")] = None,
    card_id: Annotated[Optional[str], typer.Option("--id", metavar="ID", help="Choose the id instead of generating one.")] = None,
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
            _console(stderr=True).print("Nothing added (empty question).")
            raise typer.Exit(1)
        question, answer, tags = drafted.question, drafted.answer, list(drafted.tags)
    card = add_card(store, question=question, answer=answer, tags=tags, card_id=card_id, now=now_utc())
    _console().print(f"Added {card.id}", markup=False, highlight=False)


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
    search: Annotated[Optional[str], typer.Option("-s", "--search", help="Text in the question, answer or id (any language).", metavar="TEXT")] = None,
    due: Annotated[bool, typer.Option("--due", help="Only cards due now.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Only cards never studied.")] = False,
    suspended: Annotated[bool, typer.Option("--suspended", help="Only suspended cards.")] = False,
    unanswered: Annotated[bool, typer.Option("--unanswered", help="Only cards with no answer yet.")] = False,
    retired: Annotated[bool, typer.Option("--retired", help="Show retired cards (gone from their bank file) instead.")] = False,
    limit: Annotated[Optional[int], typer.Option("-n", "--limit", metavar="N", help="At most N cards (0 = all). Default: 50 in the table, all with --json.", min=0)] = None,
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
    total = store.cards.count_matching(flt, now=now) if flt.limit is not None and len(found) >= flt.limit else len(found)
    from llmcards.render import cards_table

    _console().print(cards_table(found, now, total=total))


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
    _console().print(card_detail(card, history, now, r))


# --------------------------------------------------------------------------- edit
@app.command()
def edit(
    ctx: typer.Context,
    card_id: Annotated[str, typer.Argument(metavar="ID", help="The card's id.")],
    question: Annotated[Optional[str], typer.Option("-q", "--question", metavar="TEXT", help="New question text.")] = None,
    answer: Annotated[Optional[str], typer.Option("-a", "--answer", metavar="TEXT", help="New answer text.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("-t", "--tag", metavar="TAG", help="Replace the tags (repeatable).")] = None,
) -> None:
    """Edit a card's text in $EDITOR (as YAML), or with -q/-a/-t; its progress is kept.

    Example: llmcards edit lora-principle -t peft -t finetuning
    """
    store = open_store(ctx)
    from llmcards.cards import edit_card

    edited = edit_card(store, card_id, question=question, answer=answer, tags=tag, now=now_utc())
    if edited is None:
        _console().print(f"No changes to {card_id}.", markup=False, highlight=False)
    else:
        _console().print(f"Updated {card_id}; its schedule is unchanged.", markup=False, highlight=False)


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
    _console().print(f"{verb} {plural(changed, 'card')}{note}.", markup=False, highlight=False)


@app.command()
def delete(
    ctx: typer.Context,
    card_ids: IdsArgument,
    yes: YesOption = False,
) -> None:
    """Delete cards and their review history for good (suspend keeps the history).

    Example: llmcards delete my-card-1b4e2c --yes
    """
    store = open_store(ctx)
    ids = store.cards.require_ids(card_ids)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("refusing to delete without confirmation; add --yes")
        names = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        if not typer.confirm(f"Delete {names} and their review history?", default=False):
            _console().print("Nothing deleted.")
            raise typer.Exit(1)
    from llmcards.render import plural

    deleted = store.cards.delete(ids)
    _console().print(f"Deleted {plural(deleted, 'card')}.")


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

    _console().print(stats_renderable(result))


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
    console = _console()
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
    store.save_setting(key, text)
    _console().print(f"{key} = {text or '(none)'}", markup=False, highlight=False)


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
            store.reset_setting(key)
    for key in dict.fromkeys(keys):
        _console().print(f"{key} = {defaults[key] or '(none)'} (default)", markup=False, highlight=False)


def main() -> None:
    """The console-script entry point."""
    app(prog_name="llmcards")
