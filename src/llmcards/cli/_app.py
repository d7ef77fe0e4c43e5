"""The Typer app, its error handling, the options and helpers every command shares.

Heavy libraries (SQLAlchemy, fsrs, rich.markdown, pylatexenc) are imported inside the
commands that need them, so ``llmcards --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from llmcards.errors import DuplicateQuestionError, UnknownCardError, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from llmcards.store import Store

NOW_ENV = "LLMCARDS_NOW"


class CommandGroup(TyperGroup):
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
    err = make_console(stderr=True)
    err.print(f"error: {message}", markup=False, highlight=False, style="red", soft_wrap=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=CommandGroup,
    name="llmcards",
    help="Spaced-repetition flashcards for LLM / ML interviews, in the terminal.\n\n"
    "Example: llmcards review",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Options shared by several commands.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TagsOption = Annotated[list[str] | None, typer.Option("-t", "--tag", metavar="TAG",
                                                         help="Only cards with this tag (repeatable: all must match).")]
TagOption = Annotated[str | None, typer.Option("-t", "--tag", metavar="TAG", help="Only cards with this tag.")]
IdsArgument = Annotated[list[str], typer.Argument(metavar="ID...", help="Card ids.")]
YesOption = Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")]


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, ensure_ascii=False, indent=2))


class _State:
    def __init__(self, db: Path | None) -> None:
        self.db = db


def make_console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


class ProgressBar:
    """A progress bar on stderr, only on a terminal, and only once the work has taken ``delay`` seconds.

    It is redrawn when the work reports progress: the Rust code of fsrs-rs holds the GIL, so
    no thread could redraw it in between.
    """

    def __init__(self, label: str, *, delay: float = 1.0, console: Console | None = None) -> None:
        self.label = label
        self.delay = delay
        self.started = time.perf_counter()
        self.console = console or make_console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, fraction: float) -> None:
        if not self.console.is_terminal:
            return
        if self._progress is None:
            if time.perf_counter() - self.started < self.delay:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                      TimeElapsedColumn(), console=self.console, transient=True, auto_refresh=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=1.0)
        self._progress.update(self._task, completed=fraction)
        self._progress.refresh()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def store_path(ctx: typer.Context) -> Path:
    """The store this command uses (``--db``, ``$LLMCARDS_DB`` or the default); it may not exist yet."""
    from llmcards.config import resolve_db_path

    state: _State = ctx.find_root().obj or _State(None)
    return resolve_db_path(state.db)


def open_store(ctx: typer.Context, *, sync_bank: bool = True) -> Store:
    """Open the store for this command; on first use (or a new bundled bank) sync the bank."""
    from llmcards.store import Store

    store = Store.open(store_path(ctx))
    ctx.call_on_close(store.close)
    ctx.call_on_close(_finish_backups)  # runs before store.close (last in, first out)
    if store.migration_backup is not None:
        from llmcards.backup import rotate

        rotate(store.path, store.settings(), now=now_utc(), keep=(store.migration_backup,))
    _arm_daily_backup(store)
    if sync_bank:
        sync_bundled_bank(store)
    return store


def _arm_daily_backup(store: Store) -> None:
    """The day's backup, at the store's first write (see :mod:`llmcards.backup`, loaded only then).

    A store created by this command has nothing to lose yet, so it gets none.
    """
    if store.created:
        return

    def first_write() -> None:
        from llmcards.backup import take_daily_backup

        take_daily_backup(store, now_utc())

    store.before_first_write = first_write


def _finish_backups() -> None:
    """Wait for the day's backup to be on disk before the process exits; warn if it failed."""
    backup = sys.modules.get("llmcards.backup")
    if backup is None:  # nothing was written, so no backup was started
        return
    wait_for_backups = backup.wait_for_backups

    def slow() -> None:
        make_console(stderr=True).print("Finishing today's backup...", style="dim", highlight=False)

    for problem in wait_for_backups(on_slow=slow):
        make_console(stderr=True).print(f"warning: {problem}", style="yellow", markup=False, highlight=False)


def sync_bundled_bank(store: Store) -> None:
    """Sync the bundled bank on first use or when it changed, and say so on stderr."""
    from llmcards.sync import sync_bundled_if_changed

    first = store.cards.empty()
    report = sync_bundled_if_changed(store, now=now_utc())
    if report is not None and (first or report.changed):
        from llmcards.render import sync_report_text

        message = sync_report_text(report, first_run=first)
        if first:
            message.append(f"\nYour store is {store.path}", style="dim")
        make_console(stderr=True).print(message)


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
        Path | None,
        typer.Option("--db", help="The review store (SQLite). Default: $LLMCARDS_DB, else the user data directory.",
                     metavar="PATH", show_default=False),
    ] = None,
) -> None:
    """Spaced-repetition flashcards for LLM / ML interviews, in the terminal.

    Example: llmcards review
    """
    ctx.obj = _State(db)
