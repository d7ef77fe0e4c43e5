"""Where the store lives, and the settings with their defaults and validation.

Settings are stored in the review store itself (like Anki's collection config), so one
file holds everything a person would back up. This module only knows their shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmcards.errors import UserError

DB_ENV = "LLMCARDS_DB"
LOCAL_SETTINGS = ("sync_url", "backup_daily", "backup_weekly", "backup_keep_days")  # this device's only, never shared
# The settings a schedule depends on: a replay uses, for each review, the values in effect when it was made.
SCHEDULING_SETTINGS = ("desired_retention", "learning_steps", "relearning_steps", "maximum_interval",
                       "fsrs_parameters")
DB_FILENAME = "llmcards.db"


def default_db_path() -> Path:
    """The store's path in the platform's user data directory."""
    from platformdirs import user_data_path

    return user_data_path("llmcards", appauthor=False) / DB_FILENAME


def resolve_db_path(option: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` wins, then ``$LLMCARDS_DB``, then the user data directory."""
    raw = option if option not in (None, "") else os.environ.get(DB_ENV) or None
    path = Path(raw).expanduser() if raw is not None else default_db_path()
    if path.exists() and path.is_dir():
        raise UserError(f"{path} is a directory; give --db the path of a file, e.g. {path / DB_FILENAME}")
    return path


