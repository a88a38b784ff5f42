"""Argument types shared by the commands, checked by argparse so a bad flag is a one-line usage
error (exit 2) before any work starts, never a traceback from deep inside."""

from __future__ import annotations

import argparse
import os
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
    return parse


def nonempty_path(text: str) -> Path:
    """A path that is not empty: Path("") is ".", so an empty --state would write into the
    current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def output_file(text: str) -> Path:
    """Where a command writes a file (report, task-force list, CRD, termination log). Writes are
    atomic renames (the termination log's is in place, into the file the kubelet mounted), which
    would replace whatever sits at the path: a folder's rename fails with
    a raw OS error, while a device (/dev/full) would be replaced silently. Refused: anything but
    a regular file, and any path inside a state folder other than its report: a new file there
    is as harmful as an overwritten one (``archives/0002.json`` reads as a commit record and the
    run cannot resume)."""
    from acdc.engine.state import RunState

    path = nonempty_path(text)
    if os.path.lexists(path) and not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file")
    if path.parent.exists() and not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {path.parent} is not a folder")
    target = path.resolve()
    for folder in target.parents:
        state = RunState(folder)
        if os.path.lexists(state.layout_file) and target != state.report_file:
            raise argparse.ArgumentTypeError(f"{text} is inside the run state in {folder}; write elsewhere")
    return path


def seconds(text: str) -> float:
    """A wait in seconds: finite, positive, at most a year."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not 0 < value <= 31_536_000:  # also false for NaN
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most a year, got {text[:40]}")
    return value
