"""Where a run's seed tasks come from: the built-in sets or a user's directory."""

from __future__ import annotations

from pathlib import Path

from acdc.errors import UserError
from acdc.tasks.format import is_task_dir

SEEDS_DIR = Path(__file__).with_name("seeds")
BUILTIN = {"builtin:reference": SEEDS_DIR / "reference", "builtin:toyworld": SEEDS_DIR / "toyworld"}


def resolve_seed_tasks(source: str) -> Path:
    """Folder holding seed task folders for ``builtin:reference``, ``builtin:toyworld`` or a path."""
    if source in BUILTIN:
        return BUILTIN[source]
    if source.startswith("builtin:"):
        raise UserError(f"unknown built-in seed set {source!r}; choose one of {', '.join(BUILTIN)}")
    path = Path(source).expanduser()
    if not path.is_dir():
        raise UserError(f"seed task directory {source!r} does not exist")
    if not list_task_dirs(path):
        raise UserError(f"seed task directory {source!r} holds no task folders (task.py + task.json)")
    return path


def list_task_dirs(folder: Path) -> list[Path]:
    """Task folders directly under ``folder``, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_task_dir(p))
