"""Your own Markdown notes as cards: the parser and the pure re-import planner.

``read_notes(path)`` reads a ``.md`` file, or every ``*.md`` (or ``*.markdown``) file under a folder, and
``parse_notes(text, name)`` turns one note into :class:`NoteQuestion` values. Nothing here
touches the store: ``plan_import`` compares what a note gives with the cards a previous import
made and says what to add, update, keep and retire.

The note is parsed with markdown-it-py (imported only when a note is parsed, so ``llmcards
--help`` never loads it); questions are found in its block token stream, and each answer is
the note's own Markdown source, cut out by the tokens' source lines (``token.map``), so code
fences, tables and formulas stay as written. These structures are questions:

* a heading ending in ``?`` or ``？``;
* a numbered heading (``# 04. 如何缓解…``, ``### 3.LLM…``, ``## 13 DeepSeek``), unless it is
  inside another question's answer (``### 1.MHA`` under ``# 41. …的区别？``) or its level is
  a level of sections: at least half of the numbered headings of that level in the note have
  question or numbered headings below them (``# 1. 语义表达`` over ``## 词向量如何…?``). A
  heading that is only a number (``### 3.``) takes its question from the first line below it;
* a heading under a section that lists questions: at least half of its sibling headings
  (same parent, same level, two or more) are questions by the rules above;
* a bold numbered paragraph (``**1、…**``, ``**2. …**``) or a bold line ending in ``?``, and
  a list item whose first line is all bold (``1. **…**``);
* ``Q:``/``A:``, ``问：``/``答：`` pairs (the ``A:`` marker is dropped from the answer);
* a short blockquote (``> question``), followed by its answer;
* outside any answer, a line or list item ending in ``?``, and every list item and line of a
  multi-line paragraph under a heading that names a list of questions (``## 面试题``,
  ``## Interview questions``).

Bold, list, quote and Q/A questions are recognised outside the answers of heading questions
(inside one they are part of its answer), and inside the answer of a question of their own
kind (``**1、…**`` follows ``**2、…**``). A question's answer is the source from the line
after it up to the next question, or up to the next heading of the same or a higher level
(any heading, for questions that are not headings); a question with nothing there is
unanswered (``answer=None``). In an answer, images become ``[figure: name.png]`` as in the
bundled bank, and headings are moved down so that the highest is ``####`` (a card's answer
has no page title). A heading question split over two heading lines (``## …有哪`` + ``## 些?``)
is joined into one.

A question's ``locator`` is ``<file name>#<heading path>``: the enclosing headings and the
question's own label as written, joined by ``/``.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from llmcards.errors import UserError
from llmcards.models import NOTE_SUFFIXES, Question
from llmcards.models import ExistingNoteCard as ExistingNoteCard  # re-exported: the store builds these

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.token import Token

MAX_NOTE_BYTES: Final = 20 * 1024 * 1024
"""A notes file larger than this (20 MB) is refused before it is read."""

"""The files a folder import reads (compared case-insensitively)."""

RENAME_SIMILARITY: Final = 0.8
"""A reworded question keeps its card when its answer is at least this similar (difflib ratio)."""

RENAME_MAX_PAIRS: Final = 250_000
"""Similar-answer matching is skipped when there are more (new x old) unpaired answer pairs than this."""

RENAME_MAX_COMPARISONS: Final = 1_000
"""At most this many difflib comparisons in one import (each of at most 2,000 characters)."""

_COMPARED_CHARS: Final = 2_000

STRUCTURES: Final = (
    "headings ending in ? or ？, numbered headings (# 04. …), headings beside question headings, "
    "bold numbered items (**1. …**, 1. **…**), Q:/A: and 问：/答： pairs, blockquoted questions (> …), "
    "and lines ending in ? or listed under a questions heading (## 面试题)"
)

QuestionKind = Literal["heading", "bold", "bold-item", "qa", "quote", "list", "line"]

_PARA: Final = 7  # the "level" of questions that are not headings: any heading ends their answer
_QMARKS: Final = ("?", "？")
_TERMINAL: Final = tuple("?？。.!！:：;；)）")
_SPLIT_TAIL_MAX: Final = 4
_QUOTE_MAX_CHARS: Final = 300
_QUOTE_MAX_LINES: Final = 3

_NUMBER_RE = re.compile(r"^(?:Q(?=\d))?(\d{1,3}(?:\.\d{1,3})*)(?:\s*[.、．:：)）](?!\d)\s*|\s+)(.*)$", re.S)
_Q_RE = re.compile(r"^(?:Q\d*|问题?|Question)\s*[:：]\s*(.*)$", re.I | re.S)
_A_RE = re.compile(r"^(?:A|答案?|Answer)\s*[:：]", re.I)
_A_PREFIX_RE = re.compile(r"^(\s*)(?:\*\*|__)?(?:A|答案?|Answer)(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*", re.I)
_LIST_SECTION_RE = re.compile(r"面试|题目|题库|问答|习题|考题|questions\b|interview|\bfaq\b|q\s*&\s*a", re.I)
_MARKUP_RE = re.compile(r"[*_`\[\]!<>&\\~]")
_SIMPLE_BOLD_RE = re.compile(r"^\*\*(\S(?:.*\S)?)\*\*[ \t]*$")
_ATX_RE = re.compile(r"^( {0,3})(#{1,6})(?=[ \t]|$)")
_ITEM_PREFIX_RE = re.compile(r"^(\s*(?:\d{1,9}[.)]|[-+*])(?:[ \t]+|$))")
_IMG_MD_RE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\s*\)")
_IMG_HTML_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']*)[\"'][^>]*>", re.I)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+")
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class NoteQuestion:
    """One question found in a note, with its answer as Markdown source (None: unanswered)."""

    question: str
    answer: str | None
    path: tuple[str, ...]  # the enclosing headings and the question's own label, as written
    line: int  # 1-based line of the question in its file
    note: str  # the file's name (for a folder import: its path inside the folder)
    kind: QuestionKind = "heading"
    number: str | None = None  # the note's own number for the question ("04"), if any
    id: str = ""  # the id a new card gets (see note_id); set by parse_notes and read_notes

    @property
    def locator(self) -> str:
        """Where the question is, for a card's ``sources``: ``<file name>#<heading path>``."""
        return f"{self.note}#{'/'.join(self.path)}"

    @cached_property
    def source_hash(self) -> str:
        """A hash of the card's text as this file gives it (see :func:`note_hash`)."""
        return note_hash(self.question, self.answer)

    def to_question(self, card_id: str | None = None, tags: Sequence[str] = ()) -> Question:
        """The card as a bank :class:`Question` (the id defaults to :attr:`id`)."""
        return Question(
            id=card_id or self.id,
            question=self.question,
            answer=self.answer,
            tags=tuple(dict.fromkeys(tags)),
            sources=(self.locator,),
            line=self.line,
        )


