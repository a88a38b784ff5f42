"""`acdc report DIR`: one self-contained HTML page that shows what a run achieved.

Plots: coverage and fitness per generation, the archive's skill heatmap, pool difficulty
over time, a 2-D projection of task embeddings, the lineage of the best models, and
(toy-world runs) the held-out comparison of the task force with the seeds, the base, the best
single model and the best team of starting models, at every task-force size up to the seeds'.
"""

from __future__ import annotations

from pathlib import Path

from acdc.atomic import write_text
from acdc.engine.state import RunState
from acdc.evaluation.heldout import HeldoutComparison, compare_every_size, is_toyworld_run
from acdc.evaluation.pipeline import task_pool_diversity
from acdc.evaluation.results import coverage_by_generation, load_results
from acdc.report import data, render
from acdc.report.evaluation_section import coverage_sections, diversity_section, generation_section
from acdc.runner.snapshot import RunSnapshot, open_snapshot


def _heldout(snapshot: RunSnapshot, enabled: bool) -> tuple[tuple[HeldoutComparison, ...], str]:
    if not enabled:
        return (), "held-out evaluation was turned off for this report (--no-heldout)."
    if not is_toyworld_run(snapshot.run.spec):
        return (), "held-out tasks exist only for toy-world runs; this run uses other models."
    from acdc.runner.executor import default_workers

    return compare_every_size(snapshot, workers=default_workers()), ""


def build_report(root: Path, output: Path | None = None, heldout: bool = True) -> Path:
    """Write the report (default STATE/report.html) atomically and return its path."""
    snapshot = open_snapshot(root)
    snapshot.require_archive()
    rows = data.generation_rows(snapshot)
    comparisons, note = _heldout(snapshot, heldout)
    evaluation = load_results(root)
    total = snapshot.run.spec.population.generations
    subtitle = (f"generation {snapshot.generation} of {'∞' if total is None else total} · "
                f"archive {len(snapshot.archive)} models · active pool {len(snapshot.pool.active)} tasks · "
                f"seed {snapshot.run.spec.seed}")
    html = render.page(f"AC/DC run {snapshot.name}", subtitle, [
        render.heldout_section(comparisons, note),
        *coverage_sections(evaluation),
        generation_section(coverage_by_generation(root)),
        render.fitness_section(rows),
        render.skills_section(data.skill_map(snapshot)),
        render.pool_section(rows),
        render.embedding_section(data.task_projection(snapshot)),
        render.lineage_section(data.lineage(snapshot)),
        diversity_section(task_pool_diversity(snapshot)),
    ])
    target = output or RunState(root).report_file
    write_text(target, html)
    return target


__all__ = ["build_report"]
