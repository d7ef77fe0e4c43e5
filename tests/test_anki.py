"""Anki packages against Anki's own library: our apkg imports into a real collection (and a
second export updates the notes), and reviews made in Anki come back into the store."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import genanki
import pytest
from anki.collection import (
    Collection,
    DeckIdLimit,
    ExportAnkiPackageOptions,
    ImportAnkiPackageOptions,
    ImportAnkiPackageRequest,
)
from anki.scheduler.v3 import CardAnswer
from anki.scheduler.v3 import Scheduler as V3Scheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcards.anki import DECK_ID, MODEL_ID, to_html
from llmcards.errors import UserError
from llmcards.export import import_anki
from llmcards.models import Grade
from llmcards.store import Store
from tests.helpers import snapshot

RunCli = Callable[..., Any]


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- Markdown to Anki HTML
def test_formulas_become_mathjax_and_markdown_never_touches_them() -> None:
    out = to_html("Loss: $a_1 * b_2 + c_1 * d_2$ and $x_i$, $p < q$.\n\n$$\\sum_i w_i * x_i$$")
    assert "\\(a_1 * b_2 + c_1 * d_2\\)" in out and "\\(x_i\\)" in out
    assert "\\(p &lt; q\\)" in out and "\\[\\sum_i w_i * x_i\\]" in out
    assert "<em>" not in out and "$" not in out


def test_markdown_renders_with_tables_code_and_escaped_html() -> None:
    out = to_html("**bold** and `$kept$` and <script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                  "```\n$also kept$\n```\none\ntwo")
    assert "<strong>bold</strong>" in out and "<code>$kept$</code>" in out
    assert "&lt;script&gt;" in out and "<script>" not in out
    assert "<table>" in out and "<td>1</td>" in out
    assert "$also kept$" in out
    assert "one<br />\ntwo" in out  # the notes' line breaks are kept


def test_images_become_the_banks_placeholders() -> None:
    out = to_html("See ![the curve](img/loss-curve.png \"title\") and [figure: other.png].")
    assert "[figure: loss-curve.png]" in out and "[figure: other.png]" in out and "<img" not in out


# ----------------------------------------------------------------------------- our package in Anki
def _import_into(col: Collection, package: Path) -> Any:
    request = ImportAnkiPackageRequest(package_path=str(package),
                                       options=ImportAnkiPackageOptions(with_scheduling=True))
    return col.import_anki_package(request).log


def _notes(col: Collection) -> dict[str, Any]:
    return {col.get_note(nid).guid: col.get_note(nid) for nid in col.find_notes("")}


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[Collection]:
    (tmp_path / "anki").mkdir()
    col = Collection(str(tmp_path / "anki" / "collection.anki2"))
    yield col
    if col.db is not None:
        col.close()


def test_our_package_imports_into_anki_and_a_second_export_updates_the_notes(
        cli: RunCli, tmp_path: Path, collection: Collection) -> None:
    ok(cli("edit", "lora-principle", "-a", "Low rank: $W = W_0 + BA$, with $r \\ll d$.", "-t", "peft",
           "-t", "low rank"))
    ok(cli("suspend", "mask-literal"))
    first = tmp_path / "first.apkg"
    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    ok(cli("export", "-f", "apkg", "-o", str(first), "--deck", "LLM interviews", env={"LLMCARDS_NOW": iso(t0)}))

    log = _import_into(collection, first)
    assert len(log.new) == 4 and not log.updated  # kv-cache has no answer: not exported
    notes = _notes(collection)
    ids = ["lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal"]
    assert set(notes) == {genanki.guid_for(i) for i in ids}
    lora = notes[genanki.guid_for("lora-principle")]
    assert lora.note_type()["id"] != 0 and lora.note_type()["name"] == "llmcards"
    assert [f["name"] for f in lora.note_type()["flds"]] == ["Question", "Answer", "Sources", "Id"]
    assert lora["Question"] == "<p>LoRA 的原理是什么?</p>"
    assert lora["Answer"] == "<p>Low rank: \\(W = W_0 + BA\\), with \\(r \\ll d\\).</p>"
    assert lora["Sources"] == "003_47dd969ecd46b6d8.txt#01" and lora["Id"] == "lora-principle"
    assert sorted(lora.tags) == ["low_rank", "peft"]
    mask = notes[genanki.guid_for("mask-literal")]
    assert mask["Answer"] == "<p>The [mask] token; 15% of tokens; C:\\path stays.</p>"
    queues = {n.guid: [c.queue for c in n.cards()] for n in notes.values()}
    assert queues[mask.guid] == [-1] and queues[lora.guid] == [0]  # suspended in Anki too
    deck = collection.decks.by_name("LLM interviews")
    assert deck is not None
    assert {collection.get_card(c).did for c in collection.find_cards("")} == {deck["id"]}

    # An edit, a second export a minute later: Anki updates the note instead of adding one.
    ok(cli("edit", "bn-vs-ln", "-a", "BN normalises over the batch; LN over features."))
    second = tmp_path / "second.apkg"
    ok(cli("export", "-f", "apkg", "-o", str(second), "--deck", "LLM interviews",
           env={"LLMCARDS_NOW": iso(t0 + timedelta(minutes=1))}))
    log = _import_into(collection, second)
    # (Anki logs every note of a newer package as updated, changed or not.)
    assert not log.new and notes[genanki.guid_for("bn-vs-ln")].id in [n.id.nid for n in log.updated]
    assert len(collection.find_notes("")) == 4
    assert _notes(collection)[genanki.guid_for("bn-vs-ln")]["Answer"] == \
        "<p>BN normalises over the batch; LN over features.</p>"


def test_fixed_ids() -> None:
    assert (MODEL_ID, DECK_ID) == (1_733_052_871, 1_733_052_913)  # changing them would duplicate every deck


# ----------------------------------------------------------------------------- reviews back from Anki
def _scheduler(col: Collection) -> V3Scheduler:
    assert isinstance(col.sched, V3Scheduler)
    return col.sched


def _db(col: Collection) -> Any:
    assert col.db is not None
    return col.db


def _answer(col: Collection, rating: Any) -> Any:
    """Answer the first queued card with ``rating``; returns its card id."""
    from anki.cards import CardId  # not at the top: anki.cards must not be imported before anki.collection

    sched = _scheduler(col)
    queued = sched.get_queued_cards().cards[0]
    card = col.get_card(CardId(queued.card.id))
    card.start_timer()
    sched.answer_card(sched.build_answer(card=card, states=queued.states, rating=rating))
    return card.id


def test_reviews_made_in_anki_come_back_and_importing_twice_adds_nothing(
        cli: RunCli, db_path: Path, tmp_path: Path, collection: Collection) -> None:
    package = tmp_path / "ours.apkg"
    ok(cli("export", "-f", "apkg", "-o", str(package)))
    _import_into(collection, package)
    deck = collection.decks.by_name("llmcards")
    assert deck is not None
    collection.decks.set_current(deck["id"])
    basic = collection.models.by_name("Basic")
    assert basic is not None
    stranger = collection.new_note(basic)
    stranger["Front"], stranger["Back"] = "not from llmcards", "x"
    collection.add_note(stranger, deck["id"])

    answered = [_answer(collection, r) for r in (CardAnswer.GOOD, CardAnswer.AGAIN, CardAnswer.EASY)]
    # A manual entry (rescheduled by hand) and a review in a filtered deck, as Anki logs them.
    stamp = int(datetime.now(timezone.utc).timestamp() * 1000)
    _db(collection).execute("INSERT INTO revlog VALUES (?, ?, -1, 0, 5, 0, 0, 0, 4)", stamp + 10, answered[0])
    _db(collection).execute("INSERT INTO revlog VALUES (?, ?, -1, 2, 5, 1, 2500, 4000, 3)", stamp + 20, answered[2])
    while _scheduler(collection).get_queued_cards().cards:  # the stranger's turn comes when ours are learning
        card_id = _answer(collection, CardAnswer.GOOD)
        if collection.get_card(card_id).note().id == stranger.id:
            break
    revlog = _db(collection).all("SELECT id, cid, ease, type FROM revlog ORDER BY id")
    guid_of_card = {r[1]: collection.get_card(r[1]).note().guid for r in revlog}
    strangers = sum(1 for r in revlog if collection.get_card(r[1]).nid == stranger.id)
    ours = [r for r in revlog if collection.get_card(r[1]).nid != stranger.id and r[3] not in (3, 4)]

    current = tmp_path / "from-anki.apkg"
    legacy = tmp_path / "from-anki-legacy.apkg"
    colpkg = tmp_path / "collection.colpkg"
    for path, old in ((current, False), (legacy, True)):
        collection.export_anki_package(out_path=str(path), limit=DeckIdLimit(deck["id"]),
                                       options=ExportAnkiPackageOptions(with_scheduling=True, with_media=False,
                                                                        legacy=old))
    collection.export_collection_package(str(colpkg), include_media=False, legacy=False)  # closes the collection
    assert "collection.anki21b" in zipfile.ZipFile(current).namelist()
    assert "collection.anki21" in zipfile.ZipFile(legacy).namelist()

    result = ok(cli("import", str(current), "--json"))
    report = __import__("json").loads(result.stdout)
    assert report["read"] == len(revlog)
    assert (report["added"], report["cram"], report["skipped"]) == (len(ours) + 1, 1, 1)
    assert report["unknown"] == strangers and report["unknown_cards"] == [f"anki-note:{stranger.guid}"]
    assert report["replayed_cards"] == len({r[1] for r in ours} | {answered[2]})

    by_guid = {genanki.guid_for(i): i for i in ("lora-principle", "bn-vs-ln", "attention-complexity",
                                                "mask-literal")}
    with Store.open(db_path) as store:
        logged = [(r.reviewed_at, r.rating, r.cram, r.card_id)
                  for c in by_guid.values() for r in store.cards.history(c)]
        expected = [(datetime.fromtimestamp(ms / 1000, timezone.utc), Grade(ease), False, by_guid[guid_of_card[cid]])
                    for ms, cid, ease, _ in ours]
        assert sorted(r for r in logged if not r[2]) == sorted(expected)
        assert [(r[1], r[2]) for r in logged if r[2]] == [(Grade.HARD, True)]
        first = store.cards.require(by_guid[guid_of_card[answered[0]]])
        assert first.schedule.reps == sum(1 for r in ours if r[1] == answered[0])  # replayed
    before = snapshot(db_path)
    for again in (current, legacy, colpkg):
        report = __import__("json").loads(ok(cli("import", str(again), "--json")).stdout)
        assert report["added"] == 0 and report["already_in_store"] == len(ours) + 1, again
    assert snapshot(db_path) == before


# ----------------------------------------------------------------------------- bad packages
def _real_package(cli: RunCli, tmp_path: Path) -> bytes:
    path = tmp_path / "real.apkg"
    ok(cli("export", "-f", "apkg", "-o", str(path)))
    return path.read_bytes()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("kind,pattern", [
    ("random", r"not an Anki package, or a damaged one"),
    ("truncated", r"not an Anki package, or a damaged one|damaged Anki package"),
    ("no-collection", r"holds no collection\.anki2 or collection\.anki21b"),
    ("bad-zstd", r"collection\.anki21b does not decompress"),
    ("bad-sqlite", r"collection\.anki2 is not an Anki collection"),
    ("missing", r"no such file"),
])
def test_a_bad_package_is_one_clear_error_and_changes_nothing(cli: RunCli, db_path: Path, tmp_path: Path,
                                                              kind: str, pattern: str) -> None:
    import re

    real = _real_package(cli, tmp_path)
    path = tmp_path / "bad.apkg"
    if kind == "random":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "truncated":
        path.write_bytes(real[: len(real) // 2])
    elif kind == "no-collection":
        _zip(path, {"media": b"{}"})
    elif kind == "bad-zstd":
        _zip(path, {"collection.anki21b": b"\x28\xb5\x2f\xfd garbage", "collection.anki2": b""})
    elif kind == "bad-sqlite":
        _zip(path, {"collection.anki2": b"SQLite format 3\x00" + b"\x00" * 200})
    before = snapshot(db_path)
    with Store.open(db_path) as store, pytest.raises(UserError) as info:
        import_anki(store, path, now=datetime.now(timezone.utc))
    message = info.value.message
    assert "\n" not in message and str(path) in message and re.search(pattern, message), message
    assert snapshot(db_path) == before
    result = cli("import", str(path))
    assert result.exit_code == 1 and re.search(pattern, result.stderr) and "Traceback" not in result.output


def test_an_anki_package_with_our_cards_and_no_reviews_imports_nothing(cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "ours.apkg"
    ok(cli("export", "-f", "apkg", "-o", str(path)))
    out = ok(cli("import", str(path))).stdout
    assert "0 Anki review log entries read: 0 added" in out


@settings(max_examples=1000, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
       | st.text(st.sampled_from(list("ab 中文\"'$%()?:;,.=-+1\t\u3000\u2028\u00a0\ufeff")), max_size=20))
def test_plain_text_skips_markdown_and_renders_the_same(text: str) -> None:
    """The shortcut for text Markdown would only wrap in a paragraph gives markdown-it's own output."""
    from llmcards.anki import _MARKUP_RE, _markdown, _paragraph
    from llmcards.text import neutralize

    text = neutralize(text)  # as to_html does first
    if not text.strip() or _MARKUP_RE.search(text):
        return
    assert _paragraph(text) == _markdown().render(text).strip()
