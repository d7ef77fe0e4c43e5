"""Checks on the bundled question bank, data/questions.yaml."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BANK = REPO_ROOT / "data" / "questions.yaml"
CHECK_BANK = REPO_ROOT / "tools" / "check_bank.py"

try:
    from llmcards.bank import load_bank
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from llmcards.bank import load_bank

from llmcards.models import Question  # noqa: E402

NOTE_FILES = frozenset(
    {
        "000_bed308f75df34649.txt",
        "001_75da3e7c8895a41c.txt",
        "002_f118c8686e4cc334.txt",
        "003_47dd969ecd46b6d8.txt",
        "004_1e23c5b315beb130.txt",
    }
)
FLAG_TAGS = frozenset({"link-only"})
VOCAB_START = "# Tag vocabulary:"
VOCAB_LINE = re.compile(r"^#   (\S+) {2,}(\S.*)$")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)")
LINK = re.compile(r"https?://\S+")


def seeds_dir() -> Path:
    env = os.environ.get("LLMCARDS_SEEDS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def cards() -> list[Question]:
    return load_bank(BANK)


@pytest.fixture(scope="module")
def vocabulary() -> dict[str, str]:
    """Tag -> description, from the header comment of the bank file."""
    lines = BANK.read_text(encoding="utf-8").splitlines()
    assert VOCAB_START in lines, f"no '{VOCAB_START}' line in the header of {BANK}"
    vocab: dict[str, str] = {}
    for line in lines[lines.index(VOCAB_START) + 1 :]:
        if line == "#":
            break
        match = VOCAB_LINE.match(line)
        assert match, f"vocabulary line not in the form '#   <tag>  <description>': {line!r}"
        assert match.group(1) not in vocab, f"tag {match.group(1)!r} listed twice"
        vocab[match.group(1)] = match.group(2)
    else:
        pytest.fail("the tag vocabulary must end with a line holding just '#'")
    return vocab


def test_bank_loads(cards: list[Question]) -> None:
    assert len(cards) > 0


def test_ids_unique(cards: list[Question]) -> None:
    ids = [card.id for card in cards]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_questions_non_empty(cards: list[Question]) -> None:
    assert all(card.question.strip() for card in cards)


def test_vocabulary_has_topics_and_flag(vocabulary: dict[str, str]) -> None:
    assert FLAG_TAGS <= vocabulary.keys()
    assert len(vocabulary.keys() - FLAG_TAGS) >= 10


def test_tags(cards: list[Question], vocabulary: dict[str, str]) -> None:
    for card in cards:
        unknown = [tag for tag in card.tags if tag not in vocabulary]
        assert not unknown, f"{card.id}: tags not in the vocabulary: {unknown}"
        topics = [tag for tag in card.tags if tag not in FLAG_TAGS]
        assert 1 <= len(topics) <= 3, f"{card.id}: needs 1-3 topic tags, has {topics}"


def test_sources_name_notes(cards: list[Question]) -> None:
    seeds = seeds_dir()
    for card in cards:
        assert card.sources, f"{card.id}: no sources"
        for source in card.sources:
            name, sep, key = source.partition("#")
            assert sep and key.strip(), f"{card.id}: source {source!r} is not '<note>#<key>'"
            assert name in NOTE_FILES, f"{card.id}: source {source!r} names an unknown note"
            if seeds.is_dir():
                assert (seeds / name).is_file(), f"{card.id}: {name} not in {seeds}"


def test_no_image_links(cards: list[Question]) -> None:
    for card in cards:
        assert not IMAGE_LINK.search(card.answer or ""), f"{card.id}: raw image link in the answer"


def test_link_only_answers_have_a_link(cards: list[Question]) -> None:
    for card in cards:
        if "link-only" in card.tags:
            assert card.answer and LINK.search(card.answer), f"{card.id}: link-only card without a link"


def _load_check_bank() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_bank", CHECK_BANK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_every_note_question_has_a_card() -> None:
    seeds = seeds_dir()
    if not seeds.is_dir():
        message = f"notes directory {seeds} not found (set LLMCARDS_SEEDS to check coverage)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has ../shared beside the clone: a missing check there is a failure
        pytest.skip(message)
    missing = _load_check_bank().missing_questions(BANK, seeds)
    assert missing == [], "questions without a card:\n" + "\n".join(missing)
