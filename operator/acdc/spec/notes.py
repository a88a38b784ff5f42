"""Settings a run file may hold that this run will not use: said as warnings, not refused.

An interval longer than the run (``tasks.adaptationInterval: 10`` with ``generations: 8``)
never fires, which is most likely a mistake, yet not one to refuse: ``acdc run
--generations`` (or an edit of ``population.generations``, which a running run accepts)
may lengthen the run later, and then the interval is what the user meant. So `acdc
validate` and `acdc run` print one warning line per such field and go on (exit code 0).
"""

from __future__ import annotations

from acdc.spec.base import SpecModel
from acdc.spec.run import CoevolutionRunSpec

FieldPath = tuple[str, ...]


def interval_notes(spec: CoevolutionRunSpec, generations: int | None = None) -> list[tuple[FieldPath, str]]:
    """(camelCase field path, what follows) for each interval the run file sets longer than the
    run, whose length is ``generations`` when given (``--generations``), else
    ``population.generations``; none for a run without an end (null generations). A default
    is not named: the user did not write it, and the run does without it."""
    length = spec.population.generations if generations is None else generations
    if length is None:
        return []
    tasks, evaluation, retention, budget = spec.tasks, spec.evaluation, spec.retention, spec.budget
    intervals: list[tuple[FieldPath, SpecModel, str, str]] = [
        (("spec", "tasks", "adaptationInterval"), tasks, "adaptation_interval", "the task pool is never adapted"),
        (("spec", "evaluation", "everyGenerations"), evaluation, "every_generations",
         "no generation is benchmarked before the end"),
        (("spec", "retention", "cleanupInterval"), retention, "cleanup_interval",
         "models are garbage-collected only at generation 0"),
        (("spec", "budget", "stopWhenCoverageStaleFor"), budget, "stop_when_coverage_stale_for",
         "stale coverage never stops the run early"),
    ]
    notes = []
    for path, section, name, effect in intervals:
        interval = getattr(section, name)
        if name in section.model_fields_set and interval and interval > length:
            notes.append((path, f"{interval} is longer than the run's {length} generations, so {effect} (fine if the "
                                "run is lengthened later, e.g. with acdc run --generations)"))
    return notes
