"""The peer: Anki's own library (``pip install anki``, Rust backend) on the same cards.

Run with the Python of a venv that has ``anki`` installed (never the project's venv):

    anki_python bench/anki_peer.py build  LLM_DB OUT.anki2 NOW    # notes + mirrored review log
    anki_python bench/anki_peer.py prep   LLM_DB SRC OUT NOW [--raise-limits]
    anki_python bench/anki_peer.py first  COLLECTION           # prints READY once a card is rendered
    anki_python bench/anki_peer.py answer COLLECTION N         # prints JSON timings of N answers

How the collection is built (documented in bench/README.md):
* ``build`` adds one Basic note per llmcards card, in the llmcards store's position order,
  with ``col.add_notes`` (front = question, back = answer, the card's tags), turns FSRS on
  and sets the deck's desired retention to the llmcards store's. Then, with the collection
  closed, it mirrors the llmcards review log into ``revlog`` with Python's ``sqlite3``
  (``col.db.executemany`` writes ~8k rows/s through the backend, which is 4 minutes for 2M
  rows; the revlog table has no custom collation, so a plain SQLite write is safe).
* ``prep`` copies the built collection and gives every card the llmcards card's scheduling
  state relative to the real clock (Anki cannot be pinned like ``LLMCARDS_NOW``): review
  cards get ``type=queue=2``, ``due = today + (due study day - NOW's study day)``, interval,
  reps, lapses and the FSRS memory state (``data`` = s, d, dr, decay, lrt); learning cards
  ``queue=1`` with a due time in seconds; cards llmcards keeps out of review (no answer) are
  suspended. So Anki sees the same due backlog the llmcards store has at ``NOW``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _pinned(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)


def build(llm_db: str, out: str, now_iso: str) -> None:
    from anki.collection import AddNoteRequest, Collection

    started = time.perf_counter()
    for p in Path(out).parent.glob(Path(out).name + "*"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    src = sqlite3.connect(llm_db)
    cards = src.execute("SELECT id, question, answer, tags FROM cards ORDER BY position").fetchall()
    retention = dict(src.execute("SELECT key, value FROM settings").fetchall()).get("desired_retention", "0.9")

    col = Collection(out)
    col.set_config("fsrs", True)
    did = col.decks.id("Default")
    conf = col.decks.config_dict_for_deck_id(did)
    conf["desiredRetention"] = float(retention)
    col.decks.update_config(conf)
    model = col.models.by_name("Basic")
    requests = []
    for _id, question, answer, tags in cards:
        note = col.new_note(model)
        note["Front"] = question
        note["Back"] = (answer or "").replace("\n", "<br>")
        note.tags = [t.replace(" ", "_") for t in json.loads(tags)]
        requests.append(AddNoteRequest(note, did))
    for i in range(0, len(requests), 10_000):
        col.add_notes(requests[i:i + 10_000])
    build_now = time.time()
    col.close()

    dst = sqlite3.connect(out)
    cids = [r[0] for r in dst.execute("SELECT c.id FROM cards c JOIN notes n ON n.id = c.nid ORDER BY n.id")]
    if len(cids) != len(cards):
        raise SystemExit(f"expected {len(cards)} Anki cards, found {len(cids)}")
    by_llm = {c[0]: cid for c, cid in zip(cards, cids, strict=True)}  # counts checked above
    shift = build_now - _pinned(now_iso).timestamp()
    rows = []
    last_id = 0
    kinds = {0: 0, 1: 0, 2: 1, 3: 2}  # llmcards prev_state -> revlog type (learn, review, relearn)
    for card_id, rating, reviewed_at, duration, prev_state, prev_ivl, state, due in src.execute(
            "SELECT card_id, rating, reviewed_at, duration_ms, prev_state, prev_interval_days, state, due "
            "FROM review_logs ORDER BY reviewed_at, id"):
        at = _utc(reviewed_at).timestamp() + shift
        rid = max(int(at * 1000), last_id + 1)
        last_id = rid
        secs = (_utc(due).timestamp() + shift - at) if due else 0
        ivl = round(secs / 86400) if state == 2 else -int(secs)
        last_ivl = round(prev_ivl) if prev_ivl is not None and prev_state == 2 else 0
        rows.append((rid, by_llm[card_id], -1, rating, ivl, last_ivl, 0, duration or 0, kinds[prev_state]))
    dst.executemany("INSERT INTO revlog(id, cid, usn, ease, ivl, lastIvl, factor, time, type) "
                    "VALUES (?,?,?,?,?,?,?,?,?)", rows)
    dst.commit()
    dst.close()
    print(json.dumps({"cards": len(cids), "revlog": len(rows), "seconds": round(time.perf_counter() - started, 1)}))


def prep(llm_db: str, src_path: str, out: str, now_iso: str, raise_limits: bool) -> None:
    from anki.collection import Collection

    for p in Path(out).parent.glob(Path(out).name + "*"):
        if p.is_file():
            p.unlink()
    shutil.copyfile(src_path, out)
    now_pinned = _pinned(now_iso)
    col = Collection(out)
    today = col.sched.today
    rollover = col.get_config("rollover", 4)
    if raise_limits:
        did = col.decks.id("Default")
        conf = col.decks.config_dict_for_deck_id(did)
        conf["new"]["perDay"] = 9999
        conf["rev"]["perDay"] = 9999
        col.decks.update_config(conf)
    col.close()
    real_now = time.time()

    from datetime import timedelta

    def study_day(t: datetime) -> int:
        return (t - timedelta(hours=rollover)).date().toordinal()

    src = sqlite3.connect(llm_db)
    retention = float(dict(src.execute("SELECT key, value FROM settings").fetchall()).get("desired_retention", "0.9"))
    now_day = study_day(now_pinned)
    dst = sqlite3.connect(out)
    cids = [r[0] for r in dst.execute("SELECT c.id FROM cards c JOIN notes n ON n.id = c.nid ORDER BY n.id")]
    updates = []
    suspend = []
    # the collection was built from these cards in this order: one Anki card per llmcards card
    for cid, (answer_null, state, _step, stab, diff, due, last, reps, lapses, susp) in zip(cids, src.execute(
            "SELECT answer IS NULL, state, step, stability, difficulty, due, last_review, reps, lapses, suspended "
            "FROM cards ORDER BY position"), strict=True):
        if answer_null or susp:
            suspend.append((cid,))
        if state == 0:
            continue
        due_t, last_t = _utc(due), _utc(last)
        data = json.dumps({"s": round(stab, 4), "d": round(diff, 3), "dr": retention, "decay": 0.1542,
                           "lrt": int(real_now + (last_t - now_pinned).total_seconds())})
        ivl = max(1, round((due_t - last_t).total_seconds() / 86400))
        if state == 2:
            updates.append((2, 2, today + study_day(due_t) - now_day, ivl, reps, lapses, 0, data, cid))
        else:  # learning (1) or relearning (3): intraday learning queue, due in epoch seconds
            secs = int(real_now + (due_t - now_pinned).total_seconds())
            updates.append((1 if state == 1 else 3, 1, secs, 0 if state == 1 else ivl, reps, lapses, 1, data, cid))
    dst.executemany("UPDATE cards SET type = ?, queue = ?, due = ?, ivl = ?, reps = ?, lapses = ?, left = ?, "
                    "data = ?, factor = 2500 WHERE id = ?", updates)
    dst.executemany("UPDATE cards SET queue = -1 WHERE id = ?", suspend)
    dst.commit()
    dst.close()
    col = Collection(out)  # let Anki check the result once (and settle any first-open work)
    counts = col.sched.counts()
    col.close()
    print(json.dumps({"today": today, "counts": counts, "updated": len(updates), "suspended": len(suspend)}))


def first(path: str) -> None:
    """Cold process -> first queued card rendered; the runner times spawn -> READY."""
    import anki.collection  # noqa: F401, I001  (first: importing anki.cards first is a circular import)
    from anki.cards import Card
    from anki.collection import Collection

    col = Collection(path)
    counts = col.sched.counts()
    queued = col.sched.get_queued_cards()
    card = Card(col, backend_card=queued.cards[0].card)
    html = card.question()
    sys.stdout.write(f"READY {counts} {len(html)}\n")
    sys.stdout.flush()
    col.close()


def answer(path: str, n: int) -> None:
    """Answer ``n`` cards Good; time answer_card alone, and answer -> next question rendered."""
    import anki.collection  # noqa: F401, I001  (first: importing anki.cards first is a circular import)
    from anki.cards import Card
    from anki.collection import Collection
    from anki.scheduler.v3 import CardAnswer

    col = Collection(path)
    queued = col.sched.get_queued_cards()
    qc = queued.cards[0]
    card = Card(col, backend_card=qc.card)
    card.start_timer()
    card.question()
    answer_ms, next_ms = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ans = col.sched.build_answer(card=card, states=qc.states, rating=CardAnswer.GOOD)
        col.sched.answer_card(ans)
        t1 = time.perf_counter()
        queued = col.sched.get_queued_cards()
        if not queued.cards:
            break
        qc = queued.cards[0]
        card = Card(col, backend_card=qc.card)
        card.start_timer()
        card.question()
        t2 = time.perf_counter()
        answer_ms.append((t1 - t0) * 1000)
        next_ms.append((t2 - t0) * 1000)
    col.close()
    print(json.dumps({"answer_ms": answer_ms, "answer_to_next_ms": next_ms}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "build":
        build(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "prep":
        prep(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], "--raise-limits" in sys.argv)
    elif cmd == "first":
        first(sys.argv[2])
    elif cmd == "answer":
        answer(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {cmd}")
