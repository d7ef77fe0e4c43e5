"""Export and import through real files: yaml, csv and revlog round trips, bad input, atomic writes."""

from __future__ import annotations

import csv
import io
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcards.bank import dump_bank, load_bank, parse_bank
from llmcards.errors import UserError
from llmcards.export import Selection, export, import_reviews
from llmcards.models import Card, Grade, Question
from llmcards.scheduler import Scheduler, study_day
from llmcards.store import Store
from llmcards.sync import import_file
from tests.helpers import NOW, SMALL_BANK, snapshot, write

RunCli = Callable[..., Any]


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def grade(store: Store, card_id: str, rating: Grade, at: datetime, *, cram: bool = False,
          duration_ms: int | None = 3000) -> None:
    """Grade a card at ``at`` as a review session does (fuzz on, as replay has it) and commit it."""
    card = store.cards.require(card_id)
    after = Scheduler(store.settings()).review(card.schedule, rating, at, card_id=card_id)
    store.queue.record_review(card_id, card.schedule, after, rating=rating, reviewed_at=at,
                              study_day=study_day(at, store.settings().day_starts_at), duration_ms=duration_ms,
                              cram=cram)


def history(store: Store, *, micro: bool = False) -> None:
    """A few weeks of reviews of three cards (one cram review among them)."""
    extra = timedelta(microseconds=123_456) if micro else timedelta(0)
    for day, (card_id, rating) in enumerate([("lora-principle", Grade.GOOD), ("bn-vs-ln", Grade.AGAIN),
                                             ("lora-principle", Grade.GOOD), ("bn-vs-ln", Grade.GOOD),
                                             ("attention-complexity", Grade.EASY), ("lora-principle", Grade.HARD)]):
        grade(store, card_id, rating, NOW + timedelta(days=3 * day, seconds=17 * day) + extra)
    grade(store, "attention-complexity", Grade.AGAIN, NOW + timedelta(days=20) + extra, cram=True)


def fields(card: Card) -> tuple[Any, ...]:
    return (card.id, card.question, card.answer, card.tags, card.sources, card.suspended)


def all_cards(store: Store) -> dict[str, Card]:
    return {c.id: c for c in store.cards.for_export((), include_unanswered=True)}


# ----------------------------------------------------------------------------- yaml
def test_yaml_round_trip_into_a_fresh_store_gives_the_same_cards(cli: RunCli, tmp_path: Path) -> None:
    mine = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: from-file\n    question: 'a: b # c'\n"
                 "    answer: \"  leading spaces\\n\\tand a tab, 'quotes' and \\\"doubles\\\"\"\n"
                 "    tags: [t 1, 'yes']\n")
    ok(cli("import", str(mine)))
    ok(cli("add", "-q", "My own question?", "-a", "line one\nline two\n\n- a list\n  $x_1$", "-t", "mine",
           "--id", "my-own"))
    ok(cli("edit", "lora-principle", "-a", "edited: $W = W_0 + BA$\n| a | b |\n|---|---|\n| 1 | 2 |"))
    ok(cli("suspend", "bn-vs-ln", "my-own"))
    out = tmp_path / "export.yaml"
    ok(cli("export", "--format", "yaml", "-o", str(out), "--include-unanswered"))

    with Store.open(tmp_path / "store" / "cards.db") as source:
        expected = {i: fields(c) for i, c in all_cards(source).items()}
    assert len(expected) == 7 and expected["bn-vs-ln"][-1] and expected["my-own"][-1]

    fresh = tmp_path / "fresh.db"
    result = ok(cli("--db", str(fresh), "import", str(out)))  # the bundled bank comes first, then the export
    assert "2 suspended" in result.output
    with Store.open(fresh) as store:
        assert {i: fields(c) for i, c in all_cards(store).items()} == expected
        assert store.cards.require("lora-principle").origin == "bank"  # an edit of the bank's card, not a takeover
    again = ok(cli("--db", str(fresh), "export", "-f", "yaml", "-o", "-", "--include-unanswered"))
    assert _body(again.stdout) == _body(out.read_text(encoding="utf-8"))


