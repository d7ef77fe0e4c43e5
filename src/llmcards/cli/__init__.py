"""The command line: parse options, open the store, call one use case, render its result.

Heavy libraries (SQLAlchemy, fsrs, rich.markdown, pylatexenc) are imported inside the
commands that need them, so ``llmcards --help`` stays fast. Each module here registers
its commands on :data:`llmcards.cli._app.app`, in the order ``--help`` lists them.
"""

from __future__ import annotations

from llmcards.cli import (
    backup,  # noqa: F401
    cards,  # noqa: F401
    config,  # noqa: F401
    optimize,  # noqa: F401
    review,  # noqa: F401  (each import registers its commands)
    stats,  # noqa: F401
    sync,  # noqa: F401
    transfer,  # noqa: F401
)
from llmcards.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """The console-script entry point."""
    app(prog_name="llmcards")
