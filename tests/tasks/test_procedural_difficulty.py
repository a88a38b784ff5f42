"""The procedural scientist's "harder"/"easier" move measured difficulty on the real toy models.

Each domain's specialist (the base, for a combined skill no specialist owns) answers the
instances of a mid-difficulty family and of its harder and easier children, through the
same path a run uses (chat template, greedy decoding, grading in the sandbox). Pass rates
are summed over every skill, so one noisy family cannot decide the result, and the
direction must hold in the aggregate.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from acdc.models.inference import SamplingParams, make_backend
from acdc.tasks.answers import chat_for, extract_answer
from acdc.tasks.format import read_metadata
from acdc.tasks.sandbox import SandboxPool, ScoreItem
from acdc.tasks.scientist.base import ScientistContext
from acdc.tasks.scientist.procedural import ProceduralScientist
from acdc.toyworld.skills import SKILLS
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (pytest fixture)

INSTANCES = 12


def pass_rate(pool: SandboxPool, backend, task: Path) -> float:
    (materialized,) = pool.materialize([task])
    chats = [chat_for(instance.instructions, "plain") for instance in materialized.instances]
    answers = backend.generate(chats, SamplingParams(max_tokens=32))
    items = [ScoreItem(task, i.data, extract_answer(a)) for i, a in zip(materialized.instances, answers, strict=True)]
    results = pool.score(items)
    return sum(r.solved for r in results) / len(results)


def test_harder_and_easier_move_measured_pass_rates(pool: SandboxPool, toy_world: Path, tmp_path: Path) -> None:  # noqa: F811
    counter = itertools.count(1)
    context = ScientistContext(tmp_path, generation=1, next_number=lambda: next(counter), seed=11)
    scientist = ProceduralScientist(seed=3, difficulty_step=2, instances=INSTANCES)
    totals = {"easier": 0.0, "parent": 0.0, "harder": 0.0}
    backends = {}
    for parent in scientist.propose_initial(len(SKILLS), context):
        skill = read_metadata(parent)["family"]["skills"][0]
        model = "base" if SKILLS[skill].parts else SKILLS[skill].domain
        backend = backends.get(model) or backends.setdefault(model, make_backend("transformers", toy_world / model))
        family = {"parent": parent, "easier": scientist.adapt(parent, "easier", context),
                  "harder": scientist.adapt(parent, "harder", context)}
        for role, task in family.items():
            if task is not None:  # a knob already at its end has no easier/harder child
                totals[role] += pass_rate(pool, backend, task)
    for backend in backends.values():
        backend.close()
    assert totals["easier"] > totals["harder"], totals
    assert totals["easier"] >= totals["parent"] >= totals["harder"], totals
