"""Export and import in the formats people use.

- ``yaml``: the bank format (:mod:`llmcards.bank`), marked as an export; importing it into a
  fresh store gives back the same cards (ids, text, tags, sources, suspended flags).
- ``csv``: one row per card, for spreadsheets.
- ``revlog``: the review history in the CSV layout of the FSRS tools (fsrs-rs's examples, the
  srs-benchmark data); :func:`import_reviews` reads it back.
- ``apkg``: an Anki package (:mod:`llmcards.anki`); :func:`import_anki` reads the reviews of
  an Anki export of our deck back.

Every file is written to a temporary file in the same directory and renamed into place, so a
failed export leaves nothing half-written at the path. Every import of reviews happens in one
transaction with the replay of the cards it touched (:func:`llmcards.replay.replay_cards`).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from llmcards.errors import UserError
from llmcards.models import Card, Question, ReviewImportReport, State

if TYPE_CHECKING:
    from llmcards.store import Store

FORMATS = ("yaml", "csv", "revlog", "apkg")
TEXT_FORMATS = ("yaml", "csv", "revlog")  # these can go to stdout
CARD_COLUMNS = ("id", "question", "answer", "tags", "state", "due", "stability", "difficulty", "reps", "lapses")
REVLOG_COLUMNS = ("card_id", "review_time", "review_rating", "review_state", "review_duration")
REVLOG_REQUIRED = ("card_id", "review_time", "review_rating")
EXAMPLES = 5  # bad rows and unknown cards named in a report

T = TypeVar("T")

# (what is being done, how much is done, the total if known): the CLI draws a progress bar.
Progress = Callable[[str, int, "int | None"], None]


def _no_progress(what: str, done: int, total: int | None) -> None:
    pass


# ----------------------------------------------------------------------------- writing files
def default_path(fmt: str, now: datetime) -> Path:
    """``llmcards-YYYYMMDD.<ext>`` (``llmcards-revlog-YYYYMMDD.csv`` for reviews) in the current directory."""
    day = now.astimezone().strftime("%Y%m%d")
    if fmt == "revlog":
        return Path(f"llmcards-revlog-{day}.csv")
    return Path(f"llmcards-{day}.{fmt}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path in the same directory as ``path``, renamed to ``path`` when the block
    succeeds; on any error the temporary file is removed and nothing appears at ``path``."""
    name = str(path)
    if path.is_dir():
        raise UserError(f"{name}: is a directory; give a file name")
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except FileNotFoundError:
        raise UserError(f"{name}: no such directory {str(directory)!r}") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot write there ({exc.strerror})") from None
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{name}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _text_output(out: Path | None) -> Iterator[IO[str]]:
    """A text file at ``out`` (written atomically), or stdout when ``out`` is None."""
    if out is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        yield handle


# ----------------------------------------------------------------------------- export
@dataclass(frozen=True)
class Selection:
    """Which cards an export takes: not retired, answered unless ``include_unanswered``, every tag of ``tags``."""

    tags: tuple[str, ...] = ()
    include_unanswered: bool = False


@dataclass(frozen=True)
class ExportReport:
    format: str
    path: str | None  # None: stdout
    cards: int
    reviews: int = 0


