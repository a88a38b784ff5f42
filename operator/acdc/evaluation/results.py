"""Where the evaluation's summary lives and the one-line headline `acdc status` and the CRD status show.

Kept apart from the pipeline so status and report can read results without importing
lm-eval's orchestration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acdc.atomic import read_json
from acdc.engine.state import RunState
from acdc.errors import StateError

RESULTS_FILE = "results.json"


def results_path(root: Path, generation: int | None = None) -> Path:
    name = RESULTS_FILE if generation is None else f"results-g{generation:04d}.json"
    return RunState(root).evaluation_dir / name


def load_results(root: Path) -> dict[str, Any] | None:
    """The newest evaluation summary, or None when the run was never evaluated."""
    path = results_path(root)
    return _summary(path) if path.is_file() else None


def _summary(path: Path) -> dict[str, Any]:
    """A results file's object; anything else is damage, named (the report and status read it)."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("headline", {}), dict | None):
        raise StateError(path, "malformed evaluation results (not an object with a headline object)")
    return data


def coverage_by_generation(root: Path) -> list[dict[str, Any]]:
    """The headline of every generation that was evaluated (``results-gNNNN.json``: after the
    run, and every ``evaluation.everyGenerations``), oldest first: the coverage-vs-generation curve."""
    points = []
    for path in sorted(RunState(root).evaluation_dir.glob("results-g[0-9][0-9][0-9][0-9].json")):
        head = _summary(path).get("headline")
        if head:
            points.append({"generation": int(path.stem.removeprefix("results-g")), **head})
    return points


def headline(results: dict[str, Any]) -> dict[str, Any] | None:
    """The figure status shows: task-force coverage at the largest N on the first benchmark, vs the seeds."""
    if not results.get("benchmarks"):
        return None
    task, bench = next(iter(results["benchmarks"].items()))
    force = bench["coverage"].get("taskforce") or {}
    if not force:
        return None
    n = max(force, key=int)
    seeds = bench["coverage"].get("seeds") or {}
    return {"benchmark": task, "size": int(n), "taskforce": force[n], "seeds": seeds.get(n),
            "best": (bench["coverage"].get("best") or {}).get(n)}


def render_headline(head: dict[str, Any] | None) -> str:
    if not head:
        return "not evaluated"
    parts = [f"task force {head['taskforce']:.3f}"]
    if head.get("seeds") is not None:
        parts.append(f"seeds {head['seeds']:.3f}")
    if head.get("best") is not None:
        parts.append(f"best single {head['best']:.3f}")
    return f"coverage@{head['size']} on {head['benchmark']}: " + ", ".join(parts)
