"""Backups: consistent copies while another process writes, names, rotation, the daily backup,
and restoring (round trip and bad input)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import Result

from llmcards.backup import (
    arm_daily_backup,
    backup_before,
    find_restore_source,
    plan_rotation,
    restore,
    rotate,
    start_daily_backup,
    wait_for_backups,
)
from llmcards.config import Settings
from llmcards.errors import UserError
from llmcards.models import CardState, Grade, Question, State
from llmcards.schema import SCHEMA_VERSION
from llmcards.store import Store
from llmcards.store.backups import (
    BackupName,
    Snapshot,
    backup_dir,
    backup_name,
    parse_backup_name,
    read_facts,
    store_backups,
)
from tests.helpers import NOW, snapshot

Cli = Callable[..., Result]


def reasons(path: Path) -> list[str]:
    return [b.reason for b in store_backups(path)]


def card_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM cards").fetchone()[0])
    finally:
        conn.close()


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


# --------------------------------------------------------------------------- copies and names
def test_a_backup_is_a_standalone_consistent_copy(store: Store, db_path: Path) -> None:
    store.cards.set_suspended(["bn-vs-ln"], True, now=NOW)
    path = backup_before(store, "manual", now=NOW)
    assert path.parent == db_path.parent / "backups"
    assert path.name == "cards-20260302T120000Z-manual.db"
    facts = read_facts(path, check_integrity=True)
    assert (facts.schema, facts.cards, facts.reviews) == (SCHEMA_VERSION, 5, 0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # no -wal/-shm when read
    assert conn.execute("SELECT suspended FROM cards WHERE id = 'bn-vs-ln'").fetchone()[0] == 1
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "cards-20260302T120000Z-daily.db", "cards-20260302T120000Z-manual.db"]  # the day's first: also daily
    again = backup_before(store, "manual", now=NOW)  # the same second: a new name, never overwritten
    assert again.name == "cards-20260302T120000Z-manual-2.db"
    assert parse_backup_name(db_path, again) == BackupName(again, NOW, "manual")
    assert reasons(db_path) == ["daily", "manual", "manual"]


def test_names_belong_to_their_store(tmp_path: Path) -> None:
    store = tmp_path / "my-cards.db"
    name = backup_name(store, datetime(2026, 11, 25, 20, 15, tzinfo=timezone.utc), "daily")
    assert name == "my-cards-20261125T201500Z-daily.db"
    assert parse_backup_name(store, tmp_path / name) is not None
    for other in ("llmcards-20261125T201500Z-daily.db", "my-cards-20261125T201500Z-weird.db", "notes.txt",
                  "my-cards-2026-daily.db", ".my-cards-20261125T201500Z-daily.db.1.tmp"):
        assert parse_backup_name(store, tmp_path / other) is None
    with pytest.raises(ValueError):
        backup_name(store, datetime(2026, 1, 1, tzinfo=timezone.utc), "whim")


def test_the_snapshot_is_the_store_when_it_began_even_as_others_write(store: Store, db_path: Path) -> None:
    snap = Snapshot.begin(db_path)
    other = Store.open(db_path)  # another connection, as another terminal would have
    other.cards.delete(["bn-vs-ln"], now=NOW)
    other.close()
    store.cards.set_suspended(["kv-cache"], True, now=NOW)  # and this process's own connection writes too
    copy = snap.copy_to(db_path.parent / "snap.db")
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT count(*) FROM cards WHERE id = 'bn-vs-ln'").fetchone()[0] == 1
    assert conn.execute("SELECT sum(suspended) FROM cards").fetchone()[0] == 0
    conn.close()


WRITER = r"""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from llmcards.models import CardState, Grade, Question, State
from llmcards.store import Store

