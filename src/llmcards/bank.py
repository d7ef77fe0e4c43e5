"""Read and validate bank YAML files into plain :class:`Question` values.

Only PyYAML's safe loader is used, so a ``!!python/...`` tag can never run code. Every
error names the file and, where there is one, the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from llmcards.errors import UserError
from llmcards.models import Question

BANK_VERSION = 1
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
CARD_FIELDS = ("id", "question", "answer", "tags", "sources", "suspended")
EXPORT_KEY = "exported_at"  # a top-level key that marks a file written by `llmcards export`
_LINE = "__line__"


@dataclass(frozen=True)
class BankFile:
    """A parsed bank file: its cards, and whether ``llmcards export`` wrote it (``exported_at``)."""

    questions: list[Question]
    exported: bool = False


BANK_ENV = "LLMCARDS_BANK"


def bundled_bank_path() -> Path:
    """The bank that ships with the package (inside the wheel, or at the repository root).

    ``$LLMCARDS_BANK`` replaces it with another file, e.g. a team's own bank.
    """
    override = os.environ.get(BANK_ENV)
    if override:
        return Path(override).expanduser()
    # In the wheel the bank sits in the package; in a checkout, at the repository root. (Not through
    # importlib.resources: the path must be a real file anyway, and its readers cost 7 ms at start.)
    package = Path(__file__).resolve().parent
    packaged = package / "data" / "questions.yaml"
    if packaged.is_file():
        return packaged
    return package.parents[1] / "data" / "questions.yaml"


def open_input(path: Path, what: str = "a bank file") -> BinaryIO:
    """``path`` opened for reading in binary, with a one-line error when it cannot be.

    ``what`` names what the file should be, for the message about a directory.
    """
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def read_bytes(path: Path) -> bytes:
    """The raw file, with a one-line error when it cannot be read."""
    with open_input(path) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def load_bank(path: Path) -> list[Question]:
    """Parse and validate a bank file."""
    return parse_bank(read_bytes(path), str(path))


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def parse_bank(data: bytes, name: str) -> list[Question]:
    """Parse bank YAML ``data``; ``name`` is used in error messages."""
    return parse_bank_file(data, name).questions


def parse_bank_file(data: bytes, name: str) -> BankFile:
    """Parse bank YAML ``data`` into its cards and header; ``name`` is used in error messages."""
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None

    loader_base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(loader_base):  # type: ignore[misc, valid-type]  # a base chosen at run time
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=True)
            mapping[_LINE] = node.start_mark.line + 1
            return mapping

    import gc

    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing allocates millions of objects and no cycles; the collector only costs time
    try:
        try:
            doc = _plain_document(yaml.compose(text, Loader=loader_base))  # noqa: S506 - the safe loader
        except _NotPlain:  # anchors that loop, tags of its own...: PyYAML's constructor, with its checks
            doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from the safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "could not determine a constructor" in problem:
            problem = f"unsupported YAML tag ({problem.split('tag', 1)[-1].strip()}); only plain YAML is allowed"
        raise UserError(f"{name}{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{name}: YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # lists or mappings nested hundreds deep: no bank has them
        raise UserError(f"{name}: YAML nested too deeply; a bank is a list of cards") from None
    finally:
        if gc_was_enabled:
            gc.enable()

    if not isinstance(doc, dict):
        raise UserError(
            f"{name}: expected a mapping with 'version: {BANK_VERSION}' and 'cards:', found {_describe(doc)}"
        )
    version = doc.get("version")
    if version is None:
        raise UserError(f"{name}:{doc[_LINE]}: missing 'version: {BANK_VERSION}' at the top of the file")
    if version != BANK_VERSION or isinstance(version, bool):
        raise UserError(
            f"{name}:{doc[_LINE]}: unknown bank version {version!r}; this llmcards reads version {BANK_VERSION}"
        )
    cards = doc.get("cards")
    if cards is None:
        cards = []
    if not isinstance(cards, list):
        raise UserError(f"{name}:{doc[_LINE]}: 'cards' must be a list, not {_describe(cards)}")

    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for index, raw in enumerate(cards, start=1):
        question = _card(raw, index, name)
        line = question.line or 0
        if question.id in first_line:
            raise UserError(
                f"{name}:{line}: duplicate id {question.id!r} (first used at line {first_line[question.id]})"
            )
        first_line[question.id] = line
        questions.append(question)
    return BankFile(questions, exported=EXPORT_KEY in doc)


class _NotPlain(Exception):
    """A YAML document :func:`_plain_document` leaves to PyYAML's constructor."""


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_BUSY = object()