def _body(text: str) -> str:
    """A yaml export without its comment and time stamp."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(("#", "exported_at:")))


def test_reimporting_a_file_never_unsuspends(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1\n    suspended: true\n"
                "  - id: a2\n    question: q2\n")
    report = import_file(store, path, now=NOW)
    assert report.suspended == ["a1"]
    assert store.cards.require("a1").suspended and not store.cards.require("a2").suspended

    # A card suspended in the store stays suspended when the file (without the flag) is imported again.
    store.cards.set_suspended(["a2"], True, now=NOW)
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1 changed\n  - id: a2\n    question: q2 changed\n")
    report = import_file(store, path, now=NOW)
    assert report.updated == ["a1", "a2"] and report.suspended == []
    assert store.cards.require("a1").suspended and store.cards.require("a2").suspended

    # Unsuspending in the store survives a re-import of a file that did not change the card (like an edit)...
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1\n    suspended: true\n")
    import_file(store, path, now=NOW)
    store.cards.set_suspended(["a1"], False, now=NOW)
    report = import_file(store, path, now=NOW)
    assert report.unchanged == ["a1"] and not store.cards.require("a1").suspended
    # ... and a flag added in the file counts as a change of that card.
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1\n    suspended: false\n"
                "  - id: a3\n    question: q3\n")
    import_file(store, path, now=NOW)
    write(path, "version: 1\ncards:\n  - id: a1\n    question: q1\n"
                "  - id: a3\n    question: q3\n    suspended: true\n")
    report = import_file(store, path, now=NOW)
    assert report.updated == ["a3"] and report.suspended == ["a3"]


def test_an_export_merges_into_cards_of_other_origins_but_a_plain_file_may_not(store: Store,
                                                                                tmp_path: Path) -> None:
    exported = tmp_path / "exported.yaml"
    plain = tmp_path / "plain.yaml"
    card = "  - id: bn-vs-ln\n    question: BN vs LN?\n    answer: better answer\n"
    write(plain, f"version: 1\ncards:\n{card}")
    with pytest.raises(UserError, match="already belongs to the bundled bank"):
        import_file(store, plain, now=NOW)
    write(exported, f"version: 1\nexported_at: '2026-03-01T00:00:00Z'\ncards:\n{card}")
    report = import_file(store, exported, now=NOW)
    assert report.updated == ["bn-vs-ln"] and report.merged == ["bn-vs-ln"] and not report.added
    merged = store.cards.require("bn-vs-ln")
    assert (merged.question, merged.answer, merged.origin) == ("BN vs LN?", "better answer", "bank")
    # The bundled bank's later syncs keep the edit while the bank does not change that card.
    from llmcards.sync import sync_questions

    again = sync_questions(store, load_bank(SMALL_BANK), origin="bank", import_path=None, now=NOW, source="bank")
    assert again.updated == [] and store.cards.require("bn-vs-ln").answer == "better answer"


def test_reimporting_your_own_export_changes_nothing(store: Store, tmp_path: Path) -> None:
    store.cards.set_suspended(["kv-cache"], True, now=NOW)
    out = tmp_path / "mine.yaml"
    export(store, "yaml", out, Selection(include_unanswered=True), now=NOW)
    before = {i: fields(c) for i, c in all_cards(store).items()}
    report = import_file(store, out, now=NOW)
    assert not report.changed and len(report.unchanged) == 5
    assert {i: fields(c) for i, c in all_cards(store).items()} == before


# Text as the store holds it: what bank parsing and `add` leave (questions stripped, answers
# without outer newlines, tags stripped and unique).
_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)
_questions = st.builds(
    Question,
    id=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
    question=_text.map(str.strip).filter(bool),
    answer=st.one_of(st.none(), _text.map(lambda s: s.strip("\n")).filter(lambda s: bool(s.strip()))),
    tags=st.lists(_text.map(str.strip).filter(bool), max_size=3, unique=True).map(tuple),
    sources=st.lists(_text.map(str.strip).filter(bool), max_size=2, unique=True).map(tuple),
    suspended=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(questions=st.lists(_questions, max_size=4, unique_by=lambda q: q.id))
def test_the_yaml_writer_is_read_back_exactly(questions: list[Question]) -> None:
    text = "".join(dump_bank(questions, exported_at="2026-03-02T12:00:00Z", comment="a\n\nb"))
    back = parse_bank(text.encode("utf-8"), "t")
    assert [(q.id, q.question, q.answer, q.tags, q.sources, q.suspended) for q in back] == \
        [(q.id, q.question, q.answer, q.tags, q.sources, q.suspended) for q in questions]


def test_yaml_writer_uses_block_scalars_for_multi_line_text() -> None:
    q = Question(id="true", question="one line", answer="first\n  indented\n\nlast", tags=("no", "peft"))
    text = "".join(dump_bank([q]))
    assert 'id: "true"' in text and 'tags: ["no", peft]' in text
    assert "answer: |-\n      first\n        indented\n\n      last\n" in text


# ----------------------------------------------------------------------------- csv
def test_csv_has_one_row_per_card_that_reads_back_exactly(store: Store, tmp_path: Path) -> None:
    store.cards.add(Question(id="tricky", question='comma, "quote"', answer="line 1\nline 2, with comma",
                             tags=("a b", "c")), now=NOW)
    history(store)
    out = tmp_path / "cards.csv"
    report = export(store, "csv", out, Selection(), now=NOW)
    data = out.read_bytes()
    assert data.startswith("\ufeff".encode()) and report.cards == 5  # kv-cache has no answer
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == ["id", "question", "answer", "tags", "state", "due", "stability", "difficulty", "reps",
                             "lapses"]
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal", "tricky"}
    for card in all_cards(store).values():
        if card.id not in by_id:
            continue
        row, s = by_id[card.id], card.schedule
        assert (row["question"], row["answer"]) == (card.question, card.answer)
        assert row["state"] == s.state.label and int(row["reps"]) == s.reps and int(row["lapses"]) == s.lapses
        if s.due is None:
            assert row["due"] == row["stability"] == row["difficulty"] == ""
        else:
            due = datetime.strptime(row["due"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            assert due == s.due.replace(microsecond=0)
            assert (float(row["stability"]), float(row["difficulty"])) == (s.stability, s.difficulty)
    assert by_id["tricky"]["tags"] == "a_b c"
    assert by_id["lora-principle"]["state"] == "review" and by_id["mask-literal"]["state"] == "new"


def test_csv_to_stdout_has_no_byte_order_mark(cli: RunCli) -> None:
    result = ok(cli("export", "-f", "csv", "-o", "-", "--tag", "peft"))
    assert result.stdout.startswith("id,question,")
    assert len(result.stdout.strip().splitlines()) == 2
    assert "Exported 1 card to stdout." in result.stderr


# ----------------------------------------------------------------------------- revlog
def _revlog(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_revlog_export_has_the_fsrs_tools_layout(store: Store, tmp_path: Path) -> None:
    history(store)
    out = tmp_path / "revlog.csv"
    report = export(store, "revlog", out, Selection(), now=NOW + timedelta(days=30))
    rows = _revlog(out)
    assert rows[0] == ["card_id", "review_time", "review_rating", "review_state", "review_duration"]
    assert report.reviews == len(rows) - 1 == 6  # the cram review is left out
    first = rows[1]
    assert first == ["lora-principle", str(int(NOW.timestamp() * 1000)), "3", "0", "3000"]
    times = [int(r[1]) for r in rows[1:]]
    assert times == sorted(times)
    logs = sorted((r for c in ("lora-principle", "bn-vs-ln", "attention-complexity") for r in store.cards.history(c)
                   if not r.cram), key=lambda r: r.reviewed_at)
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [(r.card_id, str(int(r.rating)), str(int(r.prev_state)))
                                                      for r in logs]
    assert {r[3] for r in rows[1:]} >= {"0", "1", "2"}  # the state before each review


def test_revlog_round_trip_rebuilds_the_same_schedules_in_a_fresh_store(store: Store, tmp_path: Path) -> None:
    history(store)
    out = tmp_path / "revlog.csv"
    export(store, "revlog", out, Selection(), now=NOW + timedelta(days=30))
    expected = {c.id: c.schedule for c in all_cards(store).values()}  # a cram review never changes one

    with Store.open(tmp_path / "fresh.db") as fresh:
        from llmcards.sync import sync_questions

        sync_questions(fresh, load_bank(SMALL_BANK), origin="bank", import_path=None, now=NOW, source="bank")
        report = import_reviews(fresh, out, now=NOW + timedelta(days=30))
        assert (report.read, report.added, report.already, report.unknown, report.bad) == (6, 6, 0, 0, 0)
        assert report.cards == 3
        got = {c.id: c.schedule for c in all_cards(fresh).values()}
        assert got == expected  # fuzz, due dates and all: replay is deterministic
        logs = fresh.cards.history("bn-vs-ln")
        assert [(r.rating, r.duration_ms, r.prev_state) for r in logs] == \
            [(r.rating, r.duration_ms, r.prev_state) for r in store.cards.history("bn-vs-ln")]

        snapshot_before = (fresh.conn.execute("SELECT * FROM review_logs ORDER BY id").fetchall(),
                           fresh.conn.execute("SELECT * FROM cards ORDER BY id").fetchall())
        twice = import_reviews(fresh, out, now=NOW + timedelta(days=30))
        assert (twice.added, twice.already, twice.cards) == (0, 6, 0)
        assert (fresh.conn.execute("SELECT * FROM review_logs ORDER BY id").fetchall(),
                fresh.conn.execute("SELECT * FROM cards ORDER BY id").fetchall()) == snapshot_before


def test_revlog_reimport_into_the_same_store_matches_times_to_the_millisecond(store: Store, tmp_path: Path) -> None:
    history(store, micro=True)  # stored times carry microseconds; the file has milliseconds
    out = tmp_path / "revlog.csv"
    export(store, "revlog", out, Selection(), now=NOW + timedelta(days=30))
    report = import_reviews(store, out, now=NOW + timedelta(days=30))
    assert (report.read, report.added, report.already) == (6, 0, 6)


def test_revlog_import_reports_bad_rows_and_unknown_cards(store: Store, tmp_path: Path) -> None:
    t = int(NOW.timestamp() * 1000)
    future = int((NOW + timedelta(days=2)).timestamp() * 1000)
    path = write(tmp_path / "r.csv", "\n".join([
        "card_id,review_time,review_rating,review_state,review_duration",
        f"lora-principle,{t},3,0,2500",
        f"lora-principle,{t},3,0,2500",  # the same review twice: counted once
        f"lora-principle,{t + 86_400_000},5,2,100",  # rating out of range
        f"lora-principle,{t + 86_400_000},0,2,100",
        "bn-vs-ln,yesterday,3,0,100",  # unparseable time
        f"bn-vs-ln,{future},3,0,100",  # in the future
        f"bn-vs-ln,{t},3",  # too few fields
        f",{t},3,0,1",  # no card
        f"no-such-card,{t},3,0,1",
        f"no-such-card,{t + 1},1,0,1",
        f"gone-too,{t},3,0,1",
        f"bn-vs-ln,{t + 1000},4,0,",  # no duration: fine
        "",
    ]) + "\n")
    report = import_reviews(store, path, now=NOW + timedelta(days=1))
    assert (report.added, report.repeated, report.bad, report.unknown) == (2, 1, 6, 3)
    assert report.unknown_cards == ("gone-too", "no-such-card")
    assert report.bad_examples[:2] == ["line 4: review_rating '5' is not 1-4", "line 5: review_rating '0' is not 1-4"]
    assert any("line 6: review_time 'yesterday'" in e for e in report.bad_examples)
    assert any("line 7:" in e and "in the future" in e for e in report.bad_examples)
    assert [r.duration_ms for r in store.cards.history("bn-vs-ln")] == [None]
    assert store.cards.require("lora-principle").schedule.reps == 1


def test_revlog_import_through_the_cli_says_what_happened(cli: RunCli, tmp_path: Path) -> None:
    ok(cli("list"))
    t = int(NOW.timestamp() * 1000)
    path = write(tmp_path / "r.csv", f"card_id,review_time,review_rating\nlora-principle,{t},3\nnope,{t},3\n"
                                     f"bn-vs-ln,{t},9\n")
    env = {"LLMCARDS_NOW": (NOW + timedelta(days=1)).isoformat()}
    text = ok(cli("import", "--reviews", str(path), env=env)).stdout
    assert "3 reviews read: 1 added" in text
    assert "1 review of 1 card not in the store, not imported: nope" in text
    assert "1 bad row, not imported: line 4: review_rating '9' is not 1-4" in text
    assert "Replayed 1 card: 1 schedule changed." in text
    data = __import__("json").loads(ok(cli("import", "--reviews", str(path), "--json", env=env)).stdout)
    assert (data["added"], data["already_in_store"], data["unknown_cards"], data["bad"]) == (0, 1, ["nope"], 1)


BAD_REVLOGS = [
    ("wrong-columns", "id,question,answer\na,b,c\n", r"missing the columns card_id, review_time, review_rating"),
    ("one-column-missing", "card_id,review_time,rating\na,1,3\n", r"missing the column review_rating"),
    ("empty", "", r"empty file"),
    ("not-utf8", "card_id,review_time,review_rating\n\xff\xfe,1,3\n", r"bad\.csv:2: not UTF-8 text \(byte 0xff\)"),
    ("binary", "\x1f\x8b\x08\x00\xff\x00", r"bad\.csv:1: not UTF-8"),
    ("bad-quotes", 'card_id,review_time,review_rating\n"a"b,1,3\n', r"bad\.csv:2: not a CSV review log"),
]


@pytest.mark.parametrize("name,text,pattern", BAD_REVLOGS, ids=[b[0] for b in BAD_REVLOGS])
def test_a_bad_review_log_is_one_clear_error_and_changes_nothing(db_path: Path, store: Store, tmp_path: Path,
                                                                 name: str, text: str, pattern: str) -> None:
    import re

    history(store)
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode("latin-1") if name in ("not-utf8", "binary") else text.encode("utf-8"))
    before = snapshot(db_path)
    with pytest.raises(UserError) as info:
        import_reviews(store, path, now=NOW + timedelta(days=30))
    assert "\n" not in info.value.message and str(path) in info.value.message
    assert re.search(pattern, info.value.message), info.value.message
    assert snapshot(db_path) == before


def test_a_review_log_that_breaks_half_way_imports_nothing(store: Store, tmp_path: Path) -> None:
    t = int(NOW.timestamp() * 1000)
    good = "".join(f"lora-principle,{t + i * 60_000},3,0,1\n" for i in range(2000))
    path = tmp_path / "half.csv"
    path.write_bytes(f"card_id,review_time,review_rating,review_state,review_duration\n{good}".encode()
                     + b"bn-vs-ln,\xff\xff,3,0,1\n")
    with pytest.raises(UserError, match=r"half\.csv:2002: not UTF-8 text \(byte 0xff\); nothing imported"):
        import_reviews(store, path, now=NOW + timedelta(days=30))
    assert store.cards.history("lora-principle") == []
    assert store.cards.require("lora-principle").schedule.reps == 0


# ----------------------------------------------------------------------------- the command, files and bad input
def test_export_default_path_and_formats(cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"LLMCARDS_NOW": "2026-03-02T12:00:00Z"}
    for fmt, name in (("yaml", "llmcards-20260302.yaml"), ("csv", "llmcards-20260302.csv"),
                      ("revlog", "llmcards-revlog-20260302.csv"), ("apkg", "llmcards-20260302.apkg")):
        result = ok(cli("export", "-f", fmt, env=env))
        assert (tmp_path / name).is_file(), result.output
        assert f"to {name}." in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


@pytest.mark.parametrize("args,pattern", [
    (["-f", "apkg", "-o", "-"], "binary and cannot go to stdout"),
    (["-f", "yaml", "--deck", "x"], "--deck is only for --format apkg"),
    (["-f", "yaml", "--tag", "no-such-tag", "-o", "-"], "no card has the tag 'no-such-tag'"),
    (["-f", "yaml", "-o", "/nonexistent-dir/x.yaml"], "no such directory"),
])
def test_export_refuses_clearly(cli: RunCli, args: list[str], pattern: str) -> None:
    ok(cli("list"))
    result = cli("export", *args)
    assert result.exit_code == 1
    assert pattern in result.stderr and result.stderr.count("\n") == 1 and result.stdout == ""


def test_export_to_an_unwritable_place_writes_nothing(cli: RunCli, tmp_path: Path) -> None:
    a_file = write(tmp_path / "plain-file", "x")
    for target, pattern in ((a_file / "x.yaml", "cannot write there"), (tmp_path, "is a directory")):
        result = cli("export", "-f", "yaml", "-o", str(target))
        assert result.exit_code == 1 and pattern in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["plain-file"]


def test_an_export_that_fails_half_way_leaves_the_old_file_alone(db_path: Path, tmp_path: Path) -> None:
    """The disk fills up half way (a file-size limit): the old file stays, no temporary file is left."""
    with Store.open(db_path) as store:
        questions = [Question(id=f"c{i}", question=f"question {i}", answer="x" * 2000) for i in range(300)]
        from llmcards.sync import sync_bundled_if_changed, sync_questions

        sync_questions(store, questions, origin="user", import_path=None, now=NOW, source="t")
        sync_bundled_if_changed(store, now=NOW)  # so that the export itself writes nothing but its file
    out = write(tmp_path / "out" / "cards.yaml", "the previous export\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    env = {**os.environ, "LLMCARDS_NOW": NOW.isoformat()}
    result = subprocess.run([sys.executable, "-m", "llmcards", "--db", str(db_path), "export", "-f", "yaml", "-o",
                             str(out)], capture_output=True, text=True, env=env, preexec_fn=limit)
    assert result.returncode == 1, result.stderr
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert out.read_text() == "the previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["cards.yaml"]


def test_a_truncated_yaml_export_is_refused_and_changes_nothing(cli: RunCli, db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.yaml"
    ok(cli("edit", "lora-principle", "-a", "multi\nline\nanswer"))
    ok(cli("export", "-f", "yaml", "-o", str(out)))
    data = out.read_bytes()
    fresh = tmp_path / "fresh.db"
    ok(cli("--db", str(fresh), "list"))
    before = snapshot(fresh)
    for cut in (len(data) // 3, len(data) // 2 + 7):
        broken = write(tmp_path / "broken.yaml", data[:cut].decode("utf-8", "ignore") + "\n  - id: [\n")
        result = cli("--db", str(fresh), "import", str(broken))
        assert result.exit_code == 1 and "broken.yaml:" in result.output and result.output.count("\n") == 1
    assert snapshot(fresh) == before


def test_progress_is_reported_while_exporting_and_importing(store: Store, tmp_path: Path) -> None:
    history(store)
    calls: list[tuple[str, int, int | None]] = []
    out = tmp_path / "r.csv"
    export(store, "revlog", out, Selection(), now=NOW, progress=lambda *a: calls.append(a))
    assert calls[0] == ("reviews", 0, 7) and calls[-1] == ("reviews", 6, 6)  # first a quick upper bound
    calls.clear()
    with Store.open(tmp_path / "fresh.db") as fresh:
        from llmcards.sync import sync_questions

        sync_questions(fresh, load_bank(SMALL_BANK), origin="bank", import_path=None, now=NOW, source="bank")
        import_reviews(fresh, out, now=NOW + timedelta(days=30), progress=lambda *a: calls.append(a))
    assert ("reviews", 6, 6) in calls and calls[-1] == ("replay", 3, 3)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_imported_reviews_get_the_study_day_the_scheduler_gives(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    """The import's per-day cache agrees with scheduler.study_day, across DST and half-hour zones."""
    import random
    import time

    from llmcards.export import _study_days

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    rng = random.Random(zone)
    for day_starts_at in (0, 4, 23):
        day_of = _study_days(day_starts_at)
        for _ in range(3000):
            ms = rng.randrange(1_600_000_000_000, 1_800_000_000_000)
            at = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
            assert day_of(ms) == study_day(at, day_starts_at).isoformat(), (zone, day_starts_at, at)


