"""Reading bank YAML: the format, and a one-line error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmcards import bank
from llmcards.bank import load_bank, parse_bank, parse_card
from llmcards.errors import UserError
from tests.helpers import SMALL_BANK, write


def test_small_bank_loads_with_all_fields() -> None:
    questions = load_bank(SMALL_BANK)
    assert [q.id for q in questions] == [
        "lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal", "kv-cache"]
    lora = questions[0]
    assert lora.question == "LoRA 的原理是什么?"
    assert lora.tags == ("peft",)
    assert lora.sources == ("003_47dd969ecd46b6d8.txt#01",)
    assert "$W = W_0 + BA$" in (lora.answer or "")
    assert lora.line == 3
    assert questions[-1].answer is None


BAD = [
    ("syntax", "version: 1\ncards:\n  - id: a\n    question: [oops\n", r"bad\.yaml:\d+: YAML syntax error"),
    ("empty-question", "version: 1\ncards:\n  - id: a\n    question: '  '\n",
     r"bad\.yaml:3: card 'a' has a missing or empty question"),
    ("missing-question", "version: 1\ncards:\n  - id: a\n    answer: x\n",
     r"bad\.yaml:3: card 'a' has a missing or empty question"),
    ("duplicate-id", "version: 1\ncards:\n  - id: a\n    question: q1\n  - id: a\n    question: q2\n",
     r"bad\.yaml:5: duplicate id 'a' \(first used at line 3\)"),
    ("wrong-type", "version: 1\ncards:\n  - id: a\n    question: q\n    tags: 7\n",
     r"bad\.yaml:3: card 'a': tags must be a list"),
    ("wrong-type-question", "version: 1\ncards:\n  - id: a\n    question: 12\n",
     r"question must be text, not a number"),
    ("numeric-id", "version: 1\ncards:\n  - id: 12\n    question: q\n", r"id must be text"),
    ("unknown-version", "version: 2\ncards: []\n", r"bad\.yaml:1: unknown bank version 2"),
    ("no-version", "cards: []\n", r"missing 'version: 1'"),
    ("cards-not-list", "version: 1\ncards: {a: 1}\n", r"'cards' must be a list"),
    ("unknown-field", "version: 1\ncards:\n  - id: a\n    question: q\n    anwser: x\n", r"unknown field 'anwser'"),
    ("python-tag", "version: 1\ncards:\n  - id: a\n    question: !!python/object/apply:os.system ['touch pwned']\n",
     r"bad\.yaml:4: YAML syntax error: unsupported YAML tag"),
    ("not-mapping", "- just\n- a list\n", r"expected a mapping"),
]


@pytest.mark.parametrize("name,text,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_bank_gets_one_line_error_naming_file_and_line(tmp_path: Path, name: str, text: str, pattern: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(UserError) as info:
        load_bank(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    import re

    assert re.search(pattern, message), message


def test_python_tag_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path / "bad.yaml",
                 f"version: 1\ncards:\n  - id: a\n    question: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UserError):
        load_bank(path)
    assert not marker.exists()


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\ncards:\n  - id: a\n    question: café\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.yaml:4: not UTF-8"):
        load_bank(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nope\.yaml: no such file"):
        load_bank(tmp_path / "nope.yaml")


def test_empty_answer_is_null_and_tags_deduplicated() -> None:
    (q,) = parse_bank(b"version: 1\ncards:\n  - id: a\n    question: q\n    answer: ''\n    tags: [x, x, y]\n", "t")
    assert q.answer is None
    assert q.tags == ("x", "y")


def test_parse_card_editor_format_reports_lines() -> None:
    q = parse_card("# comment\nid: a\nquestion: 问题\nanswer: |\n  line 1\n  line 2\ntags: [t]\n", "edited")
    assert (q.id, q.question, q.answer, q.tags) == ("a", "问题", "line 1\nline 2", ("t",))
    with pytest.raises(UserError, match="edited"):
        parse_card("id: a\nquestion: ''\n", "edited")


class _Reference(yaml.CSafeLoader):  # what parse_bank_file loaded with before its fast path
    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=True)
        mapping[bank._LINE] = node.start_mark.line + 1
        return mapping


PLAIN_DOCUMENTS = [
    "version: 1\ncards:\n  - id: a\n    question: q?\n    answer: null\n    tags: [x, y]\n",
    "version: 0x1\nflag: yes\nn: 1_000\nf: 1.5e3\nwhen: 2026-01-02\nat: 2026-01-02 10:00:00\nempty:\nlist: []\n",
    "a: &x {k: [1, 2, &y [3]]}\nb: *x\nc: *y\n'quoted': \"text\"\n? long\n: key\n",
    "- !!str 12\n- !!int '7'\n- ~\n- [nested, [deeper, {k: v}]]\n",
    "",
]
NOT_PLAIN_DOCUMENTS = [
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",  # merge keys
    "1: one\n",  # a key that is not a string
    "[a]: list key\n",
    "- !custom thing\n",
]


@pytest.mark.parametrize("text", PLAIN_DOCUMENTS)
def test_the_fast_path_loads_what_pyyaml_loads(text: str) -> None:
    fast = bank._plain_document(yaml.compose(text, Loader=yaml.CSafeLoader))
    slow = yaml.load(text, Loader=_Reference)  # noqa: S506 - a safe loader
    assert fast == slow
    if isinstance(slow, dict) and "b" in slow:
        assert fast["b"] is fast["a"]  # an alias is the same object, as in yaml.load


@pytest.mark.parametrize("text", NOT_PLAIN_DOCUMENTS)
def test_the_fast_path_leaves_the_rest_to_pyyaml(text: str) -> None:
    with pytest.raises(bank._NotPlain):
        bank._plain_document(yaml.compose(text, Loader=yaml.CSafeLoader))


def test_an_anchor_used_inside_itself_is_left_to_pyyaml() -> None:
    text = "a: &x\n  self: *x\n"
    with pytest.raises(bank._NotPlain):
        bank._plain_document(yaml.compose(text, Loader=yaml.CSafeLoader))


def test_a_bank_with_merge_keys_still_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", "version: 1\ndefaults: &d {tags: [shared]}\ncards:\n"
                                      "  - <<: *d\n    id: m1\n    question: merged?\n")
    [q] = load_bank(path)
    assert q.id == "m1" and q.tags == ("shared",) and q.line == 4


@pytest.mark.parametrize("depth", [400, 600, 5000])
def test_deeply_nested_yaml_gets_a_one_line_error(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path / "deep.yaml", f"version: 1\ncards: {'[' * depth}{']' * depth}\n")
    with pytest.raises(UserError) as refused:
        load_bank(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