_STEP_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_steps(text: str) -> tuple[timedelta, ...]:
    """Parse learning steps written as ``"1m 10m"`` (units s, m, h, d)."""
    steps: list[timedelta] = []
    for token in text.replace(",", " ").split():
        match = _STEP_RE.match(token.strip().lower())
        if not match:
            raise ValueError(f"{token!r} is not a step; write steps like '1m 10m 1h 1d'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds <= 0:
            raise ValueError(f"step {token!r} must be longer than zero")
        steps.append(timedelta(seconds=seconds))
    return tuple(steps)


def format_steps(steps: tuple[timedelta, ...]) -> str:
    """The inverse of :func:`parse_steps`, choosing the largest whole unit."""
    out = []
    for step in steps:
        seconds = step.total_seconds()
        for unit in ("d", "h", "m", "s"):
            size = _UNIT_SECONDS[unit]
            if seconds >= size and seconds % size == 0:
                out.append(f"{int(seconds // size)}{unit}")
                break
        else:
            out.append(f"{seconds:g}s")
    return " ".join(out)


def _int_in(low: int, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bound}, not {value}")
        return value

    return parse


def _retention(text: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not 0.70 <= value <= 0.99:
        raise ValueError(f"must be between 0.70 and 0.99, not {value:g}")
    return value


# fsrs's default model parameters (FSRS-6), written here so that reading the settings does not
# import fsrs (a test holds them equal to fsrs.scheduler.DEFAULT_PARAMETERS).
DEFAULT_PARAMETERS: tuple[float, ...] = (
    0.212, 1.2931, 2.3065, 8.2956, 6.4133, 0.8334, 3.0194, 0.001, 1.8722, 0.1666, 0.796,
    1.4835, 0.0614, 0.2629, 1.6483, 0.6014, 1.8729, 0.5425, 0.0912, 0.0658, 0.1542,
)


def parse_parameters(text: str) -> tuple[float, ...]:
    """FSRS parameters written as numbers separated by spaces or commas, checked by fsrs itself."""
    try:
        values = tuple(float(token) for token in text.replace(",", " ").split())
    except ValueError:
        raise ValueError("write the parameters as numbers separated by spaces or commas") from None
    from fsrs import Scheduler

    try:
        Scheduler(parameters=values)  # fsrs validates the count and each parameter's bounds
    except ValueError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return values


def format_parameters(values: tuple[float, ...]) -> str:
    """The inverse of :func:`parse_parameters`: each float in its shortest exact form."""
    return " ".join(repr(v) for v in values)


HUB_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
               "postgresql+psycopg": "postgresql+psycopg"}
HUB_EXAMPLES = "sqlite:///path/to/hub.db or postgresql+psycopg://user@host/dbname"


def check_hub_url(text: str, *, allow_password: bool = False) -> str:
    """A hub URL, checked and normalized ("" for none): a SQLite file as an absolute path, PostgreSQL
    through psycopg 3. Without ``allow_password`` a password is refused, since settings are stored.
    Messages never repeat the URL, which may hold a password. (No SQLAlchemy here: settings are
    parsed on every command.)"""
    text = text.strip()
    if not text:
        return ""
    scheme, sep, rest = text.partition("://")
    driver = HUB_DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        named = f"{scheme!r} is not a supported kind of hub" if sep and "@" not in scheme else "not a hub URL"
        raise ValueError(f"{named}; write {HUB_EXAMPLES}")
    if driver == "sqlite":
        path, mark, query = rest.partition("?")
        path = path[1:] if path.startswith("/") else path  # sqlite:///relative, sqlite:////absolute
        if not path or path == ":memory:":
            raise ValueError("a SQLite hub is a file: write sqlite:///path/to/hub.db")
        return f"sqlite:///{os.path.abspath(os.path.expanduser(path))}{mark}{query}"
    location = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo = location.rpartition("@")[0]
    if ":" in userinfo and not allow_password:
        raise ValueError("the URL holds a password, and llmcards never stores one; remove it and "
                         "put the password in ~/.pgpass or $PGPASSWORD")
    return f"{driver}://{rest}"


@dataclass(frozen=True)
class Settings:
    """Review settings. Defaults follow Anki's."""

    desired_retention: float = 0.90
    new_per_day: int = 20
    reviews_per_day: int = 200
    day_starts_at: int = 4
    learning_steps: tuple[timedelta, ...] = (timedelta(minutes=1), timedelta(minutes=10))
    relearning_steps: tuple[timedelta, ...] = (timedelta(minutes=10),)
    maximum_interval: int = 36500
    fsrs_parameters: tuple[float, ...] = DEFAULT_PARAMETERS
    backup_daily: int = 7
    backup_weekly: int = 4
    backup_keep_days: int = 30
    sync_url: str = ""  # the hub of `llmcards sync`; this device's only (LOCAL_SETTINGS)

    def to_strings(self) -> dict[str, str]:
        """Every setting as the text ``config set`` accepts."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "fsrs_parameters":
                out[f.name] = format_parameters(value)
            elif isinstance(value, tuple):
                out[f.name] = format_steps(value)
            else:
                out[f.name] = f"{value:g}" if isinstance(value, float) else str(value)
        return out

    def with_value(self, key: str, text: str) -> Settings:
        """A copy with ``key`` set from ``text``; raises UserError for a bad key or value."""
        parser = PARSERS.get(key)
        if parser is None:
            raise UserError(f"unknown setting {key!r}; known settings: {', '.join(PARSERS)}")
        try:
            value = parser(text)
        except ValueError as exc:
            raise UserError(f"{key}: {exc}") from None
        return replace(self, **{key: value})

    @classmethod
    def from_strings(cls, stored: dict[str, str]) -> Settings:
        """Settings from stored text; unknown or invalid stored keys fall back to defaults."""
        settings = cls()
        for key, text in stored.items():
            if key in PARSERS:
                try:
                    settings = settings.with_value(key, text)
                except UserError:
                    pass
        return settings


PARSERS: dict[str, Callable[[str], Any]] = {
    "desired_retention": _retention,
    "new_per_day": _int_in(0, 9999),
    "reviews_per_day": _int_in(0, 99999),
    "day_starts_at": _int_in(0, 23),
    "learning_steps": parse_steps,
    "relearning_steps": parse_steps,
    "maximum_interval": _int_in(1, 36500),
    "fsrs_parameters": parse_parameters,
    "backup_daily": _int_in(0, 3650),
    "backup_weekly": _int_in(0, 520),
    "backup_keep_days": _int_in(0, 36500),
    "sync_url": check_hub_url,
}

DESCRIPTIONS: dict[str, str] = {
    "desired_retention": "target chance of recall when a card comes due (0.70-0.99)",
    "new_per_day": "new cards introduced per study day",
    "reviews_per_day": "review cards shown per study day",
    "day_starts_at": "local hour (0-23) at which a new study day begins",
    "learning_steps": "intervals for new cards, e.g. '1m 10m'",
    "relearning_steps": "intervals after a lapse, e.g. '10m'",
    "maximum_interval": "longest interval in days",
    "fsrs_parameters": "the FSRS model's 21 parameters (fsrs's defaults until you fit your own)",
    "backup_daily": "daily backups kept (taken at the first change of each study day; 0 = none)",
    "backup_weekly": "weekly backups kept (the newest daily backup of each of the last N ISO weeks)",
    "backup_keep_days": "days to keep backups taken before an operation or by `llmcards backup`",
    "sync_url": "the hub `llmcards sync` uses (this device only): sqlite:///path/hub.db or "
                "postgresql+psycopg://user@host/dbname",
}
