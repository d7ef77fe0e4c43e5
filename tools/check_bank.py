#!/usr/bin/env python3
"""Check that every question in the study notes has a card in the question bank.

The notes (``../shared/seeds/*.txt``, Markdown, mostly Chinese) are the source of truth for
``data/questions.yaml``. Their formats differ, so questions are found with heuristics:

* bold numbered items: ``**1、…**``;
* ``#``/``##``/``###`` headings phrased as a question or request (介绍一下…, …是什么, …的区别, …?);
  numbered headings count when most numbered headings of that level in the note are phrased
  as questions (then a topic-style one like ``# 45. 模型量化相关`` counts too), and unnumbered
  headings of a level count when nearly all of that level's headings are questions;
  numbered topic headings (``# 1. 语义表达``) and answer sub-headings (``### 1.MHA``) do not;
* a heading question split over two headings (``## …有哪`` / ``## 些?``) is joined;
* ``> `` quoted lines;
* outside an answer, numbered list items and plain lines phrased as questions (the
  ``面试题`` and ``精选面试50题`` lists).

A question is covered by a card whose ``sources`` name the note with a matching key (the
number, the question text, or ``<section>/<number-or-text>``), or by a card whose question
text is the same after normalisation. A key used by two different questions of one note
(003 has two ``# 09.``) only counts together with a matching question text.

Usage: ``python tools/check_bank.py [--bank data/questions.yaml] [--seeds ../shared/seeds]``.
Exits 1 when a question has no card. Needs only the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BANK = REPO_ROOT / "data" / "questions.yaml"
DEFAULT_SEEDS = REPO_ROOT.parent / "shared" / "seeds"
SEEDS_ENV = "LLMCARDS_SEEDS"

# Words that make a heading or a line read as a question or a request.
QUESTION_MARKERS: tuple[str, ...] = (
    "?", "吗", "么", "什么", "如何", "怎么", "怎样", "为什么", "为何", "哪些", "哪个", "哪几",
    "哪种", "区别", "异同", "差异", "对比", "优缺点", "优点", "缺点", "好处", "作用", "原理",
    "介绍", "简介", "简述", "讲一下", "讲讲", "说说", "说一下", "谈谈", "解释", "是否",
    "有没有", "能否", "举例",
)
# Share of a heading level's numbered headings that must be questions for all of them to count.
NUMBERED_LEVEL_SHARE = 0.5
# Share (and minimum count) of a level's unnumbered headings for all of them to count.
UNNUMBERED_LEVEL_SHARE = 0.8
UNNUMBERED_LEVEL_MIN = 5
# A heading this short that ends a question started on the previous heading is joined to it.
SPLIT_TAIL_MAX = 4

BOLD_NUMBERED = re.compile(r"^\*\*\s*(\d+)\s*[、.．]\s*(.+?)\s*\*\*\s*$")
HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*$")
NUMBER_PREFIX = re.compile(r"^(\d{1,3})(?:\s*[.、．]\s*|\s+)(\S.*)$")
QUOTE = re.compile(r"^>\s*(.*?)\s*$")
LIST_ITEM = re.compile(r"^(\d{1,3})\s*[.、．)]\s*(\S.*?)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
TERMINAL = tuple("?？。!！:：)）")


@dataclass(frozen=True)
class NoteQuestion:
    """One question found in a note."""

    note: str  # the note's file name
    line: int  # 1-based line where the question starts
    text: str  # the question, Markdown markers and numbering removed
    number: str | None  # the note's number for the question, as written
    section: str | None  # the enclosing (topic) heading, if any

    def keys(self) -> list[str]:
        """Source keys that name this question, most specific first."""
        bases = [self.number] if self.number is not None else []
        bases.append(self.text)
        keys: list[str] = []
        for base in bases:
            if self.section:
                keys.append(f"{self.section}/{base}")
                match = NUMBER_PREFIX.match(self.section)
                if match:
                    keys.append(f"{match.group(2)}/{base}")
            keys.append(base)
        return keys


@dataclass(frozen=True)
class Card:
    """The parts of a bank card the check needs."""

    id: str
    question: str
    sources: tuple[tuple[str, str], ...]  # (note file name, key)


@dataclass(frozen=True)
class NoteReport:
    """Questions found in one note and which of them have no card."""

    note: str
    questions: tuple[NoteQuestion, ...]
    missing: tuple[NoteQuestion, ...]


def normalize(text: str) -> str:
    """Compare texts ignoring width, case, spaces, punctuation and Markdown markers."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def is_question_like(text: str) -> bool:
    """Whether a line reads as a question or a request (not a label like ``缓解方法``)."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return False
    if text.endswith(":") and "?" not in text:
        return False  # an answer label such as "复读机出现的原因："
    return any(marker in text for marker in QUESTION_MARKERS)


def clean(text: str) -> str:
    """Remove Markdown emphasis markers and surrounding spaces."""
    return re.sub(r"\*\*|__", "", text).strip()


@dataclass
class _Line:
    number: int  # 1-based
    kind: str  # "heading", "bold", "quote", "item", "plain", "blank", "code", "html"
    text: str
    level: int = 0  # heading level
    num: str | None = None  # heading / bold / list number


def _classify(lines: Sequence[str]) -> list[_Line]:
    out: list[_Line] = []
    in_fence = False
    for index, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if FENCE.match(line):
            in_fence = not in_fence
            out.append(_Line(index, "code", line))
            continue
        if in_fence:
            out.append(_Line(index, "code", line))
            continue
        if not line.strip():
            out.append(_Line(index, "blank", ""))
            continue
        if match := BOLD_NUMBERED.match(line):
            out.append(_Line(index, "bold", clean(match.group(2)), num=match.group(1)))
        elif (match := HEADING.match(line)) is not None:
            text = clean(match.group(2))
            number_match = NUMBER_PREFIX.match(text)
            num = number_match.group(1) if number_match else None
            out.append(_Line(index, "heading", text, level=len(match.group(1)), num=num))
        elif match := QUOTE.match(line):
            out.append(_Line(index, "quote", clean(match.group(1))))
        elif line.lstrip().startswith("<"):
            out.append(_Line(index, "html", line))
        elif match := LIST_ITEM.match(line):  # unindented only: indented items belong to answers
            out.append(_Line(index, "item", clean(match.group(2)), num=match.group(1)))
        else:
            out.append(_Line(index, "plain", clean(line)))
    return out


def _question_levels(entries: Sequence[_Line]) -> tuple[set[int], set[int]]:
    """Heading levels whose numbered / unnumbered headings are all questions in this note."""
    numbered: dict[int, list[bool]] = {}
    unnumbered: dict[int, list[bool]] = {}
    for entry in entries:
        if entry.kind != "heading" or entry.level > 3 or not entry.text:
            continue
        if entry.num is not None:
            body = NUMBER_PREFIX.match(entry.text)
            numbered.setdefault(entry.level, []).append(is_question_like(body.group(2) if body else entry.text))
        else:
            unnumbered.setdefault(entry.level, []).append(is_question_like(entry.text))
    numbered_levels = {lv for lv, flags in numbered.items() if sum(flags) / len(flags) >= NUMBERED_LEVEL_SHARE}
    unnumbered_levels = {
        lv
        for lv, flags in unnumbered.items()
        if len(flags) >= UNNUMBERED_LEVEL_MIN and sum(flags) / len(flags) >= UNNUMBERED_LEVEL_SHARE
    }
    return numbered_levels, unnumbered_levels


def detect_questions(path: Path) -> list[NoteQuestion]:
    """All questions in one note, in note order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    entries = _classify(lines)
    numbered_levels, unnumbered_levels = _question_levels(entries)
    note = path.name
    found: list[NoteQuestion] = []

    headings: dict[int, str] = {}  # current heading text per level
    answer_level: int | None = None  # heading level of the question whose answer we are in
    in_answer = False  # inside the answer of a question (any kind)
    plain_block: list[_Line] = []  # consecutive list items outside answers
    skip: set[int] = set()

    def section_above(level: int) -> str | None:
        above = [headings[lv] for lv in sorted(headings) if lv < level]
        return above[-1] if above else None

    def flush_items() -> None:
        if not plain_block:
            return
        if sum(is_question_like(e.text) for e in plain_block) * 2 >= len(plain_block):
            for e in plain_block:
                found.append(NoteQuestion(note, e.number, e.text, e.num, section_above(99)))
        plain_block.clear()

    for pos, entry in enumerate(entries):
        if entry.number in skip:
            continue
        if entry.kind != "item":
            flush_items()
        if entry.kind == "bold":
            found.append(NoteQuestion(note, entry.number, entry.text, entry.num, section_above(99)))
            in_answer, answer_level = True, 99
        elif entry.kind == "heading":
            level = entry.level
            if answer_level is not None and level <= answer_level:
                in_answer, answer_level = False, None
            for lv in [lv for lv in headings if lv >= level]:
                del headings[lv]
            text = entry.text
            if entry.num is not None:
                body = NUMBER_PREFIX.match(text)
                assert body is not None
                is_question = level in numbered_levels and level <= 3
                question_text = body.group(2).strip()
            else:
                is_question = level <= 3 and (level in unnumbered_levels or is_question_like(text))
                question_text = text
                # A question broken over two headings: "## …有哪" + "## 些?"
                nxt = entries[pos + 1] if pos + 1 < len(entries) else None
                if (
                    nxt is not None
                    and nxt.kind == "heading"
                    and nxt.level == level
                    and not text.endswith(TERMINAL)
                    and len(nxt.text) <= SPLIT_TAIL_MAX
                ):
                    question_text = text + nxt.text
                    is_question = level <= 3 and is_question_like(question_text)
                    skip.add(nxt.number)
            if is_question and question_text:
                found.append(NoteQuestion(note, entry.number, question_text, entry.num, section_above(level)))
                in_answer, answer_level = True, level
            headings[level] = question_text if is_question else text
        elif entry.kind == "quote":
            if entry.text:
                found.append(NoteQuestion(note, entry.number, entry.text, None, section_above(99)))
                in_answer, answer_level = True, 99
        elif entry.kind == "item" and not in_answer:
            plain_block.append(entry)
        elif entry.kind == "plain" and not in_answer and is_question_like(entry.text):
            found.append(NoteQuestion(note, entry.number, entry.text, None, section_above(99)))
    flush_items()
    return found


