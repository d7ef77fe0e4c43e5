"""Run llmcards as ``python -m llmcards``."""

from llmcards.cli import main

if __name__ == "__main__":
    main()
