"""Exceptions that carry a message meant for the user.

The CLI prints these without a traceback (exit code 2 for bad input, 1 for a failed
operation); anything else escaping a command is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix: bad input file, bad flag, missing path."""

    exit_code = 2


class StateError(UserError):
    """A run-state file is missing, partial or corrupt; names the file so nothing is lost silently."""

    exit_code = 1

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class PhaseError(Exception):
    """A phase could not do its work (a broken merge input, a full disk); the step fails cleanly."""

    exit_code = 1