def load_cards(bank_path: Path) -> list[Card]:
    """The bank's cards (PyYAML safe loader; no validation beyond what the check needs)."""
    doc: Any = yaml.safe_load(bank_path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("cards"), list):
        raise ValueError(f"{bank_path}: expected a mapping with a 'cards' list")
    cards: list[Card] = []
    for raw in doc["cards"]:
        if not isinstance(raw, dict):
            continue
        sources: list[tuple[str, str]] = []
        for source in raw.get("sources") or []:
            name, sep, key = str(source).partition("#")
            if sep:
                sources.append((name.strip(), key.strip()))
        cards.append(Card(str(raw.get("id", "")), str(raw.get("question") or ""), tuple(sources)))
    return cards


def _same_text(a: str, b: str) -> bool:
    na, nb = normalize(a), normalize(b)
    return bool(na) and bool(nb) and (na == nb or (min(len(na), len(nb)) >= 6 and (na in nb or nb in na)))


def check_note(note: Path, cards: Iterable[Card]) -> NoteReport:
    """Find the note's questions and those without a card."""
    questions = detect_questions(note)
    cards = list(cards)
    key_use = Counter(normalize(k) for q in questions for k in set(q.keys()))
    keyed: dict[str, list[Card]] = {}
    for card in cards:
        for name, key in card.sources:
            if name == note.name:
                keyed.setdefault(normalize(key), []).append(card)
    by_text: dict[str, list[Card]] = {}
    for card in cards:
        by_text.setdefault(normalize(card.question), []).append(card)

    missing: list[NoteQuestion] = []
    for question in questions:
        covered = False
        for key in question.keys():
            nkey = normalize(key)
            for card in keyed.get(nkey, []):
                if key_use[nkey] == 1 or _same_text(card.question, question.text):
                    covered = True
        if not covered and by_text.get(normalize(question.text)):
            covered = True
        if not covered:
            missing.append(question)
    return NoteReport(note.name, tuple(questions), tuple(missing))