def note_hash(question: str, answer: str | None) -> str:
    """The hash stored as a notes card's ``source_hash``: its question and answer as last read."""
    payload = f"{len(question)}:{question}" + ("-" if answer is None else f"{len(answer)}:{answer}")
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --------------------------------------------------------------------------- ids


def _id_key(question: str) -> str:
    """The question as far as its id is concerned: width, case, spaces and end punctuation ignored."""
    return _key_of_normalised(unicodedata.normalize("NFKC", question))


def _key_of_normalised(text: str) -> str:
    return "".join(text.casefold().split()).rstrip("?？。.!！:：")


def note_id(question: str, *, salt: str = "", size: int = 8) -> str:
    """A stable, readable id for a card made from a note: ASCII words + a short hash of the question.

    ``如何缓解 LLMs 复读机问题`` -> ``llms-27a05df1``; ``What is LoRA?`` -> ``what-is-lora-c6a141dc``. The
    hash is of the question with width, case, spaces and final punctuation ignored, so the
    same question gives the same id on every import, on every machine, forever.

    Chinese is not spelled out in pinyin (pypinyin) on purpose: pypinyin picks readings from a
    phrase dictionary that changes between its releases (多音字 such as 行/重/长), so an unchanged
    question could get a new id after an upgrade and lose its progress; it would also add a
    large dependency for ids nobody types (cards are found by their text), and long pinyin ids
    are hard to read anyway. A question with no ASCII words gets the stem ``note``.
    ``salt`` separates two questions with the same text (see :func:`assign_ids`).
    """
    text = unicodedata.normalize("NFKC", question)
    words = [w.lower() for w in _WORD_RE.findall(text)][:6]
    stem = "-".join(words)[:40].strip("-") or "note"
    digest = hashlib.sha1((_key_of_normalised(text) + ("\n" + salt if salt else "")).encode("utf-8")).hexdigest()
    return f"{stem}-{digest[:size]}"


def assign_ids(questions: Sequence[NoteQuestion], taken: Callable[[str], bool] | None = None) -> list[NoteQuestion]:
    """Give each question its :func:`note_id`; a repeated question text gets one salted with its locator.

    The first occurrence keeps the plain id, so adding a duplicate later in a note does not
    move an existing card. ``taken`` says which ids are already used elsewhere.
    """
    used: set[str] = set()
    attempts: dict[str, int] = {}  # plain id -> salted ids tried so far
    out: list[NoteQuestion] = []
    for q in questions:
        plain = candidate = note_id(q.question)
        while candidate in used or (taken is not None and taken(candidate)):
            attempt = attempts[plain] = attempts.get(plain, 0) + 1
            candidate = note_id(q.question, salt=f"{q.locator}\n{attempt if attempt > 1 else ''}", size=10)
        used.add(candidate)
        out.append(replace(q, id=candidate))
    return out


# --------------------------------------------------------------------------- reading files


def find_note_files(path: Path | str) -> list[tuple[Path, str]]:
    """The notes to read: ``(path, name)`` pairs; ``name`` is what locators and messages use.

    A file is read whatever its suffix; a folder is searched recursively for ``*.md`` and ``*.markdown`` files
    (hidden files and folders skipped), in sorted order of their path inside it. Symlinks are
    followed; a file reached twice is read once, and a link back to a folder above it is an
    error (a symlink loop), as is a broken link to a ``.md`` file.
    """
    root = Path(path)
    st = _stat(root, str(root))
    if stat.S_ISDIR(st.st_mode):
        found: dict[tuple[int, int], tuple[str, Path]] = {}
        _walk(root, "", [(st.st_dev, st.st_ino)], found, set())
        if not found:
            raise UserError(f"{root}: no .md or .markdown files in this folder or below it")
        return [(p, rel) for rel, p in sorted(found.values())]
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{root}: not a regular file or folder")
    return [(root, root.name)]


def _stat(path: Path, shown: str) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise UserError(f"{shown}: broken symlink (it points to {os.readlink(path)})") from None
        raise UserError(f"{shown}: no such file or folder") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{shown}: symlink loop") from None
        raise UserError(f"{shown}: cannot read ({exc.strerror})") from None


def _walk(
    folder: Path,
    rel: str,
    ancestors: list[tuple[int, int]],
    found: dict[tuple[int, int], tuple[str, Path]],
    seen_dirs: set[tuple[int, int]],
) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: (e.is_symlink(), e.name))  # real paths first
    except OSError as exc:
        raise UserError(f"{folder}: cannot read this folder ({exc.strerror})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        name = f"{rel}{entry.name}"
        is_link = entry.is_symlink()
        is_note = entry.name.lower().endswith(NOTE_SUFFIXES)
        try:
            st = path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UserError(f"{path}: symlink loop") from None
            if is_link and not is_note:
                continue  # a broken link to something that would not be read anyway
            _stat(path, str(path))  # raises the right message
            raise
        key = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if key in ancestors:
                raise UserError(f"{path}: symlink loop (it points back to a folder above it)")
            if key in seen_dirs:
                continue  # the same folder reached through another link
            seen_dirs.add(key)
            _walk(path, f"{name}/", [*ancestors, key], found, seen_dirs)
        elif stat.S_ISREG(st.st_mode) and is_note and key not in found:
            found[key] = (name, path)


def read_note_text(path: Path, name: str | None = None) -> str:
    """A note's text, refused with a one-line :class:`UserError` when it is too large, binary or not UTF-8.

    The size is checked before reading, so a huge file costs nothing.
    """
    shown = name or str(path)
    return decode_note(read_note_bytes(path, shown), shown)


def read_note_bytes(path: Path, shown: str) -> bytes:
    """A note's bytes, refused (one line naming it as ``shown``) when it is over :data:`MAX_NOTE_BYTES`."""
    st = _stat(path, shown)
    if stat.S_ISREG(st.st_mode) and st.st_size > MAX_NOTE_BYTES:
        limit = _mb(MAX_NOTE_BYTES)
        raise UserError(f"{shown}: {_mb(st.st_size)} is over the {limit} limit for a notes file; split it")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_NOTE_BYTES + 1)
    except IsADirectoryError:
        raise UserError(f"{shown}: is a folder, not a notes file") from None
    except OSError as exc:
        raise UserError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_NOTE_BYTES:
        raise UserError(f"{shown}: over the {_mb(MAX_NOTE_BYTES)} limit for a notes file; split it")
    return data


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


