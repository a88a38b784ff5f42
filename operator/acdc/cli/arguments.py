"""Argument types shared by the commands, checked by argparse so a bad flag is a one-line usage
error (exit 2) before any work starts, never a traceback from deep inside."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def port(text: str) -> int:
    """A TCP port or 0 (0: off, or any free port where the command says so)."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high]: counts that size loops, process pools or specs."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {text[:40]}")
        return value
    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def nonempty_path(text: str) -> Path:
    """A path that is not empty: Path("") is ".", so an empty --state would write into the
    current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)
