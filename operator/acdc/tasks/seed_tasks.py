"""Where a run's seed tasks come from: the built-in sets or a user's directory.

The built-in toy-world set is generated: ``write_toyworld_seeds`` writes it with the
procedural scientist, and a test keeps the checked-in copy equal to what it writes.
After changing the toy world's skills, prompt split or task template, regenerate it with
``python -m acdc.tasks.seed_tasks``.
"""

from __future__ import annotations

from pathlib import Path

from acdc.errors import UserError
from acdc.tasks.format import is_task_dir

SEEDS_DIR = Path(__file__).with_name("seeds")
BUILTIN = {"builtin:reference": SEEDS_DIR / "reference", "builtin:toyworld": SEEDS_DIR / "toyworld"}

TOYWORLD_SEED_FAMILIES: tuple[tuple[str, int], ...] = (
    ("add", 3), ("count", 8), ("reverse", 7), ("sort", 6), ("subtract", 3), ("upper", 7),
)
"""(skill, difficulty) of each built-in toy-world seed task, numbered 1.. in this order:
one task per single skill, so every specialist starts with tasks of its own domain."""


def resolve_seed_tasks(source: str) -> Path:
    """Folder holding seed task folders for ``builtin:reference``, ``builtin:toyworld`` or a path."""
    if source in BUILTIN:
        return BUILTIN[source]
    if source.startswith("builtin:"):
        raise UserError(f"unknown built-in seed set {source!r}; choose one of {', '.join(BUILTIN)}")
    path = Path(source).expanduser()
    if not path.is_dir():
        raise UserError(f"seed task directory {source!r} {'is not a directory' if path.exists() else 'does not exist'}")
    if not list_task_dirs(path):
        raise UserError(f"seed task directory {source!r} holds no task folders (task.py + task.json)")
    return path


def list_task_dirs(folder: Path) -> list[Path]:
    """Task folders directly under ``folder``, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_task_dir(p))


def write_toyworld_seeds(folder: Path) -> list[Path]:
    """Write the built-in toy-world seed tasks into ``folder`` (run seed 0, generation 0)."""
    from acdc.tasks.scientist.base import ScientistContext
    from acdc.tasks.scientist.procedural import FamilyParams, ProceduralScientist

    scientist = ProceduralScientist()
    numbers = iter(range(1, len(TOYWORLD_SEED_FAMILIES) + 1))
    context = ScientistContext(folder, generation=0, next_number=lambda: next(numbers))
    return [scientist.write_family(FamilyParams((skill,), difficulty, scientist.instances), context)
            for skill, difficulty in TOYWORLD_SEED_FAMILIES]


if __name__ == "__main__":
    import shutil

    shutil.rmtree(BUILTIN["builtin:toyworld"], ignore_errors=True)
    for path in write_toyworld_seeds(BUILTIN["builtin:toyworld"]):
        print(path)
