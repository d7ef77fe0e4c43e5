"""The interactive review screen: draw, read one key, call the session.

It never touches the store directly; every change goes through :class:`Session`, which
commits each grade before the next card is drawn.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.segment import Segment, SegmentLines
from rich.text import Text

from llmcards.models import Card, Grade
from llmcards.reading import SCREEN
from llmcards.render import CardView, format_interval
from llmcards.session import Session, Summary

GRADE_STYLES = {Grade.AGAIN: "bold red", Grade.HARD: "bold yellow", Grade.GOOD: "bold green", Grade.EASY: "bold cyan"}
HELP = """\
[bold]While the question is shown[/]
  space / enter   show the answer
[bold]After the answer is shown[/]
  1 2 3 4         grade: Again, Hard, Good, Easy
[bold]Any time[/]
  u               undo the last grade
  s               suspend this card
  b               bury this card until tomorrow
  e               edit this card in $EDITOR
  ↑ ↓ PgUp PgDn   scroll a long card (also j k)
  ?               this help
  q / Ctrl-C      quit (every grade is already saved)

[dim]Press any key to go back.[/]"""


class Keyboard:
    """Single key presses from a terminal in cbreak mode (Ctrl-C still interrupts)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.resized = False  # set by the SIGWINCH handler

    def read(self) -> str:
        """One key; ``"resize"`` when the terminal changed size while waiting. While it waits, the
        person is reading (:mod:`llmcards.reading`: the day's backup copies then)."""
        SCREEN.waiting(True)
        try:
            while not select.select([self.fd], [], [], 0.25)[0]:
                if self.resized:
                    self.resized = False
                    return "resize"
        finally:
            SCREEN.waiting(False)
        data = os.read(self.fd, 1)
        if not data:
            return "eof"
        if data == b"\x1b":
            seq = b""
            while select.select([self.fd], [], [], 0.03)[0]:
                seq += os.read(self.fd, 1)
                if seq[-1:].isalpha() or seq[-1:] == b"~":
                    break
            return {b"[A": "up", b"[B": "down", b"[5~": "pgup", b"[6~": "pgdn", b"OA": "up", b"OB": "down",
                    b"[H": "home", b"[F": "end"}.get(seq, "esc")
        if data[0] >= 0x80:  # the rest of a UTF-8 character
            while select.select([self.fd], [], [], 0.01)[0]:
                data += os.read(self.fd, 1)
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    continue
        return data.decode("utf-8", "replace")


