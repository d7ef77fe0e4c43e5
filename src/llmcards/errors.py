"""The one error type users see."""

from __future__ import annotations


class UserError(Exception):
    """A problem the person can fix; the CLI prints its message on one line and exits non-zero.

    The message should say what went wrong and, where it helps, what to do about it.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
