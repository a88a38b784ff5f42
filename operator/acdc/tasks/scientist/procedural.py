"""The toy world's scientist: parameterised task families over the procedural skills.

A family is (skills, difficulty, instance count). "harder"/"easier" move the difficulty
knob, "novel" switches to a skill of another domain, "novel_similar" to a sibling skill
of the same domain, and a composition family mixes the instances of two skills. The
task.py it writes embeds its instances and answers as literals and uses only the stdlib,
so it runs in the sandbox exactly like an LLM-written task. Instances are drawn from the
tasks side of the toy world's fixed split (``acdc.toyworld.splits``): prompts no model
trained on, and never the held-out ones that ``acdc.evaluation.heldout`` compares on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from acdc.errors import UserError
from acdc.tasks.format import TaskCard, read_metadata, task_dir_name, write_task
from acdc.tasks.scientist.base import AdaptationKind, ScientistContext, derived_rng
from acdc.toyworld.skills import SKILLS
from acdc.toyworld.splits import Split, examples_in

COMPOSITION_PROBABILITY = 0.3
"""How often a "novel" adaptation composes the new skill with the parent's (instances alternate)."""
HUMAN_DIFFICULTY_MAX = 5
"""The top of the reference's 1-5 ``estimated_human_difficulty`` rubric."""
LEVELS_PER_HUMAN_STEP = 3
"""Difficulty-knob levels per step of that rubric (knob 0-2 -> 1, 3-5 -> 2, ...)."""

_TEMPLATE = '''"""Procedural toy-world task ({family}). Generated; self-contained."""

INSTANCES = {instances}


def _normalise(text):
    return " ".join(str(text).split())


class TaskFamily:
    @staticmethod
    def get_tasks():
        return dict(INSTANCES)

    @staticmethod
    def get_instructions(t):
        return t["prompt"]

    @staticmethod
    def score(t, submission):
        return 1.0 if _normalise(submission) == _normalise(t["answer"]) else 0.0
'''



def task_code(family: str, instances: dict[str, dict[str, str]]) -> str:
    """task.py of a toy-world family: fixed ``{"prompt", "answer"}`` instances, exact-match score."""
    return _TEMPLATE.format(family=family, instances=json.dumps(instances, indent=4))

@dataclass(frozen=True)
class FamilyParams:
    """The knobs of one procedural family; stored in metadata.json so it can be adapted."""

    skills: tuple[str, ...]
    difficulty: int
    instances: int = 2

    def validate(self) -> FamilyParams:
        for skill in self.skills:
            if skill not in SKILLS:
                raise UserError(f"unknown toy-world skill {skill!r}; known: {', '.join(SKILLS)}")
        return self

    @property
    def family(self) -> str:
        return "+".join(self.skills) + f"@{self.difficulty}"


def _clamp(skill: str, difficulty: int) -> int:
    low, high = SKILLS[skill].difficulty_range
    return max(low, min(high, difficulty))


class ProceduralScientist:
    """Deterministic under ``seed``: the same (seed, generation, number) gives the same task."""

    name = "procedural"

    def __init__(self, seed: int = 0, difficulty_step: int = 2, instances: int = 2) -> None:
        self.seed = seed
        self.difficulty_step = difficulty_step
        self.instances = instances

    def propose_initial(self, n: int, context: ScientistContext) -> list[Path]:
        skills = sorted(SKILLS)
        rounds = max(1, -(-n // len(skills)))  # tasks per skill, rounded up
        written = []
        for index in range(n):
            skill, level = skills[index % len(skills)], index // len(skills)
            low, high = SKILLS[skill].difficulty_range
            # Spread each skill's tasks over its difficulty range (mid first) so the initial
            # pool spans easy to hard instead of repeating one family.
            evenly = [low + (high - low) * k // max(1, rounds - 1) for k in range(rounds)]
            spread = list(dict.fromkeys([(low + high) // 2, *evenly]))
            params = FamilyParams((skill,), spread[level % len(spread)], self.instances)
            written.append(self._write(params, context, parent=None, kind="initial"))
        return written

    def adapt(self, parent: Path, kind: AdaptationKind, context: ScientistContext,
              pass_rate: float | None = None) -> Path | None:
        meta = read_metadata(parent).get("family")
        if not meta:
            return None
        current = FamilyParams(tuple(meta["skills"]), int(meta["difficulty"]), int(meta["instances"])).validate()
        number_hint = (context.generation, parent.name, kind)
        rng = derived_rng(self.seed, "adapt", *number_hint)
        primary = current.skills[0]
        if kind in ("harder", "easier"):
            step = self.difficulty_step if kind == "harder" else -self.difficulty_step
            difficulty = current.difficulty + step
            if _clamp(primary, difficulty) == current.difficulty:
                return None  # the knob is at its end: no harder/easier family exists
            params = FamilyParams(current.skills, _clamp(primary, difficulty), current.instances)
        else:
            domain = SKILLS[primary].domain
            same = kind == "novel_similar"
            choices = [s for s in sorted(SKILLS) if s not in current.skills and (SKILLS[s].domain == domain) == same]
            if not choices:
                return None
            skill = rng.choice(choices)
            skills: tuple[str, ...]
            if kind == "novel" and rng.random() < COMPOSITION_PROBABILITY:
                skills = (skill, primary)  # a composition: instances alternate between two skills
            else:
                skills = (skill,)
            low, high = SKILLS[skill].difficulty_range
            params = FamilyParams(skills, _clamp(skill, min(current.difficulty, (low + high) // 2)), current.instances)
        return self._write(params, context, parent=parent, kind=kind, pass_rate=pass_rate)

    def write_family(self, params: FamilyParams, context: ScientistContext) -> Path:
        """Write one task of a chosen family, as generation 0 writes it (the built-in seed tasks)."""
        return self._write(params.validate(), context, parent=None, kind="initial")

    def _write(self, params: FamilyParams, context: ScientistContext, parent: Path | None, kind: str,
               pass_rate: float | None = None) -> Path:
        number = context.next_number()
        rng = derived_rng(context.seed, self.seed, "instances", number, params.family)
        instances = {}
        for index in range(params.instances):
            skill = params.skills[index % len(params.skills)]
            [example] = examples_in(Split.TASKS, skill, _clamp(skill, params.difficulty), 1, rng)
            instances[str(index + 1)] = {"prompt": example.prompt, "answer": example.answer}
        names = " and ".join(SKILLS[s].description for s in params.skills)
        card = TaskCard(
            name_of_task=f"{'_'.join(params.skills)}_d{params.difficulty}",
            description_of_task=f"Toy-world task: {names}, difficulty {params.difficulty}.",
            capability_being_measured=", ".join(sorted({SKILLS[s].domain for s in params.skills})),
            estimated_human_difficulty=str(min(HUMAN_DIFFICULTY_MAX, 1 + params.difficulty // LEVELS_PER_HUMAN_STEP)),
            example_instruction=instances["1"]["prompt"],
        )
        metadata = {"parent": parent.name if parent else None, "adaptation": kind, "generation": context.generation,
                    "scientist": self.name, "original_pass_rate": pass_rate,
                    "family": {**asdict(params), "skills": list(params.skills)}}
        code = task_code(params.family, instances)
        return write_task(context.pool_dir / task_dir_name(number, card.name_of_task), code, card, metadata)