_MAGIC: Final = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive, e.g. .docx"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
    (b"\x7fELF", "a program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"{\\rtf", "an RTF document"),
)
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian, with BOM)", "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian, with BOM)", "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian, with BOM)", "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian, with BOM)", "UTF-16"),
)


def decode_note(data: bytes, name: str) -> str:
    """Decode a note's bytes as UTF-8 (a UTF-8 BOM is dropped), or explain why not in one line."""
    what = _binary_kind(data)
    if what is not None:
        raise UserError(f"{name}: a binary file ({what}), not Markdown notes")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        label, codec = _guess_encoding(data)
        how = f"; convert it, e.g. iconv -f {codec} -t UTF-8" if codec else ""
        raise UserError(f"{name}:{line}: not UTF-8 text (it looks like {label}){how}") from None


def _utf16_without_bom(sample: bytes) -> str | None:
    """'le'/'be' when the bytes read as UTF-16 text without a BOM: lines of printable characters."""
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even = sample[: len(sample) // 2 * 2]
    for order in ("le", "be"):
        try:
            text = even.decode(f"utf-16-{order}")
        except UnicodeDecodeError:
            continue
        if "\n" in text and _plausible(text) >= 0.97:
            return order
    return None


def _binary_kind(data: bytes) -> str | None:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    if any(data.startswith(bom) for bom, _, _ in _BOMS):
        return None
    sample = data[:8192]
    if b"\x00" in sample:
        return None if _utf16_without_bom(sample) is not None else "it contains NUL bytes"
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    if sample and controls / len(sample) > 0.05:
        return "it contains control bytes"
    return None


def _plausible(text: str) -> float:
    """Share of characters that text in a real notes file is made of."""
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    odd = sum(1 for ch in text if "\ue000" <= ch <= "\uf8ff" or unicodedata.category(ch) in ("Co", "Cn", "Cs"))
    return (good - odd) / len(text)


def _guess_encoding(data: bytes) -> tuple[str, str]:
    """(description, iconv name) of the encoding the bytes most likely use."""
    for bom, label, codec in _BOMS:
        if data.startswith(bom):
            return label, codec
    sample = data[:65536]
    order = _utf16_without_bom(sample)
    if order is not None:
        return f"UTF-16 ({'little' if order == 'le' else 'big'}-endian, no BOM)", f"UTF-16{order.upper()}"
    candidates = (
        ("gb18030", "GB18030/GBK (Simplified Chinese)", "GB18030", True),
        ("big5", "Big5 (Traditional Chinese)", "BIG5", True),
        ("shift_jis", "Shift-JIS (Japanese)", "SHIFT-JIS", True),
        ("euc_kr", "EUC-KR (Korean)", "EUC-KR", True),
        ("cp1252", "Windows-1252/Latin-1 (Western European)", "WINDOWS-1252", False),
    )
    for encoding, label, codec, cjk in candidates:
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
                continue
            text = sample[: exc.start].decode(encoding, errors="replace")
        non_ascii = [ch for ch in text if ord(ch) > 127]
        if cjk and (not non_ascii or len(_CJK_RE.findall(text)) < 0.8 * len(non_ascii)):
            continue
        if _plausible(text) >= 0.97:
            return label, codec
    return "an unknown 8-bit encoding", ""


def read_notes(path: Path | str) -> list[NoteQuestion]:
    """Every question in a notes file, or in the ``*.md`` and ``*.markdown`` files under a folder, with ids assigned.

    Raises :class:`UserError` (one line, nothing read further) for a missing path, a file
    over :data:`MAX_NOTE_BYTES`, a binary or non-UTF-8 file, a folder with no ``.md`` file,
    a symlink loop, and when no question is found at all.
    """
    files = find_note_files(path)
    texts = [(read_note_text(file, str(file) if len(files) > 1 else str(path)), name) for file, name in files]
    return questions_of(texts, str(path))


def questions_of(notes: Sequence[tuple[str, str]], shown: str) -> list[NoteQuestion]:
    """The questions of notes read together (``(text, name)`` pairs), with ids unique across them.

    ``shown`` names them in the error raised when none of them has a question.
    """
    questions: list[NoteQuestion] = []
    for text, name in notes:
        questions.extend(parse_notes(text, name))
    if not questions:
        where = shown if len(notes) == 1 else f"{shown}: none of its {len(notes)} notes files"
        raise UserError(f"{where}: no questions found; looked for {STRUCTURES}")
    return questions if len(notes) == 1 else assign_ids(questions)  # one note: parse_notes assigned them


# --------------------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """CommonMark block parsing, tuned for speed; it gives the tokens markdown-it's own rules give.

    Only the block structure is needed; inline text is parsed on demand (questions, images).
    Tables and link reference definitions are read as paragraphs: their lines are copied
    verbatim anyway. markdown-it's ``lheading`` rule scans every paragraph a second time to
    look for a setext underline; :func:`_paragraph_or_setext` does both in one scan. And
    :func:`_block_start` asks only the rules that a line's first character allows.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).disable(["inline", "table", "reference", "lheading"])
    md.block.ruler.at("paragraph", _paragraph_or_setext)
    md.block.ruler.before("code", "block_start", _block_start)
    return md


BlockRule = Callable[["StateBlock", int, int, bool], bool]


@lru_cache(maxsize=1)
def _rules_by_first_char() -> dict[str, tuple[BlockRule, ...]]:
    """The block rules a line starting with a given character can start (or end a paragraph with).

    Each of markdown-it's rules returns False at once for a line that does not start with one of
    its characters (fence: ` ~, blockquote: >, hr: * - _, list: * - + digits, html_block: <,
    heading: #), so asking only these, in markdown-it's order, decides the same.
    """
    from markdown_it import rules_block as rb

    table: dict[str, tuple[BlockRule, ...]] = {
        "`": (rb.fence,), "~": (rb.fence,), ">": (rb.blockquote,), "*": (rb.hr, rb.list_block),
        "-": (rb.hr, rb.list_block), "_": (rb.hr,), "+": (rb.list_block,), "<": (rb.html_block,), "#": (rb.heading,),
    }
    table.update({digit: (rb.list_block,) for digit in "0123456789"})
    return table


def _block_start(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """The first block rule: the block that starts at ``start``, found by the rules its first character allows.

    An indented line is left to the ``code`` rule that follows.
    """
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    pos = state.bMarks[start] + state.tShift[start]
    if pos < state.eMarks[start]:
        for rule in _rules_by_first_char().get(state.src[pos], ()):
            if rule(state, start, end, silent):
                return True
    return _paragraph_or_setext(state, start, end, silent)


@lru_cache(maxsize=1)
def _trim_chars() -> str | None:
    """The characters markdown-it trims from a paragraph (CommonMark's whitespace since markdown-it-py 4)."""
    try:
        from markdown_it.common.utils import MD_TRIM_CHARS  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None  # markdown-it-py 3 trims with str.strip()
    return str(MD_TRIM_CHARS)


def _md_trim(text: str) -> str:
    return text.strip(_trim_chars())


def _paragraph_or_setext(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """markdown-it's ``paragraph`` and ``lheading`` rules in one: a paragraph, or a setext heading."""
    end = state.lineMax
    by_char = _rules_by_first_char()  # markdown-it's paragraph terminators: fence .. heading
    parent_type = state.parentType
    state.parentType = "paragraph"
    line = start + 1
    level = 0
    marker = ""
    while line < end and not state.isEmpty(line):
        if state.sCount[line] - state.blkIndent > 3:
            line += 1
            continue  # a lazy continuation line, however indented
        if state.sCount[line] >= state.blkIndent:
            pos = state.bMarks[line] + state.tShift[line]
            maximum = state.eMarks[line]
            if pos < maximum and state.src[pos] in ("-", "="):
                marker = state.src[pos]
                if state.skipSpaces(state.skipCharsStr(pos, marker)) >= maximum:
                    level = 1 if marker == "=" else 2
                    break
        if state.sCount[line] < 0:
            line += 1
            continue  # a blockquote quirk: that rule has checked this line already
        pos = state.bMarks[line] + state.tShift[line]
        if pos < state.eMarks[line] and any(rule(state, line, end, True) for rule in by_char.get(state.src[pos], ())):
            break
        line += 1
    content = _md_trim(state.getLines(start, line, state.blkIndent, False))
    kind, tag = ("heading", f"h{level}") if level else ("paragraph", "p")
    state.line = line + 1 if level else line
    token = state.push(f"{kind}_open", tag, 1)
    token.map = [start, state.line]
    if level:
        token.markup = marker
    token = state.push("inline", "", 0)
    token.content = content
    token.map = [start, line]
    token.children = []
    token = state.push(f"{kind}_close", tag, -1)
    if level:
        token.markup = marker
    state.parentType = parent_type
    return True


def _inline(content: str) -> list[Token]:
    md = _markdown()
    tokens: list[Token] = []
    md.inline.parse(content, md, {}, tokens)
    return tokens


def _join(a: str, b: str) -> str:
    """Join two pieces of one line of text: no space between CJK characters."""
    a, b = a.rstrip(), b.lstrip()
    if not a or not b:
        return a + b
    if _CJK_RE.match(a[-1]) or _CJK_RE.match(b[0]):
        return a + b
    return f"{a} {b}"


def _squash(text: str) -> str:
    """Text on one line: runs of spaces as one, lines joined (without a space between CJK characters)."""
    pieces = [" ".join(piece.split()) for piece in text.split("\n")]
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if out and not (_CJK_RE.match(out[-1][-1]) or _CJK_RE.match(piece[0])):
            out.append(" ")
        out.append(piece)
    return "".join(out)


def _plain_tokens(tokens: Sequence[Token]) -> str:
    parts: list[str] = []
    for tok in tokens:
        if tok.type in ("text", "text_special", "code_inline"):
            parts.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif tok.type == "image":
            parts.append(tok.content)
    return _squash("".join(parts))


def _plain(content: str) -> str:
    """Inline Markdown as plain text (emphasis, code and link markers removed)."""
    if not _MARKUP_RE.search(content):
        return _squash(content)
    return _plain_tokens(_inline(content))


def _bold_line(content: str) -> str | None:
    """The text of a line that is all bold (``**…**``), else None."""
    if "**" not in content and "__" not in content:
        return None
    simple = _SIMPLE_BOLD_RE.match(content)
    if simple is not None and not _MARKUP_RE.search(simple.group(1)):
        return _squash(simple.group(1))  # what the inline parser gives: no markup inside, nothing after
    return _bold_line_parsed(content)


def _bold_line_parsed(content: str) -> str | None:
    """:func:`_bold_line` by markdown-it's inline parser."""
    tokens = [t for t in _inline(content) if not (t.type == "text" and not t.content.strip())]
    while tokens and tokens[-1].type in ("softbreak", "hardbreak"):
        tokens.pop()
    if len(tokens) < 3 or tokens[0].type != "strong_open" or tokens[-1].type != "strong_close":
        return None
    depth = 0
    for i, tok in enumerate(tokens):
        depth += tok.nesting if tok.type in ("strong_open", "strong_close") else 0
        if depth == 0 and i < len(tokens) - 1:
            return None  # "**a** and **b**": two bold spans, not one bold line
    return _plain_tokens(tokens[1:-1]) or None


def _number(label: str) -> tuple[str | None, str]:
    match = _NUMBER_RE.match(label)
    if match is None:
        return None, label
    return match.group(1), match.group(2).strip()


def _qmark(text: str) -> bool:
    return text.rstrip().endswith(_QMARKS)


@dataclass(eq=False)
class _Heading:
    start: int  # 0-based first line
    end: int  # 0-based line after it
    level: int
    label: str
    number: str | None
    text: str
    setext: bool = False
    parent: _Heading | None = None
    children: list[_Heading] = field(default_factory=list)
    question: bool = False
    in_question: bool = False  # inside the answer of a heading question above it


@dataclass(eq=False)
class _Anchor:
    kind: QuestionKind
    level: int
    start: int  # 0-based line of the question
    body: int  # 0-based first line of the answer
    text: str
    path: tuple[str, ...]
    number: str | None = None
    indent: int = 0  # spaces to remove from the answer's lines before ``indent_end``
    indent_end: int = 0


@dataclass
class _Block:
    kind: str  # heading, paragraph, quote, list, other
    start: int
    end: int
    index: int  # token index of the block's opening token
    heading: _Heading | None = None


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")


def _without_front_matter(text: str, lines: list[str]) -> str:
    """The text to parse (``lines`` are its lines): a leading YAML front matter block
    (``---`` … ``---``) blanked, lines kept."""
    if lines and lines[0].rstrip() == "---":
        for end in range(1, min(len(lines), 200)):
            if lines[end].rstrip() in ("---", "..."):
                return "\n" * (end + 1) + "\n".join(lines[end + 1:])
    return text


def parse_notes(text: str, name: str) -> list[NoteQuestion]:
    """The questions in one note's Markdown ``text``, in note order; ``name`` is the file's name.

    Pure: no I/O, no errors for odd input (a note with no question gives ``[]``).
    """
    import gc

    gc_was_enabled = gc.isenabled()
    gc.disable()  # markdown-it allocates ~30 objects a line; the collector would walk them all again and again
    try:
        return _parse_notes(text, name)
    finally:
        if gc_was_enabled:
            gc.enable()


def _parse_notes(text: str, name: str) -> list[NoteQuestion]:
    text = _normalise(text)
    lines = text.split("\n")
    tokens = _markdown().parse(_without_front_matter(text, lines))
    blocks, headings, image_lines = _scan(tokens)
    _classify(headings)
    anchors = _anchors(blocks, tokens, lines)
    starts = [h.start for h in headings]
    found: list[NoteQuestion] = []
    for i, anchor in enumerate(anchors):
        stop = anchors[i + 1].start if i + 1 < len(anchors) else len(lines)
        first = bisect_left(starts, anchor.body)
        last = first
        while last < len(headings) and headings[last].start < stop:
            if headings[last].level <= anchor.level:
                stop = headings[last].start
                break
            last += 1
        answer = _answer(lines, anchor, max(stop, anchor.body), headings[first:last], image_lines)
        found.append(
            NoteQuestion(
                question=anchor.text,
                answer=answer,
                path=anchor.path,
                line=anchor.start + 1,
                note=name,
                kind=anchor.kind,
                number=anchor.number,
            )
        )
    return assign_ids(found)


def _has_img_tag(content: str) -> bool:
    return "<" in content and "<img" in content.lower()


def _scan(tokens: Sequence[Token]) -> tuple[list[_Block], list[_Heading], set[int]]:
    """Top-level blocks, top-level headings (split question headings joined) and lines with images."""
    blocks: list[_Block] = []
    headings: list[_Heading] = []
    image_lines: set[int] = set()
    for index, tok in enumerate(tokens):
        if tok.type == "inline" and tok.map is not None and ("![" in tok.content or _has_img_tag(tok.content)):
            if _has_img_tag(tok.content) or any(t.type == "image" for t in _inline(tok.content)):
                image_lines.update(range(tok.map[0], tok.map[1]))
        elif tok.type == "html_block" and tok.map is not None and _has_img_tag(tok.content):
            image_lines.update(range(tok.map[0], tok.map[1]))
        if tok.level != 0 or tok.map is None or tok.nesting == -1:
            continue
        start, end = tok.map
        if tok.type == "heading_open":
            label = _plain(tokens[index + 1].content)
            level = int(tok.tag[1])
            previous = headings[-1] if headings else None
            if (
                previous is not None
                and blocks[-1].heading is previous
                and previous.level == level
                and previous.end == start
                and not previous.setext
                and len(label) <= _SPLIT_TAIL_MAX
                and _qmark(label)
                and not previous.label.endswith(_TERMINAL)
            ):  # "## …最佳组合有哪" + "## 些?": one question on two heading lines
                previous.label = _join(previous.label, label)
                previous.number, previous.text = _number(previous.label)
                previous.end = end
                blocks[-1].end = end
                continue
            number, body = _number(label)
            heading = _Heading(start, end, level, label, number, body, setext=tok.markup in ("=", "-"))
            headings.append(heading)
            blocks.append(_Block("heading", start, end, index, heading))
        elif tok.type == "paragraph_open":
            blocks.append(_Block("paragraph", start, end, index))
        elif tok.type == "blockquote_open":
            blocks.append(_Block("quote", start, end, index))
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            blocks.append(_Block("list", start, end, index))
        else:
            blocks.append(_Block("other", start, end, index))
    return blocks, headings, image_lines


def _classify(headings: list[_Heading]) -> None:
    """Decide which headings are questions (see the module docstring)."""
    stack: list[_Heading] = []
    roots: list[_Heading] = []
    for h in headings:
        while stack and stack[-1].level >= h.level:
            stack.pop()
        h.parent = stack[-1] if stack else None
        (h.parent.children if h.parent else roots).append(h)
        stack.append(h)

    def marks_section(h: _Heading) -> bool:
        return any(_qmark(c.text) or c.number is not None or marks_section(c) for c in h.children)

    numbered: dict[int, list[bool]] = {}
    for h in headings:
        if h.number is not None:
            numbered.setdefault(h.level, []).append(marks_section(h))
    section_levels = {lv for lv, flags in numbered.items() if 2 * sum(flags) >= len(flags)}

    def decide(group: list[_Heading], in_question: bool) -> None:
        for h in group:
            h.in_question = in_question
            if _qmark(h.label):
                h.question = True
            elif h.number is not None:
                h.question = not in_question and h.level not in section_levels
        by_level: dict[int, list[_Heading]] = {}
        for h in group:
            by_level.setdefault(h.level, []).append(h)
        for siblings in by_level.values():
            if len(siblings) >= 2 and 2 * sum(s.question for s in siblings) >= len(siblings):
                for s in siblings:
                    if s.number is None and s.text:
                        s.question = True
        for h in group:
            decide(h.children, in_question or h.question)

    decide(roots, False)


def _anchors(blocks: Sequence[_Block], tokens: Sequence[Token], lines: Sequence[str]) -> list[_Anchor]:
    """Walk the top-level blocks and collect the questions in note order."""
    walker = _Walker(tokens, lines)
    for block in blocks:
        walker.visit(block)
    return walker.anchors


class _Walker:
    """The state of a walk over a note's top-level blocks."""

    def __init__(self, tokens: Sequence[Token], lines: Sequence[str]) -> None:
        self.tokens = tokens
        self.lines = lines
        self.anchors: list[_Anchor] = []
        self.owner: _Anchor | None = None  # the question whose answer the walk is in
        self.stack: list[_Heading] = []  # the enclosing headings
        self.pending: _Anchor | None = None  # a heading that is only a number, waiting for its question

    def section(self) -> tuple[str, ...]:
        return tuple(h.label for h in self.stack)

    def add(self, anchor: _Anchor, *, answered_here: bool = True) -> None:
        """Record a question; ``answered_here``: the blocks after it are its answer (not other questions)."""
        self.anchors.append(anchor)
        if answered_here:
            self.owner = anchor

    def allows(self, kind: QuestionKind) -> bool:
        """Whether a question of ``kind`` can start here: outside any answer, or after one of its kind."""
        return self.owner is None or self.owner.kind == kind

    def visit(self, block: _Block) -> None:
        if block.kind == "heading":
            assert block.heading is not None
            self.heading(block.heading)
        elif self.pending is not None:
            self.numbered_only(block)
        elif block.kind == "paragraph":
            self.paragraph(block)
        elif block.kind == "quote" and self.allows("quote"):
            quote = _quote_question(self.tokens, block, self.lines)
            if quote is not None:
                text, body = quote
                self.add(_Anchor("quote", _PARA, block.start, body, text, (*self.section(), text)))
        elif block.kind == "list":
            self.list(block)

    def heading(self, h: _Heading) -> None:
        self.pending = None
        while self.stack and self.stack[-1].level >= h.level:
            self.stack.pop()
        if self.owner is not None and (self.owner.level == _PARA or h.level <= self.owner.level):
            self.owner = None
        if h.question:
            anchor = _Anchor("heading", h.level, h.start, h.end, h.text, (*self.section(), h.label), h.number)
            if h.text:
                self.add(anchor)
            else:
                self.owner = self.pending = anchor
        self.stack.append(h)

    def numbered_only(self, block: _Block) -> None:
        """``### 3.`` followed by a paragraph: the paragraph's first line is the question."""
        anchor, self.pending = self.pending, None
        assert anchor is not None
        if block.kind == "paragraph":
            anchor.text = _plain(self.tokens[block.index + 1].content.split("\n", 1)[0])
            anchor.path = (*anchor.path[:-1], f"{anchor.path[-1]} {anchor.text}")
            anchor.body = block.start + 1
            if anchor.text:
                self.add(anchor)

    def in_list_section(self) -> bool:
        """Under a heading that names a list of questions (面试题, Interview questions …)."""
        return bool(self.stack) and not self.stack[-1].question and bool(_LIST_SECTION_RE.search(self.stack[-1].text))

    def paragraph(self, block: _Block) -> None:
        para = self.tokens[block.index + 1].content.split("\n")
        if self.allows("bold"):
            bold = _bold_line(para[0])
            if bold is not None:
                number, text = _number(bold)
                if (number is not None and text) or _qmark(bold):
                    path = (*self.section(), bold)
                    self.add(_Anchor("bold", _PARA, block.start, block.start + 1, text, path, number))
                    return
        if self.allows("qa"):
            qa = _qa(para, block.start)
            if qa is not None:
                text, body = qa
                self.add(_Anchor("qa", _PARA, block.start, body, text, (*self.section(), text)))
                return
        if self.owner is None:
            listed = self.in_list_section() and len(para) >= 2
            for k, raw in enumerate(para):
                text = _plain(raw)
                if text and (listed or _qmark(text)):
                    line = block.start + k
                    self.add(_Anchor("line", _PARA, line, line + 1, text, (*self.section(), text)), answered_here=False)

    def list(self, block: _Block) -> None:
        ordered = self.tokens[block.index].type == "ordered_list_open"
        for item, content in _list_items(self.tokens, block.index):
            if content is None or item.map is None:
                continue
            start, end = item.map
            marker = f"{item.info}{item.markup} " if ordered else ""
            indent = _item_indent(self.lines[start])
            bold = _bold_line(content.split("\n", 1)[0]) if self.allows("bold-item") else None
            if bold is not None:
                number, text = _number(bold)
                if ordered and number is None:
                    number, text = item.info or None, bold
                if text and (ordered or number is not None or _qmark(bold)):
                    path = (*self.section(), marker + bold)
                    self.add(_Anchor("bold-item", _PARA, start, start + 1, text, path, number, indent, end))
                    continue
            if self.owner is None:
                text = _plain(content)
                if text and (self.in_list_section() or _qmark(text)):
                    body = start + content.count("\n") + 1
                    path = (*self.section(), marker + text)
                    anchor = _Anchor("list", _PARA, start, body, text, path, item.info or None, indent, end)
                    self.add(anchor, answered_here=False)


def _item_indent(line: str) -> int:
    match = _ITEM_PREFIX_RE.match(line)
    return len(match.group(1)) if match else 0


def _list_items(tokens: Sequence[Token], index: int) -> list[tuple[Token, str | None]]:
    """The items of the list opening at ``index``: (item token, its first paragraph's inline source)."""
    items: list[tuple[Token, str | None]] = []
    level = tokens[index].level
    i = index + 1
    while i < len(tokens) and not (tokens[i].level == level and tokens[i].nesting == -1):
        tok = tokens[i]
        if tok.type == "list_item_open" and tok.level == level + 1:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            content = tokens[i + 2].content if nxt is not None and nxt.type == "paragraph_open" else None
            items.append((tok, content))
        i += 1
    return items


def _quote_question(tokens: Sequence[Token], block: _Block, lines: Sequence[str]) -> tuple[str, int] | None:
    """(question, first answer line) for a blockquote that is one short paragraph, else None.

    Lines of the paragraph without ``>`` (CommonMark's lazy continuation: ``> question`` and
    the answer on the next line) are the answer, not part of the question.
    """
    i = block.index
    if not (
        i + 4 < len(tokens)
        and tokens[i + 1].type == "paragraph_open"
        and tokens[i + 3].type == "paragraph_close"
        and tokens[i + 4].type == "blockquote_close"
    ):
        return None
    content = tokens[i + 2].content.split("\n")
    quoted = 1
    while quoted < len(content) and lines[block.start + quoted].lstrip().startswith(">"):
        quoted += 1
    if content[0].lstrip().startswith("[!") or quoted > _QUOTE_MAX_LINES:
        return None  # a GitHub callout ("> [!NOTE]") or a real quotation
    text = _plain("\n".join(content[:quoted]))
    if text and len(text) <= _QUOTE_MAX_CHARS:
        return text, block.start + quoted
    return None


def _qa(para: Sequence[str], start: int) -> tuple[str, int] | None:
    """(question, first answer line) for a paragraph starting ``Q:`` / ``问：``, else None."""
    first = _plain(para[0])
    match = _Q_RE.match(first)
    if match is None:
        return None
    parts = [match.group(1)]
    for k in range(1, len(para)):
        text = _plain(para[k])
        if _A_RE.match(text):
            return _squash("\n".join(parts)), start + k
        parts.append(text)
    question = _squash("\n".join(parts))
    return (question, start + len(para)) if question else None


def _figure(src: str, alt: str) -> str:
    path = src.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    from urllib.parse import unquote

    name = unquote(path.rsplit("/", 1)[-1]).strip() or alt.strip() or "image"
    return f"[figure: {name}]"


def _answer(
    lines: Sequence[str], anchor: _Anchor, stop: int, headings: Sequence[_Heading], image_lines: set[int]
) -> str | None:
    """The answer's Markdown source: lines ``anchor.body`` to ``stop``, images and headings adjusted."""
    out: dict[int, str | None] = {k: lines[k] for k in range(anchor.body, stop)}
    if not out:
        return None
    for k in range(anchor.body, min(stop, anchor.indent_end)):
        line = out[k] or ""
        width = len(line) - len(line.lstrip(" "))
        out[k] = line[min(width, anchor.indent):]
    inner = [h for h in headings if anchor.body <= h.start < stop]  # headings: those in the answer
    if inner:
        top = min(h.level for h in inner)
        for h in inner:
            hashes = "#" * min(6, h.level - top + 4)
            if h.setext:
                for k in range(h.start, min(h.end, stop)):
                    out[k] = None
                out[h.start] = f"{hashes} {h.label}"
            else:
                for k in range(h.start, min(h.end, stop)):
                    out[k] = _ATX_RE.sub(r"\g<1>" + hashes, out[k] or "", count=1)
    for k in image_lines.intersection(out):
        text = out[k]
        if text is not None:
            text = _IMG_MD_RE.sub(lambda m: _figure(m.group(2), m.group(1)), text)
            out[k] = _IMG_HTML_RE.sub(lambda m: _figure(m.group(1), ""), text)
    kept = [line for _, line in sorted(out.items()) if line is not None]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    if anchor.kind == "qa" and kept:
        kept[0] = _A_PREFIX_RE.sub(lambda m: m.group(1), kept[0], count=1)
        if not kept[0].strip():
            kept.pop(0)
    text = "\n".join(kept)
    return text if text.strip() else None


# --------------------------------------------------------------------------- re-import planning


@dataclass(frozen=True)
class PlannedCard:
    """A card the import writes or keeps: its id (never changed for an existing card) and its note text."""

    id: str
    note: NoteQuestion

    @property
    def source_hash(self) -> str:
        return self.note.source_hash


@dataclass(frozen=True)
class Renamed:
    """An existing card whose question was reworded in the notes and which keeps its id and progress."""

    id: str
    old_question: str
    new_question: str
    similarity: float  # of the answers: 1.0 when equal after normalisation


@dataclass
class ImportPlan:
    """What an import of notes would do. Nothing is written by planning."""

    added: list[PlannedCard] = field(default_factory=list)
    updated: list[PlannedCard] = field(default_factory=list)  # the file changed the card: its text wins
    unchanged: list[PlannedCard] = field(default_factory=list)  # the file did not change it: store text kept
    retired: list[str] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)  # also listed in ``updated``

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired)

    def summary(self) -> str:
        renamed = f" ({len(self.renamed)} renamed)" if self.renamed else ""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated{renamed}, "
            f"{len(self.unchanged)} unchanged, {len(self.retired)} retired"
        )


