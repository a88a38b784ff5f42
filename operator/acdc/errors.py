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


class UsageError(UserError):
    """A command named what does not exist (a step outside the run, a per-model phase without
    its index): a mistake in the call itself, refused before any work, never a fault of a
    step's surroundings (``acdc.phases.faults``)."""


class StateError(UserError):
    """A run-state file is missing, partial or corrupt; names the file so nothing is lost silently."""

    exit_code = 1

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class PhaseError(AcdcError):
    """A phase could not do its work (a broken merge input, a full disk); the step fails cleanly."""

    exit_code = 1


EXIT_INFRASTRUCTURE = 75
"""Exit code of a step (``acdc phase``) or a run (``acdc run``) stopped by a fault of its
surroundings: sysexits' EX_TEMPFAIL, "try again later". Both executors read it the same way:
the step is not recorded, and it runs again once the cause is fixed (``acdc.phases.faults``)."""


class InfrastructureFault(PhaseError):
    """Not the fault of the model or task a step works on: no space, an unreadable or damaged
    input, a lost worker. The step is never dropped for it; the run stops and resumes later."""

    exit_code = EXIT_INFRASTRUCTURE


class NoSpace(InfrastructureFault):
    """The state volume cannot hold a phase's outputs."""


class IntegrityError(StateError):
    """A file the run committed (a model, a task) no longer matches the hash recorded for it."""


class StateBusy(UserError):
    """Another acdc command holds the state folder's lock. For `acdc run` a user error (exit 2);
    for a phase an infrastructure fault: a step refused entry is never the step's own failure."""


class RunFailed(AcdcError):
    """A non-droppable step failed after its retries; the run stops (and can be resumed)."""


class Interrupted(AcdcError):
    """The run was stopped by a signal; ``acdc run`` again resumes it."""

    exit_code = 130
