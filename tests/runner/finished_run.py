"""One finished MINI run shared (session scope) by the status, taskforce and report tests."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from acdc.cli.main import main
from tests.runner.conftest import MINI, acdc_run

_FINISHED: dict[str, Path] = {}


@pytest.fixture(scope="session")
def finished_state(tmp_path_factory: pytest.TempPathFactory, toy_world: Path) -> Path:
    """The state folder of a completed MINI run (`acdc run` builds its report at the end).

    Both test modules import this fixture, which gives each its own registration; the
    module-level memo keeps it to one run per session.
    """
    if "state" not in _FINISHED:
        folder = tmp_path_factory.mktemp("inspect")
        run_file = folder / "mini.yaml"
        run_file.write_text(yaml.safe_dump(MINI))
        result = acdc_run(str(run_file), "--state", str(folder / "state"), report=True)
        assert result.returncode == 0, result.stderr[-3000:]
        _FINISHED["state"] = folder / "state"
    return _FINISHED["state"]


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
        code = main(list(args))
    return Outcome(code, out.getvalue(), err.getvalue())


def latest_archive(state: Path) -> dict:
    return json.loads(max((state / "archives").glob("*.json")).read_text())


def latest_pool(state: Path) -> list[str]:
    return json.loads(max((state / "pools").glob("*.json")).read_text())["active"]