store = Store.open(Path(sys.argv[1]))
t = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
print("ready", flush=True)
for i in range(int(sys.argv[2])):
    for card_id in ("lora-principle", "bn-vs-ln", "attention-complexity"):
        before = store.cards.require(card_id).schedule
        after = CardState(state=State.REVIEW, stability=3.0, difficulty=5.0, due=t + timedelta(days=3),
                          last_review=t, reps=before.reps + 1)
        store.queue.record_review(card_id, before, after, rating=Grade.GOOD, reviewed_at=t,
                                  study_day=t.date(), duration_ms=1000)
        t += timedelta(seconds=1)
store.close()
print("done", flush=True)
"""


def test_backups_stay_consistent_while_another_process_reviews(
        store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second process commits grades (card row + log row per transaction) while backups are
    taken, all at once and gently (step by step): in every backup each card's reps equals its
    number of logged reviews."""
    import llmcards.store.backups as backups

    monkeypatch.setattr(backups, "GENTLE_STEP_KB", 64)  # many small steps, so writes land between them
    for i in range(300):  # make the store big enough that a copy takes a while
        store.cards.add(_question(i), now=NOW)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), "400"], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    copies: list[Path] = []
    while writer.poll() is None or len(copies) < 2:
        copies.append(backup_before(store, "manual", now=NOW))
        gentle = db_path.parent / f"gentle-{len(copies)}.db"
        copies.append(Snapshot.begin(db_path).copy_to(gentle, gentle=True))
    assert writer.wait(timeout=120) == 0
    seen = set()
    for copy in copies:
        assert read_facts(copy, check_integrity=True).cards == 305
        conn = sqlite3.connect(copy)
        mismatched = conn.execute(
            "SELECT count(*) FROM cards c WHERE c.reps != "
            "(SELECT count(*) FROM review_logs r WHERE r.card_id = c.id AND r.cram = 0)").fetchone()[0]
        seen.add(conn.execute("SELECT count(*) FROM review_logs").fetchone()[0])
        conn.close()
        assert mismatched == 0
    assert len(copies) > 1 and len(seen) > 1  # the backups really ran while the log grew


def _question(i: int) -> Question:
    return Question(id=f"filler-{i}", question=f"Filler question {i} " + "x" * 2000, answer="y" * 2000,
                    tags=("filler",))


# --------------------------------------------------------------------------- rotation
def _touch(folder: Path, when: datetime, reason: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / backup_name(folder.parent / "llmcards.db", when, reason)
    path.write_bytes(b"")
    return path


def test_rotation_keeps_7_daily_4_weekly_and_30_days_of_the_rest(tmp_path: Path) -> None:
    store_path = tmp_path / "llmcards.db"
    folder = backup_dir(store_path)
    start = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)  # a Thursday
    stranger = folder / "my-own-copy.db"
    for day in range(90):
        when = start + timedelta(days=day)
        _touch(folder, when, "daily")
        if day % 10 == 0:
            _touch(folder, when + timedelta(hours=2), "delete")
    stranger.write_bytes(b"mine")
    now = start + timedelta(days=89, hours=3)  # Wednesday 2026-03-31 13:00 UTC
    deleted = rotate(store_path, Settings(), now=now)
    left = store_backups(store_path)
    dailies = [b.time.date().isoformat() for b in left if b.reason == "daily"]
    # The last 7 days, plus the newest daily of each of the last 4 ISO weeks (14 and 13 are among
    # the 7; 12 and 11 are Sundays 22 and 15 March).
    assert dailies == ["2026-03-15", "2026-03-22", "2026-03-25", "2026-03-26", "2026-03-27", "2026-03-28",
                       "2026-03-29", "2026-03-30", "2026-03-31"]
    others = [b.time.date().isoformat() for b in left if b.reason != "daily"]
    assert others == ["2026-03-02", "2026-03-12", "2026-03-22"]  # within 30 days of now
    assert stranger.exists() and len(left) == 12 and len(deleted) == 90 + 9 - 12


