"""llmcards: spaced-repetition flashcards for LLM interviews, in the terminal.

The version is in pyproject.toml only; `llmcards --version` reads it from the installed metadata.
"""
