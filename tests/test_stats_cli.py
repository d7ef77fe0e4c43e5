"""``llmcards stats`` through the real command: text at a terminal's width, JSON, errors.

The time zone is UTC (the autouse fixture) and the clock NOW, through ``$LLMCARDS_NOW``.
"""

from __future__ import annotations

import json
import os

import pytest

from llmcards.stats import to_json
from llmcards.store import Store
from tests.helpers import NOW_ENV, Cli, fits, ok, stats_at, too_wide


@pytest.mark.parametrize("width", [80, 120])
def test_text_at_80_and_120_columns(cli: Cli, history: Store, width: int) -> None:
    out = ok(cli("stats", env={**NOW_ENV, "COLUMNS": str(width)})).stdout
    assert fits(out, width), too_wide(out, width)
    assert "study day 2026-03-02" in out and "4 days (longest 4 days)" in out and "leech" in out


def test_json_matches_compute_stats(cli: Cli, history: Store) -> None:
    data = json.loads(ok(cli("stats", "--json", "--days", "31", env=NOW_ENV)).stdout)
    assert data == json.loads(json.dumps(to_json(stats_at(history, days=31))))
    assert len(data["future_due"]["days"]) == 31 and data["future_due"]["total"] == 2


def test_tag_and_errors(cli: Cli, history: Store) -> None:
    data = json.loads(ok(cli("stats", "--tag", "peft", "--json", env=NOW_ENV)).stdout)
    assert data["tag"] == "peft" and [t["tag"] for t in data["tags"]] == ["peft"]
    text = ok(cli("stats", "--tag", "位置编码", env={**NOW_ENV, "COLUMNS": "80"})).stdout
    assert "tag 位置编码" in text and fits(text, 80)
    bad = cli("stats", "--tag", "nope", env=NOW_ENV)
    assert bad.exit_code == 1 and "no card has the tag 'nope'; tags: attention" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    zero = cli("stats", "--days", "0", env=NOW_ENV)
    assert zero.exit_code == 2


def test_on_a_fresh_store(cli: Cli) -> None:
    out = ok(cli("stats", env={**NOW_ENV, "COLUMNS": "80"})).stdout
    assert "No reviews yet" in out and fits(out, 80)
    assert os.environ.get("LLMCARDS_NOW") is None  # the clock was pinned for that run only
