"""The procedural scientist writes real task folders whose difficulty knob moves as asked."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from acdc.tasks.format import read_card, read_metadata
from acdc.tasks.sandbox import SandboxPool, ScoreItem
from acdc.tasks.scientist.base import ScientistContext
from acdc.tasks.scientist.procedural import ProceduralScientist
from acdc.toyworld.skills import SKILLS
from acdc.toyworld.splits import Split, split_of


def _context(root: Path) -> ScientistContext:
    counter = itertools.count(1)
    return ScientistContext(root, generation=3, next_number=lambda: next(counter), seed=7)


def test_adaptations_move_the_knob_and_run_in_the_sandbox(pool: SandboxPool, tmp_path: Path) -> None:
    scientist = ProceduralScientist(seed=1)
    context = _context(tmp_path)
    parents = scientist.propose_initial(3, context)
    for parent in parents:
        family = read_metadata(parent)["family"]
        harder = scientist.adapt(parent, "harder", context)
        easier = scientist.adapt(parent, "easier", context)
        novel = scientist.adapt(parent, "novel", context)
        similar = scientist.adapt(parent, "novel_similar", context)
        assert read_metadata(harder)["family"]["difficulty"] > family["difficulty"]
        assert read_metadata(easier)["family"]["difficulty"] < family["difficulty"]
        assert read_metadata(novel)["family"]["skills"][0] not in family["skills"]
        assert SKILLS[read_metadata(novel)["family"]["skills"][0]].domain != SKILLS[family["skills"][0]].domain
        assert SKILLS[read_metadata(similar)["family"]["skills"][0]].domain == SKILLS[family["skills"][0]].domain
        assert read_metadata(harder)["parent"] == parent.name and read_card(harder).name_of_task
    written = sorted(tmp_path.iterdir())
    materialized = pool.materialize(written)
    assert all(m.ok for m in materialized)
    # the embedded answers are the skills' own answers: scoring them gives full credit
    items = [ScoreItem(d, i.data, i.data["answer"]) for d, m in zip(written, materialized, strict=True) for i in m.instances]
    assert all(r.score == 1.0 for r in pool.score(items))


def test_deterministic_under_seed(tmp_path: Path) -> None:
    first = ProceduralScientist(seed=5).propose_initial(2, _context(tmp_path / "a"))
    second = ProceduralScientist(seed=5).propose_initial(2, _context(tmp_path / "b"))
    assert [(p / "task.py").read_text() for p in first] == [(p / "task.py").read_text() for p in second]


def test_knob_at_its_end_gives_no_task(tmp_path: Path) -> None:
    scientist = ProceduralScientist(seed=1, difficulty_step=100)
    context = _context(tmp_path)
    parent = scientist.propose_initial(1, context)[0]
    top = scientist.adapt(parent, "harder", context)
    assert top is not None and scientist.adapt(top, "harder", context) is None


def _prompts(task_dir: Path) -> list[str]:
    """The instance prompts embedded in a procedural task.py (a JSON literal after INSTANCES =)."""
    code = (task_dir / "task.py").read_text()
    literal = code.split("INSTANCES = ", 1)[1].split("\n\n\n", 1)[0]
    return [instance["prompt"] for instance in json.loads(literal).values()]


def test_draws_only_task_split_prompts(tmp_path: Path) -> None:
    # 80% of the prompt space is training data and 10% held out: 600 random draws would hit both
    scientist = ProceduralScientist(seed=3, instances=8)
    context = _context(tmp_path)
    written = scientist.propose_initial(60, context)
    written += [t for p in written[:20] for kind in ("harder", "novel") if (t := scientist.adapt(p, kind, context))]
    prompts = [prompt for task in written for prompt in _prompts(task)]
    assert len(prompts) >= 600
    assert {split_of(p) for p in prompts} == {Split.TASKS}