def note_files(seeds_dir: Path) -> list[Path]:
    """The notes: every ``*.txt`` file in the seeds directory, sorted by name."""
    return sorted(p for p in seeds_dir.glob("*.txt") if p.is_file())


def check(bank_path: Path, seeds_dir: Path) -> list[NoteReport]:
    """One report per note."""
    cards = load_cards(bank_path)
    return [check_note(note, cards) for note in note_files(seeds_dir)]


def missing_questions(bank_path: Path, seeds_dir: Path) -> list[str]:
    """Every question in the notes that has no card, as ``"file:line: question text"``."""
    return [f"{q.note}:{q.line}: {q.text}" for report in check(bank_path, seeds_dir) for q in report.missing]


def unmatched_sources(bank_path: Path, seeds_dir: Path) -> list[str]:
    """Card sources that name a note but none of the questions found in it (for information)."""
    cards = load_cards(bank_path)
    notes = {p.name: p for p in note_files(seeds_dir)}
    keys: dict[str, set[str]] = {
        name: {normalize(k) for q in detect_questions(path) for k in q.keys()} for name, path in notes.items()
    }
    out: list[str] = []
    for card in cards:
        for name, key in card.sources:
            if name not in notes:
                out.append(f"{card.id}: {name}#{key} (no such note)")
            elif normalize(key) not in keys[name]:
                out.append(f"{card.id}: {name}#{key}")
    return out


def default_seeds() -> Path:
    env = os.environ.get(SEEDS_ENV)
    return Path(env) if env else DEFAULT_SEEDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that every question in the notes has a card in the bank.")
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK, help=f"bank file (default: {DEFAULT_BANK})")
    parser.add_argument(
        "--seeds",
        type=Path,
        default=None,
        help=f"directory of notes (default: ${SEEDS_ENV} or {DEFAULT_SEEDS})",
    )
    args = parser.parse_args(argv)
    bank: Path = args.bank
    seeds: Path = args.seeds if args.seeds is not None else default_seeds()
    if not bank.is_file():
        print(f"error: no bank file at {bank}", file=sys.stderr)
        return 2
    if not seeds.is_dir():
        print(f"error: no notes directory at {seeds}", file=sys.stderr)
        return 2

    reports = check(bank, seeds)
    for report in reports:
        covered = len(report.questions) - len(report.missing)
        print(f"{report.note}: {len(report.questions)} questions detected, {covered} covered")
    for source in unmatched_sources(bank, seeds):
        print(f"note: source matches no detected question: {source}")
    missing = [q for report in reports for q in report.missing]
    for q in missing:
        print(f"MISSING {q.note}:{q.line}: {q.text}")
    total = sum(len(r.questions) for r in reports)
    if missing:
        print(f"FAIL: {len(missing)} of {total} questions have no card")
        return 1
    print(f"OK: all {total} questions have a card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
