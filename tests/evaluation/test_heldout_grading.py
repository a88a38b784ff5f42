"""Held-out grading in worker processes stops when its caller stops (Ctrl-C in `acdc run`'s report)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from acdc.evaluation.heldout import HeldoutTask, grade_models
from tests.progress import POLL_S, STALL_S


def _wait_for(done: Callable[[], bool], stall_s: float = STALL_S) -> None:
    """Poll until ``done()``, at most ``stall_s``: nothing moves while a caller here waits (on
    the test's release, on workers that were released), so this is the stall bound, not a budget."""
    waited = 0.0
    while not done() and waited < stall_s:
        time.sleep(POLL_S)
        waited += POLL_S


def _grade_when_released(model_dir: str, tasks: Sequence[HeldoutTask]) -> dict[str, float]:
    """Grades ``m0`` at once; every other model waits for the test's ``release`` file."""
    folder = Path(model_dir)
    (folder / "started").touch()
    if folder.name != "m0":
        _wait_for((folder.parent / "release").exists)
    return {}


def test_an_interrupted_grading_starts_no_further_model(tmp_path: Path) -> None:
    """Leaving the pool by `with` waited for every queued model: Ctrl-C stopped the report only
    once all were graded. Now only the models being graded when it came are finished."""
    earlier = set(multiprocessing.active_children())  # another test's, if any
    paths = {}
    for index in range(12):
        (tmp_path / f"m{index}").mkdir()
        paths[f"m{index}"] = str(tmp_path / f"m{index}")
    grading = grade_models(_grade_when_released, paths, [], workers=2)
    assert next(grading)[0] == "m0"
    with pytest.raises(KeyboardInterrupt):
        grading.throw(KeyboardInterrupt)  # Ctrl-C between two graded models
    (tmp_path / "release").touch()
    _wait_for(lambda: not set(multiprocessing.active_children()) - earlier)
    assert not set(multiprocessing.active_children()) - earlier, "the grading workers must end"
    started = sorted(path.parent.name for path in tmp_path.glob("m*/started"))
    # m0 and the model each worker had begun; not those the pool had queued for the workers
    assert len(started) <= 3, f"models graded after the interruption: {started}"
