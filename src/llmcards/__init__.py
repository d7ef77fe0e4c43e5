"""llmcards: spaced-repetition flashcards for LLM interviews, in the terminal."""

__version__ = "0.1.0"
