"""The report's benchmark-evaluation sections: coverage vs N, best-of-N, task-pool diversity.

Drawn from ``STATE/evaluation/results.json`` (``acdc evaluate``); when the run was never
evaluated, one section says so and how to run it, so an absent plot is never silent.
"""

from __future__ import annotations

from typing import Any

from acdc.report import svg
from acdc.report.render import _section, _table

RULE_LABELS = {"taskforce": "task force", "seeds": "seeds", "best": "best single model",
               "control": "control (N samples of one model)"}


def coverage_sections(results: dict[str, Any] | None) -> list[str]:
    """One coverage@N plot per benchmark, then the best-of-N table."""
    if results is None:  # a note, not an empty plot: nothing was measured yet
        return ['<section id="coverage-at-n"><h2>Benchmark coverage@N</h2><p>This run has not been evaluated on '
                "benchmarks yet: run <code>acdc evaluate STATE</code> (spec.evaluation sets the benchmarks; the toy "
                "world's held-out split as an lm-eval task is the default).</p></section>"]
    sections = []
    for task, bench in results["benchmarks"].items():
        series = {RULE_LABELS.get(rule, rule): [(float(n), value) for n, value in sorted(curve.items(), key=lambda i: int(i[0]))]
                  for rule, curve in bench["coverage"].items() if curve}
        figure = svg.line_chart(f"coverage-{task}", series, "N (models, or samples for the control)",
                                "coverage (any of N correct)", (0.0, 1.0)) if series else None
        table = _table(["model", "accuracy"], [(m, float(a)) for m, a in bench["accuracy"].items()])
        sections.append(_section(
            f"Coverage@N on {task}", f"coverage-{task}", figure,
            f"{bench['documents']} documents, graded by lm-evaluation-harness. Coverage@N is the share answered "
            "correctly by at least one of the first N models of a selection rule: the run's greedy task force "
            "(chosen on the run's own tasks), the seeds, the fittest single model, and a control of N sampled "
            f"answers of {results['selections']['control']}. Generation {results['generation']}.", table))
    rows = [(task, r["method"], r["size"], float(r["accuracy"]), r["calls"], r["unusable"],
             ", ".join(f"{m} {s:.2f}" for m, s in r["pickShare"].items()))
            for task, bench in results["benchmarks"].items() for r in bench["bestOfN"]]
    if not rows:  # a note, not an empty table: nothing was asked for
        sections.append('<section id="best-of-n"><h2>Best-of-N</h2><p>No best-of-N picker was configured '
                        "(spec.evaluation.bestOfN: judge, rewardModel).</p></section>")
        return sections
    sections.append(_section("Best-of-N", "best-of-n", _table(
        ["benchmark", "picker", "N", "accuracy", "judge calls", "unusable verdicts", "pick share"], rows),
        "One answer per document picked from the task force's N answers without the key: by an LLM judge that "
        "sees all N numbered candidates (no call when they agree; a seeded random pick when its reply names "
        "none) or by a reward model's highest score."))
    return sections


def generation_section(points: list[dict[str, Any]]) -> str:
    """Headline coverage@N of each evaluated generation: does the task force improve as the run goes on?"""
    figure = None
    if points:
        series = {RULE_LABELS[rule]: [(float(p["generation"]), p[rule]) for p in points if p.get(rule) is not None]
                  for rule in ("taskforce", "seeds", "best")}
        first = points[-1]
        figure = svg.line_chart("coverage-by-generation", {k: v for k, v in series.items() if v}, "generation",
                                f"coverage@{first['size']} on {first['benchmark']}", (0.0, 1.0))
    return _section("Benchmark coverage by generation", "coverage-by-generation", figure,
                    "Task-force coverage@N (largest N) on the first benchmark at each evaluated generation "
                    "(spec.evaluation.everyGenerations, and the evaluation after the run), with the seeds and the "
                    "fittest single model of that generation for comparison.")


def diversity_section(points: list[dict[str, Any]]) -> str:
    figure = svg.line_chart("diversity", {
        "active pool": [(float(p["generation"]), p["local"]) for p in points],
        "all tasks so far": [(float(p["generation"]), p["cumulative"]) for p in points],
    }, "generation", "Vendi score (effective number of tasks)") if points else None
    return _section("Task-pool diversity", "diversity", figure,
                    "Vendi score of the task embeddings the run computed (cosine similarity): the active pool of "
                    "each generation and every task any pool held up to it.")