def test_rotation_settings_and_the_backup_just_made(tmp_path: Path) -> None:
    store_path = tmp_path / "llmcards.db"
    folder = backup_dir(store_path)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    old = [_touch(folder, now - timedelta(days=d), "daily") for d in range(1, 20)]
    just_made = _touch(folder, now - timedelta(days=400), "import")  # a clock gone wrong: still kept
    settings = Settings().with_value("backup_daily", "2").with_value("backup_weekly", "0")
    settings = settings.with_value("backup_keep_days", "0")
    doomed = plan_rotation(store_backups(store_path), settings, now=now, keep=(just_made,))
    assert sorted(doomed) == sorted(old[2:])
    none = Settings().with_value("backup_daily", "0").with_value("backup_weekly", "0")
    assert sorted(plan_rotation(store_backups(store_path), none, now=now)) == sorted([*old, just_made])


def test_two_daily_backups_of_one_day_count_once(tmp_path: Path) -> None:
    store_path = tmp_path / "llmcards.db"
    folder = backup_dir(store_path)
    now = datetime(2026, 6, 10, 12, 0, tzinfo=timezone.utc)
    days = [_touch(folder, now - timedelta(days=d), "daily") for d in range(10)]
    twin = _touch(folder, now - timedelta(days=2, minutes=5), "daily")  # another terminal, same study day
    settings = Settings().with_value("backup_weekly", "0")
    assert sorted(plan_rotation(store_backups(store_path), settings, now=now)) == sorted([twin, *days[7:]])


def test_a_backup_another_process_is_writing_counts_as_the_days(store: Store, db_path: Path) -> None:
    folder = backup_dir(db_path)
    folder.mkdir()
    name = backup_name(db_path, NOW - timedelta(hours=1), "daily")
    writing = folder / f".{name}.4242-17.tmp"  # the temp file of a daily backup still being copied
    writing.write_bytes(b"")
    assert start_daily_backup(store, NOW) is None
    stale = folder / f".{backup_name(db_path, NOW - timedelta(days=3), 'daily')}.4242-17.tmp"
    stale.write_bytes(b"")  # left by a process that was killed three days ago
    rotate(db_path, Settings(), now=NOW)
    assert writing.exists() and not stale.exists()


