"""A FIFO, a device or a huge file in place of a task's task.py is one error naming it, never a
hang or a full memory, wherever the code is read: its digest (instances' cache key), the
scientist's examples and the sandbox."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from acdc.errors import StateError
from acdc.tasks.format import MAX_TASK_CODE_BYTES, source_digest
from acdc.tasks.sandbox.pool import _read_source
from acdc.tasks.sandbox.results import ScoreResult
from acdc.tasks.scientist.llm import load_example
from tests.planted import planted_fifo

CARD = ('{"name_of_task": "t", "description_of_task": "d", "capability_being_measured": "c", '
        '"estimated_human_difficulty": "2", "example_instruction": "i"}')


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "task_000001_t"
    task.mkdir()
    (task / "task.json").write_text(CARD)
    return task


def _failure(read: Callable[[Path], object], task: Path) -> str:
    """The one-line failure of ``read`` (an error, or the sandbox's failed ScoreResult)."""
    try:
        result = read(task)
    except StateError as exc:
        return str(exc)
    assert isinstance(result, ScoreResult), f"{read.__name__} read {result!r}"
    return result.error or ""


READERS = [source_digest, load_example, _read_source]


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_a_fifo_as_task_code_is_refused_unopened(tmp_path: Path, read: Callable[[Path], object]) -> None:
    task = _task(tmp_path)
    with planted_fifo(task / "task.py") as opened:
        failure = _failure(read, task)
    assert not opened and "task.py: file is not a regular file (a FIFO, socket or device)" in failure, failure


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_a_device_or_a_huge_file_as_task_code_is_refused(tmp_path: Path, read: Callable[[Path], object]) -> None:
    task = _task(tmp_path)
    (task / "task.py").symlink_to("/dev/zero")
    assert "task.py: file is not a regular file" in _failure(read, task)
    (task / "task.py").unlink()
    with (task / "task.py").open("wb") as handle:  # sparse: cheap to make, a gigabyte to read
        handle.truncate(2**30)
    assert f"is {2**30} bytes; the limit is {MAX_TASK_CODE_BYTES}" in _failure(read, task)
    os.truncate(task / "task.py", 0)
    assert not isinstance(read(task), ScoreResult)  # an empty file is read (and fails where it runs)
