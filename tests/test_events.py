"""Every change a store makes is recorded as an event, in the change's own transaction."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from llmcards.models import Grade, Question, uuid7_time
from llmcards.session import Session
from llmcards.store import Store
from llmcards.sync import import_file
from tests.helpers import NOW, grade, write


def _events(store: Store) -> list[tuple[str, str | None, dict[str, object]]]:
    rows = store.conn.execute("SELECT kind, card_id, data FROM events ORDER BY rowid").fetchall()
    return [(kind, card_id, json.loads(data)) for kind, card_id, data in rows]


def test_each_change_records_its_event(store: Store) -> None:
    assert _events(store) == []  # the bundled bank is not an event: every device syncs it itself
    store.cards.add(Question(id="mine", question="Q?", answer="A", tags=("t",)), now=NOW)
    store.cards.update(Question(id="mine", question="Q?", answer="A2", tags=("t",)), now=NOW + timedelta(seconds=1))
    store.cards.set_suspended(["mine", "bn-vs-ln"], True, now=NOW + timedelta(seconds=2))
    store.cards.set_suspended(["mine"], True, now=NOW + timedelta(seconds=3))  # no change, no event
    store.cards.set_suspended(["mine"], False, now=NOW + timedelta(seconds=4))
    store.cards.bury("lora-principle", NOW + timedelta(days=1), now=NOW + timedelta(seconds=5))
    store.save_setting("new_per_day", "3", now=NOW + timedelta(seconds=6))
    store.reset_setting("new_per_day", now=NOW + timedelta(seconds=7))
    store.reset_setting("new_per_day", now=NOW + timedelta(seconds=8))  # nothing to reset, no event
    store.save_setting("sync_url", "sqlite:////tmp/hub.db", now=NOW + timedelta(seconds=9))  # this device's own
    store.cards.delete(["mine"], now=NOW + timedelta(seconds=10))

    assert _events(store) == [
        ("add", "mine", {"question": "Q?", "answer": "A", "tags": ["t"], "sources": [], "retired": False,
                         "origin": "user", "import_path": None}),
        ("edit", "mine", {"answer": "A2"}),
        ("suspend", "mine", {}),
        ("suspend", "bn-vs-ln", {}),
        ("unsuspend", "mine", {}),
        ("bury", "lora-principle", {"until": "2026-03-03 12:00:00.000000"}),
        ("setting", None, {"key": "new_per_day", "value": "3"}),
        ("setting", None, {"key": "new_per_day", "value": None}),
        ("delete", "mine", {}),
    ]
    rows = store.conn.execute("SELECT id, device, at, pushed FROM events").fetchall()
    for event_id, device, at, pushed in rows:
        assert uuid.UUID(event_id).version == 7 and device == store.device_id and pushed == 0
        assert uuid7_time(event_id).strftime("%Y-%m-%d %H:%M:%S.%f") == at


def test_a_change_and_its_event_commit_together(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with store.write():
            store.cards.set_suspended(["bn-vs-ln"], True, now=NOW)
            raise Boom
    assert not store.cards.require("bn-vs-ln").suspended and _events(store) == []


def test_reviews_are_events_with_ids_and_a_device(store: Store) -> None:
    grade(store, "lora-principle", 3, NOW)
    grade(store, "lora-principle", 3, NOW + timedelta(minutes=11), cram=True)
    rows = store.conn.execute("SELECT uuid, device, pushed, reviewed_at FROM review_logs ORDER BY id").fetchall()
    assert len(rows) == 2 and rows[0][0] < rows[1][0]  # they sort by time
    assert {r[1] for r in rows} == {store.device_id} and {r[2] for r in rows} == {0}
    assert [log.uuid for log in store.cards.history("lora-principle")] == [r[0] for r in rows]


def test_a_device_id_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as first:
        assert first.get_meta("device_id") is None  # made on first use, not on open
        made = first.device_id
    with Store.open(path) as again:
        assert again.device_id == made and uuid.UUID(made)
    with Store.open(tmp_path / "other.db") as other:
        assert other.device_id != made


def test_undo_deletes_an_unpushed_review_and_takes_back_a_pushed_one(store: Store) -> None:
    session = Session.start(store, store.settings(), NOW)
    card = session.next_card(NOW)
    assert card is not None
    session.answer(card, Grade.GOOD, NOW)
    session.undo(NOW + timedelta(seconds=1))
    assert store.conn.execute("SELECT count(*) FROM review_logs").fetchone()[0] == 0
    assert _events(store) == []
    session.answer(card, Grade.GOOD, NOW + timedelta(seconds=2))
    (log_uuid,) = store.conn.execute("SELECT uuid FROM review_logs").fetchone()
    store.conn.execute("UPDATE review_logs SET pushed = 1")  # as a sync leaves it
    session.undo(NOW + timedelta(seconds=3))
    assert store.conn.execute("SELECT count(*) FROM review_logs").fetchone()[0] == 0
    assert _events(store) == [("unreview", card.id, {"review": log_uuid})]


def test_a_file_of_ones_own_records_edits_and_retirements_and_its_adds_when_needed(store: Store,
                                                                                   tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: m1\n    question: one?\n    tags: [a]\n"
                                         "  - id: m2\n    question: two?\n")
    import_file(store, path, now=NOW)
    assert _events(store) == [] and store.events.waiting().events == 2  # the adds wait to be made
    write(path, "version: 1\ncards:\n  - id: m1\n    question: one?\n    answer: uno\n    tags: [a, b]\n")
    import_file(store, path, now=NOW + timedelta(hours=1))
    write(path, "version: 1\ncards:\n  - id: m1\n    question: one?\n    answer: uno\n    tags: [a, b]\n"
                "  - id: m2\n    question: two?\n")
    import_file(store, path, now=NOW + timedelta(hours=2))
    store.cards.update(Question(id="m2", question="two, edited?"), now=NOW + timedelta(hours=3))
    events = _events(store)
    assert [(k, c) for k, c, _ in events] == [("edit", "m1"), ("edit", "m2"), ("edit", "m2"), ("edit", "m2")]
    assert events[0][2] == {"answer": "uno", "tags": ["a", "b"]}
    assert events[1][2] == {"retired": True} and events[2][2] == {"retired": False}
    assert store.events.waiting().events == 6

    assert store.events.make_missing_adds() == 2
    assert store.events.make_missing_adds() == 0  # made once
    assert store.events.waiting().events == 6
    rows = store.conn.execute("SELECT kind, card_id, at, data FROM events ORDER BY at, id").fetchall()
    assert [(k, c, at) for k, c, at, _ in rows[:2]] == [("add", "m1", "2026-03-02 12:00:00.000000"),
                                                        ("add", "m2", "2026-03-02 12:00:00.000000")]
    # Made from the card as it is now: its later edits are events too, and the newest value of each
    # field wins on every device, so this add merges to the same card as the import's text would.
    assert json.loads(rows[0][3]) == {"question": "one?", "answer": "uno", "tags": ["a", "b"], "sources": [],
                                      "retired": False, "origin": "user", "import_path": str(path.resolve())}
    assert json.loads(rows[1][3])["question"] == "two, edited?"


def test_an_add_is_made_only_for_a_card_that_is_still_there(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "version: 1\ncards:\n  - id: m1\n    question: one?\n"
                                         "  - id: m2\n    question: two?\n  - id: m3\n    question: three?\n")
    import_file(store, path, now=NOW)
    store.cards.delete(["m1"], now=NOW + timedelta(minutes=1))
    assert store.events.make_missing_adds(["m1", "m2"]) == 1  # m1 is gone: its delete is all there is to say
    assert [(k, c) for k, c, _ in _events(store)] == [("delete", "m1"), ("add", "m2")]
    assert store.events.make_missing_adds() == 1  # m3
    assert store.get_meta("adds_pending") is None
    assert store.events.make_missing_adds() == 0
