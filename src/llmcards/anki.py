"""Anki packages: writing our cards as an ``.apkg`` (genanki), reading reviews back from Anki's exports.

genanki, markdown-it-py and zstandard are imported inside the functions that use them.

Writing: one note per card, whose GUID is ``genanki.guid_for(card_id)``, so a package made
after an edit *updates* the note in Anki (Anki matches notes by GUID and takes the imported
one when it is newer) instead of adding a second one. The note type and the deck have fixed
ids. Card text is Markdown: it is rendered to HTML with markdown-it-py, formulas become
MathJax ``\\(...\\)`` and ``\\[...\\]`` (which Anki renders; it does not render ``$...$``),
and images become the bank's ``[figure: name.png]`` placeholders (a package carries no media).

Reading: an ``.apkg`` or ``.colpkg`` is a zip holding the collection as SQLite, in one of
three generations: ``collection.anki21b`` (current Anki: zstd-compressed, schema 18, whose
tables use a ``unicase`` collation), ``collection.anki21`` or ``collection.anki2`` (legacy;
a current package also carries a dummy ``collection.anki2`` that only says "update Anki").
The newest one present is read.
"""

from __future__ import annotations

import html
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from llmcards.errors import UserError
from llmcards.models import Card

MODEL_ID = 1_733_052_871  # fixed forever: Anki recognises the note type by it
DECK_ID = 1_733_052_913  # fixed forever: the deck a package's cards go to
MODEL_NAME = "llmcards"
DEFAULT_DECK = "llmcards"
COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")  # newest first

CSS = """\
.card { font-family: -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC", sans-serif;
        font-size: 18px; text-align: left; line-height: 1.5; color: black; background-color: white; }
.question { font-weight: bold; }
.sources, .id { font-size: 12px; color: #888; margin-top: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #aaa; padding: 2px 6px; }
pre { background: #f4f4f4; padding: 6px; overflow-x: auto; }
.nightMode pre { background: #333; }
"""
QUESTION_TEMPLATE = '<div class="question">{{Question}}</div>'
ANSWER_TEMPLATE = ('{{FrontSide}}\n<hr id="answer">\n<div class="answer">{{Answer}}</div>\n'
                   '{{#Sources}}<div class="sources">{{Sources}}</div>{{/Sources}}\n<div class="id">{{Id}}</div>')

_IMAGE_RE = re.compile(r"!\[[^\]\n]*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_SLOT_RE = re.compile("\ue000(\\d+)\ue001")  # a formula's place while Markdown renders (private-use characters)
_TAG_SPACE_RE = re.compile(r"\s+")


def guid(card_id: str) -> str:
    """The GUID of a card's note: the same for the same id in every package."""
    import genanki

    return str(genanki.guid_for(card_id))


@lru_cache(maxsize=1)
def _markdown() -> Any:
    import logging

    from markdown_it import MarkdownIt

    # markdown-it logs every block rule it tries at DEBUG level: a tenth of its time, for nothing here.
    logging.getLogger("markdown_it").disabled = True
    # Raw HTML in card text is shown as text, never run; a line break in the notes stays one.
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])


# Text that Markdown would only wrap in a paragraph: one line, none of the characters that start
# emphasis, code, links, images, HTML, entities, escapes, tables or strikethrough, and no start
# that makes a heading, list, quote, rule or code block. Most questions are like that.
_MARKUP_RE = re.compile(r"[\\`*_\[\]#<>!|~&\n\r]|^[\s\-+=\d]")


def _paragraph(text: str) -> str:
    """What markdown-it renders for text that :data:`_MARKUP_RE` passes (its own escaping)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return f"<p>{escaped.rstrip()}</p>"


def to_html(text: str | None) -> str:
    """Card Markdown as the HTML of an Anki field, formulas as MathJax, images as placeholders.

    Formulas are set aside before Markdown sees them, so ``_`` and ``*`` inside them never
    become emphasis, and are put back HTML-escaped inside ``\\(...\\)`` or ``\\[...\\]``.
    """
    if not text:
        return ""
    from llmcards.text import neutralize, replace_formulas

    formulas: list[str] = []

    def slot(latex: str, display: bool) -> str:
        formulas.append(f"\\[{latex.strip()}\\]" if display else f"\\({latex.strip()}\\)")
        return f"\ue000{len(formulas) - 1}\ue001"

    source = replace_formulas(neutralize(text), slot)
    source = _IMAGE_RE.sub(lambda m: f"[figure: {os.path.basename(m.group(1))}]", source)
    if _MARKUP_RE.search(source):
        rendered: str = _markdown().render(source).strip()
    else:
        rendered = _paragraph(source)
    return _SLOT_RE.sub(lambda m: html.escape(formulas[int(m.group(1))], quote=False), rendered)


def anki_tags(tags: Iterable[str]) -> list[str]:
    """Tags as Anki takes them: no spaces inside a tag (each run of spaces becomes ``_``)."""
    return list(dict.fromkeys(_TAG_SPACE_RE.sub("_", t.strip()) for t in tags if t.strip()))


def _model() -> Any:
    import genanki

    return genanki.Model(
        MODEL_ID, MODEL_NAME,
        fields=[{"name": "Question"}, {"name": "Answer"}, {"name": "Sources"}, {"name": "Id"}],
        templates=[{"name": "Card 1", "qfmt": QUESTION_TEMPLATE, "afmt": ANSWER_TEMPLATE}],
        css=CSS,
        sort_field_index=0,
    )


def note_fields(card: Card) -> list[str]:
    """The four fields of a card's note: Question, Answer, Sources, Id."""
    sources = "<br>".join(html.escape(s, quote=False) for s in card.sources)
    return [to_html(card.question), to_html(card.answer), sources, html.escape(card.id, quote=False)]