def export(store: Store, fmt: str, out: Path | None, selection: Selection, *, now: datetime,
           deck_name: str | None = None, progress: Progress = _no_progress) -> ExportReport:
    """Write the selected cards (or their reviews, for ``revlog``) to ``out`` (stdout when None)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if out is None and fmt not in TEXT_FORMATS:
        raise UserError(f"the {fmt} format is binary and cannot go to stdout; give a file with -o")
    for tag in selection.tags:
        if not store.cards.has_tag(tag):
            raise UserError(f"no card has the tag {tag!r}")
    args = (selection.tags, selection.include_unanswered)
    path = None if out is None else str(out)
    if fmt == "revlog":
        total = store.history.count()  # an upper bound: counting exactly would cost another pass
        with _text_output(out) as handle:
            written = write_revlog(store.history.revlog_lines(*args), handle, total=total, progress=progress)
        return ExportReport(fmt, path, cards=0, reviews=written)
    total = store.cards.count_for_export(*args)
    if fmt == "yaml":
        with _text_output(out) as handle:
            count = write_yaml(_counted(store.cards.questions_for_export(*args), total, progress), handle, now=now)
        return ExportReport(fmt, path, cards=count)
    cards = _counted(store.cards.for_export(*args), total, progress)
    if fmt == "csv":
        with _text_output(out) as handle:
            count = write_cards_csv(cards, handle, bom=out is not None)
    else:
        from llmcards.anki import DEFAULT_DECK, write_apkg

        assert out is not None
        with atomic_path(out) as tmp:
            count = write_apkg(cards, tmp, deck_name=deck_name or DEFAULT_DECK, timestamp=now.timestamp())
    return ExportReport(fmt, path, cards=count)


def _counted(cards: Iterator[T], total: int, progress: Progress) -> Iterator[T]:
    done = 0
    progress("cards", 0, total)
    for done, card in enumerate(cards, start=1):
        if done % 500 == 0:
            progress("cards", done, total)
        yield card
    progress("cards", done, total)


def write_yaml(cards: Iterator[Question], handle: IO[str], *, now: datetime) -> int:
    """The cards as a bank file marked as an export; returns how many."""
    from llmcards.bank import dump_bank

    count = 0

    def questions() -> Iterator[Question]:
        nonlocal count
        for card in cards:
            count += 1
            yield card

    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    comment = (f"llmcards export, {stamp}\n"
               "Import it with `llmcards import FILE`: cards are matched by id; cards the file\n"
               "marks `suspended: true` are suspended (an import never unsuspends a card).")
    buffer: list[str] = []
    for piece in dump_bank(questions(), exported_at=stamp, comment=comment):
        buffer.append(piece)
        if len(buffer) >= 1000:
            handle.write("".join(buffer))
            buffer.clear()
    handle.write("".join(buffer))
    return count


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_cards_csv(cards: Iterator[Card], handle: IO[str], *, bom: bool = True) -> int:
    """One row per card (:data:`CARD_COLUMNS`); tags separated by spaces (a space inside a tag
    becomes ``_``); ``due`` in ISO 8601 UTC; a byte-order mark first (``bom``), so spreadsheets
    read the UTF-8 right."""
    from llmcards.anki import anki_tags

    if bom:
        handle.write("\ufeff")
    writer = csv.writer(handle)
    writer.writerow(CARD_COLUMNS)
    count = 0
    for card in cards:
        s = card.schedule
        writer.writerow((card.id, card.question, card.answer or "", " ".join(anki_tags(card.tags)), s.state.label,
                         _iso(s.due), "" if s.stability is None else repr(s.stability),
                         "" if s.difficulty is None else repr(s.difficulty), s.reps, s.lapses))
        count += 1
    return count


def write_revlog(batches: Iterator[list[str]], handle: IO[str], *, total: int,
                 progress: Progress = _no_progress) -> int:
    """Reviews in the FSRS tools' layout (:data:`REVLOG_COLUMNS`), from the store's CSV lines."""
    handle.write(",".join(REVLOG_COLUMNS) + "\n")
    count = 0
    progress("reviews", 0, total)
    for lines in batches:
        handle.write("".join(lines))
        count += len(lines)
        progress("reviews", count, max(total, count))
    progress("reviews", count, count)
    return count


# ----------------------------------------------------------------------------- importing reviews
def _study_days(day_starts_at: int) -> Callable[[int], str]:
    """The study day (ISO date) of a time in ms, by :func:`llmcards.scheduler.study_day`, with
    the study days that meet each UTC day computed once (millions of reviews, a few thousand days)."""
    from llmcards.scheduler import next_day_start, study_day

    day_ms = 86_400_000
    cache: dict[int, list[tuple[int, str]]] = {}

    def spans(utc_day: int) -> list[tuple[int, str]]:
        """(end in ms, study day) of each study day that meets this UTC day, in order."""
        out: list[tuple[int, str]] = []
        at = datetime.fromtimestamp(utc_day * 86_400, tz=timezone.utc)
        stop = (utc_day + 1) * day_ms
        while True:
            end = next_day_start(at, day_starts_at)
            end_ms = int(end.timestamp() * 1000)
            out.append((end_ms, study_day(at, day_starts_at).isoformat()))
            if end_ms >= stop:
                return out
            at = end

    def day_of(ms: int) -> str:
        utc_day = ms // day_ms
        found = cache.get(utc_day)
        if found is None:
            found = cache[utc_day] = spans(utc_day)
        for end, day in found:
            if ms < end:
                return day
        return found[-1][1]

    return day_of


ReviewRow = tuple[str, int, int, "int | None", int, str, int]  # what History.merge takes


def _merge_and_replay(store: Store, rows: Iterator[ReviewRow], report: ReviewImportReport,
                      progress: Progress) -> ReviewImportReport:
    """Merge the rows and replay the cards that got new reviews, in one transaction."""
    from llmcards.backup import backup_before
    from llmcards.replay import replay_cards

    if not store.cards.empty():
        backup_before(store, "import")
    with store.write():
        merged = store.history.merge(rows)
        total = len(merged.card_ids)
        progress("replay", 0, total)
        replayed = replay_cards(store, merged.card_ids, progress=lambda done: progress("replay", done, total))
    report.added, report.already, report.repeated = merged.added, merged.already, merged.repeated
    report.unknown, report.unknown_cards = merged.unknown, merged.unknown_cards
    report.cards, report.changed = replayed.cards, len(replayed.changed)
    return report


def _count_lines(path: Path) -> int:
    lines = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def import_reviews(store: Store, path: Path, *, now: datetime, progress: Progress = _no_progress) -> ReviewImportReport:
    """Import a review log in the FSRS tools' CSV layout, then replay the cards it touched.

    Columns are found by name in the header; ``card_id``, ``review_time`` (ms since the epoch,
    UTC) and ``review_rating`` (1-4) are required, ``review_duration`` (ms) is read when
    present, ``review_state`` is ignored (the replay recomputes every state). Rows that cannot
    be read (a rating outside 1-4, a time that is not a whole number of ms, a time in the future,
    a wrong number of fields) are counted and named in the report; reviews of cards the store
    does not have are counted and named too. A review the store already has (same card, same
    millisecond) is skipped, so importing a file twice changes nothing.
    """
    from llmcards.bank import open_input

    name = str(path)
    with open_input(path, "a review log") as handle:
        reader = csv.reader(_utf8_lines(handle, name), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise UserError(f"{name}:1: not a CSV review log ({exc})") from None
        if header is None:
            raise UserError(f"{name}: empty file; expected a header with {', '.join(REVLOG_COLUMNS)}")
        columns = [c.strip() for c in header]
        missing = [c for c in REVLOG_REQUIRED if c not in columns]
        if missing:
            raise UserError(f"{name}: not a review log: missing the column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)} (expected {','.join(REVLOG_COLUMNS)}; "
                            f"found {','.join(columns)[:80]})")
        total = max(0, _count_lines(path) - 1)
        report = ReviewImportReport(source=name, kind="revlog")
        rows = _revlog_rows(reader, columns, report, store.settings().day_starts_at, now, progress, total, name)
        return _merge_and_replay(store, rows, report, progress)


def _utf8_lines(handle: IO[bytes], name: str) -> Iterator[str]:
    """The file's lines as text, with an error naming the line that is not UTF-8 (a byte-order mark is dropped)."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{name}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                            "nothing imported") from None


