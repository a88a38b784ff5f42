"""Sandbox throughput: scored answers per second for a realistic pool (250 tasks x 8
instances) with every task group in its own bubblewrap sandbox, against the shape a user
would otherwise use: one sandboxed process per answer (the reference's one container per
answer, here without container start-up costs, so a generous baseline).

Run: python bench/bench_sandbox.py [--tasks 250] [--instances 8] [--workers N] [--baseline-answers 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from acdc.tasks.instances import load_instances
from acdc.tasks.sandbox import SandboxPool, ScoreItem
from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks


def pool_items(tasks: int, instances: int, scratch: Path, pool: SandboxPool) -> list[ScoreItem]:
    """``tasks`` task folders (copies of the seeds, each its own group) x ``instances`` answers."""
    seeds = [seed for source in ("builtin:reference", "builtin:toyworld")
             for seed in list_task_dirs(resolve_seed_tasks(source))]
    dirs = []
    for index in range(tasks):
        folder = scratch / f"task_{index:06d}"
        shutil.copytree(seeds[index % len(seeds)], folder)
        dirs.append(folder)
    items = []
    for task_dir, materialized in zip(dirs, load_instances(pool, dirs), strict=True):
        assert materialized.ok, materialized.error
        for n in range(instances):
            data = materialized.instances[n % len(materialized.instances)].data
            items.append(ScoreItem(task_dir, data, f"answer {n}"))
    return items


def rate(pool: SandboxPool, items: list[ScoreItem]) -> float:
    started = time.perf_counter()
    results = pool.score(items)
    elapsed = time.perf_counter() - started
    # "answer N" is a SyntaxError for the code-writing seed: a scored failure, still a scored answer
    assert all(r.kind in ("ok", "exception") for r in results), {r.error for r in results if r.kind != "ok"}
    return len(items) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=250)
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="default: the pool's (twice the CPU count)")
    parser.add_argument("--baseline-answers", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, SandboxPool(workers=args.workers) as pool:
        items = pool_items(args.tasks, args.instances, Path(scratch), pool)
        batched = rate(pool, items)
        with SandboxPool(workers=args.workers, chunk_items=1) as per_answer:
            baseline = rate(per_answer, items[: args.baseline_answers])
        confinement, workers = pool.confinement, pool.size
    load = os.getloadavg()[0]
    print(f"sandbox: {'bubblewrap' if confinement['confined'] else 'UNCONFINED'}, {workers} workers, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"one sandbox per task group ({args.tasks} tasks x {args.instances}): {batched:8.1f} scored answers/s"
          "  (target >= 200)")
    print(f"one sandbox per answer (baseline, {len(items[: args.baseline_answers])} answers): "
          f"{baseline:8.1f} scored answers/s")
    print(f"speed-up: {batched / baseline:.1f}x")


if __name__ == "__main__":
    main()
