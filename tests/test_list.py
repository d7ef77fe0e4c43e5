"""``llmcards list``: a table that reads well at 80, 100 and 120 columns, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len

from llmcards.render import share_widths, shorten
from tests.helpers import Cli, fits, ok, too_wide, write

LONG_ID = "rotary-position-embedding-and-why-it-extrapolates-to-longer-contexts-than-seen-in-training"
MOE_ID = "mixture-of-experts-routing-and-load-balancing-losses"
LONG_TAG = "positional-encoding-and-length-extrapolation"
ZH_TAG = "位置编码与长度外推"
ZH_MOE_TAG = "混合专家模型的路由机制与负载均衡"
BANK = f"""\
version: 1
cards:
  - id: {LONG_ID}
    question: 旋转位置编码（RoPE）的原理是什么？为什么它能外推到比训练时更长的上下文？
    tags: [{LONG_TAG}, {ZH_TAG}]
  - id: kv-cache-speedup
    question: What does the KV cache store, and why does it make decoding faster?
    tags: [inference]
  - id: {MOE_ID}
    question: MoE 的路由和负载均衡损失
    tags: [moe, {ZH_MOE_TAG}]
"""
# these cards, and the small bank's five (one tag each)
IDS = [LONG_ID, "kv-cache-speedup", MOE_ID, "lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal",
       "kv-cache"]
TAGS = [LONG_TAG, ZH_TAG, "inference", "moe", ZH_MOE_TAG, "peft", "normalization", "attention", "nlp-basics",
        "inference"]


def _cells(line: str, start: int, end: int | None = None) -> str:
    """The characters of ``line`` from terminal cell ``start`` to ``end`` (a Chinese character takes two)."""
    out, at = [], 0
    for char in line:
        if at >= start and (end is None or at < end):
            out.append(char)
        at += cell_len(char)
    return "".join(out).strip()


def _column(lines: list[str], header: str, name: str, following: str) -> list[str]:
    """The non-empty cells of column ``name`` (the header ends it where column ``following`` starts)."""
    return [cell for line in lines if (cell := _cells(line, header.index(name), header.index(following)))]


def _whole_or_shortened(cell: str, texts: list[str]) -> bool:
    """``cell`` is one of ``texts``, or the start of one cut with an ellipsis."""
    return cell in texts or (cell.endswith("…") and any(t.startswith(cell[:-1]) for t in texts))


@pytest.mark.parametrize("width", [80, 100, 120])
def test_ids_and_tags_are_shortened_never_wrapped(cli: Cli, tmp_path: Path, width: int) -> None:
    ok(cli("import", str(write(tmp_path / "long.yaml", BANK))))
    out = ok(cli("list", env={"COLUMNS": str(width)})).stdout
    assert fits(out, width), too_wide(out, width)
    header, *lines = out.splitlines()
    assert header.split() == ["id", "question", "tags", "state", "due"]
    rows = lines[:-1]  # the caption is last
    assert lines[-1].strip().startswith("8 cards")  # the small bank's five, and these three

    # one line each, whole or shortened with …: no id or tag goes on to a second line
    ids = _column(rows, header, "id", "question")
    assert len(ids) == len(IDS) and all(_whole_or_shortened(cell, IDS) for cell in ids), ids
    assert "kv-cache-speedup" in ids and LONG_ID not in ids  # LONG_ID never fits: it is cut
    tags = _column(rows, header, "tags", "state")
    assert len(tags) == len(TAGS) and all(_whole_or_shortened(cell, TAGS) for cell in tags), tags
    assert {"inference", "moe", ZH_TAG} <= set(tags)

    assert "旋转位置编码" in out and "What does the KV cache" in out  # the question wraps instead


def test_json_keeps_the_whole_text(cli: Cli, tmp_path: Path) -> None:
    ok(cli("import", str(write(tmp_path / "long.yaml", BANK))))
    cards = json.loads(ok(cli("list", "--json", "--search", "位置编码", env={"COLUMNS": "80"})).stdout)
    assert [(c["id"], c["tags"]) for c in cards] == [(LONG_ID, [LONG_TAG, ZH_TAG])]


def test_shorten_counts_terminal_cells() -> None:
    assert shorten("kv-cache", 8) == "kv-cache" and shorten("kv-cache", 7) == "kv-cac…"
    assert shorten("混合专家模型", 12) == "混合专家模型"
    assert shorten("混合专家模型", 6) == "混合…" and shorten("混合专家模型", 7) == "混合专…"  # never half a character


def test_the_widest_columns_give_way_first() -> None:
    assert share_widths([31, 19], 60) == [31, 19]  # room for both
    assert share_widths([31, 19], 43) == [24, 19]  # the id is cut; the tags keep their width
    assert share_widths([31, 19], 30) == [15, 15]
    assert share_widths([2, 4], 0) == [1, 1]  # never narrower than one cell
