"""When the person is reading: the review screen says when it waits for a key, and the day's
backup (:mod:`llmcards.backup`) copies only then.

A backup copied beside the review shares the disk with it: a grade's commit waits for the disk,
and it waits longer while the copy's pages are being flushed. A person reads a card for seconds
and grades it in a key press, so the copy waits until the screen has waited for a key for
:data:`SETTLED_S`, then copies at full speed, one small step at a time, until a key comes. Keys
pressed in quick succession (space, then a grade) never meet a copy in progress. Without a review
screen (an import, a sync) nobody is watching, and the copy paces itself instead
(:class:`llmcards.store.backups.Snapshot`). This module is light: the screen imports it at start.
"""

from __future__ import annotations

import threading
import time

SETTLED_S = 0.3  # how long the screen has waited for a key before the copy goes on


class Reading:
    """Whether a review screen is waiting for a key, and since when."""

    def __init__(self) -> None:
        self.watched = False  # a review screen runs in this process
        self.since: float | None = None  # when it began waiting for the key it waits for now
        self.changed = threading.Condition()  # notified by wake() only

    def waiting(self, waiting: bool) -> None:
        """Called by the review screen: True when it starts waiting for a key, False when one came.
        It wakes no thread (the copy looks again within 0.1 s), so a key press pays nothing for it:
        a woken thread would want the GIL just when the key is being handled."""
        self.watched = True
        self.since = time.monotonic() if waiting else None

    def wake(self) -> None:
        """Look at ``hurry`` again now (call it after setting it)."""
        with self.changed:
            self.changed.notify_all()

    def wait_turn(self, hurry: threading.Event) -> bool:
        """Block until the person has been reading for :data:`SETTLED_S` (or ``hurry`` is set: the
        process is about to exit). True: go on now, at full speed; False: no review screen runs
        here, so there is nobody to wait for (the caller paces itself)."""
        with self.changed:
            if not self.watched:
                return False
            while not hurry.is_set():
                if self.since is not None:
                    left = self.since + SETTLED_S - time.monotonic()
                    if left <= 0:
                        return True
                    self.changed.wait(min(left, 0.1))
                else:
                    self.changed.wait(0.1)  # waiting() wakes nobody, and hurry is an Event: see wake()
            return True


SCREEN = Reading()
