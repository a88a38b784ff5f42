"""What a benchmark evaluation of a run needs: the compared model sets and the shards to run.

Selection rules (the paper's comparison): ``taskforce`` is the run's own greedy coverage
task force (chosen on the run's task pool; benchmark results never choose it), ``seeds``
the first N seed experts, ``best`` the fittest single model, and ``control`` N sampled
answers of one model (the fittest, or the base) at a temperature, so a curve shows what
N *different* models add over N tries of one. Every model is evaluated once, greedily;
the control model also once per sample. Each (benchmark, model, variant) is split into
the benchmark's shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acdc.engine.state import RunState
from acdc.evaluation.samples import Shard
from acdc.evaluation.toyworld_task import TASK_NAME as TOYWORLD_TASK
from acdc.phases.run_models import BASE_MODEL_ID, resolved_models, seed_ids
from acdc.runner.snapshot import RunSnapshot
from acdc.runner.taskforce import pick_task_force
from acdc.spec.run import BenchmarkSpec, EvaluationSpec

GREEDY = "greedy"
TOYWORLD_DIR = "toyworld-task"


def sample_variant(k: int) -> str:
    return f"sample{k}"


@dataclass(frozen=True)
class Selections:
    """The compared model sets, in pick order (coverage@N takes the first N of each)."""

    taskforce: tuple[str, ...]
    seeds: tuple[str, ...]
    best: str
    control: str
    paths: dict[str, str]

    @property
    def greedy_models(self) -> list[str]:
        """Every model evaluated greedily, each once."""
        return list(dict.fromkeys([*self.taskforce, *self.seeds, self.best]))

    def to_dict(self) -> dict[str, object]:
        return {"taskforce": list(self.taskforce), "seeds": list(self.seeds), "best": self.best,
                "control": self.control}


def max_size(spec: EvaluationSpec) -> int:
    return max(spec.task_force_sizes)


def select_models(snapshot: RunSnapshot) -> Selections:
    """The sets of the spec's selection rules at the largest N (capped by what exists)."""
    snapshot.require_archive()
    spec = snapshot.run.spec
    n = min(max_size(spec.evaluation), len(snapshot.archive))
    force = tuple(m.model_id for m in pick_task_force(snapshot, n).members)
    seeds = tuple(seed_ids(spec))
    best = max(snapshot.archive, key=lambda m: m.fitness).model_id  # first of the fittest, archive order
    paths = resolved_models(snapshot.root) | {m.model_id: m.model_path for m in snapshot.archive}
    control = BASE_MODEL_ID if spec.evaluation.control.model == "base" and BASE_MODEL_ID in paths else best
    return Selections(force, seeds, best, control, paths)


def include_path(root: Path, benchmark: BenchmarkSpec) -> Path | None:
    """Where lm-eval looks for the benchmark's custom YAML (the toy-world task lives in the state)."""
    if benchmark.include_path:
        path = Path(benchmark.include_path)
        return path if path.is_absolute() else root / path
    if benchmark.task == TOYWORLD_TASK:
        return RunState(root).evaluation_dir / TOYWORLD_DIR
    return None


def shards_of(benchmark: BenchmarkSpec, model_id: str, variant: str) -> list[Shard]:
    return [Shard(benchmark.task, model_id, variant, k, benchmark.shards) for k in range(benchmark.shards)]


def control_samples(spec: EvaluationSpec) -> int:
    return max_size(spec) if "control" in spec.selections else 0


def plan_shards(spec: EvaluationSpec, selections: Selections) -> list[Shard]:
    """Every shard the evaluation needs, benchmark by benchmark, greedy answers before control samples."""
    shards: list[Shard] = []
    for benchmark in spec.benchmarks:
        for model in selections.greedy_models:
            shards += shards_of(benchmark, model, GREEDY)
        for k in range(control_samples(spec)):
            shards += shards_of(benchmark, selections.control, sample_variant(k))
    return shards
