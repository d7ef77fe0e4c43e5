"""``llmcards stats`` as Rich renderables: sections with bars, a future-due chart and a heatmap.

Everything is laid out for the width Rich offers when it renders (so 80 or 120 columns,
or whatever the terminal has). Hand-drawn charts use only single-cell characters; user
text (tags, questions, ids) goes through ``rich.text.Text`` or :func:`llmcards.text.plain`,
never through markup, and tables measure it with Rich's cell widths, so wide Chinese
characters take the two columns they need. Without colour the charts still read: bars
are block characters and heatmap levels are shades.
"""

from __future__ import annotations

from datetime import date, timedelta

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from llmcards.models import MATURE_DAYS
from llmcards.render import duration, plural
from llmcards.stats import HEATMAP_WEEKS, LEECH_LAPSES, Heatmap, Retention, Stats
from llmcards.text import plain

H_BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a cell, left to right
V_BLOCKS = " ▁▂▃▄▅▆▇█"  # eighths of a cell, bottom to top
HEAT_CHARS = ("·", "░", "▒", "▓", "█")
HEAT_STYLES = ("grey42", "#0e4429", "#006d32", "#26a641", "#39d353")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CHART_HEIGHT = 7
COUNT_STYLES = {
    "new": "cyan",
    "learning": "yellow",
    "young": "green",
    "mature": "bold green",
    "suspended": "magenta",
    "retired": "dim",
}


