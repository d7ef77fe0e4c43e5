"""``llmcards stats``' text: what the figures look like at a given terminal width."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcards.render_stats import hbar, heat_level, heat_ranges, stats_renderable
from llmcards.store import Store
from tests.helpers import fits, render, stats_at, too_wide


@pytest.mark.parametrize("width", [80, 120])
def test_text_fits_the_width(history: Store, width: int) -> None:
    text = render(stats_renderable(stats_at(history)), width)
    assert fits(text, width), too_wide(text, width)
    for expected in ("studied", "4 cards, 5 reviews in 0m 44s", "1 new", "1 Again", "100.0% (1 of 1)",
                     "4 days (longest 4 days)", "mature (≥21d)", "Due now: 1", "1 card in the next 30 days",
                     "Past year: 10 reviews on 6 days · busiest day 5", "last 365 days", "66.7% (3)",
                     "位置编码", "zh-long", "leech", "bn-vs-ln"):
        assert expected in text, expected
    assert "请详细解释" in text  # the wide question is cut to fit, not dropped
    assert ("a wider terminal shows the whole year" in text) == (width < 110)


def test_heatmap_shows_fewer_weeks_when_narrow(history: Store) -> None:
    stats = stats_at(history)
    for width, weeks in ((120, 53), (80, 38), (40, 18)):
        text = render(stats_renderable(stats), width)
        assert fits(text, width)
        mon = next(line for line in text.splitlines() if line.startswith("Mon "))
        assert len(mon.rstrip()) == 4 + 2 * weeks - 1, (width, mon)


def test_future_due_chart_groups_days_when_narrow(history: Store) -> None:
    text = render(stats_renderable(stats_at(history, days=365)), 80)
    assert fits(text, 80) and "each column is 5 days" in text


def test_bars_and_heat_levels() -> None:
    assert hbar(0, 10, 8) == "" and hbar(10, 10, 8) == "█" * 8 and hbar(5, 10, 4) == "██"
    assert hbar(1, 1000, 8) == "▏"  # a non-zero value stays visible
    assert [heat_level(n, 8) for n in (0, 1, 2, 3, 4, 8)] == [0, 1, 1, 2, 2, 4]
    assert heat_ranges(8) == [(0, 0, 0), (1, 1, 2), (2, 3, 4), (3, 5, 6), (4, 7, 8)]
    assert heat_ranges(2) == [(0, 0, 0), (2, 1, 1), (4, 2, 2)]  # levels with no count are left out
    assert all(heat_level(n, 2) in (2, 4) for n in (1, 2))


def test_an_empty_store_says_there_are_no_cards(tmp_path: Path) -> None:
    with Store.open(tmp_path / "empty.db") as empty:
        stats = stats_at(empty)
        for width in (80, 120):
            text = render(stats_renderable(stats), width)
            assert "No cards yet" in text and fits(text, width), text


def test_a_store_without_reviews_says_how_to_start(store: Store) -> None:
    stats = stats_at(store)
    for width in (80, 120):
        text = render(stats_renderable(stats), width)
        assert "No reviews yet" in text and "llmcards review" in text and fits(text, width), text