def write_apkg(cards: Iterable[Card], out: Path, *, deck_name: str, timestamp: float,
               progress: Callable[[int], None] | None = None) -> int:
    """Write the cards as an Anki package at ``out`` (a new file); returns how many notes.

    ``timestamp`` (seconds) becomes every note's modification time: it must grow from one
    export to the next, or Anki would keep the notes it has instead of updating them.
    """
    import itertools
    import warnings
    import zipfile

    import genanki

    model = _model()
    deck = genanki.Deck(DECK_ID, deck_name)
    count = 0
    for count, card in enumerate(cards, start=1):
        note = genanki.Note(model=model, fields=note_fields(card), tags=anki_tags(card.tags), guid=guid(card.id),
                            due=count)
        for anki_card in note.cards:
            anki_card.suspend = card.suspended
        deck.add_note(note)
        if progress is not None and count % 200 == 0:
            progress(count)
    if progress is not None:
        progress(count)
    fd, db_name = tempfile.mkstemp(prefix="llmcards-", suffix=".anki2")
    os.close(fd)
    try:
        conn = sqlite3.connect(db_name)
        try:
            with warnings.catch_warnings():  # genanki warns about HTML it cannot parse; ours is rendered
                warnings.simplefilter("ignore")
                genanki.Package(deck).write_to_db(conn.cursor(), timestamp, itertools.count(int(timestamp * 1000)))
            conn.commit()
        finally:
            conn.close()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
            package.write(db_name, "collection.anki2")
            package.writestr("media", "{}")
    finally:
        os.unlink(db_name)
    return count


# ----------------------------------------------------------------------------- reading
class AnkiReview(NamedTuple):
    """One row of an Anki collection's ``revlog``, with the GUID of its card's note."""

    time_ms: int  # revlog.id: when, in ms since the epoch
    ease: int  # 1-4; 0 for manual entries
    duration_ms: int  # revlog.time
    kind: int  # revlog.type: 0 learn, 1 review, 2 relearn, 3 filtered (cram), 4 manual, 5 rescheduled
    guid: str | None  # None: the card is not in the package


@dataclass(frozen=True)
class AnkiLog:
    """The review log read from a package."""

    member: str  # the collection file inside the package
    count: int  # revlog rows
    rows: Iterator[AnkiReview]


def _unicase(a: str, b: str) -> int:
    x, y = a.casefold(), b.casefold()
    return (x > y) - (x < y)


@contextmanager
def open_revlog(path: Path) -> Iterator[AnkiLog]:
    """The review log of an Anki package (``.apkg`` or ``.colpkg``), oldest first.

    A file that is not a readable Anki package gets a one-line :class:`UserError`.
    """
    import shutil
    import zipfile
    import zlib

    name = str(path)
    with tempfile.TemporaryDirectory(prefix="llmcards-anki-") as tmp:
        db_path = Path(tmp) / "collection.sqlite"
        try:
            with zipfile.ZipFile(path) as package:
                names = set(package.namelist())
                member = next((m for m in COLLECTIONS if m in names), None)
                if member is None:
                    raise UserError(f"{name}: not an Anki package (it holds no collection.anki2 or collection.anki21b)")
                with package.open(member) as src, open(db_path, "wb") as dst:
                    if member.endswith("b"):
                        import zstandard

                        zstandard.ZstdDecompressor().copy_stream(src, dst)
                    else:
                        shutil.copyfileobj(src, dst)
        except FileNotFoundError:
            raise UserError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise UserError(f"{name}: is a directory, not an Anki package") from None
        except zipfile.BadZipFile as exc:
            raise UserError(f"{name}: not an Anki package, or a damaged one ({exc})") from None
        except (EOFError, zlib.error) as exc:
            raise UserError(f"{name}: a damaged Anki package (truncated: {exc})") from None
        except OSError as exc:
            raise UserError(f"{name}: cannot read ({exc.strerror or exc})") from None
        except Exception as exc:  # zstandard.ZstdError, imported lazily
            if type(exc).__name__ == "ZstdError":
                raise UserError(f"{name}: a damaged Anki package ({member} does not decompress: {exc})") from None
            raise
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.create_collation("unicase", _unicase)
        try:
            try:
                count = int(conn.execute("SELECT count(*) FROM revlog").fetchone()[0])
                cur = conn.execute(
                    "SELECT r.id, r.ease, r.time, r.type, n.guid FROM revlog r LEFT JOIN cards c ON c.id = r.cid "
                    "LEFT JOIN notes n ON n.id = c.nid ORDER BY r.id")
            except sqlite3.DatabaseError as exc:
                raise UserError(f"{name}: {member} is not an Anki collection ({exc})") from None

            def rows() -> Iterator[AnkiReview]:
                try:
                    while True:
                        chunk = cur.fetchmany(10_000)
                        if not chunk:
                            return
                        yield from map(AnkiReview._make, chunk)
                except sqlite3.DatabaseError as exc:
                    raise UserError(f"{name}: {member} is damaged ({exc})") from None

            yield AnkiLog(member, count, rows())
        finally:
            conn.close()
