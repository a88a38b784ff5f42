"""acdc: AC/DC coevolution of merged LLMs and synthetic tasks."""

__version__ = "0.1.0"
