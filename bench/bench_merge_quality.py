"""What a run's crossover makes of the toy world's seeds, on the held-out tasks.

The held-out comparison can only favour evolution if merging two specialists yields
children that keep what their parents know. This measures that directly: ``--children``
children of two random seeds, merged by ``make_child`` (mergekit) with the run file's
crossover and no mutation, each graded like the report grades models (greedy decoding,
the run's prompt style, one held-out task per skill and difficulty, solved at half of its
prompts). It prints how many tasks each seed and the base solve (the baseline), each
child with its probe loss and the merge phase's gibberish verdict on it
(``acdc.models.sanity``, run with the run file's probes), the children's mean, and how
many children solve a task no seed solves.

Then, without randomness, base + s (tv1 + tv2) for every pair of seeds and s in
``COMPOSITION_SCALES``: does a plain merge compose two specialists, solving tasks no
starting model (base or seed) solves, while keeping each parent's own domain (tasks of
the parent's domain solved, against the parent's)?

    python bench/bench_merge_quality.py [--run examples/quickstart.yaml] [--children 24]
                                          [--world DIR]
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
from pathlib import Path

from acdc.evaluation.heldout import SOLVED_FRACTION, heldout_tasks, transformers_grader
from acdc.models.merge import ChildRecipe, Operator, make_child
from acdc.models.sanity import check_model
from acdc.phases.plan import crossover_params
from acdc.spec.manifest import load_run
from acdc.toyworld.probes import toy_probes
from acdc.toyworld.skills import DOMAINS
from acdc.toyworld.store import ensure_built

COMPOSITION_SCALES = (0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("examples/quickstart.yaml"))
    parser.add_argument("--children", type=int, default=24)
    parser.add_argument("--instances", type=int, default=10, help="held-out prompts per task")
    parser.add_argument("--world", type=Path, default=None, help="a built toy world (default: the cached one)")
    args = parser.parse_args()
    spec = load_run(args.run).spec
    world = args.world or ensure_built()
    seeds = [s.toyworld for s in spec.models.seeds]
    tasks = heldout_tasks(spec.seed, args.instances)
    grade = transformers_grader(spec)
    crossover = crossover_params(spec.crossover)  # the plan phase's own translation

    def solved(model_dir: Path) -> set[str]:
        return {name for name, score in grade(str(model_dir), tasks).items() if score >= SOLVED_FRACTION}

    baseline = {name: solved(world / name) for name in ["base", *seeds]}
    by_seeds = set().union(*(baseline[s] for s in seeds))
    print(f"{len(tasks)} held-out tasks, {args.instances} prompts each; crossover {crossover}")
    for name, tasks_solved in baseline.items():
        print(f"  {name:>12} solves {len(tasks_solved):2d}")
    print(f"  {'seeds (union)':>12} solve {len(by_seeds):2d}")
    rng = random.Random(spec.seed)
    counts, beyond = [], 0
    with tempfile.TemporaryDirectory(dir=world.parent) as scratch:
        for index in range(args.children):
            a, b = rng.sample(seeds, 2)
            recipe = ChildRecipe(parents=(str(world / a), str(world / b)), seed=index, base_model=str(world / "base"),
                                 crossover=Operator(**crossover))
            child_dir = make_child(recipe, Path(scratch) / f"child-{index}", device="cpu")
            sanity = check_model(child_dir, toy_probes(), parents=(world / a, world / b), device="cpu")
            child = solved(child_dir)
            counts.append(len(child))
            beyond += bool(child - by_seeds)
            verdict = "kept" if sanity.ok else "rejected: " + "; ".join(sanity.reasons)
            print(f"  child {index:2d} of {a} x {b}: solves {len(child):2d}, beyond the seeds: {sorted(child - by_seeds)}; "
                  f"probe loss {sanity.probe_loss:.2f} ({verdict})")
    print(f"children solve {sum(counts) / len(counts):.1f} tasks on average (seeds: "
          f"{', '.join(str(len(baseline[s])) for s in seeds)}); {beyond} of {len(counts)} solve a task no seed solves")

    by_start = by_seeds | baseline["base"]
    domain_tasks = {d: {t.name for t in tasks if t.skill in DOMAINS[d]} for d in seeds}
    print(f"plain merges base + s (tv1 + tv2): tasks no starting model solves (of {len(tasks) - len(by_start)}), "
          "and each parent's own-domain tasks kept")
    with tempfile.TemporaryDirectory(dir=world.parent) as scratch:
        for (a, b), scale in itertools.product(itertools.combinations(seeds, 2), COMPOSITION_SCALES):
            recipe = ChildRecipe(parents=(str(world / a), str(world / b)), seed=0, base_model=str(world / "base"),
                                 crossover=Operator("task_arithmetic", {"lambda": scale, "normalize": False}))
            merged = solved(make_child(recipe, Path(scratch) / f"plain-{a}-{b}-{scale}", device="cpu"))
            kept = ", ".join(f"{d} {len(merged & domain_tasks[d])}/{len(baseline[d] & domain_tasks[d])}"
                             for d in (a, b))
            print(f"  {a} + {b} at {scale}: solves {len(merged):2d}; kept {kept}; beyond the start: "
                  f"{sorted(merged - by_start)}")


if __name__ == "__main__":
    main()
