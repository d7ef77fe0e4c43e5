"""Property: whatever two or three devices do offline, and in whatever order they sync, once each
has synced after the others' last changes they agree on every card, review and setting."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcards.cards import add_card
from llmcards.hubsync import sync
from llmcards.models import Question
from llmcards.store import Store
from llmcards.sync import import_file
from tests.helpers import NOW, device_state, grade, open_device

BANK_CARDS = ["lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal"]
OWN_CARDS = ["own-a", "own-b"]
FILE_CARDS = ["file-a", "file-b"]  # from a card file in a folder every device sees

op = st.one_of(
    st.tuples(st.just("grade"), st.sampled_from(BANK_CARDS + OWN_CARDS + FILE_CARDS), st.integers(1, 4)),
    st.tuples(st.just("suspend"), st.sampled_from(BANK_CARDS + OWN_CARDS + FILE_CARDS), st.booleans()),
    st.tuples(st.just("edit"), st.sampled_from(BANK_CARDS + OWN_CARDS + FILE_CARDS), st.sampled_from(["x", "y", "z"])),
    st.tuples(st.just("delete"), st.sampled_from(BANK_CARDS[2:] + OWN_CARDS + FILE_CARDS), st.just(0)),
    st.tuples(st.just("add"), st.sampled_from(OWN_CARDS), st.sampled_from(["p", "q"])),
    # importing the shared file with these of its cards, their answers in this version
    st.tuples(st.just("import"), st.sampled_from(["file-a", "file-b", "file-a file-b"]), st.sampled_from(["p", "q"])),
    st.tuples(st.just("setting"), st.sampled_from(["desired_retention", "new_per_day"]), st.integers(0, 2)),
    st.tuples(st.just("sync"), st.just(""), st.just(0)),
)
steps = st.lists(st.tuples(st.integers(0, 2), op, st.integers(1, 3000)), min_size=1, max_size=25)
SETTING_VALUES = {"desired_retention": ["0.85", "0.9", "0.95"], "new_per_day": ["5", "10", "20"]}


Action = tuple[str, str, object]


def _apply(store: Store, action: Action, now: datetime, hub: str, shared: Path) -> None:
    kind, card_id, arg = action
    if kind == "import":
        cards = "".join(f"  - id: {i}\n    question: {i}?\n    answer: {arg}\n" for i in card_id.split())
        shared.write_text(f"version: 1\ncards:\n{cards}", encoding="utf-8")
        import_file(store, shared, now=now)
        return
    card = store.cards.get(card_id) if card_id else None
    if kind == "grade" and card is not None:
        grade(store, card_id, int(str(arg)), now)
    elif kind == "suspend" and card is not None:
        store.cards.set_suspended([card_id], bool(arg), now=now)
    elif kind == "edit" and card is not None:
        store.cards.update(Question(id=card_id, question=card.question, answer=f"{card.answer} {arg}",
                                    tags=card.tags, sources=card.sources), now=now)
    elif kind == "delete" and card is not None:
        store.cards.delete([card_id], now=now)
    elif kind == "add" and card is None:
        add_card(store, question=f"{card_id} {arg}?", answer=str(arg), tags=[], card_id=card_id, now=now)
    elif kind == "setting":
        store.save_setting(card_id, SETTING_VALUES[card_id][int(str(arg))], now=now)
    elif kind == "sync":
        sync(store, hub, now=now)


# MERGE_EXAMPLES=300 explores more (a few minutes).
@settings(max_examples=int(os.environ.get("MERGE_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=steps, devices=st.integers(2, 3))
def test_devices_converge_whatever_they_do_and_whenever_they_sync(
        tmp_path: Path, history: list[tuple[int, Action, int]], devices: int) -> None:
    template = tmp_path / "template.db"
    if not template.exists():
        open_device(template).close()
    here = Path(tempfile.mkdtemp(dir=tmp_path))
    hub = f"sqlite:///{here / 'hub.db'}"
    stores = []
    for i in range(devices):
        path = here / f"d{i}.db"
        shutil.copyfile(template, path)  # the template has no device id yet: each copy makes its own
        stores.append(Store.open(path))
    try:
        clock = NOW
        for who, action, minutes in history:
            clock += timedelta(minutes=minutes)
            _apply(stores[who % devices], action, clock, hub, here / "shared.yaml")
        for _ in range(2):  # everyone syncs after everyone else's last change
            for store in stores:
                clock += timedelta(minutes=1)
                sync(store, hub, now=clock)
        states = [device_state(store) for store in stores]
        assert len({store.device_id for store in stores}) == devices
        for state in states[1:]:
            assert state == states[0]
    finally:
        for store in stores:
            store.close()
