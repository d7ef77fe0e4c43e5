"""The autouse fixture pins every test to UTC, whatever the machine's zone (try TZ=Pacific/Chatham)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta


def test_this_process_uses_utc() -> None:
    assert time.localtime(0).tm_gmtoff == 0 and time.localtime(1_782_907_200).tm_gmtoff == 0  # winter, summer
    assert datetime(2026, 7, 1, 12).astimezone().utcoffset() == timedelta(0)


def test_child_processes_use_utc() -> None:
    offset = subprocess.run([sys.executable, "-c", "import time; print(time.localtime(0).tm_gmtoff)"],
                            capture_output=True, text=True, check=True).stdout
    assert offset.strip() == "0"
