"""`llmcards sync` between devices (separate stores) through a hub: each scenario against a SQLite
hub and against PostgreSQL (see the ``hub_url`` fixture)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from llmcards.cards import add_card
from llmcards.config import Settings
from llmcards.hubsync import SyncResult, sync
from llmcards.models import Grade, Question
from llmcards.replay import replay_cards
from llmcards.store import Store
from llmcards.sync import import_file
from tests.helpers import NOW, SMALL_BANK, V2_STORE, device_state, grade, open_device, write

Devices = Callable[[str], Store]


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[Devices]:
    """``devices("a")``: device a's store (made on first use, with the small bank)."""
    opened: dict[str, Store] = {}

    def get(name: str) -> Store:
        if name not in opened:
            opened[name] = open_device(tmp_path / name / "llmcards.db")
        return opened[name]

    yield get
    for store in opened.values():
        store.close()


def _sync(store: Store, hub_url: str, at: timedelta = timedelta(days=30)) -> SyncResult:
    return sync(store, hub_url, now=NOW + at)


def _tables(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the store, meta aside (a sync stamps its time there)."""
    names = [r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'")]
    return {n: sorted(store.conn.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def test_first_sync_from_an_empty_hub_then_nothing_to_do(devices: Devices, hub_url: str) -> None:
    a = devices("a")
    grade(a, "lora-principle", 3, NOW)
    grade(a, "lora-principle", 3, NOW + timedelta(minutes=11))
    grade(a, "bn-vs-ln", 1, NOW + timedelta(hours=1), cram=True)
    a.cards.add(Question(id="mine", question="What is DPO?", answer="Preference optimization"), now=NOW)
    a.save_setting("new_per_day", "5", now=NOW)

    first = _sync(a, hub_url)

    assert first.created
    assert (first.pushed_reviews, first.pushed_events) == (3, 2)
    assert first.pulled == 0 and first.merge.cards_updated == 0
    assert a.events.waiting().total == 0
    before = _tables(a)
    again = _sync(a, hub_url)
    assert not again.created and (again.pushed, again.pulled, again.merge.cards_updated) == (0, 0, 0)
    assert _tables(a) == before  # syncing twice changes nothing


def test_a_second_device_joins_and_gets_everything(devices: Devices, hub_url: str) -> None:
    a = devices("a")
    grade(a, "lora-principle", 3, NOW)
    grade(a, "lora-principle", 4, NOW + timedelta(minutes=11))
    grade(a, "attention-complexity", 1, NOW + timedelta(minutes=20))
    grade(a, "bn-vs-ln", 2, NOW + timedelta(hours=1), cram=True)
    a.cards.add(Question(id="mine", question="What is DPO?", answer="Preference optimization", tags=("rl",)), now=NOW)
    grade(a, "mine", 3, NOW + timedelta(hours=2))
    card = a.cards.require("mask-literal")
    a.cards.update(Question(id=card.id, question=card.question, answer="Edited on a", tags=card.tags), now=NOW)
    a.cards.set_suspended(["kv-cache"], True, now=NOW)
    a.save_setting("desired_retention", "0.85", now=NOW + timedelta(hours=3))  # after those reviews
    a.save_setting("sync_url", hub_url, now=NOW + timedelta(hours=3))
    _sync(a, hub_url)

    b = devices("b")
    joined = _sync(b, hub_url)

    assert joined.pulled_reviews == 5
    assert sorted(joined.merge.added) == ["mine"]
    assert device_state(b) == device_state(a)
    assert b.settings().desired_retention == 0.85
    assert b.settings().sync_url == ""  # a device's hub stays its own
    assert b.cards.require("kv-cache").suspended
    assert b.cards.require("mask-literal").answer == "Edited on a"
    assert b.cards.require("mine").tags == ("rl",)


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_offline_reviews_on_both_devices_merge_in_either_order(devices: Devices, hub_url: str, order: str) -> None:
    a, b = devices("a"), devices("b")
    _sync(a, hub_url)
    _sync(b, hub_url)
    # Both study the same cards offline, interleaved in time.
    grade(a, "lora-principle", 3, NOW)
    grade(b, "lora-principle", 1, NOW + timedelta(minutes=3))
    grade(a, "lora-principle", 3, NOW + timedelta(minutes=15))
    grade(b, "bn-vs-ln", 4, NOW + timedelta(hours=2))
    grade(a, "bn-vs-ln", 3, NOW + timedelta(days=3))
    grade(b, "lora-principle", 3, NOW + timedelta(days=2))
    grade(a, "attention-complexity", 2, NOW + timedelta(days=4), cram=True)
    first, second = (a, b) if order == "ab" else (b, a)

    _sync(first, hub_url)
    merged = _sync(second, hub_url)
    _sync(first, hub_url)

    assert device_state(a) == device_state(b)
    assert merged.merge.rescheduled  # the second device rebuilt the cards both studied
    assert len(device_state(a)["reviews"]) == 7
    # The state is the replay of the union: the same as one device that took every review itself.
    one = devices("one")
    for card_id, rating, at, cram in [
        ("lora-principle", 3, NOW, False), ("lora-principle", 1, NOW + timedelta(minutes=3), False),
        ("lora-principle", 3, NOW + timedelta(minutes=15), False), ("bn-vs-ln", 4, NOW + timedelta(hours=2), False),
        ("lora-principle", 3, NOW + timedelta(days=2), False), ("bn-vs-ln", 3, NOW + timedelta(days=3), False),
        ("attention-complexity", 2, NOW + timedelta(days=4), True)]:
        grade(one, card_id, rating, at, cram=cram)
    assert device_state(one)["cards"] == device_state(a)["cards"]
    assert replay_cards(a).changed == ()


def test_edits_suspends_and_deletes_on_both_sides(devices: Devices, hub_url: str) -> None:
    a, b = devices("a"), devices("b")
    a.cards.add(Question(id="shared", question="Q?", answer="first", tags=("x",)), now=NOW)
    _sync(a, hub_url)
    _sync(b, hub_url)

    def edit(store: Store, card_id: str, at: timedelta, **fields: object) -> None:
        card = store.cards.require(card_id)
        text: dict[str, object] = {"question": card.question, "answer": card.answer, "tags": card.tags,
                                   "sources": card.sources}
        text.update(fields)
        store.cards.update(Question(id=card_id, **text), now=NOW + at)  # type: ignore[arg-type]

    # Same field on both: the later edit wins. Different fields: both kept.
    edit(a, "shared", timedelta(hours=2), answer="a's answer")
    edit(b, "shared", timedelta(hours=1), answer="b's older answer", tags=("y", "z"))
    # Suspended on a; suspended and then unsuspended later on b: the unsuspend is the last writer.
    a.cards.set_suspended(["bn-vs-ln"], True, now=NOW + timedelta(hours=1))
    b.cards.set_suspended(["bn-vs-ln"], True, now=NOW + timedelta(hours=2))
    b.cards.set_suspended(["bn-vs-ln"], False, now=NOW + timedelta(hours=3))
    a.cards.set_suspended(["attention-complexity"], True, now=NOW + timedelta(hours=1))
    # A delete wins over an older edit made elsewhere, and over reviews made before it.
    edit(b, "mask-literal", timedelta(hours=1), answer="edited before the delete")
    grade(b, "mask-literal", 3, NOW + timedelta(minutes=30))
    a.cards.delete(["mask-literal"], now=NOW + timedelta(hours=4))
    # ...and over an edit made after it by a device that had not heard of it: deleted is deleted.
    a.cards.delete(["kv-cache"], now=NOW + timedelta(hours=1))
    edit(b, "kv-cache", timedelta(hours=5), answer="too late")
    # Settings: last writer wins, key by key.
    a.save_setting("new_per_day", "9", now=NOW + timedelta(hours=1))
    b.save_setting("new_per_day", "11", now=NOW + timedelta(hours=2))
    b.reset_setting("new_per_day", now=NOW + timedelta(hours=3))
    a.save_setting("reviews_per_day", "50", now=NOW + timedelta(hours=4))

    _sync(a, hub_url)
    _sync(b, hub_url)
    _sync(a, hub_url)

    assert device_state(a) == device_state(b)
    shared = a.cards.require("shared")
    assert shared.answer == "a's answer" and shared.tags == ("y", "z")
    assert not a.cards.require("bn-vs-ln").suspended
    assert a.cards.require("attention-complexity").suspended
    for store in (a, b):
        assert store.cards.get("mask-literal") is None and store.cards.get("kv-cache") is None
        assert store.cards.history("mask-literal") == []
    assert a.settings().new_per_day == Settings().new_per_day and a.settings().reviews_per_day == 50


def test_two_devices_syncing_at_the_same_moment(devices: Devices, hub_url: str, tmp_path: Path) -> None:
    import threading

    a, b = devices("a"), devices("b")
    for i in range(40):
        grade(a, "lora-principle" if i % 2 else "bn-vs-ln", 3, NOW + timedelta(days=i))
        grade(b, "attention-complexity" if i % 2 else "bn-vs-ln", 2, NOW + timedelta(days=i, hours=1))
    paths = {"a": a.path, "b": b.path}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            with Store.open(paths[name]) as store:  # each thread its own connections, as two processes
                start.wait()
                for _ in range(3):
                    _sync(store, hub_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _sync(a, hub_url)
    _sync(b, hub_url)
    assert device_state(a) == device_state(b)
    assert len(device_state(a)["reviews"]) == 80


def test_a_review_taken_back_after_it_was_pushed_is_taken_back_everywhere(devices: Devices, hub_url: str) -> None:
    from llmcards.session import Session

    a, b = devices("a"), devices("b")
    session = Session.start(a, a.settings(), NOW)
    card = session.next_card(NOW)
    assert card is not None
    session.answer(card, Grade.GOOD, NOW)
    second = session.next_card(NOW)
    assert second is not None
    _sync(a, hub_url)
    _sync(b, hub_url)
    assert len(b.cards.history(card.id)) == 1
    session.answer(second, Grade.EASY, NOW + timedelta(seconds=5))  # not pushed: an undo just deletes it
    session.undo(NOW + timedelta(seconds=6))
    assert a.events.waiting().events == 0
    session.answer(second, Grade.GOOD, NOW + timedelta(seconds=7))
    session.undo(NOW + timedelta(seconds=8))
    session.undo(NOW + timedelta(seconds=9))  # the first grade, pushed: taken back with an event
    assert a.events.waiting().events == 1

    _sync(a, hub_url)
    result = _sync(b, hub_url)

    assert result.merge.unreviewed == 1
    assert b.cards.history(card.id) == [] and b.cards.require(card.id).schedule.reps == 0
    assert device_state(a) == device_state(b)
    c = devices("c")  # a device joining later never sees it
    _sync(c, hub_url)
    assert device_state(c) == device_state(a)


def test_the_bundled_bank_syncs_on_each_device_without_events(devices: Devices, hub_url: str,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = devices("a"), devices("b")
    assert a.events.waiting().total == 0  # importing the bundled bank records nothing
    _sync(a, hub_url)
    joined = _sync(b, hub_url)
    assert joined.pulled == 0 and device_state(a) == device_state(b)
    # A newer bundled bank reaches device a first; b hears of its new card before it has it.
    newer = write(tmp_path / "newer.yaml", SMALL_PLUS)
    monkeypatch.setenv("LLMCARDS_BANK", str(newer))
    assert import_file(a, None, now=NOW).added == ["new-in-bank"]
    grade(a, "new-in-bank", 3, NOW + timedelta(hours=1))
    a.cards.set_suspended(["new-in-bank"], True, now=NOW + timedelta(hours=2))
    _sync(a, hub_url)
    waiting = _sync(b, hub_url)
    assert waiting.merge.parked == 1 and b.cards.get("new-in-bank") is None
    import_file(b, None, now=NOW + timedelta(days=1))  # b gets the new bank: the card gets its review
    assert device_state(a) == device_state(b)
    assert b.cards.require("new-in-bank").suspended and len(b.cards.history("new-in-bank")) == 1


# The small bank and one card more: a newer bundled bank.
SMALL_PLUS = SMALL_BANK.read_text(encoding="utf-8") + (
    '  - id: new-in-bank\n    question: "A card of a newer bank?"\n    answer: "Yes."\n')


def test_a_card_file_imported_on_one_device_reaches_the_other(devices: Devices, hub_url: str,
                                                               tmp_path: Path) -> None:
    a, b = devices("a"), devices("b")
    mine = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: m1\n    question: one?\n    answer: '1'\n"
                                         "  - id: m2\n    question: two?\n")
    import_file(a, mine, now=NOW)
    _sync(a, hub_url)
    _sync(b, hub_url)
    write(mine, "version: 1\ncards:\n  - id: m1\n    question: one?\n    answer: 'one'\n")
    import_file(a, mine, now=NOW + timedelta(hours=1))  # m1 changed, m2 left the file (retired)
    _sync(a, hub_url)
    _sync(b, hub_url)
    assert device_state(a) == device_state(b)
    assert b.cards.require("m1").answer == "one" and b.cards.require("m2").retired


def test_a_migrated_store_shares_its_whole_state(hub_url: str, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old" / "llmcards.db"
    old.parent.mkdir()
    shutil.copyfile(V2_STORE, old)
    with Store.open(old) as a, open_device(tmp_path / "new" / "llmcards.db") as b:
        _sync(a, hub_url)
        _sync(b, hub_url)
        state_a, state_b = device_state(a), device_state(b)
        assert state_b["settings"] == state_a["settings"] == [("learning_steps", "2m 15m"), ("new_per_day", "7")]
        assert state_b["reviews"] == state_a["reviews"] and len(state_b["reviews"]) == 8
        ids = ("my-own-card", "mine-one", "mine-two", "mask-literal", "kv-cache", "lora-principle", "bn-vs-ln")
        for card_id in ids:  # text, flags, schedule
            assert state_b["cards"][card_id][:7] == state_a["cards"][card_id][:7], card_id
            assert state_b["cards"][card_id][8:] == state_a["cards"][card_id][8:], card_id


def test_a_hub_that_lost_events_gets_them_again(devices: Devices, tmp_path: Path) -> None:
    """A SQLite hub in a synced folder replaced by an older copy: the devices notice and resend."""
    import shutil

    (tmp_path / "hubs").mkdir()
    hub = tmp_path / "hubs" / "hub.db"
    url = f"sqlite:///{hub}"
    a, b = devices("a"), devices("b")
    grade(a, "lora-principle", 3, NOW)
    _sync(a, url)
    shutil.copyfile(hub, tmp_path / "older.db")
    grade(a, "bn-vs-ln", 3, NOW + timedelta(hours=1))
    _sync(a, url)
    shutil.copyfile(tmp_path / "older.db", hub)  # the second push is gone from the hub

    result = _sync(a, url)
    assert result.restarted and result.pushed_reviews == 1
    _sync(b, url)
    assert device_state(a) == device_state(b) and len(device_state(b)["reviews"]) == 2


def test_last_sync_is_remembered_for_status(devices: Devices, hub_url: str) -> None:
    from llmcards.hubsync import status

    a = devices("a")
    grade(a, "lora-principle", 3, NOW)
    before = status(a, hub_url)
    assert before.last is None and (before.waiting_reviews, before.waiting_events) == (1, 0)
    _sync(a, hub_url)
    grade(a, "bn-vs-ln", 3, NOW + timedelta(minutes=1))
    after = status(a, hub_url)
    assert after.last is not None and after.last["pushed"] == 1 and after.waiting_reviews == 1
    assert json.dumps(after.last)  # plain data
    assert after.hub is not None and "***" not in after.hub


def test_hub_tables_hold_each_event_once(devices: Devices, hub_url: str) -> None:
    from sqlalchemy import func, select

    from llmcards.hub import Hub, hub_events

    a, b = devices("a"), devices("b")
    for i in range(5):
        grade(a, "lora-principle", 3, NOW + timedelta(days=i))
    _sync(a, hub_url)
    with sqlite3.connect(a.path) as c:  # as if the flags were lost: a pushes everything again
        c.execute("UPDATE review_logs SET pushed = 0")
    _sync(a, hub_url)
    _sync(b, hub_url)
    with Hub.open(hub_url) as hub, hub.engine.connect() as conn:
        total, distinct = conn.execute(select(func.count(), func.count(func.distinct(hub_events.c.id)))).one()
    assert total == distinct == 5


def test_moving_to_another_hub_takes_everything_along(devices: Devices, hub_url: str, tmp_path: Path) -> None:
    a, b, c = devices("a"), devices("b"), devices("c")
    grade(a, "lora-principle", 3, NOW)
    grade(b, "bn-vs-ln", 3, NOW + timedelta(minutes=1))
    _sync(a, hub_url)
    _sync(b, hub_url)
    (tmp_path / "new-hubs").mkdir()
    other = f"sqlite:///{tmp_path / 'new-hubs' / 'hub.db'}"
    moved = _sync(b, other)  # b moves first: it brings a's review along
    assert moved.created and moved.pushed_reviews == 2
    _sync(c, other)
    assert device_state(c) == device_state(b) and len(device_state(c)["reviews"]) == 2
    _sync(a, other)  # a follows: nothing new for the hub, b's review for a
    assert device_state(a) == device_state(c)


def test_a_store_restored_from_an_older_copy_gets_its_later_work_back(devices: Devices, hub_url: str,
                                                                       tmp_path: Path) -> None:
    a = devices("a")
    grade(a, "lora-principle", 3, NOW)
    _sync(a, hub_url)
    older = tmp_path / "older.db"
    with sqlite3.connect(a.path) as src, sqlite3.connect(older) as dst:
        src.backup(dst)
    grade(a, "bn-vs-ln", 3, NOW + timedelta(hours=1))
    a.cards.set_suspended(["kv-cache"], True, now=NOW + timedelta(hours=2))
    _sync(a, hub_url)
    expected = device_state(a)
    with Store.open(older) as restored:
        back = _sync(restored, hub_url)
        assert back.pulled_reviews == 1 and back.pulled_events == 1
        assert device_state(restored) == expected


def test_reviews_made_after_a_delete_elsewhere_wait_for_the_card_on_every_device(devices: Devices,
                                                                                    hub_url: str) -> None:
    a, b = devices("a"), devices("b")
    a.cards.add(Question(id="mine", question="What is PPO?", answer="Clipped policy updates"), now=NOW)
    _sync(a, hub_url)
    _sync(b, hub_url)
    grade(b, "mine", 3, NOW + timedelta(minutes=5))  # before the delete: goes with the card
    a.cards.delete(["mine"], now=NOW + timedelta(hours=1))
    grade(b, "mine", 3, NOW + timedelta(hours=2))  # after it, by b, which has not heard of it
    _sync(a, hub_url)
    _sync(b, hub_url)
    _sync(a, hub_url)
    assert a.cards.get("mine") is None and b.cards.get("mine") is None
    assert device_state(a) == device_state(b)
    add_card(a, question="What is PPO?", answer="Proximal policy optimization", tags=[], card_id="mine",
             now=NOW + timedelta(hours=3))  # added again: the later review comes back with it
    for store in (a, b, a):
        _sync(store, hub_url)
    c = devices("c")
    _sync(c, hub_url)
    assert device_state(a) == device_state(b) == device_state(c)
    assert [log.reviewed_at for log in c.cards.history("mine")] == [NOW + timedelta(hours=2)]


def test_cards_from_notes_reach_the_other_device_with_their_edits(devices: Devices, hub_url: str,
                                                                  tmp_path: Path) -> None:
    from llmcards.notes_import import apply_notes_import, plan_notes_import, read_note_files

    a, b = devices("a"), devices("b")
    notes = write(tmp_path / "notes.md", "# RL\n\n## What is DPO?\nPreference optimisation without a reward model.\n\n"
                                         "## What is PPO?\nA clipped policy-gradient method.\n")
    apply_notes_import(a, plan_notes_import(a, read_note_files(notes)), now=NOW)
    notes_ids = [r[0] for r in a.conn.execute("SELECT id FROM cards WHERE origin = 'notes'")]
    assert len(notes_ids) == 2
    _sync(a, hub_url)
    _sync(b, hub_url)
    assert {b.cards.require(i).question for i in notes_ids} == {"What is DPO?", "What is PPO?"}
    write(notes, "# RL\n\n## What is DPO?\nDirect preference optimisation.\n")  # PPO leaves the notes
    apply_notes_import(a, plan_notes_import(a, read_note_files(notes)), now=NOW + timedelta(hours=1))
    _sync(a, hub_url, timedelta(days=31))
    _sync(b, hub_url, timedelta(days=31))
    assert device_state(a) == device_state(b)
    retired = [i for i in notes_ids if b.cards.require(i).retired]
    assert len(retired) == 1 and b.cards.require(retired[0]).question == "What is PPO?"


def test_cards_imported_then_changed_before_the_first_sync_arrive_as_they_are_now(devices: Devices, hub_url: str,
                                                                                  tmp_path: Path) -> None:
    a, b = devices("a"), devices("b")
    mine = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: m1\n    question: one?\n    answer: '1'\n"
                                         "  - id: m2\n    question: two?\n  - id: m3\n    question: three?\n")
    import_file(a, mine, now=NOW)
    a.cards.update(Question(id="m1", question="one?", answer="uno"), now=NOW + timedelta(hours=1))
    a.cards.delete(["m2"], now=NOW + timedelta(hours=2))
    a.cards.set_suspended(["m3"], True, now=NOW + timedelta(hours=3))
    assert a.events.waiting().events == 2 + 3  # two adds still to make, and the edit, delete and suspend
    result = _sync(a, hub_url)
    assert result.pushed_events == 5 and a.events.waiting().total == 0
    _sync(b, hub_url)
    assert b.cards.require("m1").answer == "uno" and b.cards.get("m2") is None and b.cards.require("m3").suspended
    assert b.cards.require("m1").created_at == NOW  # the add is dated when the card was made
    assert device_state(a) == device_state(b)


def test_a_file_imported_while_a_sync_pulls_keeps_its_newer_text(devices: Devices, hub_url: str,
                                                                 tmp_path: Path) -> None:
    a, b = devices("a"), devices("b")
    shared = tmp_path / "shared.yaml"  # a folder both devices see
    write(shared, "version: 1\ncards:\n  - id: s1\n    question: shared?\n    answer: b's\n")
    import_file(b, shared, now=NOW)
    _sync(b, hub_url)
    write(shared, "version: 1\ncards:\n  - id: s1\n    question: shared?\n    answer: a's\n")
    imported: list[list[str]] = []

    def import_meanwhile(phase: str, done: int, total: int) -> None:  # another `llmcards import` on a
        if phase == "pull" and not imported:
            imported.append(import_file(a, shared, now=NOW + timedelta(hours=1)).added)

    sync(a, hub_url, now=NOW + timedelta(days=30), progress=import_meanwhile)
    assert imported == [["s1"]]
    assert a.cards.require("s1").answer == "a's"  # a's import is newer than b's add, which was pulled with it
    _sync(a, hub_url, timedelta(days=31))
    _sync(b, hub_url, timedelta(days=31))
    assert b.cards.require("s1").answer == "a's" and device_state(a) == device_state(b)


def test_a_card_imported_again_after_a_delete_keeps_the_files_text_over_older_edits(devices: Devices, hub_url: str,
                                                                                      tmp_path: Path) -> None:
    a, b = devices("a"), devices("b")
    shared = write(tmp_path / "shared.yaml", "version: 1\ncards:\n  - id: s1\n    question: shared?\n    answer: v1\n")
    import_file(a, shared, now=NOW)
    _sync(a, hub_url, timedelta(minutes=1))
    _sync(b, hub_url, timedelta(minutes=2))
    a.cards.delete(["s1"], now=NOW + timedelta(hours=1))
    b.cards.update(Question(id="s1", question="shared?", answer="b's edit"), now=NOW + timedelta(hours=2))
    for store in (a, b, a):  # b learns of the delete; a gets b's later edit, which waits for the card
        _sync(store, hub_url, timedelta(hours=3))
    assert a.cards.get("s1") is None and b.cards.get("s1") is None
    write(shared, "version: 1\ncards:\n  - id: s1\n    question: shared?\n    answer: v2\n")
    assert import_file(a, shared, now=NOW + timedelta(hours=4)).added == ["s1"]
    assert a.cards.require("s1").answer == "v2"  # the import is newer than b's edit
    _sync(a, hub_url, timedelta(hours=5))
    _sync(b, hub_url, timedelta(hours=5))
    assert b.cards.require("s1").answer == "v2" and device_state(a) == device_state(b)


def test_reviews_imported_on_two_devices_are_kept_once(devices: Devices, hub_url: str, tmp_path: Path) -> None:
    from llmcards.export import import_reviews

    a, b = devices("a"), devices("b")
    day_ms = int((NOW - timedelta(days=10)).timestamp() * 1000)
    log = write(tmp_path / "revlog.csv", "card_id,review_time,review_rating,review_duration\n"
                                         f"lora-principle,{day_ms},3,4000\n"
                                         f"lora-principle,{day_ms + 3 * 86_400_000},3,5000\n")
    import_reviews(a, log, now=NOW)
    import_reviews(b, log, now=NOW)
    _sync(a, hub_url)
    _sync(b, hub_url)
    _sync(a, hub_url)
    assert a.history.count() == b.history.count() == 2  # the same review has the same id on both
    state_a, state_b = device_state(a), device_state(b)
    for state in (state_a, state_b):  # each device imported them: each keeps itself as their device
        state["reviews"] = [(r[0], *r[2:]) for r in state["reviews"]]
    assert state_a == state_b


def test_a_pull_that_deletes_is_backed_up_first_and_new_reviews_alone_are_not(devices: Devices, hub_url: str) -> None:
    from llmcards.store.backups import store_backups

    a, b = devices("a"), devices("b")
    _sync(a, hub_url)
    _sync(b, hub_url)
    grade(a, "lora-principle", 3, NOW)
    _sync(a, hub_url)
    pulled = _sync(b, hub_url)
    assert pulled.pulled_reviews == 1 and pulled.backup is None
    assert [x.reason for x in store_backups(b.path)] == []
    a.cards.delete(["bn-vs-ln"], now=NOW + timedelta(days=1))
    _sync(a, hub_url, timedelta(days=31))
    deleting = _sync(b, hub_url, timedelta(days=31))
    assert deleting.backup is not None and b.cards.get("bn-vs-ln") is None
    assert "sync" in [x.reason for x in store_backups(b.path)]  # (also kept as the day's daily backup)
    with Store.open(deleting.backup) as saved:  # the backup is the store before the delete arrived
        assert saved.cards.get("bn-vs-ln") is not None


def test_a_reschedule_lasts_and_reaches_the_other_device(devices: Devices, hub_url: str) -> None:
    from llmcards.optimize import apply

    a, b = devices("a"), devices("b")
    for i, card_id in enumerate(("lora-principle", "bn-vs-ln", "attention-complexity")):
        grade(a, card_id, 3, NOW + timedelta(minutes=i))
        grade(a, card_id, 3, NOW + timedelta(days=2, minutes=i))
    _sync(a, hub_url)
    _sync(b, hub_url)
    params = list(Settings().fsrs_parameters)
    params[:4] = [p * 3 for p in params[:4]]  # longer first intervals
    before = a.cards.require("lora-principle").schedule
    applied = apply(a, NOW + timedelta(days=3), parameters=params, reschedule_cards=True)
    assert applied.reschedule is not None
    after = a.cards.require("lora-principle").schedule
    assert after.stability != before.stability
    # A later replay (an import, a sync) keeps the reschedule: the reviews before it stay under its settings.
    assert replay_cards(a).changed == ()
    _sync(a, hub_url, timedelta(days=4))
    got = _sync(b, hub_url, timedelta(days=4))
    assert "lora-principle" in got.merge.rescheduled
    assert device_state(a) == device_state(b)
    grade(b, "lora-principle", 3, NOW + timedelta(days=5))  # and reviews made after it follow on, on both
    _sync(b, hub_url, timedelta(days=6))
    _sync(a, hub_url, timedelta(days=6))
    assert device_state(a) == device_state(b)
