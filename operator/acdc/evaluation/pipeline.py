"""`acdc evaluate DIR`: benchmark the run's archive, then compute coverage@N, best-of-N and diversity.

Three steps, each safe to repeat: ``prepare`` writes the toy-world task files and the
chosen model sets; ``run_shards`` evaluates every shard whose log is missing (one
process per shard in the operator, all of them in turn locally); ``summarise`` reads the
logs and writes ``evaluation/results.json`` (and a per-generation copy). A killed
evaluation resumes where it stopped: shard logs are written whole or not at all.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, write_json
from acdc.engine.rng import derived_seed
from acdc.engine.state import RunState, envelope
from acdc.errors import UserError
from acdc.evaluation import coverage as cov
from acdc.evaluation.bestofn import NumberedCandidatesJudge, RewardModel, judge_best_of_n, reward_best_of_n
from acdc.evaluation.diversity import diversity_curve, task_embeddings
from acdc.evaluation.harness import HarnessConfig, offline_environment, run_shard
from acdc.evaluation.plan import (
    GREEDY,
    Selections,
    control_samples,
    include_path,
    plan_shards,
    sample_variant,
    select_models,
    shards_of,
)
from acdc.evaluation.results import headline, results_path
from acdc.evaluation.samples import Sample, Shard, is_done, load_answers, save_shard
from acdc.evaluation.toyworld_task import TASK_NAME as TOYWORLD_TASK
from acdc.evaluation.toyworld_task import write_task_dir
from acdc.phases.execute import quiet_libraries
from acdc.runner.snapshot import RunSnapshot, open_snapshot
from acdc.spec import load_run
from acdc.spec.run import BenchmarkSpec, CoevolutionRunSpec
from acdc.tasks.answers import SYSTEM_PROMPTS

log = logging.getLogger(__name__)

SELECTIONS_FILE = "selections.json"
ShardRunner = Callable[[Shard, str, HarnessConfig, float, int], list[Sample]]


def open_evaluation(root: Path, run_path: Path | None = None) -> RunSnapshot:
    """The run's newest committed generation, with the spec from ``run_path`` when given (the
    operator mounts the live spec: spec.evaluation may be edited after the run started)."""
    snapshot = open_snapshot(root)
    snapshot.require_archive()
    return replace(snapshot, run=load_run(run_path)) if run_path is not None else snapshot


def dataset_cache(snapshot: RunSnapshot) -> Path:
    """spec.evaluation.datasetCache, relative to the state folder unless absolute."""
    cache = Path(snapshot.run.spec.evaluation.dataset_cache)
    return cache if cache.is_absolute() else snapshot.root / cache


def apply_offline(snapshot: RunSnapshot) -> None:
    """Point the HF caches at the run's dataset cache (when filled) and switch the hub off, per spec.evaluation.

    Set before lm-eval (and with it ``datasets``) is imported: both read these at import time.
    """
    spec = snapshot.run.spec.evaluation
    cache = dataset_cache(snapshot)
    for key, value in offline_environment(cache if cache.is_dir() else None, spec.offline).items():
        os.environ.setdefault(key, value)


def _benchmark(spec: CoevolutionRunSpec, task: str) -> BenchmarkSpec:
    for benchmark in spec.evaluation.benchmarks:
        if benchmark.task == task:
            return benchmark
    raise UserError(f"benchmark {task!r} is not in spec.evaluation.benchmarks")


def harness_config(root: Path, spec: CoevolutionRunSpec, benchmark: BenchmarkSpec, device: str = "cpu") -> HarnessConfig:
    backend = spec.evaluation.backend
    if backend == "auto":
        backend = "vllm" if spec.resources.evaluate.gpus > 0 and device != "cpu" else "hf"
    dtype = spec.models.dtype if spec.models.dtype != "auto" else ("float32" if device == "cpu" else "bfloat16")
    return HarnessConfig(backend=backend, device=device, dtype=dtype, batch_size=spec.evaluation.batch_size,
                         system_prompt=SYSTEM_PROMPTS[spec.inference.prompt_style],
                         include_path=include_path(root, benchmark), num_fewshot=benchmark.num_fewshot,
                         limit=benchmark.limit, metric=benchmark.metric, max_model_len=spec.inference.max_model_len,
                         gpu_memory_utilization=spec.inference.gpu_memory_utilization)


def prepare(snapshot: RunSnapshot) -> Selections:
    """Write the toy-world task (when benchmarked) and record the compared sets; returns them.

    The sets are recorded once per generation and read back afterwards, so every shard
    Job of one evaluation works from the same choice.
    """
    spec = snapshot.run.spec
    root = snapshot.root
    assert snapshot.generation is not None
    for benchmark in spec.evaluation.benchmarks:
        if benchmark.task == TOYWORLD_TASK and not benchmark.include_path:
            folder = include_path(root, benchmark)
            assert folder is not None
            write_task_dir(folder, spec.seed, max_tokens=spec.inference.max_tokens)
    path = RunState(root).evaluation_dir / f"selections-g{snapshot.generation:04d}.json"
    fresh = select_models(snapshot)
    if path.is_file():
        recorded = read_json(path)
        return Selections(tuple(recorded["taskforce"]), tuple(recorded["seeds"]), recorded["best"],
                          recorded["control"], {**fresh.paths, **recorded["paths"]})
    write_json(path, envelope("evaluation-selections", snapshot.generation, {**fresh.to_dict(), "paths": fresh.paths}))
    return fresh


def variant_sampling(spec: CoevolutionRunSpec, variant: str) -> tuple[float, int]:
    """(temperature, seed) of a variant: greedy, or the control's k-th sample."""
    if variant == GREEDY:
        return 0.0, spec.seed
    k = int(variant.removeprefix("sample"))
    return spec.evaluation.control.temperature, derived_seed(spec.seed, "evaluation-control", k)


