#!/usr/bin/env python3
"""Every distinct formula in the question bank with its rendering: ``tests/data/formulas.tsv``.

``tests/test_formulas.py`` renders every formula in that file and compares. After changing
the converter (``src/llmcards/formula.py``) or the bank, regenerate the file and read every
changed line as a learner would before committing it:

    python tools/formula_snapshot.py            # show the lines that differ, exit 1 if any
    python tools/formula_snapshot.py --update   # rewrite tests/data/formulas.tsv

The file is UTF-8, one formula a line, three tab-separated columns: ``$`` (inline) or ``$$``
(display), the LaTeX as written in the bank (trimmed), and what ``llmcards`` shows. A line
break inside a formula or a rendering is written ``⏎`` (U+23CE); the bank uses neither ``⏎``
nor tabs inside formulas. Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
BANK = REPO_ROOT / "data" / "questions.yaml"
SNAPSHOT = REPO_ROOT / "tests" / "data" / "formulas.tsv"
NEWLINE = "\u23ce"
HEADER = """\
# Every distinct formula in data/questions.yaml and how llmcards shows it; checked by tests/test_formulas.py.
# Regenerate with `python tools/formula_snapshot.py --update`, then read every changed line before committing.
# Columns (tab-separated): $ inline or $$ display, the LaTeX as written, the rendering. ⏎ marks a line break.
"""

try:
    from llmcards.text import formulas, latex_to_unicode
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from llmcards.text import formulas, latex_to_unicode


def bank_formulas(bank: Path = BANK) -> list[tuple[str, str]]:
    """``(kind, latex)`` for every distinct formula in the bank's questions and answers, in bank order."""
    data = yaml.safe_load(bank.read_text(encoding="utf-8"))
    seen: dict[tuple[str, str], None] = {}
    for card in data["cards"]:
        for field in ("question", "answer"):
            for latex, display in formulas(card.get(field) or ""):
                seen.setdefault(("$$" if display else "$", latex), None)
    return list(seen)


def render(kind: str, latex: str) -> str:
    return latex_to_unicode(latex, display=kind == "$$")


def encode(text: str) -> str:
    if "\t" in text or NEWLINE in text:
        raise ValueError(f"cannot store {text!r}: it holds a tab or {NEWLINE}")
    return text.replace("\n", NEWLINE)


def decode(text: str) -> str:
    return text.replace(NEWLINE, "\n")


def snapshot_text(rows: list[tuple[str, str]]) -> str:
    return HEADER + "".join(f"{kind}\t{encode(latex)}\t{encode(render(kind, latex))}\n" for kind, latex in rows)


def read_snapshot(path: Path = SNAPSHOT) -> list[tuple[str, str, str]]:
    """``(kind, latex, rendering)`` for every line of the snapshot file."""
    rows: list[tuple[str, str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in ("$", "$$"):
            raise ValueError(f"{path}:{number}: expected '$ or $$<TAB>latex<TAB>rendering', got {line!r}")
        rows.append((parts[0], decode(parts[1]), decode(parts[2])))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help=f"rewrite {SNAPSHOT.relative_to(REPO_ROOT)}")
    args = parser.parse_args(argv)
    text = snapshot_text(bank_formulas())
    if args.update:
        SNAPSHOT.write_text(text, encoding="utf-8")
        print(f"wrote {SNAPSHOT.relative_to(REPO_ROOT)}")
        return 0
    old = set(SNAPSHOT.read_text(encoding="utf-8").splitlines()) if SNAPSHOT.exists() else set()
    changed = [line for line in text.splitlines() if line not in old]
    for line in changed:
        print(line)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