def _plain_document(root: Any) -> Any:
    """A composed YAML document (libyaml's parser has made the nodes and resolved each plain
    scalar's type) as Python values, for what bank files hold: mappings with string keys,
    lists, strings, and now and then a number, a boolean or a null.

    This is what ``yaml.load`` would give (every mapping with its first line under ``_LINE``), at
    about a tenth of the cost of PyYAML's generic constructor, which took two thirds of a bank
    import's parsing. Anything else (merge keys, keys that are not strings, an anchor used
    inside itself, a tag the safe loader may refuse) raises :class:`_NotPlain`.
    """
    import yaml

    scalars = yaml.constructor.SafeConstructor()  # numbers, booleans, nulls, timestamps
    done: dict[int, Any] = {}  # by node: an alias gives the same object, as yaml.load does

    def value(node: Any) -> Any:
        kind, tag = node.id, node.tag
        if kind == "scalar":
            if tag == _STR:
                return node.value
            if not tag.startswith("tag:yaml.org,2002:"):
                raise _NotPlain
            return scalars.construct_object(node, deep=True)
        key = id(node)
        if key in done:
            if done[key] is _BUSY:
                raise _NotPlain
            return done[key]
        done[key] = _BUSY
        if kind == "sequence" and tag == _SEQ:
            result: Any = [value(item) for item in node.value]
        elif kind == "mapping" and tag == _MAP:
            result = {}
            for k, v in node.value:
                if k.id != "scalar" or k.tag != _STR:
                    raise _NotPlain
                result[k.value] = value(v)
            result[_LINE] = node.start_mark.line + 1
        else:
            raise _NotPlain
        done[key] = result
        return result

    return None if root is None else value(root)


def _card(raw: Any, index: int, name: str) -> Question:
    if not isinstance(raw, dict):
        raise UserError(f"{name}: card #{index} must be a mapping with id and question, not {_describe(raw)}")
    line = int(raw.pop(_LINE))
    where = f"{name}:{line}"
    unknown = [str(key) for key in raw if key not in CARD_FIELDS]
    if unknown:
        raise UserError(f"{where}: unknown field {unknown[0]!r} in card #{index}; fields are {', '.join(CARD_FIELDS)}")

    card_id = raw.get("id")
    if card_id is None or card_id == "":
        raise UserError(f"{where}: card #{index} has no id")
    if not isinstance(card_id, str):
        raise UserError(f"{where}: id must be text, not {_describe(card_id)} (quote it: id: \"{card_id}\")")
    if not ID_RE.match(card_id):
        raise UserError(f"{where}: id {card_id!r} must be a lowercase slug of letters, digits, '-', '_' or '.'")
    label = f"card {card_id!r}"

    text = raw.get("question")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise UserError(f"{where}: {label} has a missing or empty question")
    if not isinstance(text, str):
        raise UserError(f"{where}: {label}: question must be text, not {_describe(text)}")

    answer = raw.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise UserError(f"{where}: {label}: answer must be text or null, not {_describe(answer)}")
    if isinstance(answer, str) and not answer.strip():
        answer = None

    suspended = raw.get("suspended", False)
    if suspended is None:
        suspended = False
    if not isinstance(suspended, bool):
        raise UserError(f"{where}: {label}: suspended must be true or false, not {_describe(suspended)}")

    return Question(
        id=card_id,
        question=text.strip(),
        answer=answer.strip("\n") if answer is not None else None,
        tags=_strings(raw.get("tags"), "tags", where, label),
        sources=_strings(raw.get("sources"), "sources", where, label),
        line=line,
        suspended=suspended,
    )