@contextmanager
def terminal(console: Console) -> Iterator[Keyboard]:
    """cbreak input and the alternate screen; always restored, even on SIGTERM or SIGHUP."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)

    def _exit(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    keyboard = Keyboard(fd)

    def _resized(signum: int, frame: object) -> None:
        keyboard.resized = True

    old_handlers = {sig: signal.signal(sig, _exit) for sig in (signal.SIGTERM, signal.SIGHUP)}
    old_handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, _resized)
    tty.setcbreak(fd)
    console.set_alt_screen(True)
    console.show_cursor(False)
    try:
        yield keyboard
    finally:
        console.show_cursor(True)
        console.set_alt_screen(False)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)


@contextmanager
def suspended_terminal(console: Console, keyboard: Keyboard) -> Iterator[None]:
    """Give the terminal back (for $EDITOR), then take it again."""
    saved_attrs = termios.tcgetattr(keyboard.fd)
    console.show_cursor(True)
    console.set_alt_screen(False)
    termios.tcsetattr(keyboard.fd, termios.TCSADRAIN, _cooked(saved_attrs))
    try:
        yield
    finally:
        tty.setcbreak(keyboard.fd)
        console.set_alt_screen(True)
        console.show_cursor(False)


def _cooked(attrs: list[Any]) -> list[Any]:
    attrs = [list(a) if isinstance(a, list) else a for a in attrs]
    attrs[3] |= termios.ICANON | termios.ECHO
    return attrs


class ReviewScreen:
    """Draws one card at a time and turns keys into session calls."""

    def __init__(self, session: Session, console: Console, clock: Callable[[], datetime],
                 edit: Callable[[Card], object], first_read: Callable[[], object] | None = None) -> None:
        self.session = session
        self.console = console
        self.clock = clock
        self.edit = edit
        # Called once, when the first card is on the screen: work the first grade will need,
        # done while the person reads rather than between their key and the next card.
        self.first_read = first_read
        self.message: Text | None = None
        # Rendered card bodies: the card on screen (question, then answer) and the one expected next.
        self._body_cache: dict[tuple[str, bool, int, str], list[list[Segment]]] = {}
        self._preview_cache: tuple[str, dict[Grade, timedelta]] | None = None

    # ------------------------------------------------------------------ drawing
    def _header(self, card: Card) -> Text:
        now = self.clock()
        counts = self.session.counts(now)
        done = len(self.session.answers)
        head = Text()
        if self.session.options.cram:
            head.append(" CRAM ", style="bold black on magenta")
            head.append(f"  done {done} · left {counts.total}  ")
        else:
            head.append(f"done {done} · left {counts.total}  ", style="bold")
            head.append(f"new {counts.new}", style="cyan")
            head.append(" · ")
            head.append(f"learning {counts.learning}", style="yellow")
            head.append(" · ")
            head.append(f"review {counts.review}", style="green")
        if card.tags:
            head.append("   ")
            head.append(" ".join(f"#{t}" for t in card.tags), style="dim")
        return head

    def _body_lines(self, card: Card, revealed: bool, width: int) -> list[list[Segment]]:
        key = (card.id, revealed, width, card.answer or "")
        lines = self._body_cache.get(key)
        if lines is None:
            options = self.console.options.update(width=width)
            lines = self.console.render_lines(CardView(card, revealed=revealed), options, pad=False)
            while len(self._body_cache) >= 3:
                del self._body_cache[next(iter(self._body_cache))]  # the oldest
            self._body_cache[key] = lines
        return lines

    def _prepare_answer(self, card: Card) -> None:
        """Render the answer and work out the grade buttons' intervals while the question is read,
        so that the answer comes up at once (the first preview also loads fsrs)."""
        self._body_lines(card, True, self.console.size[0])
        self._intervals(card)

    def _prepare_next(self, card: Card) -> None:
        """Render the question that will most likely follow ``card`` while its answer is read, so
        that a grade brings it up without waiting for the formatting (see Session.upcoming)."""
        following = self.session.upcoming(card, self.clock())
        if following is not None:
            self._body_lines(following, False, self.console.size[0])

    def _footer(self, card: Card, revealed: bool, scroll: tuple[int, int, int] | None) -> Text:
        foot = Text()
        if self.message is not None:
            foot.append_text(self.message)
            foot.append("\n")
        if revealed:
            intervals = self._intervals(card)
            for i, grade in enumerate(Grade):
                if i:
                    foot.append(" · ", style="dim")
                foot.append(f"{int(grade)} ", style="bold")
                foot.append(grade.label, style=GRADE_STYLES[grade])
                foot.append(f" {format_interval(intervals[grade])}")
        else:
            foot.append("space", style="bold")
            foot.append(" show answer")
        foot.append("\nu undo · s suspend · b bury · e edit · ? help · q quit", style="dim")
        if scroll is not None:
            first, last, total = scroll
            foot.append(f"\n↑↓ PgUp PgDn scroll — lines {first}-{last} of {total}", style="dim")
        return foot

    def _intervals(self, card: Card) -> dict[Grade, timedelta]:
        """The grade buttons' intervals, computed once per card shown (not on every scroll)."""
        if self._preview_cache is None or self._preview_cache[0] != card.id:
            self._preview_cache = (card.id, self.session.preview(card, self.clock()))
        return self._preview_cache[1]

    def draw(self, card: Card, revealed: bool, offset: int) -> int:
        """Draw the screen; returns the offset actually used (clamped)."""
        try:  # the terminal's real size, even if $COLUMNS/$LINES say otherwise: it may have been resized
            self.console.size = os.get_terminal_size(self.console.file.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        width, height = self.console.size
        header = self._header(card)
        body = self._body_lines(card, revealed, width)
        head_lines = self.console.render_lines(header, self.console.options.update(width=width), pad=False)
        foot_probe = self._footer(card, revealed, (1, 1, 1))
        foot_height = len(self.console.render_lines(foot_probe, self.console.options.update(width=width), pad=False))
        room = max(3, height - len(head_lines) - foot_height - 1)
        scrollable = len(body) > room
        offset = max(0, min(offset, len(body) - room)) if scrollable else 0
        visible = body[offset: offset + room]
        footer = self._footer(card, revealed, (offset + 1, offset + len(visible), len(body)) if scrollable else None)
        self.console.clear()
        self.console.print(header)
        self.console.print(SegmentLines(visible, new_lines=True), end="")
        self.console.print(footer)
        return offset

    def show_help(self, keyboard: Keyboard) -> None:
        self.console.clear()
        self.console.print(Panel(Text.from_markup(HELP), title="keys", border_style="cyan"))
        keyboard.read()

    # ------------------------------------------------------------------ the loop
    def run(self, keyboard: Keyboard) -> None:
        """Show cards until the queue is empty or the person quits."""
        while True:
            card = self.session.next_card(self.clock())
            if card is None:
                return
            if not self._one_card(card, keyboard):
                return

    def _one_card(self, card: Card, keyboard: Keyboard) -> bool:
        """Show one card until it is graded (True) or the person quits (False)."""
        shown_at = time.monotonic()
        self._preview_cache = None
        revealed = False
        offset = 0
        answer_ready = prepared = False
        while True:
            offset = self.draw(card, revealed, offset)
            first_read, self.first_read = self.first_read, None
            if first_read is not None:
                first_read()
            if not revealed and not answer_ready:
                self._prepare_answer(card)
                answer_ready = True
            if revealed and not prepared:
                self._prepare_next(card)
                prepared = True
            key = keyboard.read()
            if key == "resize":
                continue  # redrawn at the new size
            self.message = None
            page = max(1, self.console.size[1] - 6)
            if key in ("q", "eof"):
                return False
            if key in ("up", "k"):
                offset -= 1
            elif key in ("down", "j"):
                offset += 1
            elif key == "pgup":
                offset -= page
            elif key == "pgdn":
                offset += page
            elif key == "?":
                self.show_help(keyboard)
            elif key in (" ", "\n", "\r") and not revealed:
                revealed = True
            elif key in ("1", "2", "3", "4") and revealed:
                grade = Grade(int(key))
                duration_ms = int((time.monotonic() - shown_at) * 1000)
                after = self.session.answer(card, grade, self.clock(), duration_ms)
                self.message = Text(f"{card.id}: {grade.label}, next in "
                                    f"{format_interval((after.due or self.clock()) - self.clock())}", style="dim")
                return True
            elif key in ("1", "2", "3", "4"):
                self.message = Text("Show the answer first (space), then grade it.", style="yellow")
            elif key == "u":
                if self.session.can_undo():
                    undone = self.session.undo(self.clock())
                    self.message = Text(f"Undid the grade of {undone.id if undone else ''}.", style="yellow")
                    return True
                self.message = Text("Nothing to undo.", style="yellow")
            elif key == "s":
                self.session.suspend(card, self.clock())
                self.message = Text(f"Suspended {card.id} (llmcards unsuspend {card.id}).", style="magenta")
                return True
            elif key == "b":
                self.session.bury(card, self.clock())
                self.message = Text(f"Buried {card.id} until tomorrow.", style="magenta")
                return True
            elif key == "e":
                with suspended_terminal(self.console, keyboard):
                    try:
                        self.edit(card)
                    except Exception as exc:  # a UserError from the editor round trip
                        self.message = Text(f"Not saved: {exc}", style="red")
                card = self.session.reload(card)
                self._body_cache.clear()


def summary_renderable(summary: Summary, now: datetime) -> RenderableType:
    """The closing screen: what was done and what comes next."""
    from llmcards.render import duration, local_time, plural

    out = Text()
    if summary.reviewed:
        out.append(f"Reviewed {plural(summary.reviewed, 'card')}", style="bold")
        out.append(f" in {duration(summary.time_ms)}" + (" (cram: schedules unchanged)" if summary.cram else "") + "\n")
        for i, grade in enumerate(Grade):
            if i:
                out.append(" · ", style="dim")
            out.append(f"{grade.label} {summary.grades[grade]}", style=GRADE_STYLES[grade])
        out.append("\n")
    else:
        out.append("No cards reviewed.\n", style="bold")
    if summary.learning_later:
        out.append(f"{summary.learning_later} card(s) still in learning come back later today.\n", style="yellow")
    out.append(f"Due by the end of tomorrow: {summary.due_tomorrow}\n")
    if summary.next_due is not None and summary.next_due > now:
        out.append(f"Next card due: {local_time(summary.next_due)}\n", style="dim")
    if summary.reviewed == 0 and not summary.cram:
        if summary.new_available:
            out.append(f"{summary.new_available} new cards wait; today's new-card limit is used up "
                       "(`llmcards config set new_per_day N`).\n", style="dim")
        out.append("Nothing more is due now. To practise anyway: llmcards review --cram [--tag TAG]", style="dim")
    return out
