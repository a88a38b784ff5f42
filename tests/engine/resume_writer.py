"""Child process for the kill-and-resume test: runs generations until ``last``, resuming.

Each generation writes the records a real generation writes (plan, scores, selection,
pool, then the archive commit record). Generation g's archive embeds the fitness sum of
g-1's archive, so a generation built on a missing or wrong predecessor is detectable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from acdc.engine.archive import ArchiveMember
from acdc.engine.ids import model_id, task_id
from acdc.engine.parents import ChildPlan
from acdc.engine.state import RunState, SelectionRecord
from acdc.engine.taskpool import TaskPool


def expected_archive(generation: int, previous_total: float) -> list[ArchiveMember]:
    tasks = [task_id(n, f"t{n}") for n in range(1, 41)]
    return [
        ArchiveMember(
            model_id(generation, i),
            f"models/{model_id(generation, i)}",
            fitness=(previous_total + generation + i / 10) % 97 / 97,  # a pass rate, still chained
            scores={t: float((generation + i + j) % 2) for j, t in enumerate(tasks)},
            parents=(model_id(max(generation - 1, 0), i),),
        )
        for i in range(12)
    ]


def run(root: Path, last: int, pause: float) -> None:
    """``pause`` stands in for a phase's real work between records, so kills land mid-run."""
    state = RunState(root)
    state.init()
    print("ready", flush=True)  # imports done: the parent starts its kill timer now
    for g in range(state.next_generation(), last + 1):
        previous = sum(m.fitness for m in state.load_archive(g - 1)) if g > 0 else 0.0
        members = expected_archive(g, previous)
        state.save_plan(g, [ChildPlan(m.model_id, m.parents, g * 100 + i) for i, m in enumerate(members)])
        time.sleep(pause)
        for m in members:
            state.save_scores(g, m.model_id, m.scores)
        time.sleep(pause)
        state.save_selection(g, SelectionRecord(tuple(m.model_id for m in members), {}, ()))
        state.save_pool(g, TaskPool().with_tasks(members[0].scores))
        time.sleep(pause)
        state.save_archive(g, members)


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
