"""Property tests (hypothesis): invariants that must hold for any card text or setting."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from llmcards.bank import dump_card, parse_card
from llmcards.config import format_steps, parse_steps
from llmcards.models import Question
from llmcards.text import markdown_source, neutralize, plain

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
CONTROL = {chr(c) for c in range(0x20) if chr(c) not in "\t\n"} | {chr(0x7F)} | {chr(c) for c in range(0x80, 0xA0)}


@given(TEXT)
def test_no_control_character_survives(text: str) -> None:
    for out in (neutralize(text), plain(text), markdown_source(text)):
        assert not (set(out) & CONTROL)


@given(TEXT)
def test_text_without_markup_or_math_is_shown_unchanged(text: str) -> None:
    if "$" not in text and not (set(text) & CONTROL) and "\r" not in text:
        assert plain(text) == text


SLUG = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True)
LINE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
               max_size=40).filter(lambda s: s.strip() == s and s.strip() != "")


@settings(max_examples=60, deadline=None)
@given(SLUG, LINE, st.one_of(st.none(), st.lists(LINE, min_size=1, max_size=4).map("\n".join)),
       st.lists(SLUG, max_size=3, unique=True), st.lists(LINE, max_size=2, unique=True))
def test_editor_yaml_round_trips(card_id: str, question: str, answer: str | None, tags: list[str],
                                 sources: list[str]) -> None:
    card = Question(id=card_id, question=question, answer=answer, tags=tuple(tags), sources=tuple(sources))
    back = parse_card(dump_card(card), "card")
    assert (back.id, back.question, back.answer, back.tags, back.sources) == (
        card.id, card.question, card.answer, card.tags, card.sources)


@given(st.lists(st.sampled_from([timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=10),
                                 timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=3)]),
                max_size=5))
def test_steps_round_trip(steps: list[timedelta]) -> None:
    assert parse_steps(format_steps(tuple(steps))) == tuple(steps)
