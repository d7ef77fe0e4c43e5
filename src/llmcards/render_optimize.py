"""``llmcards optimize`` as Rich renderables: the fit and its scores, retention advice, and what
a reschedule moved (a small before/after chart of cards due per day).

Charts use single-cell block characters, so they read without colour, as in render_stats.py.
"""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from llmcards.optimize import Fit, RescheduleReport, RetentionAdvice
from llmcards.render import plural
from llmcards.render_stats import V_BLOCKS


def _parameters(values: tuple[float, ...]) -> str:
    return " ".join(f"{v:.4f}".rstrip("0").rstrip(".") for v in values)


def excluded_text(fit: Fit) -> Text:
    e = fit.excluded
    parts = [(e.cram, "cram"), (e.retired, "of retired cards"), (e.future, "in the future"),
             (e.bad_rating, "with a rating outside 1-4"), (e.negative_duration, "with a negative duration"),
             (e.unreadable_time, "with an unreadable time")]
    shown = [f"{n:,} {why}" for n, why in parts if n]
    if not shown:
        return Text("No review was left out.", style="dim")
    return Text(f"Left out: {plural(e.total, 'review')} ({', '.join(shown)}).", style="dim")


def fit_renderable(fit: Fit) -> RenderableType:
    """The fit: what it learned from, both scores on held-out reviews, both parameter sets."""
    head = Text()
    head.append("Fitted to ", style="bold")
    head.append(f"{plural(fit.reviews, 'review')} of {plural(fit.cards, 'card')}", style="bold")
    head.append(f" ({fit.predicted:,} of them on a later day than the card's previous review, "
                "which the model learns to predict).")
    table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    table.add_column("parameters", no_wrap=True)
    table.add_column("log loss", justify="right", no_wrap=True)
    table.add_column("RMSE (bins)", justify="right", no_wrap=True)
    best = "fitted" if fit.better else "current"
    for name, score in (("current", fit.current_score), ("fitted", fit.fitted_score)):
        style = "bold green" if name == best else ""
        table.add_row(Text(name, style=style), Text(f"{score.log_loss:.4f}", style=style),
                      Text(f"{score.rmse_bins * 100:.2f}%", style=style))
    sample = f" of a sample of {plural(fit.evaluated_cards, 'card')}" if fit.evaluated_cards < fit.cards else ""
    scored = Text(f"Scored on {plural(fit.held_out, 'later review')}{sample} that each fitted model had not seen "
                  "(time-series splits); lower is better.", style="dim")
    params = Table.grid(padding=(0, 2))
    params.add_column(style="dim", no_wrap=True)
    params.add_column()
    params.add_row("current", Text(_parameters(fit.current)))
    params.add_row("fitted", Text(_parameters(fit.parameters)))
    if fit.kept_defaults:
        verdict = Text("fsrs-rs kept its default parameters: too few of your reviews were left after it set "
                       "outliers aside. Nothing to save; try again after more reviews.", style="yellow")
    elif fit.better:
        verdict = Text("The fitted parameters predict your later reviews better than the current ones.",
                       style="green")
    else:
        verdict = Text("The fitted parameters do not predict your later reviews better than the current ones, "
                       "so the current ones stay.", style="yellow")
    return Group(head, excluded_text(fit), Text(""), table, scored, Text(""), params, Text(""), verdict)


def retention_renderable(advice: RetentionAdvice) -> RenderableType:
    """A simulated year at each retention, the suggestion marked."""
    head = Text()
    head.append("Desired retention", style="bold")
    head.append(f" · a simulated year of {plural(advice.deck, 'card')}, {advice.new_per_day:,} new a day, "
                "graded as you grade", style="dim")
    table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    table.add_column("retention", no_wrap=True)
    table.add_column("reviews/day", justify="right", no_wrap=True)
    table.add_column("minutes/day", justify="right", no_wrap=True)
    table.add_column("remembered after a year", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for o in advice.options:
        notes = []
        if o.retention == advice.suggested:
            notes.append("suggested")
        if o.retention == round(advice.current, 2):
            notes.append("current")
        style = "bold green" if o.retention == advice.suggested else ""
        table.add_row(Text(f"{o.retention:.2f}", style=style), f"{o.reviews_per_day:,.1f}",
                      f"{o.minutes_per_day:,.1f}", f"{o.retained:,.0f} cards", Text(", ".join(notes), style=style))
    note = Text(f"Suggested: {advice.suggested:.2f}, the least study time per card remembered (fsrs-rs's "
                "simulator). Higher retention costs more reviews for a little more knowledge.", style="dim")
    return Group(head, table, note)


class DueComparison:
    """Cards due per day before and after, one line each on a shared scale."""

    def __init__(self, report: RescheduleReport) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        r = self.report
        peak = max((*r.before, *r.after), default=0)
        label_w = len("before")
        for name, counts, per_day in (("before", r.before, r.before_per_day), ("after", r.after, r.after_per_day)):
            line = Text(name.ljust(label_w) + " ", style="dim")
            for n in counts:
                eighths = 0 if n <= 0 or peak <= 0 else max(1, round(n / peak * 8))
                line.append(V_BLOCKS[eighths] if eighths else "·", style="cyan" if eighths else "dim")
            line.append(f"  {per_day:,.1f} a day", style="bold" if name == "after" else "")
            yield line
        last = r.first_day + timedelta(days=len(r.before) - 1)
        span = len(r.before)
        left, right = r.first_day.isoformat(), last.isoformat()
        axis = left + " " * max(1, span - len(left) - len(right)) + right if span >= len(left) + len(right) + 1 \
            else left
        yield Text(" " * (label_w + 1) + axis, style="dim")
        yield Text(" " * (label_w + 1) + f"busiest day {peak:,}; today includes the backlog", style="dim")


def reschedule_renderable(report: RescheduleReport) -> RenderableType:
    head = Text()
    head.append("Would reschedule " if report.dry_run else "Rescheduled ", style="bold")
    head.append(f"{plural(report.cards, 'card')} from {plural(report.reviews, 'review')}", style="bold")
    head.append(f": {report.earlier:,} due earlier, {report.later:,} later.")
    title = Text(f"Cards due per day, the next {plural(len(report.before), 'day')}:")
    return Group(head, title, DueComparison(report))