def test_rotation_over_many_days_with_real_backups(store: Store, db_path: Path) -> None:
    """Forty study days with one write each, a delete every week: what is left is what the settings say."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
    for day in range(40):
        now = start + timedelta(days=day)
        assert start_daily_backup(store, now) is not None
        assert start_daily_backup(store, now + timedelta(hours=5)) is None  # once per study day
        assert wait_for_backups() == []
        if day % 7 == 3:
            backup_before(store, "delete", now=now + timedelta(hours=1))
    left = store_backups(db_path)
    dailies = [b for b in left if b.reason == "daily"]
    weeks = {b.time.isocalendar()[1] for b in dailies}
    assert len(dailies) == 7 + 2 and len(weeks) == 4  # 7 recent + the newest of the 2 weeks before
    assert [b.time.date().isoformat() for b in left if b.reason == "delete"] == [
        "2026-03-12", "2026-03-19", "2026-03-26", "2026-04-02", "2026-04-09"]  # 30 days before the last backup
    assert all(read_facts(b.path).cards == 5 for b in left)


# --------------------------------------------------------------------------- the daily backup
def test_the_daily_backup_is_taken_at_the_first_write_of_each_study_day(cli: Cli, db_path: Path) -> None:
    day1 = {"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}
    ok(cli("list", env=day1))  # creates the store: nothing to back up yet
    for args in (["list"], ["show", "bn-vs-ln"], ["stats"], ["list", "--json"], ["config"], ["backup", "--list"]):
        ok(cli(*args, env=day1))
    assert reasons(db_path) == []
    ok(cli("suspend", "bn-vs-ln", env=day1))
    assert reasons(db_path) == ["daily"]
    (daily,) = store_backups(db_path)
    conn = sqlite3.connect(daily.path)  # taken before the day's first change
    assert conn.execute("SELECT suspended FROM cards WHERE id = 'bn-vs-ln'").fetchone()[0] == 0
    conn.close()
    ok(cli("suspend", "kv-cache", env=day1))
    ok(cli("unsuspend", "kv-cache", env={"LLMCARDS_NOW": "2026-03-03T03:59:00Z"}))  # before 4:00: still day 1
    assert reasons(db_path) == ["daily"]
    ok(cli("unsuspend", "bn-vs-ln", env={"LLMCARDS_NOW": "2026-03-03T04:00:00Z"}))  # a new study day
    assert reasons(db_path) == ["daily", "daily"]
    ok(cli("config", "set", "backup_daily", "0", env={"LLMCARDS_NOW": "2026-03-04T10:00:00Z"}))
    ok(cli("suspend", "bn-vs-ln", env={"LLMCARDS_NOW": "2026-03-05T10:00:00Z"}))
    assert reasons(db_path) == ["daily", "daily", "daily"]  # the config set was the 4th's first write
    ok(cli("config", "set", "day_starts_at", "0", env={"LLMCARDS_NOW": "2026-03-05T10:00:00Z"}))
    assert reasons(db_path) == ["daily", "daily", "daily"]


def test_the_daily_backup_does_not_wait_for_the_copy(store: Store, db_path: Path) -> None:
    """The first write waits only for the snapshot; the copy finishes later, before exit."""
    store.close()
    store = Store.open(db_path)  # not created by this open: it has something to lose
    arm_daily_backup(store, lambda: NOW)
    store.cards.set_suspended(["bn-vs-ln"], True, now=NOW)  # the first write: starts the daily backup
    store.cards.set_suspended(["kv-cache"], True, now=NOW)
    assert store.before_first_write is None
    assert wait_for_backups() == []
    (daily,) = store_backups(db_path)
    conn = sqlite3.connect(daily.path)
    assert conn.execute("SELECT sum(suspended) FROM cards").fetchone()[0] == 0
    conn.close()


def test_during_a_review_the_daily_backup_copies_only_while_the_person_reads(
        store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import llmcards.backup
    from llmcards import reading

    screen = reading.Reading()
    monkeypatch.setattr(llmcards.backup, "SCREEN", screen)
    monkeypatch.setattr(reading, "SETTLED_S", 0.05)
    store.close()
    store = Store.open(db_path)
    try:
        arm_daily_backup(store, lambda: NOW)
        screen.waiting(False)  # a review screen runs, and a key just came: the grade
        store.cards.set_suspended(["bn-vs-ln"], True, now=NOW)  # its write: the snapshot is taken
        time.sleep(0.3)
        assert store_backups(db_path) == []  # not copied while the screen handles the key
        screen.waiting(True)  # the next card is on the screen: the person reads
        deadline = time.monotonic() + 20
        while not store_backups(db_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        (daily,) = store_backups(db_path)
        assert daily.reason == "daily" and card_count(daily.path) == store.cards.count()
        conn = sqlite3.connect(daily.path)
        assert conn.execute("SELECT sum(suspended) FROM cards").fetchone()[0] == 0  # as before the grade
        conn.close()
    finally:
        assert wait_for_backups() == []
        store.close()


def test_reading_gives_the_turn_after_a_moment_of_reading_or_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from llmcards import reading

    monkeypatch.setattr(reading, "SETTLED_S", 0.2)
    screen, hurry = reading.Reading(), threading.Event()
    assert screen.wait_turn(hurry) is False  # no review screen: nobody to wait for
    screen.waiting(True)
    started = time.monotonic()
    assert screen.wait_turn(hurry) is True and time.monotonic() - started >= 0.15
    screen.waiting(False)
    threading.Timer(0.2, hurry.set).start()  # the process is about to exit
    started = time.monotonic()
    assert screen.wait_turn(hurry) is True and time.monotonic() - started >= 0.15


def test_a_new_store_gets_no_daily_backup(tmp_path: Path) -> None:
    with Store.open(tmp_path / "new.db") as store:
        arm_daily_backup(store, lambda: NOW)
        assert store.before_first_write is None
    assert not (tmp_path / "backups").exists()


# --------------------------------------------------------------------------- commands
def test_backup_command_and_list(cli: Cli, db_path: Path) -> None:
    env = {"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}
    ok(cli("list", env=env))
    result = ok(cli("backup", env=env))
    assert "Backed up to" in result.output and "5 cards, 0 reviews" in result.output
    assert "kept 30 days" in result.output
    (daily, manual) = sorted(store_backups(db_path), key=lambda b: b.reason)
    assert (daily.reason, manual.reason) == ("daily", "manual")  # the day's first backup is also its daily
    # A corrupt backup is listed as such, not a crash.
    broken = backup_dir(db_path) / "cards-20260301T080000Z-delete.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + os.urandom(3000))
    listing = ok(cli("backup", "--list", env=env)).output
    assert "2026-03-02 10:00" in listing and "manual" in listing and "cards-20260302T100000Z-manual.db" in listing
    assert "cards-20260301T080000Z-delete.db" in listing and ("corrupt" in listing or "not an llmcards" in listing)
    rows = json.loads(ok(cli("backup", "--list", "--json", env=env)).stdout)
    assert [r["reason"] for r in rows] == ["delete", "daily", "manual"]
    assert rows[0]["cards"] is None and rows[0]["problem"]
    assert rows[2] == {"file": "cards-20260302T100000Z-manual.db", "path": str(manual.path),
                       "time": "2026-03-02T10:00:00Z", "reason": "manual", "size": manual.path.stat().st_size,
                       "schema": SCHEMA_VERSION, "cards": 5, "reviews": 0, "problem": None}


def test_backup_to_a_path_never_overwrites(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    ok(cli("list"))
    target = tmp_path / "usb" / "copy.db"
    one_line_error(cli("backup", "--to", str(target)), "no such folder")
    target.parent.mkdir()
    ok(cli("backup", "--to", str(target)))
    assert read_facts(target, check_integrity=True).cards == 5
    before = target.read_bytes()
    ok(cli("suspend", "bn-vs-ln"))
    one_line_error(cli("backup", "--to", str(target)), "already exists")
    assert target.read_bytes() == before
    result = ok(cli("backup", "--to", str(target.parent), env={"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}))
    assert (target.parent / "cards-20260302T100000Z-manual.db").exists(), result.output
    assert reasons(db_path) == ["daily"]  # --to leaves the backups folder alone (the daily came from suspend)
    one_line_error(cli("backup", "--to", str(db_path)), "already exists")


def test_delete_and_import_back_up_first(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    env = {"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}
    ok(cli("list", env=env))
    ok(cli("delete", "bn-vs-ln", "--yes", env=env))
    assert reasons(db_path) == ["daily", "delete"]
    assert card_count(store_backups(db_path)[1].path) == 5
    bank = tmp_path / "mine.yaml"
    bank.write_text("version: 1\ncards:\n  - id: mine-1\n    question: Mine?\n    answer: Yes.\n", encoding="utf-8")
    ok(cli("import", str(bank), env=env))  # only adds cards: nothing that was there changes, no backup
    assert reasons(db_path) == ["daily", "delete"]
    ok(cli("import", str(bank), env=env))  # changes nothing: no backup
    bank.write_text(bank.read_text().replace("Yes.", "Yes, edited.") + "  - id: mine-2\n    question: Also?\n",
                    encoding="utf-8")
    ok(cli("import", str(bank), "--json", env=env))  # updates a card the store has: a backup first
    assert reasons(db_path) == ["daily", "delete", "import"]
    with Store.open(store_backups(db_path)[2].path) as saved:  # the store before the import
        assert saved.cards.require("mine-1").answer == "Yes." and saved.cards.get("mine-2") is None


def test_restore_round_trip(cli: Cli, db_path: Path) -> None:
    env = {"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}
    ok(cli("list", env=env))
    ok(cli("backup", env=env))
    (made,) = [b for b in store_backups(db_path) if b.reason == "manual"]
    later = {"LLMCARDS_NOW": "2026-03-03T10:00:00Z"}
    ok(cli("suspend", "bn-vs-ln", env=later))
    ok(cli("delete", "kv-cache", "--yes", env=later))
    ok(cli("config", "set", "new_per_day", "3", env=later))
    ok(cli("add", "-q", "A card added later?", "-a", "Gone after the restore.", "--id", "later", env=later))
    one_line_error(cli("restore", made.path.name, env=later), "refusing to restore without confirmation; add --yes")
    result = ok(cli("restore", made.path.name, "--yes", env=later))
    assert "Restored" in result.output and "5 cards, 0 reviews" in result.output
    cards = {c["id"]: c for c in json.loads(ok(cli("list", "--json", env=later)).stdout)}
    assert set(cards) == {"lora-principle", "bn-vs-ln", "attention-complexity", "mask-literal", "kv-cache"}
    assert not cards["bn-vs-ln"]["suspended"]
    assert json.loads(ok(cli("config", "--json", env=later)).stdout)["new_per_day"] == "20"
    (safety,) = [b for b in store_backups(db_path) if b.reason == "restore"]
    conn = sqlite3.connect(safety.path)  # the changed state is kept, in case the restore was a mistake
    assert conn.execute("SELECT value FROM settings WHERE key = 'new_per_day'").fetchone()[0] == "3"
    assert conn.execute("SELECT count(*) FROM cards WHERE id IN ('later', 'kv-cache')").fetchone()[0] == 1
    conn.close()
    assert not Path(f"{db_path}-wal").exists() or Path(f"{db_path}-wal").stat().st_size == 0
    ok(cli("restore", str(safety.path), "--yes", env=later))  # and back again, by path
    assert "later" in {c["id"] for c in json.loads(ok(cli("list", "--json", env=later)).stdout)}


def test_restore_refuses_bad_input_and_changes_nothing(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    ok(cli("list"))
    ok(cli("suspend", "bn-vs-ln"))
    with Store.open(db_path) as opened:
        good = backup_before(opened, "manual", now=NOW)
    data = good.read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE x (a)")
    conn.commit()
    conn.close()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.db"
    middle = len(data) // 2
    garbage.write_bytes(data[:middle] + os.urandom(8192) + data[middle + 8192:])
    newer = tmp_path / "newer.db"
    shutil.copyfile(good, newer)
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    before = snapshot(db_path)
    folder = sorted(p.name for p in backup_dir(db_path).iterdir())
    for bad, needle in [(text, "not an llmcards store"), (foreign, "not an llmcards store"),
                        (truncated, "corrupt"), (garbage, "corrupt"), (newer, "made by a newer llmcards"),
                        (empty, "not an llmcards store"), (tmp_path / "missing.db", "no such file"),
                        (db_path, "the store itself")]:
        one_line_error(cli("restore", str(bad), "--yes"), needle)
        assert snapshot(db_path) == before, bad
        assert sorted(p.name for p in backup_dir(db_path).iterdir()) == folder, bad
    assert sorted(p.name for p in db_path.parent.iterdir() if p.name.startswith(".")) == []


def test_restore_refuses_while_another_process_has_the_store_open(store: Store, db_path: Path) -> None:
    made = backup_before(store, "manual", now=NOW)
    store.cards.set_suspended(["bn-vs-ln"], True, now=NOW)
    other = Store.open(db_path)  # e.g. a review in another terminal
    with pytest.raises(UserError, match="open in another llmcards process"):
        restore(store, find_restore_source(store, made.name), now=NOW)
    assert other.cards.require("bn-vs-ln").suspended  # untouched, and still usable
    other.close()
    restore(store, find_restore_source(store, made.name), now=NOW)
    with Store.open(db_path) as reopened:
        assert not reopened.cards.require("bn-vs-ln").suspended


def test_restoring_an_older_schema_migrates_it_on_the_next_open(store: Store, db_path: Path, tmp_path: Path) -> None:
    from tests.helpers import DATA

    source = tmp_path / "media" / "store-v1.db"  # a store file in WAL mode, as a copied store is
    source.parent.mkdir()
    shutil.copyfile(DATA / "schemas" / "store-v1.db", source)
    report = restore(store, find_restore_source(store, str(source)), now=NOW)
    assert [p.name for p in source.parent.iterdir()] == ["store-v1.db"]  # no -wal/-shm made beside it
    assert report.facts.schema == 1 and report.safety_backup is not None
    with Store.open(db_path) as reopened:
        assert reopened.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert reopened.cards.require("my-own-card").origin == "user"
    assert reasons(db_path)[-1] == "migration"


def test_backup_and_restore_have_help_with_examples(cli: Cli) -> None:
    for command in ("backup", "restore"):
        text = ok(cli(command, "--help")).output
        assert "Example: llmcards " + command in text


def test_grades_survive_in_the_review_log_of_a_backup(store: Store) -> None:
    before = store.cards.require("bn-vs-ln").schedule
    after = CardState(state=State.REVIEW, stability=3.0, difficulty=5.0, due=NOW + timedelta(days=3),
                      last_review=NOW, reps=1)
    store.queue.record_review("bn-vs-ln", before, after, rating=Grade.GOOD, reviewed_at=NOW,
                              study_day=NOW.date(), duration_ms=1000)
    facts = read_facts(backup_before(store, "reschedule", now=NOW))
    assert (facts.cards, facts.reviews) == (5, 1)


def test_commands_that_only_read_never_load_the_backup_code(tmp_path: Path) -> None:
    db = tmp_path / "llmcards.db"
    env = {**os.environ, "LLMCARDS_NOW": "2026-03-02T10:00:00Z"}

    def modules(*args: str) -> set[str]:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmcards", "--db", str(db), *args],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}

    modules("list")  # creates the store
    for args in (["list"], ["show", "bn-vs-ln"], ["stats"]):
        assert not {"llmcards.backup", "llmcards.store.backups"} & modules(*args), args
    assert {"llmcards.backup", "llmcards.store.backups"} <= modules("suspend", "bn-vs-ln")
    assert reasons(db) == ["daily"]


def test_an_import_whose_backup_fails_changes_nothing(cli: Cli, db_path: Path, tmp_path: Path) -> None:
    env = {"LLMCARDS_NOW": "2026-03-02T10:00:00Z"}
    bank = tmp_path / "mine.yaml"
    bank.write_text("version: 1\ncards:\n  - id: mine-1\n    question: Mine?\n", encoding="utf-8")
    ok(cli("import", str(bank), env=env))  # only adds a card: no backup before it
    assert "import" not in reasons(db_path)
    shutil.rmtree(backup_dir(db_path), ignore_errors=True)
    backup_dir(db_path).write_text("a file where the backups folder should be")
    bank.write_text("version: 1\ncards:\n  - id: mine-1\n    question: Mine, edited?\n", encoding="utf-8")
    before = snapshot(db_path)
    one_line_error(cli("import", str(bank), env=env), "cannot create the backup folder")  # an update: backup first
    assert snapshot(db_path) == before
    backup_dir(db_path).unlink()
    ok(cli("import", str(bank), env=env))
    assert reasons(db_path) == ["daily", "import"]  # the import's backup is also the day's: one copy
    assert store_backups(db_path)[0].path.stat().st_ino == store_backups(db_path)[1].path.stat().st_ino
