"""Turn the report's data into one self-contained HTML page (inline CSS and SVG only)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from acdc.evaluation.heldout import AREAS, HeldoutComparison
from acdc.report import svg
from acdc.report.data import GenerationRow, Lineage, Projection, SkillMap

BAND_COLOURS = {"easy": "#2ca02c", "medium": "#ffbf00", "hard": "#ff7f0e", "impossible": "#d62728",
                "unevaluated": "#bbbbbb"}

# Drawn on the coverage plot itself (the legend column is 150 px wide: short lines).
ADAPTING_POOL_NOTE = ("The pool adapts:", "solved tasks are retired,", "harder ones written.",
                      "Coverage can hit 1.0", "while fitness drifts down.")

SHORT_LABELS = {"taskforce": "task force", "evolved": "evolved only", "seeds": "seeds", "best": "best single",
                "base": "base alone", "starting": "best starting team"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
section{margin:2em 0}svg.plot{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.empty{color:#a00}
.scroll{overflow-x:auto}.scroll svg.plot{max-width:none}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{v:.3f}</td>' if isinstance(v, float) else f"<td>{escape(str(v))}</td>"
                         for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, plot_id: str, figure: str | None, caption: str, extra: str = "") -> str:
    """A figure, or an explicit 'no data' note: an empty plot must be visible as such."""
    shown = figure if figure else f'<p class="empty" data-empty="{plot_id}">no data for this plot yet</p>'
    return f'<section id="{plot_id}"><h2>{escape(title)}</h2><p>{escape(caption)}</p>{shown}{extra}</section>'


def fitness_section(rows: Sequence[GenerationRow]) -> str:
    figure = svg.line_chart("fitness", {
        "coverage": [(r.generation, r.coverage) for r in rows],
        "best fitness": [(r.generation, r.best_fitness) for r in rows],
        "mean fitness": [(r.generation, r.mean_fitness) for r in rows],
    }, "generation", "fraction of active tasks", (0.0, 1.0), note=ADAPTING_POOL_NOTE) if rows else None
    table = _table(["generation", "best fitness", "mean fitness", "coverage", "pool"],
                   [(r.generation, r.best_fitness, r.mean_fitness, r.coverage, r.pool) for r in rows])
    return _section("Coverage and fitness per generation", "fitness", figure,
                    "Fitness is a model's pass rate on the generation's active pool; coverage is the share of that "
                    "pool solved by at least one archive model. The pool adapts: tasks every model solves are "
                    "retired and harder ones written, so coverage can reach 1.0 while fitness drifts down; "
                    "fitness is measured against a moving target, not on a fixed test.", table)


def skills_section(skills: SkillMap) -> str:
    figure = (f'<div class="scroll">{svg.heatmap("skills", skills.models, skills.tasks, skills.values)}</div>'
              if skills.models and skills.tasks else None)
    return _section("The archive's skills", "skills", figure,
                    "Newest archive (fittest first) by active task: green solved, pale failed, grey unscored.")


def pool_section(rows: Sequence[GenerationRow]) -> str:
    bands = list(BAND_COLOURS)
    figure = svg.stacked_bars("pool", [r.generation for r in rows],
                              {b: [r.bands.get(b, 0) for r in rows] for b in bands},
                              "generation", "active tasks", BAND_COLOURS) if rows else None
    return _section("Task pool difficulty over time", "pool", figure,
                    "Active tasks per difficulty band, from the pass rates of each generation's archive "
                    "(easy > easy threshold, impossible = nobody solves it).")


def embedding_section(projection: Projection) -> str:
    points = projection.points
    figure = svg.scatter("embeddings", [(p.x, p.y, p.generation, f"{p.task_id} (generation {p.generation})")
                                        for p in points], "PC 1", "PC 2", "gen") if points else None
    return _section("Task embeddings", "embeddings", figure,
                    f"All {len(points)} tasks the run created, projected on the first two principal components of "
                    f"{projection.source}; colour = generation that created the task.")


def lineage_section(tree: Lineage) -> str:
    figure = svg.lineage_tree("lineage", tree.nodes, tree.edges, tree.best) if tree.nodes else None
    return _section("Lineage of the best models", "lineage", figure,
                    "Parents of the fittest archive models (red), back to the seeds, from the merge plans.")


def heldout_section(comparisons: Sequence[HeldoutComparison], note: str) -> str:
    """The largest comparison in full, then force against best starting team at every size."""
    if not comparisons:
        return _section("Held-out comparison", "heldout", None, note)
    comparison = comparisons[-1]
    figure = svg.grouped_bars("heldout", ["all", *AREAS],
                              {SHORT_LABELS[g.key]: [g.coverage, *(g.per_area[a] for a in AREAS)]
                               for g in comparison.groups},
                              "held-out coverage")
    table = _table(["group", "models", "coverage", "tasks solved"],
                   [(g.label, ", ".join(g.models), g.coverage, f"{g.solved} / {comparison.tasks}")
                    for g in comparison.groups])
    caption = (f"{comparison.tasks} procedural tasks the run never saw (each skill at each difficulty, "
               f"up to {comparison.instances} held-out prompts each, none of them among the run's own task instances, "
               "whole or as a part of a combined one; "
               "solved when at least half are exact). "
               f"Coverage = share solved by at least one model of the group; \"combined\" tasks ask for two "
               "skills of different domains in one prompt, which no single-domain specialist keeps. "
               "The best starting team is the best N of the models the run started from (seeds, and the base when "
               "it is a candidate), chosen on the run's own generation-0 pool: what the run could field without "
               f"evolving anything. Generation {comparison.generation}. ")
    caption += (f"Evolved models solve {len(comparison.beyond_start)} held-out task(s) no starting model solves"
                + (f": {', '.join(comparison.beyond_start)}." if comparison.beyond_start else "."))
    if comparison.unscored_start:
        caption = (f"NOT A FAIR COMPARISON: starting model(s) {', '.join(comparison.unscored_start)} have no "
                   "generation-0 scores, so the best starting team was chosen without them and is weaker than "
                   "what the run started from; whether the task force beats it reads \"not comparable\". " + caption)
    return _section("Held-out comparison", "heldout", figure, caption, table + _sizes_table(comparisons))


def _sizes_table(comparisons: Sequence[HeldoutComparison]) -> str:
    """Task force against the best starting team of the same size, for every size compared."""
    rows: list[tuple[Any, ...]] = []
    for c in comparisons:
        force, team = c.group("taskforce"), next((g for g in c.groups if g.key == "starting"), None)
        if team is None:  # no starting model was graded: nothing to set the force against
            rows.append((c.size, ", ".join(force.models), force.solved, "-", "-", "-"))
            continue
        rows.append((c.size, ", ".join(force.models), force.solved, ", ".join(team.models), team.solved,
                     c.against_team()))
    intro = ("<p>By task-force size: with one member per seed a force must hold each seed's whole domain to win; "
             "with fewer members than domains a starting team leaves a domain out, and models that hold two "
             "domains at once are what evolution adds.</p>")
    return intro + _table(["N", "task force", "solved", "best starting team", "solved", "force solves more"], rows)


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1><p class=\"sub\">{escape(subtitle)}</p>"
            f"{''.join(sections)}</body></html>")