def test_a_progress_bar_is_drawn_on_a_terminal_and_not_in_a_pipe(cli: RunCli, db_path: Path, tmp_path: Path) -> None:
    import pexpect

    ok(cli("list"))
    t = int(NOW.timestamp() * 1000)
    rows = "".join(f"lora-principle,{t + i * 3_600_000},3,0,1000\n" for i in range(300))
    path = write(tmp_path / "r.csv", f"card_id,review_time,review_rating,review_state,review_duration\n{rows}")
    env = {**os.environ, "TERM": "xterm", "NO_COLOR": "1", "LLMCARDS_NOW": (NOW + timedelta(days=30)).isoformat()}
    # The bar waits half a second before it appears; this run has it appear at once.
    code = ("import llmcards.cli.transfer as t; t.PROGRESS_AFTER_S = 0; "
            "from llmcards.cli import app; app(prog_name='llmcards')")
    child = pexpect.spawn(sys.executable, ["-c", code, "--db", str(db_path), "import", "--reviews", str(path)],
                          env=env, encoding="utf-8", timeout=60, dimensions=(24, 100))
    child.expect(pexpect.EOF)
    shown = str(child.before)
    assert "reviews" in shown and "300/300" in shown  # the bar: label and count
    assert "300 reviews read: 300 added" in shown

    piped = ok(cli("import", "--reviews", str(path)))
    assert "300/300" not in piped.output and "300 reviews read: 0 added" in piped.output


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["import", "--help"]])
def test_help_imports_none_of_the_export_libraries(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "LLMCARDS_DB": str(tmp_path / "x.db")}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmcards", *args],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "llmcards.cli.transfer" in modules
    for heavy in ("genanki", "markdown_it", "zstandard", "csv", "sqlite3", "yaml", "fsrs", "llmcards.export"):
        assert heavy not in modules, f"{heavy} imported by llmcards {' '.join(args)}"


def test_revlog_export_leaves_out_the_reviews_of_cards_it_does_not_take(store: Store, tmp_path: Path) -> None:
    history(store)
    out = tmp_path / "r.csv"
    export(store, "revlog", out, Selection(tags=("peft",)), now=NOW + timedelta(days=30))
    assert {r[0] for r in _revlog(out)[1:]} == {"lora-principle"}
    from llmcards.sync import sync_questions

    # bn-vs-ln leaves the bank: retired, its reviews stay in the store but not in exports.
    sync_questions(store, [q for q in load_bank(SMALL_BANK) if q.id != "bn-vs-ln"], origin="bank", import_path=None,
                   now=NOW, source="bank")
    export(store, "revlog", out, Selection(), now=NOW + timedelta(days=30))
    assert {r[0] for r in _revlog(out)[1:]} == {"lora-principle", "attention-complexity"}
    assert len(_revlog(out)) - 1 == 4
