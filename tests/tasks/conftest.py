"""Shared fixtures: one confined sandbox pool per module, with short limits."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from acdc.tasks.sandbox import SandboxLimits, SandboxPool

FAST_LIMITS = SandboxLimits(wall_seconds=1.5, cpu_seconds=1, memory_mb=512, file_kib=4096, processes=8)


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(workers=2, limits=FAST_LIMITS) as sandbox:
        yield sandbox


def make_task(root: Path, name: str, score_body: str, extra: str = "", tasks: str = '{"1": {"x": 1}}') -> Path:
    """Write a task folder whose score() runs ``score_body`` (an LLM-written task stand-in)."""
    folder = root / name
    folder.mkdir(parents=True)
    code = f'''
import os
{extra}

class TaskFamily:
    @staticmethod
    def get_tasks():
        return {tasks}

    @staticmethod
    def get_instructions(t):
        return "instructions"

    @staticmethod
    def score(t, submission):
{textwrap.indent(textwrap.dedent(score_body).strip(), " " * 8)}
'''
    (folder / "task.py").write_text(code)
    card = {"name_of_task": name, "description_of_task": "d", "capability_being_measured": "c",
            "estimated_human_difficulty": "1", "example_instruction": "e"}
    (folder / "task.json").write_text(json.dumps(card))
    return folder
