"""Helpers for tests that inspect the finished MINI run (the ``finished_state`` fixture in conftest)."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from acdc.cli.main import main


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def acdc(*args: str) -> Outcome:
    """An `acdc` command through the real CLI entry point, in-process (a subprocess per call
    would spend seconds importing torch on a loaded 2-core CI machine)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse refuses bad arguments by exiting, as the console script would
            code = stop.code if isinstance(stop.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def latest_archive(state: Path) -> dict:
    return json.loads(max((state / "archives").glob("*.json")).read_text())


def latest_pool(state: Path) -> list[str]:
    return json.loads(max((state / "pools").glob("*.json")).read_text())["active"]