def _revlog_rows(reader: Iterator[list[str]], columns: list[str], report: ReviewImportReport, day_starts_at: int,
                 now: datetime, progress: Progress, total: int, name: str) -> Iterator[ReviewRow]:
    """The rows of a review log as :meth:`History.merge` takes them; bad rows are counted in ``report``.

    The common row (five plain fields) takes the short path: this runs millions of times.
    """
    i_card, i_time, i_rating = (columns.index(c) for c in REVLOG_REQUIRED)
    i_duration = columns.index("review_duration") if "review_duration" in columns else None
    width = len(columns)
    now_ms = int(now.timestamp() * 1000)
    days = _study_days(day_starts_at)
    ratings = {"1": 1, "2": 2, "3": 3, "4": 4}
    review = int(State.REVIEW)
    read = 0
    line = 1

    def bad(why: str) -> None:
        report.bad += 1
        if len(report.bad_examples) < EXAMPLES:
            report.bad_examples.append(f"line {line}: {why}")

    progress("reviews", 0, total)
    try:
        for row in reader:
            read += 1
            if read % 50_000 == 0:
                progress("reviews", read, total)
            if len(row) != width:
                line = reader.line_num  # type: ignore[attr-defined]
                if not row or (len(row) == 1 and not row[0].strip()):
                    read -= 1
                    continue
                bad(f"{len(row)} fields, expected {width}")
                continue
            card_id, time_text, rating_text = row[i_card], row[i_time], row[i_rating]
            rating = ratings.get(rating_text)
            duration: int | None = None
            try:
                ms = int(time_text)
                if i_duration is not None and row[i_duration]:
                    duration = int(row[i_duration])
            except ValueError:
                pass
            else:
                if rating is not None and card_id and 0 < ms <= now_ms and (duration is None or duration >= 0) \
                        and card_id.strip() == card_id:
                    yield card_id, ms, rating, duration, review, days(ms), 0
                    continue
            # The slow path: what is wrong with this row, or a row in a looser spelling.
            line = reader.line_num  # type: ignore[attr-defined]
            card_id = card_id.strip()
            if not card_id:
                bad("no card_id")
                continue
            try:
                ms = int(time_text)
            except ValueError:
                bad(f"review_time {time_text[:30]!r} is not a whole number of ms since 1970")
                continue
            if ms <= 0:
                bad(f"review_time {ms} is not after 1970")
                continue
            if ms > now_ms:
                bad(f"review_time {ms} is in the future")
                continue
            rating = ratings.get(rating_text.strip())
            if rating is None:
                bad(f"review_rating {rating_text.strip()[:10]!r} is not 1-4")
                continue
            duration = None
            if i_duration is not None and row[i_duration].strip():
                try:
                    duration = round(float(row[i_duration]))
                except ValueError:
                    bad(f"review_duration {row[i_duration][:20]!r} is not a number of ms")
                    continue
                if duration < 0:
                    bad(f"review_duration {duration} is negative")
                    continue
            yield card_id, ms, rating, duration, review, days(ms), 0
    except csv.Error as exc:
        raise UserError(f"{name}:{reader.line_num}: not a CSV review log ({exc}); nothing imported") from None  # type: ignore[attr-defined]
    finally:
        report.read = read
    progress("reviews", read, total)