def _strings(value: Any, field: str, where: str, label: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise UserError(f"{where}: {label}: {field} must be a list of text, like [a, b]")
    seen: dict[str, None] = {}
    for item in value:
        seen.setdefault(item.strip(), None)
    return tuple(seen)


def dump_card(question: Question) -> str:
    """One card as bank YAML (used by ``llmcards edit``)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    data: dict[str, Any] = {
        "id": question.id,
        "question": question.question,
        "answer": question.answer,
        "tags": list(question.tags),
        "sources": list(question.sources),
    }
    if question.suspended:
        data["suspended"] = True
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


def parse_card(text: str, name: str, *, card_id: str | None = None) -> Question:
    """One card written as a YAML mapping (the ``llmcards edit``/``add`` editor format).

    ``card_id`` supplies the id when the text has none (a new card).
    """
    body = _strip_comments(text)
    offset = 2
    if card_id is not None:
        body = f"id: {card_id}\n{body}"
        offset = 3
    wrapped = "version: 1\ncards:\n" + "".join(
        ("  " if i else "- ") + line for i, line in enumerate(body.splitlines(keepends=True))
    )
    try:
        questions = parse_bank(wrapped.encode("utf-8"), name)
    except UserError as exc:
        raise UserError(_shift_lines(exc.message, name, -offset)) from None
    if len(questions) != 1:
        raise UserError(f"{name}: expected one card")
    return questions[0]


def _strip_comments(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "".join(lines) or "{}\n"


def _shift_lines(message: str, name: str, delta: int) -> str:
    prefix = f"{name}:"
    if message.startswith(prefix):
        rest = message[len(prefix):]
        number, sep, tail = rest.partition(":")
        if number.isdigit():
            return f"{prefix}{max(1, int(number) + delta)}{sep}{tail}"
    return message


# --------------------------------------------------------------------------- writing whole files
# A hand-written emitter for `llmcards export`: PyYAML's dumper takes seconds for 10k cards,
# this takes a fraction of that. Every scalar it writes is one PyYAML reads back exactly
# (tests/test_export.py checks that with generated text): a slug stays plain, multi-line text
# becomes a literal block when that is safe, and anything else is a JSON string, which is a
# valid YAML double-quoted scalar once the characters YAML treats as line breaks or refuses
# are escaped too.
_PLAIN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
_YAML_WORDS = frozenset(
    w for word in ("yes", "no", "true", "false", "on", "off", "null", "y", "n", "nan", "inf")
    for w in (word, word.capitalize(), word.upper())
)
_JSON_UNSAFE_RE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_BLOCK_UNSAFE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


@lru_cache(maxsize=1)
def _json_string() -> Callable[[str], str]:
    import json

    # One encoder for every call: json.dumps(..., ensure_ascii=False) builds a new one each time.
    return json.JSONEncoder(ensure_ascii=False).encode


def _quoted(value: str) -> str:
    text = _json_string()(value)
    return _JSON_UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text) if _JSON_UNSAFE_RE.search(text) else text


def _word(value: str) -> str:
    """An id, tag or source: plain when it is a slug YAML reads as text, else quoted."""
    return value if _PLAIN_RE.match(value) and value not in _YAML_WORDS else _quoted(value)


def _text(value: str, indent: str) -> str:
    """Card text: a literal block (``|-``) for multi-line text where that is exact, else quoted."""
    if ("\n" in value and not value.startswith((" ", "\n", "\t")) and not value.endswith("\n")
            and not _BLOCK_UNSAFE_RE.search(value)):
        return "|-\n" + "\n".join(indent + line if line else "" for line in value.split("\n"))
    return _quoted(value)


def dump_question(q: Question) -> str:
    """One card as an item of a bank's ``cards:`` list (``suspended: true`` only when set)."""
    lines = [f"  - id: {_word(q.id)}\n    question: {_text(q.question, '      ')}\n"]
    lines.append(f"    answer: {'null' if q.answer is None else _text(q.answer, '      ')}\n")
    if q.tags:
        lines.append(f"    tags: [{', '.join(_word(t) for t in q.tags)}]\n")
    if q.sources:
        lines.append(f"    sources: [{', '.join(_word(s) for s in q.sources)}]\n")
    if q.suspended:
        lines.append("    suspended: true\n")
    return "".join(lines)


def dump_bank(questions: Iterable[Question], *, exported_at: str | None = None,
              comment: str = "") -> Iterator[str]:
    """A whole bank file, piece by piece. ``exported_at`` marks it as written by ``llmcards export``."""
    for line in comment.splitlines():
        yield f"# {line}\n".replace("# \n", "#\n")
    yield f"version: {BANK_VERSION}\n"
    if exported_at is not None:
        yield f"{EXPORT_KEY}: {_quoted(exported_at)}\n"
    yield "cards:\n"
    for q in questions:
        yield dump_question(q)
