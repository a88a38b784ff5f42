"""Exceptions that carry a message meant for the person running a command.

Every one derives from ``AcdcError`` and carries the exit code the CLI returns for it;
``acdc.cli.main`` catches ``AcdcError`` once and prints its message on one line, without
a traceback. Anything else escaping a command is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AcdcError(Exception):
    """An expected failure with a message that says what went wrong; no traceback needed."""

    exit_code = 1


class UserError(AcdcError):
    """A mistake the user can fix: bad input file, bad flag, missing path."""

    exit_code = 2


class StateError(UserError):
    """A run-state file is missing, partial or corrupt; names the file so nothing is lost silently."""

    exit_code = 1

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class PhaseError(AcdcError):
    """A phase could not do its work (a broken merge input, a full disk); the step fails cleanly."""


class RunFailed(AcdcError):
    """A non-droppable step failed after its retries; the run stops (and can be resumed)."""


class Interrupted(AcdcError):
    """The run was stopped by a signal; ``acdc run`` again resumes it."""

    exit_code = 130
