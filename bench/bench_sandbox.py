"""Sandbox throughput: scored answers per second on the seed tasks, batched pool vs
one confined worker process per answer (the reference's one-container-per-answer shape).

Run: python bench/bench_sandbox.py [--answers 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from acdc.tasks.instances import load_instances
from acdc.tasks.sandbox import SandboxPool, ScoreItem
from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks


def seed_items(count: int, scratch: Path, pool: SandboxPool) -> list[ScoreItem]:
    dirs = []
    for source in ("builtin:reference", "builtin:toyworld"):
        for seed in list_task_dirs(resolve_seed_tasks(source)):
            shutil.copytree(seed, scratch / seed.name)
            dirs.append(scratch / seed.name)
    instances = load_instances(pool, dirs)
    items = []
    for index in range(count):
        task_dir, materialized = dirs[index % len(dirs)], instances[index % len(dirs)]
        items.append(ScoreItem(task_dir, materialized.instances[0].data, f"answer {index}"))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--baseline-answers", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, SandboxPool(workers=args.workers) as pool:
        items = seed_items(args.answers, Path(scratch), pool)
        started = time.perf_counter()
        results = pool.score(items)
        batched = len(items) / (time.perf_counter() - started)
        # "answer N" is a SyntaxError for the code-writing seed: a scored failure, still a scored answer
        assert all(r.kind in ("ok", "exception") for r in results), {r.error for r in results if r.kind != "ok"}
        with SandboxPool(workers=args.workers, chunk_items=1) as forking:  # one task process per answer
            started = time.perf_counter()
            forking.score(items)
            fork_each = len(items) / (time.perf_counter() - started)
        baseline_items = items[: args.baseline_answers]
        started = time.perf_counter()
        for item in baseline_items:
            with SandboxPool(workers=1) as single:  # a fresh confined process per answer
                single.score([item])
        per_process = len(baseline_items) / (time.perf_counter() - started)
    print(f"batched pool ({args.workers} workers): {batched:8.1f} scored answers/s  (target >= 200)")
    print(f"batched pool, fork per answer: {fork_each:8.1f} scored answers/s  (worst case: every answer a new task)")
    print(f"one process per answer:      {per_process:8.1f} scored answers/s  (baseline)")
    print(f"speed-up: {batched / per_process:.1f}x")


if __name__ == "__main__":
    main()
