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


class UnknownCardError(UserError):
    """No card has this id; ``suggestions`` are close ids, for the message and the CLI's hint."""

    def __init__(self, card_id: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no card with id {card_id!r}{hint}")
        self.card_id = card_id
        self.suggestions = suggestions


class DuplicateQuestionError(UserError):
    """Another card already asks exactly this question."""

    def __init__(self, card_id: str) -> None:
        super().__init__(f"this question is already card {card_id!r}")
        self.card_id = card_id
