"""Archive-update time for 1,000 candidates x 10,000 tasks: vectorised engine vs plain Python.

The plain baseline is the per-pair reference formula (tests/engine/plain_dns.py). At
full size it would take minutes, so it is timed on a random subsample of candidates
(each still compared against the whole population) and extrapolated linearly in the
number of candidates scored, which is exact for its cost model (one row of pair
distances per candidate). Target: speed-up >= 50x.

Run: python bench/bench_dns.py [--candidates 1000] [--tasks 10000] [--sample 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from acdc.engine.dns import DNSParams, update_archive
from acdc.engine.rng import generator

ROOT = Path(__file__).resolve().parents[1]


def _load_plain():
    spec = importlib.util.spec_from_file_location("plain_dns", ROOT / "tests" / "engine" / "plain_dns.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _plain_time(
    skills: np.ndarray, fitness: np.ndarray, rows: list[int], engine_scores: np.ndarray
) -> tuple[float, float]:
    """(seconds for the weights, seconds per candidate) of the plain formula on ``rows``.

    Each sampled row's plain score is checked against the engine's, so the two timed
    programs provably compute the same thing.
    """
    plain = _load_plain()
    params = plain.PlainParams()
    skills_list, fitness_list = skills.tolist(), fitness.tolist()
    first_best = int(np.argmax(fitness))
    start = time.perf_counter()
    weights = plain.plain_weights(skills_list)
    weight_time = time.perf_counter() - start
    start = time.perf_counter()
    scores = [plain.plain_row_score(i, skills_list, fitness_list, weights, i > first_best, params) for i in rows]
    per_row = (time.perf_counter() - start) / len(rows)
    for i, score in zip(rows, scores, strict=True):
        expected = params.dominated_score if score is None else score
        if not np.isclose(expected, engine_scores[i], rtol=1e-9):
            raise SystemExit(f"plain and engine disagree on row {i}: {expected} vs {engine_scores[i]}")
    return weight_time, per_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--sample", type=int, default=10, help="candidates the plain baseline really scores")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = generator(0, "bench-dns")
    ability = rng.random(args.candidates)[:, None]
    skills = rng.random((args.candidates, args.tasks)) < ability
    fitness = skills.mean(axis=1)
    params = DNSParams()

    update_archive(skills, fitness, params)  # warm-up (BLAS threads, page faults)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        update_archive(skills, fitness, params)
        times.append(time.perf_counter() - start)
    vectorised = min(times)

    rows = [int(r) for r in rng.choice(args.candidates, size=args.sample, replace=False)]
    engine_scores = np.array(update_archive(skills, fitness, params).scores)
    weight_time, per_row = _plain_time(skills, fitness, rows, engine_scores)
    plain_total = weight_time + per_row * args.candidates

    print(
        f"DNS archive update, {args.candidates} candidates x {args.tasks} tasks, default params (k=3, weighted ratio)"
    )
    print(
        f"  vectorised engine : {vectorised * 1000:9.1f} ms  (best of {args.repeat}; median "
        f"{sorted(times)[len(times) // 2] * 1000:.1f} ms)"
    )
    print(
        f"  plain per-pair    : {plain_total:9.1f} s   (extrapolated: {args.sample} candidates timed, "
        f"{per_row:.3f} s each, + {weight_time:.2f} s for weights)"
    )
    print(f"  speed-up          : {plain_total / vectorised:9.0f}x  (target >= 50x)")


if __name__ == "__main__":
    sys.exit(main())