def run_one(root: Path, spec: CoevolutionRunSpec, selections: Selections, shard: Shard, device: str = "cpu",
            runner: ShardRunner = run_shard) -> bool:
    """Evaluate one shard unless its log exists; True when it ran. ``run_shard`` returns every
    document of the shard or raises (``harness.require_graded``), so no log is saved short."""
    if is_done(root, shard):
        return False
    config = harness_config(root, spec, _benchmark(spec, shard.task), device)
    temperature, seed = variant_sampling(spec, shard.variant)
    started = time.monotonic()
    samples = runner(shard, selections.paths[shard.model_id], config, temperature, seed)
    save_shard(root, shard, samples, time.monotonic() - started)
    log.info("evaluation: %s done (%d samples, %.1fs)", shard.name, len(samples), time.monotonic() - started)
    return True


def _answers(root: Path, benchmark: BenchmarkSpec, model: str, variant: str = GREEDY) -> cov.Answers:
    return load_answers(root, shards_of(benchmark, model, variant))


def _selection_answers(root: Path, spec: CoevolutionRunSpec, benchmark: BenchmarkSpec,
                       selections: Selections) -> dict[str, list[cov.Answers]]:
    rules: dict[str, list[cov.Answers]] = {}
    for rule in spec.evaluation.selections:
        if rule == "taskforce":
            rules[rule] = [_answers(root, benchmark, m) for m in selections.taskforce]
        elif rule == "seeds":
            rules[rule] = [_answers(root, benchmark, m) for m in selections.seeds]
        elif rule == "best":
            rules[rule] = [_answers(root, benchmark, selections.best)]
        else:
            rules[rule] = [_answers(root, benchmark, selections.control, sample_variant(k))
                           for k in range(control_samples(spec.evaluation))]
    return rules


def task_pool_diversity(snapshot: RunSnapshot) -> list[dict[str, Any]]:
    """Vendi scores per committed generation (local and cumulative); needs no benchmark evaluation."""
    ids, vectors, _source = task_embeddings(snapshot.root)
    state = snapshot.state
    pools = {g: state.load_pool(g).active for g in state.committed_generations() if g <= (snapshot.generation or 0)}
    return [vars(p) for p in diversity_curve(pools, ids, vectors)] if len(ids) else []