def _answer_key(answer: str) -> str:
    return "".join(unicodedata.normalize("NFKC", answer).casefold().split())


def plan_import(
    existing: Mapping[str, ExistingNoteCard],
    parsed: Sequence[NoteQuestion],
    *,
    taken: Callable[[str], bool] | None = None,
) -> ImportPlan:
    """Plan a (re-)import: ``existing`` are the cards earlier imports of the same notes made, by id.

    Each parsed question is paired with at most one existing card, and vice versa, in this order:

    1. **same text as last read**: its :func:`note_hash` equals the card's ``source_hash``
       (so a card renamed by an earlier import, or edited in the store, is found again);
    2. **same id**: the question's :func:`note_id` is the card's id;
    3. **same question**: the card's question in the store has that id;
    4. **same answer** (a reworded question): the normalised answers (width, case and all
       whitespace ignored) are equal;
    5. **similar answer**: the ``difflib.SequenceMatcher`` ratio of the normalised answers
       (their first 2,000 characters) is at least :data:`RENAME_SIMILARITY` (0.8); best pairs
       first. Only likely pairs are compared: those sharing at least half of their character
       trigrams (Dice), the best three per question, at most :data:`RENAME_MAX_COMPARISONS`
       in all; skipped when more than :data:`RENAME_MAX_PAIRS` pairs are unpaired.

    Unanswered questions and cards are never paired by answer (steps 4-5), nor is an answer
    that two unpaired questions, or two unpaired cards, share: which is which is unknowable. A paired card keeps
    its id, so its schedule and review history stay. It is *updated* when the file's text for
    it changed since it was last read (``source_hash``; for a card without one, its store text
    stands in), or when it was retired; otherwise it is *unchanged*, which keeps an edit made
    with ``llmcards edit``. Cards paired in steps 4-5 are also listed in ``renamed``. Unpaired
    questions are *added*, with their ``id`` unless it is used by an existing card, another new
    card or ``taken``; unpaired cards not yet retired are *retired*.
    """
    plan = ImportPlan()
    free_old = dict(existing)
    pairs: dict[int, tuple[str, float | None]] = {}  # parsed index -> (card id, answer similarity if renamed)

    def pair(i: int, card_id: str, similarity: float | None = None) -> None:
        pairs[i] = (card_id, similarity)
        del free_old[card_id]

    by_hash: dict[str, list[str]] = {}
    for card_id, card in existing.items():
        last_read = card.source_hash if card.source_hash is not None else note_hash(card.question, card.answer)
        by_hash.setdefault(last_read, []).append(card_id)
    for i, q in enumerate(parsed):  # 1. same text as last read
        for card_id in by_hash.get(q.source_hash, ()):
            if card_id in free_old:
                pair(i, card_id)
                break
    for i, q in enumerate(parsed):  # 2. same id
        if i not in pairs and q.id in free_old:
            pair(i, q.id)
    if len(pairs) < len(parsed) and free_old:  # 3. same question as the store's
        by_question: dict[str, str] = {}
        for card_id, card in free_old.items():
            by_question.setdefault(note_id(card.question), card_id)
        for i, q in enumerate(parsed):
            if i not in pairs:
                card_id = by_question.get(note_id(q.question), "")
                if card_id in free_old:
                    pair(i, card_id)
    if len(pairs) < len(parsed) and free_old:
        _pair_by_answer(parsed, free_old, pairs, pair)

    used = set(existing)
    for i, q in enumerate(parsed):
        if i not in pairs:
            card_id = q.id or note_id(q.question)
            attempt = 0
            while card_id in used or (taken is not None and taken(card_id)):
                attempt += 1
                card_id = note_id(q.question, salt=f"{q.locator}\n{attempt}", size=10)
            used.add(card_id)
            plan.added.append(PlannedCard(card_id, q))
            continue
        card_id, similarity = pairs[i]
        card = existing[card_id]
        last_read = card.source_hash if card.source_hash is not None else note_hash(card.question, card.answer)
        planned = PlannedCard(card_id, q)
        if card.retired or q.source_hash != last_read:
            plan.updated.append(planned)
        else:
            plan.unchanged.append(planned)
        if similarity is not None:
            plan.renamed.append(Renamed(card_id, card.question, q.question, similarity))
    plan.retired = [card_id for card_id, card in free_old.items() if not card.retired]
    return plan


