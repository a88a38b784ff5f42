"""The on-disk task format shared with the reference implementation.

A task is a folder ``task_{n:06d}_{slug}/`` holding ``task.py`` (a ``TaskFamily`` with
get_tasks / get_instructions / score), ``task.json`` (what the task is, in the reference's
five string fields) and ``metadata.json`` (where it came from). This module only reads and
writes those files; it never imports task.py (only the sandbox runs it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, read_state_file, staged_dir, write_json, write_text
from acdc.engine.integrity import write_manifest
from acdc.errors import UserError

MAX_TASK_CODE_BYTES = 4 * 2**20
"""The largest task.py read: a task's code is a few KiB; a bigger file (a planted device or
sparse file) is damage."""

TASK_JSON_FIELDS = ("name_of_task", "description_of_task", "capability_being_measured",
                    "estimated_human_difficulty", "example_instruction")


@dataclass(frozen=True)
class TaskCard:
    """The contents of task.json (all strings, as the reference writes them)."""

    name_of_task: str
    description_of_task: str
    capability_being_measured: str
    estimated_human_difficulty: str
    example_instruction: str

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> TaskCard:
        """Validate a mapping (a task.json or a scientist's JSON); extra keys are dropped."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a JSON object with {', '.join(TASK_JSON_FIELDS)}")
        missing = [f for f in TASK_JSON_FIELDS if f not in data]
        if missing:
            raise UserError(f"{where}: missing {', '.join(missing)}")
        return cls(**{f: str(data[f]).strip() for f in TASK_JSON_FIELDS})

    def embedding_text(self) -> str:
        """The text embedded for novelty: the descriptive fields, one ``key: value`` per line."""
        return "\n".join(f"{key}: {value}" for key, value in asdict(self).items())


def slugify(name: str, max_len: int = 40) -> str:
    """Lower-case ASCII slug for a task folder name; never empty."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:max_len].strip("_")
    return slug or "task"


def task_dir_name(number: int, name: str) -> str:
    return f"task_{number:06d}_{slugify(name)}"


def task_number(task_dir: Path) -> int | None:
    """The run-global counter in a task folder name (canonical order); None for seeds."""
    match = re.match(r"task_(\d+)_", Path(task_dir).name)
    return int(match.group(1)) if match else None


def read_card(task_dir: Path) -> TaskCard:
    return TaskCard.from_mapping(read_json(Path(task_dir) / "task.json"), str(Path(task_dir) / "task.json"))


def read_metadata(task_dir: Path) -> dict[str, Any]:
    path = Path(task_dir) / "metadata.json"
    return read_json(path) if path.exists() else {}


def read_code(task_dir: Path) -> bytes:
    """task.py's bytes (never imported here), read as a run's state file is (``read_state_file``):
    a FIFO, a device or a huge file in its place is a StateError naming it, not a hang."""
    return read_state_file(Path(task_dir) / "task.py", MAX_TASK_CODE_BYTES)


def source_digest(task_dir: Path) -> str:
    """sha256 of task.py: keys caches (instances.json) to the exact code they came from."""
    return hashlib.sha256(read_code(task_dir)).hexdigest()


def write_task(target: Path, code: str, card: TaskCard, metadata: dict[str, Any]) -> Path:
    """Write a whole task folder atomically (a crash never leaves a partial task)."""
    with staged_dir(target) as scratch:
        write_text(scratch / "task.py", code if code.endswith("\n") else code + "\n")
        write_json(scratch / "task.json", asdict(card))
        write_json(scratch / "metadata.json", metadata)
        write_manifest(scratch)  # committed with the folder: checked before every later use
    return target


def is_task_dir(path: Path) -> bool:
    return (path / "task.py").is_file() and (path / "task.json").is_file()