def summarise(snapshot: RunSnapshot, selections: Selections, judge: NumberedCandidatesJudge | None = None,
              reward: RewardModel | None = None) -> dict[str, Any]:
    """Coverage curves, best-of-N and diversity from the logs; written to results.json (atomically)."""
    spec = snapshot.run.spec
    root = snapshot.root
    sizes = spec.evaluation.task_force_sizes
    benchmarks: dict[str, Any] = {}
    for benchmark in spec.evaluation.benchmarks:
        rules = _selection_answers(root, spec, benchmark, selections)
        accuracy = {m: cov.coverage_at([_answers(root, benchmark, m)]) for m in selections.greedy_models}
        best_of_n = []
        force = list(selections.taskforce)
        for n in sorted(set(sizes)):
            if n > len(force):
                continue
            answers = [_answers(root, benchmark, m) for m in force[:n]]
            if judge is not None:
                seed = derived_seed(spec.seed, "best-of-n", benchmark.task, n)
                best_of_n.append(judge_best_of_n(force[:n], answers, judge, seed).to_dict())
            if reward is not None:
                best_of_n.append(reward_best_of_n(force[:n], answers, reward).to_dict())
        first = next(iter(rules.values()))
        benchmarks[benchmark.task] = {
            "documents": len(first[0]) if first else 0,
            "accuracy": accuracy,
            "coverage": {rule: {str(n): v for n, v in curve.items()} for rule, curve in cov.curves(rules, sizes).items()},
            "bestOfN": best_of_n,
        }
    results = envelope("evaluation-results", snapshot.generation, {
        "sizes": sorted(set(sizes)), "selections": selections.to_dict(), "benchmarks": benchmarks,
        "diversity": task_pool_diversity(snapshot)})
    results["headline"] = headline(results)
    write_json(results_path(root, snapshot.generation), results)
    write_json(results_path(root), results)
    return results


def best_of_n_pickers(snapshot: RunSnapshot, device: str = "cpu") -> tuple[NumberedCandidatesJudge | None,
                                                                             RewardModel | None]:
    spec = snapshot.run.spec
    judge = reward = None
    if "judge" in spec.evaluation.best_of_n:
        from acdc.phases.services import endpoint_client

        endpoint = spec.best_of_n_judge
        assert endpoint is not None  # the spec validator requires one
        client = endpoint_client(endpoint, "judge", snapshot.name)
        judge = NumberedCandidatesJudge(client, temperature=spec.judge.temperature, max_tokens=spec.judge.max_tokens)
    if "rewardModel" in spec.evaluation.best_of_n and spec.evaluation.reward_model is not None:
        path = Path(spec.evaluation.reward_model.path)
        reward = RewardModel(path if path.is_absolute() else snapshot.root / path,
                             spec.evaluation.reward_model.batch_size, device)
    return judge, reward


def evaluate_run(snapshot: RunSnapshot, device: str = "cpu", runner: ShardRunner = run_shard,
                 shards: Sequence[str] | None = None, shard_index: int | None = None,
                 summary: bool = True) -> dict[str, Any] | None:
    """Run every missing shard (or only the named ones, or the plan's ``shard_index``-th), then
    summarise when all are done. Returns the results, or None when shards are still missing.

    Into a log file or a CI log, lm-eval's and transformers' progress bars would keep every
    frame (about 3 KB a shard, most of `acdc run`'s output after the run); there they are off
    and the per-shard lines below say how far it is. A terminal redraws a bar in place: kept."""
    if not sys.stderr.isatty():
        quiet_libraries()
    spec = snapshot.run.spec
    selections = prepare(snapshot)
    planned = plan_shards(spec.evaluation, selections)
    if shard_index is not None:
        if not 0 <= shard_index < len(planned):
            raise UserError(f"--shard-index {shard_index} is outside the plan's {len(planned)} shards")
        shards = [planned[shard_index].name]
    chosen = [s for s in planned if shards is None or s.name in shards]
    if shards is not None and len(chosen) != len(set(shards)):
        unknown = sorted(set(shards) - {s.name for s in planned})
        raise UserError(f"no such evaluation shard(s): {', '.join(unknown)}")
    ran = sum(run_one(snapshot.root, spec, selections, shard, device, runner) for shard in chosen)
    log.info("evaluation: %d shard(s) run, %d already done", ran, len(chosen) - ran)
    if not summary or not all(is_done(snapshot.root, s) for s in planned):
        return None
    judge, reward = best_of_n_pickers(snapshot, device)
    return summarise(snapshot, selections, judge, reward)