def _trigrams(key: str) -> frozenset[str]:
    return frozenset(key[i:i + 3] for i in range(max(1, len(key) - 2)))


def _pair_by_answer(
    parsed: Sequence[NoteQuestion],
    free_old: Mapping[str, ExistingNoteCard],
    pairs: Mapping[int, tuple[str, float | None]],
    pair: Callable[[int, str, float | None], None],
) -> None:
    """Steps 4 and 5 of :func:`plan_import`: pair reworded questions with cards by their answers."""
    new = {i: key for i, q in enumerate(parsed) if i not in pairs and q.answer and (key := _answer_key(q.answer))}
    old = {cid: key for cid, c in free_old.items() if c.answer and (key := _answer_key(c.answer))}
    new_by_key: dict[str, list[int]] = {}
    old_by_key: dict[str, list[str]] = {}
    for i, key in new.items():
        new_by_key.setdefault(key, []).append(i)
    for cid, key in old.items():
        old_by_key.setdefault(key, []).append(cid)
    repeated = {k for k, v in new_by_key.items() if len(v) > 1} | {k for k, v in old_by_key.items() if len(v) > 1}
    for key, indexes in new_by_key.items():  # 4. the same answer, given once on each side
        cards = old_by_key.get(key)
        if cards and key not in repeated:
            pair(indexes[0], cards[0], 1.0)
            del new[indexes[0]], old[cards[0]]
    new = {i: key for i, key in new.items() if key not in repeated}  # which of two equal answers? unknowable
    old = {cid: key for cid, key in old.items() if key not in repeated}
    if not new or not old or len(new) * len(old) > RENAME_MAX_PAIRS:
        return
    # 5. similar answers. Candidates share many character trigrams (Dice >= 0.5, the best 3 per
    # question; trigrams in more than 20 answers are too common to tell anything); difflib decides.
    import difflib

    grams = {cid: _trigrams(key) for cid, key in old.items()}
    index: dict[str, list[str]] = {}
    for cid, card_grams in grams.items():
        for gram in card_grams:
            index.setdefault(gram, []).append(cid)
    found: list[tuple[float, int, str]] = []
    budget = RENAME_MAX_COMPARISONS
    for i, key in new.items():
        mine = _trigrams(key)
        shared: dict[str, int] = {}
        for gram in mine:
            posting = index.get(gram, ())
            if len(posting) <= 20:
                for cid in posting:
                    shared[cid] = shared.get(cid, 0) + 1
        dice = sorted(((2 * n / (len(mine) + len(grams[cid])), cid) for cid, n in shared.items()), reverse=True)
        for score, cid in dice[:3]:
            if score < 0.5 or budget <= 0:
                break
            budget -= 1
            ratio = difflib.SequenceMatcher(None, key[:_COMPARED_CHARS], old[cid][:_COMPARED_CHARS]).ratio()
            if ratio >= RENAME_SIMILARITY:
                found.append((ratio, i, cid))
    found.sort(key=lambda c: (-c[0], c[1], c[2]))
    done_new: set[int] = set()
    done_old: set[str] = set()
    for ratio, i, cid in found:
        if i not in done_new and cid not in done_old:
            done_new.add(i)
            done_old.add(cid)
            pair(i, cid, round(ratio, 3))
