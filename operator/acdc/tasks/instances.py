"""Task instances computed in the sandbox and cached beside the task as instances.json.

The runner needs each task's prompt but must never import task.py, so the sandbox runs
get_tasks/get_instructions once and the result is cached, keyed by the task.py digest.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from acdc.atomic import read_json, write_json
from acdc.errors import StateError, UserError
from acdc.tasks.format import source_digest
from acdc.tasks.sandbox import Instance, Materialized, SandboxPool, ScoreItem, ScoreResult

CACHE_NAME = "instances.json"
log = logging.getLogger(__name__)


def _cached(task_dir: Path, digest: str) -> Materialized | None:
    path = task_dir / CACHE_NAME
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except StateError:
        return None
    if data.get("task_sha256") != digest:
        return None
    return Materialized(instances=[Instance(**entry) for entry in data["instances"]])


def load_instances(pool: SandboxPool, task_dirs: Sequence[Path], refresh: bool = False) -> list[Materialized]:
    """Instances of each task, from the cache or the sandbox; successes are cached atomically."""
    results: list[Materialized | None] = []
    todo: list[int] = []
    digests: list[str | None] = []
    for index, task_dir in enumerate(task_dirs):
        task_dir = Path(task_dir)
        digest = source_digest(task_dir) if (task_dir / "task.py").is_file() else None
        digests.append(digest)
        cached = None if refresh or digest is None else _cached(task_dir, digest)
        results.append(cached)
        if cached is None:
            todo.append(index)
    fresh = pool.materialize([Path(task_dirs[i]) for i in todo])
    for index, outcome in zip(todo, fresh, strict=True):
        results[index] = outcome
        if outcome.ok and digests[index] is not None:
            try:
                write_json(Path(task_dirs[index]) / CACHE_NAME, {
                    "task_sha256": digests[index], "instances": [asdict(i) for i in outcome.instances]})
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
                # score pods see the task folders read-only: the cache is evaluate's to write
                log.info("task folder %s is read-only; instances not cached", task_dirs[index])
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class TaskScore:
    """A task's score: the mean over its first ``instances_per_task`` instances of solved (0/1)."""

    score: float
    results: list[ScoreResult]


def score_tasks(pool: SandboxPool, answers: Mapping[Path, Sequence[str]], instances_per_task: int = 1
                ) -> dict[Path, TaskScore]:
    """Grade answers (one per instance, in instance order) for each task in one batch.

    ``instances_per_task=1`` is the reference's semantics (first instance only, binary at
    0.5). A task that cannot produce instances, or an instance without an answer, scores 0.
    """
    if instances_per_task < 1:
        raise UserError(f"instances_per_task must be at least 1, got {instances_per_task}")
    dirs = [Path(d) for d in answers]
    items: list[ScoreItem] = []
    owners: list[Path] = []
    for task_dir, materialized in zip(dirs, load_instances(pool, dirs), strict=True):
        for instance, answer in zip(materialized.instances[:instances_per_task], answers[task_dir], strict=False):
            items.append(ScoreItem(task_dir, instance.data, answer))
            owners.append(task_dir)
    per_task: dict[Path, list[ScoreResult]] = {d: [] for d in dirs}
    for owner, result in zip(owners, pool.score(items), strict=True):
        per_task[owner].append(result)
    return {d: TaskScore(sum(r.solved for r in rs) / instances_per_task, rs) for d, rs in per_task.items()}
