"""Model garbage collection and the free-disk check that guards a phase.

A 7B child is ~15 GB, so models that leave the archive are deleted, as the reference's
disk cleaning does: keep the current archive, keep the archive members of every Nth
generation (and of generation 0 unless told otherwise), never touch seeds (they are
referenced in place, not copied), and never touch models newer than the newest
committed generation (a later generation may be mid-flight). Deletion renames a model
dir to a ``.staging-`` name first, so a kill mid-delete never leaves a half-deleted
model under its real id; ``acdc.atomic.sweep_staging`` clears the leftovers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from acdc.atomic import remove_dir
from acdc.engine.ids import model_generation
from acdc.engine.state import RunState
from acdc.errors import NoSpace, UserError


@dataclass(frozen=True)
class RetentionPolicy:
    """Defaults follow the reference: ``model_cleanup_skip_interval`` 5, ``save_init_gen_models``."""

    keep_every_n_generations: int = 5
    keep_initial_generation: bool = True

    def __post_init__(self) -> None:
        if self.keep_every_n_generations < 0:
            raise UserError("keep_every_n_generations must be >= 0 (0 keeps only the current archive)")


def models_to_keep(state: RunState, generation: int, policy: RetentionPolicy) -> set[str]:
    """Model ids protected after ``generation`` committed: its archive plus milestone archives."""
    keep = {m.model_id for m in state.load_archive(generation)}
    for g in state.committed_generations():
        if g > generation:
            continue
        milestone = policy.keep_every_n_generations > 0 and g % policy.keep_every_n_generations == 0
        if (g == 0 and policy.keep_initial_generation) or (g > 0 and milestone):
            keep.update(m.model_id for m in state.load_archive(g))
    return keep


def _deletable(entry: Path, keep: set[str], generation: int) -> bool:
    if not entry.is_dir() or entry.name.startswith("."):
        return False
    try:
        made_in = model_generation(entry.name)
    except UserError:
        return False  # not ours: leave foreign folders alone
    return made_in is not None and made_in <= generation and entry.name not in keep


def collect_garbage(state: RunState, generation: int, policy: RetentionPolicy) -> list[str]:
    """Delete model dirs not kept by ``policy`` after ``generation``; return the deleted ids.

    Idempotent: a second call (or a call after a kill) deletes nothing new.
    """
    keep = models_to_keep(state, generation, policy)
    models = state.models_dir
    if not models.is_dir():
        return []
    deleted: list[str] = []
    for entry in sorted(models.iterdir()):
        if _deletable(entry, keep, generation):
            remove_dir(entry)
            deleted.append(entry.name)
    return deleted


def directory_size(path: Path) -> int:
    """Bytes of all regular files under ``path`` (an estimate of one model's footprint)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())


def ensure_free_space(path: Path, required_bytes: int, phase: str, margin: float = 1.1) -> None:
    """Fail before a phase starts if ``path``'s filesystem cannot hold its outputs.

    ``margin`` leaves headroom for temporary shards written next to the final files.
    """
    probe = Path(path)
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    needed = int(required_bytes * margin)
    if free < needed:
        raise NoSpace(
            f"phase {phase!r} needs about {_human(needed)} free under {path}, only {_human(free)} left; "
            "free disk space (or lower the retention of old generations) and rerun the phase"
        )


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def required_for_children(model_dirs: Iterable[Path], n_children: int) -> int:
    """Bytes a merge phase needs: the largest parent's size per child to be written."""
    sizes = [directory_size(p) for p in model_dirs]
    return max(sizes, default=0) * n_children