# ----------------------------------------------------------------------------- reviews from Anki
ANKI_STATE = {0: State.LEARNING, 1: State.REVIEW, 2: State.RELEARNING, 3: State.REVIEW}
ANKI_FILTERED = 3


def import_anki(store: Store, path: Path, *, now: datetime, progress: Progress = _no_progress) -> ReviewImportReport:
    """Import the review history of an Anki package (``.apkg`` with scheduling, or ``.colpkg``).

    A review belongs to our card whose note GUID it has (:func:`llmcards.anki.guid`); reviews
    of other notes are counted as unknown. Manual entries (rescheduling, "set due date") are
    skipped, reviews in filtered decks are imported as cram (they leave the schedule alone),
    and then the cards that got new reviews are replayed.
    """
    from llmcards.anki import guid, open_revlog

    by_guid = {guid(card_id): card_id for card_id in store.cards.ids()}
    report = ReviewImportReport(source=str(path), kind="anki")
    days = _study_days(store.settings().day_starts_at)
    now_ms = int(now.timestamp() * 1000)
    with open_revlog(path) as log:
        def rows() -> Iterator[ReviewRow]:
            progress("reviews", 0, log.count)
            for review in log.rows:
                report.read += 1
                if report.read % 20_000 == 0:
                    progress("reviews", report.read, log.count)
                if review.kind not in ANKI_STATE or not 1 <= review.ease <= 4:
                    report.skipped += 1
                    continue
                if review.time_ms > now_ms:
                    report.bad += 1
                    if len(report.bad_examples) < EXAMPLES:
                        report.bad_examples.append(f"revlog {review.time_ms}: in the future")
                    continue
                cram = review.kind == ANKI_FILTERED
                report.cram += cram
                card_id = by_guid.get(review.guid or "", f"anki-note:{review.guid or '?'}")
                yield (card_id, review.time_ms, review.ease, max(0, review.duration_ms),
                       int(ANKI_STATE[review.kind]), days(review.time_ms), int(cram))
            progress("reviews", report.read, log.count)

        return _merge_and_replay(store, rows(), report, progress)