# ----------------------------------------------------------------------------- small pieces
def hbar(value: float, maximum: float, width: int) -> str:
    """A horizontal bar of ``width`` cells at most, in eighths; a non-zero value shows at least ▏."""
    if maximum <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(min(value, maximum) / maximum * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (H_BLOCKS[rest] if rest else "")


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def retention_text(r: Retention, *, passed: bool = False) -> Text:
    """'88.2% (434)': the rate and the number of reviews it is measured on."""
    if r.rate is None:
        return Text("—", style="dim")
    style = "green" if r.rate >= 0.85 else "yellow" if r.rate >= 0.7 else "red"
    out = Text()
    out.append(percent(r.rate), style=style)
    out.append(f" ({r.passed:,} of {r.reviews:,})" if passed else f" ({r.reviews:,})", style="dim")
    return out


def heat_level(n: int, busiest: int) -> int:
    """0 for no reviews, else 1-4: quarters of the busiest day (as on GitHub)."""
    if n <= 0 or busiest <= 0:
        return 0
    return min(4, -(-4 * n // busiest))


def heat_ranges(busiest: int) -> list[tuple[int, int, int]]:
    """(level, lowest, highest) review counts of each non-empty level."""
    out = [(0, 0, 0)]
    for level in range(1, 5):
        low, high = (level - 1) * busiest // 4 + 1, level * busiest // 4
        if busiest > 0 and low <= high:
            out.append((level, low, high))
    return out


def _section(title: str) -> Rule:
    return Rule(Text(title, style="bold"), align="left", style="dim")


# ----------------------------------------------------------------------------- charts
class DueChart:
    """A column chart of cards due per day; days are grouped when the width is too small."""

    def __init__(self, counts: list[int], first: date) -> None:
        self.counts = counts
        self.first = first

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        peak_label = f"{max(self.counts, default=0):,}"
        axis = len(peak_label) + 1
        room = max(1, width - axis)
        days = len(self.counts)
        group = 1 if days <= room else -(-days // room)
        values = [sum(self.counts[i:i + group]) for i in range(0, days, group)]
        cell = max(1, min(3, room // len(values)))
        bar = cell - 1 if cell >= 2 else 1
        peak = max(values, default=0)
        for row in range(CHART_HEIGHT):
            level = CHART_HEIGHT - 1 - row  # cells below this one
            line = Text()
            line.append((peak_label if row == 0 else "").rjust(axis - 1) + " ", style="dim")
            for value in values:
                eighths = 0 if value <= 0 else max(1, round(value / peak * CHART_HEIGHT * 8))
                filled = eighths - level * 8
                char = "█" if filled >= 8 else V_BLOCKS[filled] if filled > 0 else " "
                line.append(char * bar, style="cyan")
                line.append(" " * (cell - bar))
            yield line
        span = len(values) * cell
        yield Text(" " * (axis - 1) + "0" + "─" * span, style="dim")
        last = self.first + timedelta(days=days - 1)
        left, right = self.first.isoformat(), last.isoformat()
        labels = Text(" " * axis, style="dim")
        if span >= len(left) + len(right) + 1:
            labels.append(left + " " * (span - len(left) - len(right)) + right)
        else:
            labels.append(left[:span])
        yield labels
        if group > 1:
            yield Text(" " * axis + f"each column is {group} days", style="dim")


class HeatmapChart:
    """Reviews per study day as a calendar: weeks are columns, weekdays rows (Monday on top).

    It shows as many recent weeks as the width allows, up to the whole year.
    """

    def __init__(self, heatmap: Heatmap) -> None:
        self.heatmap = heatmap

    def weeks_for(self, width: int) -> int:
        return max(1, min(HEATMAP_WEEKS, (width - 4) // 2))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        hm = self.heatmap
        weeks = self.weeks_for(options.max_width)
        last_monday = hm.end - timedelta(days=hm.end.weekday())
        first_monday = last_monday - timedelta(weeks=weeks - 1)
        busiest = hm.busiest

        months = [" "] * (4 + 2 * weeks)
        taken_until = 0
        for col in range(weeks):
            monday = first_monday + timedelta(weeks=col)
            previous = monday - timedelta(weeks=1)
            if col > 0 and monday.month == previous.month:
                continue
            if col == 0:  # label the partial first month only if the next label leaves room
                next_change = next((c for c in range(1, weeks)
                                    if (first_monday + timedelta(weeks=c)).month != monday.month), weeks)
                if next_change < 2:
                    continue
            pos = 4 + 2 * col
            if pos < taken_until or pos + 3 > len(months):
                continue
            months[pos:pos + 3] = MONTHS[monday.month - 1]
            taken_until = pos + 4
        yield Text("".join(months).rstrip(), style="dim")

        for weekday in range(7):
            line = Text()
            line.append(f"{WEEKDAYS[weekday]} ", style="dim")
            for col in range(weeks):
                day = first_monday + timedelta(weeks=col, days=weekday)
                if day > hm.end or day < hm.start:
                    line.append("  ")
                    continue
                level = heat_level(hm.count(day), busiest)
                line.append(HEAT_CHARS[level], style=HEAT_STYLES[level])
                line.append(" ")
            line.rstrip()
            yield line

        legend = Text("    ")
        for level, low, high in heat_ranges(busiest):
            legend.append(HEAT_CHARS[level], style=HEAT_STYLES[level])
            legend.append(f" {low}" if low == high else f" {low}-{high}", style="dim")
            legend.append("  ")
        legend.rstrip()
        yield legend


# ----------------------------------------------------------------------------- sections
def _today(stats: Stats) -> RenderableType:
    t = stats.today
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    if t.reviews:
        line = Text(f"{plural(t.cards, 'card')}, {plural(t.reviews, 'review')} in {duration(t.time_ms)}")
        line.append(f" · {t.new:,} new · ")
        line.append(f"{t.again:,} Again", style="red" if t.again else "")
        grid.add_row("studied", line)
        grid.add_row("retention", retention_text(t.retention, passed=True))
    else:
        grid.add_row("studied", Text("nothing yet today", style="dim"))
    streak = Text()
    streak.append(plural(stats.streak.current, "day"), style="bold" if stats.streak.current else "dim")
    streak.append(f" (longest {plural(stats.streak.longest, 'day')})", style="dim")
    grid.add_row("streak", streak)
    return grid


class _CardCounts:
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        c = self.stats.cards
        rows = [("new", c.new), ("learning", c.learning), (f"young (<{MATURE_DAYS}d)", c.young),
                (f"mature (≥{MATURE_DAYS}d)", c.mature), ("suspended", c.suspended), ("retired", c.retired)]
        label_w = max(len(label) for label, _ in rows)
        count_w = max(len(f"{c.total:,}"), 5)
        bar_w = max(4, min(40, options.max_width - label_w - count_w - 12))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True, style="dim")
        grid.add_column(no_wrap=True)
        for (label, n), style in zip(rows, COUNT_STYLES.values(), strict=True):
            share = n / c.total if c.total else None
            grid.add_row(Text(label, style=style), f"{n:,}", percent(share, 0),
                         Text(hbar(n, c.total, bar_w), style=style))
        grid.add_row(Text("total", style="bold"), Text(f"{c.total:,}", style="bold"), "", "")
        yield grid
        note = Text(f"{plural(c.unanswered, 'card')} without an answer yet", style="dim")
        if c.unanswered:
            note.append(" (llmcards list --unanswered)", style="dim")
        yield note


def _future(stats: Stats) -> list[RenderableType]:
    f = stats.future
    out: list[RenderableType] = []
    if f.total:
        out.append(DueChart([d.cards for d in f.days], f.days[0].day))
    summary = Text(f"{plural(f.total, 'card')} in the next {plural(len(f.days), 'day')}")
    average = f"{f.daily_average:,.1f}" if f.daily_average >= 1 or not f.total else f"{f.daily_average:.2f}"
    summary.append(f" · {average} a day on average", style="dim")
    if len(f.days) > 1:
        summary.append(f" · tomorrow {f.days[1].cards:,}", style="dim")
    out.append(summary)
    overdue = Text("Due now: ")
    overdue.append(f"{f.overdue:,}", style="bold yellow" if f.overdue else "dim")
    overdue.append(" (llmcards review)" if f.overdue else " (nothing waiting)", style="dim")
    out.append(overdue)
    return out


class _Heatmap:
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        hm = self.stats.heatmap
        chart = HeatmapChart(hm)
        yield chart
        weeks = chart.weeks_for(options.max_width)
        yield Text(f"Past year: {plural(hm.total, 'review')} on {plural(hm.active_days, 'day')}"
                   f" · busiest day {hm.busiest:,}", style="dim")
        if weeks < HEATMAP_WEEKS:
            yield Text(f"The last {weeks} weeks are shown; a wider terminal shows the whole year.", style="dim")


def _retention(stats: Stats) -> list[RenderableType]:
    table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    table.add_column("", no_wrap=True)
    table.add_column(f"young (<{MATURE_DAYS}d)", no_wrap=True)
    table.add_column(f"mature (≥{MATURE_DAYS}d)", no_wrap=True)
    table.add_column("all", no_wrap=True)
    names = {"day": "today", "week": "last 7 days", "month": "last 30 days", "year": "last 365 days"}
    for span in stats.retention:
        table.add_row(names.get(span.name, span.name), retention_text(span.young), retention_text(span.mature),
                      retention_text(span.all))
    m = stats.memory
    memory = Text("FSRS: ")
    if m.average is None:
        memory.append("no studied card to predict yet", style="dim")
    else:
        memory.append(percent(m.average), style="bold")
        memory.append(f" average recall now over {plural(m.cards, 'studied card')}, about ")
        memory.append(f"{m.known:,.0f}", style="bold")
        memory.append(" known")
    note = Text("Share not graded Again, of reviews of review cards (how many); cram excluded.", style="dim")
    return [table, note, memory]


def _tags(stats: Stats) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 1))
    table.add_column("tag", overflow="ellipsis", no_wrap=True, max_width=32)
    for name in ("cards", "studied", "mature", "due"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("recall", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, width=10)
    for row in stats.tags:
        r = row.retrievability
        style = "dim" if r is None else "green" if r >= 0.9 else "yellow" if r >= 0.8 else "red"
        table.add_row(Text(plain(row.tag)), f"{row.cards:,}", f"{row.studied:,}", f"{row.mature:,}",
                      f"{row.due:,}", Text(percent(r), style=style),
                      Text(hbar(r or 0.0, 1.0, 10), style=style))
    return table


class _Hardest:
    """The hardest cards; the question gets whatever width the other columns leave."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cards = self.stats.hardest
        flags = [", ".join(f for f in ("leech" if c.leech else "", "suspended" if c.status == "suspended" else "") if f)
                 for c in cards]
        flag_w = max(cell_len(f) for f in flags)
        others = len("lapses") + len("reviews") + flag_w + (4 if flag_w else 3)  # one space between columns
        # ids in full (they are what `llmcards edit` needs) unless that leaves the question under 10 cells
        id_w = max(2, min(max(cell_len(c.id) for c in cards), options.max_width - others - 10))
        fixed = id_w + others
        table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 1), collapse_padding=True)
        table.add_column("id", no_wrap=True, overflow="ellipsis", width=id_w)
        table.add_column("lapses", justify="right", no_wrap=True)
        table.add_column("reviews", justify="right", no_wrap=True)
        table.add_column("question", no_wrap=True, overflow="ellipsis", width=max(8, options.max_width - fixed))
        if flag_w:
            table.add_column("", no_wrap=True, width=flag_w)
        for card, flag in zip(cards, flags, strict=True):
            row: list[RenderableType] = [Text(card.id), f"{card.lapses:,}", f"{card.reps:,}",
                                         Text(" ".join(plain(card.question).split()))]
            if flag_w:
                row.append(Text(flag, style="bold red" if card.leech else "magenta"))
            table.add_row(*row)
        yield table
        if any(c.leech for c in cards):
            yield Text(f"Leeches have {LEECH_LAPSES}+ lapses: rewrite them (llmcards edit ID) or suspend them.",
                       style="dim")


def _header(stats: Stats) -> Text:
    out = Text()
    out.append("llmcards stats", style="bold")
    out.append(f" · study day {stats.day.isoformat()}", style="dim")
    if stats.tag is not None:
        out.append(" · tag ", style="dim")
        out.append(plain(stats.tag), style="bold cyan")
    return out


def stats_renderable(stats: Stats) -> RenderableType:
    """The whole stats screen (or a friendly one for an empty store or one with no reviews)."""
    parts: list[RenderableType] = [_header(stats)]
    if not stats.has_cards:
        parts.append(Text(
            "No cards yet. Import a bank with `llmcards import FILE`, or add a card with `llmcards add`."
            if stats.tag is None else "No cards with this tag.",
            style="yellow"))
        return Group(*parts)
    if not stats.has_reviews:
        parts.append(Text("No reviews yet: start with `llmcards review`, and your progress will show here.",
                          style="yellow"))
        parts += [_section("Cards"), _CardCounts(stats)]
        if stats.tags:
            parts += [_section("By tag"), _tags(stats)]
        return Group(*parts)
    parts += [_section("Today"), _today(stats)]
    parts += [_section("Cards"), _CardCounts(stats)]
    parts += [_section(f"Due in the next {plural(len(stats.future.days), 'day')}"), *_future(stats)]
    parts += [_section("Reviews per day"), _Heatmap(stats)]
    parts += [_section("Retention"), *_retention(stats)]
    if stats.tags:
        parts += [_section("By tag (weakest first)"), _tags(stats)]
    if stats.hardest:
        parts += [_section("Hardest cards"), _Hardest(stats)]
    return Group(*parts)

