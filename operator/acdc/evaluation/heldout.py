"""Held-out science for toy-world runs: does the evolved task force cover more than the seeds?

The run's own coverage is measured on tasks it chose and adapted, so it cannot show
that coevolution generalises. Here every model is graded on procedural tasks the run
never saw: one held-out task per (skill, difficulty) of the toy world, each a bucket of
``instances`` prompts from the held-out part of the prompt space (``toyworld.splits``:
no model was trained on one whole, though the easy single-skill ones are trained as
parts of combined prompts, docs/toyworld.md "Prompt split"), drawn from a generator seeded from
(run seed, "heldout", skill, difficulty), a stream no phase of the run uses. A task is
solved when at least ``SOLVED_FRACTION`` (0.5) of its prompts are answered exactly: the
default skill threshold, fixed here so that runs with another ``selection.skillThreshold``
are compared on one yardstick.

Groups compared by coverage (pass@N across models, the paper's metric): the task force
of N archive models chosen by greedy coverage on the run's *own* active pool (held-out
results are never used to choose it), the same from evolved models only, the N seed
models, the single fittest archive model, the base model alone (in the toy world the
base still knows the easy levels of every skill that fine-tuning took from the seeds),
and the best team of N starting models (seeds and base) chosen on the run's generation-0
pool: the yardstick for what evolution adds beyond selecting among what it started with.
Grading is trusted code (we generated the answers), so no sandbox. Per-model results are cached in
STATE/heldout.json; model dirs never change under an id, so a later report only
evaluates models it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, write_json
from acdc.engine.ids import is_seed_model
from acdc.engine.rng import derived_seed
from acdc.engine.solved import SOLVED_THRESHOLD
from acdc.engine.state import RunState, envelope
from acdc.errors import StateError
from acdc.phases.execute import quiet_libraries
from acdc.phases.run_models import BASE_MODEL_ID, resolved_models, seed_ids, starting_ids
from acdc.runner.pool import pin_threads
from acdc.runner.snapshot import RunSnapshot
from acdc.runner.taskforce import candidates, pick_starting_team, pick_task_force, unscored_starting
from acdc.spec import CoevolutionRunSpec
from acdc.toyworld.skills import SKILLS, Example, Skill
from acdc.toyworld.splits import Split, examples_in

# 2: per area; 3: starting team, tasks beyond the start; 4: the run's answer extraction; 5: graded through lm-eval;
# 6: starting models the team could not choose are recorded; prompts seen as parts or with other spacing skipped
HELDOUT_VERSION = 6
DEFAULT_INSTANCES = 10
OVERDRAW = 3  # draws per wanted prompt, so prompts the run used can be skipped
SOLVED_FRACTION = SOLVED_THRESHOLD  # the default "solved" rule, whatever threshold the run selected with

log = logging.getLogger(__name__)

Grader = Callable[[str, Sequence["HeldoutTask"]], dict[str, float]]


@dataclass(frozen=True)
class HeldoutTask:
    skill: str
    difficulty: int
    examples: tuple[Example, ...]

    @property
    def name(self) -> str:
        return f"{self.skill}@{self.difficulty}"


def area_of(skill: Skill) -> str:
    """The report's grouping of a skill: its specialist domain, or "combined" (no specialist owns it)."""
    return "combined" if skill.parts else skill.domain


AREAS: tuple[str, ...] = tuple(dict.fromkeys(area_of(skill) for skill in SKILLS.values()))


def is_toyworld_run(spec: CoevolutionRunSpec) -> bool:
    """Held-out tasks exist only for the toy world's skills, so only its models are graded."""
    return all(source.toyworld is not None for source in spec.models.sources)


def _plain(prompt: str) -> str:
    """A prompt with its whitespace removed: an LLM scientist's ``Add: 8 + 8`` asks what ``Add: 8+8`` asks."""
    return "".join(prompt.split())


def seen_forms(prompts: Iterable[str]) -> frozenset[str]:
    """Everything ``prompts`` showed a model, whitespace removed: each prompt whole and each
    part of a combined one (split at ``|``), since ``Add: 8+8 | Sort: 3, 1`` asks ``Add: 8+8`` too."""
    return frozenset(_plain(form) for prompt in prompts for form in (prompt, *prompt.split("|")))


def heldout_tasks(run_seed: int, instances: int = DEFAULT_INSTANCES,
                  seen: frozenset[str] = frozenset()) -> list[HeldoutTask]:
    """Every skill at every difficulty it supports, up to ``instances`` held-out prompts each.

    Prompts in ``seen`` (instances of the run's own tasks: the procedural scientist may
    draw a held-out prompt by chance, and an LLM one may write it) are skipped, whole, as a
    part of a combined prompt or differently spaced (``seen_forms``), so the run never
    asked any of them. A bucket whose whole prompt space the run used is left out.
    """
    known = seen_forms(seen)
    tasks = []
    for name, skill in SKILLS.items():
        low, high = skill.difficulty_range
        for difficulty in range(low, high + 1):
            rng = random.Random(derived_seed(run_seed, "heldout", name, difficulty))
            drawn = examples_in(Split.HELDOUT, name, difficulty, instances * OVERDRAW, rng)
            fresh = [e for e in drawn if _plain(e.prompt) not in known][:instances]
            if fresh:
                tasks.append(HeldoutTask(name, difficulty, tuple(fresh)))
    return tasks


def prompts_seen_by_run(root: Path) -> frozenset[str]:
    """Every instance prompt of every task the run created (from the sandbox's instances.json)."""
    seen: set[str] = set()
    for path in sorted((RunState(root).tasks_dir).glob("*/instances.json")):
        seen.update(str(i.get("instructions", "")) for i in read_json(path).get("instances", []))
    return frozenset(seen)


def set_digest(tasks: Sequence[HeldoutTask]) -> str:
    """Identifies the exact prompts and answers, so cached grades are never reused for others."""
    payload = [[t.name, [[e.prompt, e.answer] for e in t.examples]] for t in tasks]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TransformersGrader:
    """Greedy decoding with the run's prompt style and answer extraction (lenient, or the
    reference's under ``spec.referenceParity.answerExtraction``); exact match per prompt.

    A plain object rather than a closure so that grading workers (other processes) can receive it.
    """

    spec: CoevolutionRunSpec

    def __call__(self, model_dir: str, tasks: Sequence[HeldoutTask]) -> dict[str, float]:
        from acdc.models.inference import SamplingParams, make_backend
        from acdc.tasks.answers import chat_for, extract_answer
        from acdc.toyworld.skills import check

        inference = self.spec.inference
        chats = [chat_for(e.prompt, inference.prompt_style) for t in tasks for e in t.examples]
        backend = make_backend("transformers", model_dir, batch_size=inference.batch_size)
        try:
            completions = iter(backend.generate(chats, SamplingParams(max_tokens=inference.max_tokens)))
        finally:
            backend.close()
        extraction = self.spec.reference_parity.answer_extraction
        return {t.name: round(sum(check(e.answer, extract_answer(next(completions), extraction)) for e in t.examples)
                              / len(t.examples), 6) for t in tasks}


def transformers_grader(spec: CoevolutionRunSpec) -> Grader:
    return TransformersGrader(spec)


@dataclass(frozen=True)
class LmEvalGrader:
    """The held-out prompts as the toy world's lm-eval task, so this comparison runs through the
    same library as the benchmarks (``acdc.evaluation``): lm-eval prompts and decodes, and the
    task's ``process_results`` grades by exact match with the toy world's own checker on the
    answer extracted as the run extracts it. The default grader of ``compare_heldout``; its
    per-prompt verdicts equal ``TransformersGrader``'s (tests/runner/test_heldout_lmeval.py)."""

    spec: CoevolutionRunSpec

    def __call__(self, model_dir: str, tasks: Sequence[HeldoutTask]) -> dict[str, float]:
        import tempfile

        from acdc.evaluation.harness import HarnessConfig, require_graded, run_shard
        from acdc.evaluation.samples import Shard
        from acdc.evaluation.toyworld_task import TASK_NAME, write_documents
        from acdc.tasks.answers import SYSTEM_PROMPTS

        inference = self.spec.inference
        examples = [e for t in tasks for e in t.examples]
        extraction = self.spec.reference_parity.answer_extraction
        docs = [{"id": i, "prompt": e.prompt, "answer": e.answer, "extraction": extraction}
                for i, e in enumerate(examples)]
        with tempfile.TemporaryDirectory(prefix="acdc-heldout-") as scratch:
            folder = write_documents(Path(scratch), docs, inference.max_tokens)
            config = HarnessConfig(include_path=folder, batch_size=inference.batch_size,
                                   system_prompt=SYSTEM_PROMPTS[inference.prompt_style])
            samples = run_shard(Shard(TASK_NAME, "heldout", "greedy", 0, 1), model_dir, config)
        require_graded(samples, range(len(docs)), "held-out prompts")
        correct = iter(s.correct for s in samples)
        return {t.name: round(sum(next(correct) for _ in t.examples) / len(t.examples), 6) for t in tasks}


class GradingStopped(Exception):
    """The caller of ``grade_models`` stopped (Ctrl-C, a failed model) before this model's turn."""


_stop: EventType | None = None
"""In a grading worker: its pool's stop event, set once the caller stopped."""


def _grading_worker(stop: EventType) -> None:
    """One torch thread, and no progress bars: the user reads this process's log lines."""
    global _stop
    _stop = stop
    pin_threads(1)
    quiet_libraries()


def _grade_unless_stopped(grader: Grader, model_dir: str, tasks: Sequence[HeldoutTask]) -> dict[str, float]:
    """A model the pool had handed this worker in advance is not graded once the caller stopped."""
    if _stop is not None and _stop.is_set():
        raise GradingStopped(model_dir)
    return grader(model_dir, tasks)


def grade_models(grader: Grader, paths: dict[str, str], tasks: Sequence[HeldoutTask],
                 workers: int) -> Iterator[tuple[str, dict[str, float]]]:
    """Grade each model (id -> dir), yielding (id, grades) as each finishes, logging progress.

    With ``workers`` > 1 the models are graded in that many spawned processes of one torch
    thread each (``pool.pin_threads``): one model per process uses the cores without the
    oversubscription of several multi-threaded torch processes. One worker grades here.
    Once grading stops (Ctrl-C, a model that fails, the caller closing this generator), no
    further model is graded.
    """
    total = len(paths)

    def done(index: int, model: str, grades: dict[str, float]) -> tuple[str, dict[str, float]]:
        solved = sum(score >= SOLVED_FRACTION for score in grades.values())
        log.info("held-out grading: %d of %d models graded (%s solves %d of %d tasks)",
                 index, total, model, solved, len(tasks))
        return model, grades

    if total:
        log.info("held-out grading: %d models on %d tasks, %d at a time", total, len(tasks), min(workers, total))
    if workers <= 1 or total <= 1:
        quiet_libraries()
        for index, (model, path) in enumerate(paths.items(), start=1):
            yield done(index, model, grader(path, tasks))
        return
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    executor = ProcessPoolExecutor(min(workers, total), mp_context=context, initializer=_grading_worker,
                                   initargs=(stop,))
    futures: dict[Future[dict[str, float]], str] = {}
    try:
        for model, path in paths.items():
            futures[executor.submit(_grade_unless_stopped, grader, path, tasks)] = model
        for index, future in enumerate(as_completed(futures), start=1):
            yield done(index, futures[future], future.result())
    except BaseException:
        # Ctrl-C, a model that failed, a reader that stopped: grade no further model, and do
        # not wait for the ones being graded (Ctrl-C on a terminal stops those too). Leaving
        # the pool by `with` graded every queued model first, so Ctrl-C took as long as the rest.
        # Cancelling the futures is not enough: the pool hands some to its workers in advance.
        stop.set()
        for future in futures:
            future.cancel()
        executor.shutdown(wait=False)
        raise
    executor.shutdown()


@dataclass(frozen=True)
class Group:
    """One compared set of models and what it covers of the held-out tasks."""

    key: str
    label: str
    models: tuple[str, ...]
    coverage: float
    solved: int
    per_area: dict[str, float]


@dataclass(frozen=True)
class HeldoutComparison:
    """The groups' coverage, and ``beyond_start``: held-out tasks that an evolved model the
    comparison graded (task force, evolved force, fittest) solves and no starting model does,
    the evidence that evolution made a capability rather than kept one. ``unscored_start``:
    starting models the best starting team could not be chosen from (no generation-0 scores)."""

    generation: int
    size: int
    tasks: int
    instances: int
    groups: tuple[Group, ...]
    beyond_start: tuple[str, ...] = ()
    unscored_start: tuple[str, ...] = ()

    def group(self, key: str) -> Group:
        return next(g for g in self.groups if g.key == key)

    def against_team(self) -> str | None:
        """Does the task force solve more than the best starting team: "yes", "tie" or "no".

        "not comparable" when a starting model had no generation-0 scores: the team was chosen
        without it, so beating it says nothing about beating what the run started from. None
        when no starting team was graded.
        """
        team = next((g for g in self.groups if g.key == "starting"), None)
        if team is None:
            return None
        if self.unscored_start:
            return "not comparable"
        force = self.group("taskforce").solved
        return "yes" if force > team.solved else "tie" if force == team.solved else "no"

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "size": self.size, "tasks": self.tasks, "instances": self.instances,
                "groups": [vars(g) for g in self.groups], "beyond_start": list(self.beyond_start),
                "unscored_start": list(self.unscored_start)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeldoutComparison:
        groups = tuple(Group(g["key"], g["label"], tuple(g["models"]), float(g["coverage"]), int(g["solved"]),
                             dict(g["per_area"])) for g in data["groups"])
        return cls(int(data["generation"]), int(data["size"]), int(data["tasks"]), int(data["instances"]), groups,
                   tuple(data["beyond_start"]), tuple(data["unscored_start"]))


def _beyond(evolved: Sequence[str], starting: Sequence[str], grades: dict[str, dict[str, float]],
            tasks: Sequence[HeldoutTask]) -> tuple[str, ...]:
    def solved(models: Sequence[str]) -> set[str]:
        return {t.name for t in tasks if any(grades[m][t.name] >= SOLVED_FRACTION for m in models)}

    start = solved(starting)
    return tuple(t.name for t in tasks if t.name in solved(evolved) - start)


def _group(key: str, label: str, models: Sequence[str], grades: dict[str, dict[str, float]],
           tasks: Sequence[HeldoutTask]) -> Group:
    solved = {t.name for t in tasks if any(grades[m][t.name] >= SOLVED_FRACTION for m in models)}
    per_area = {}
    for area in AREAS:
        names = [t.name for t in tasks if area_of(SKILLS[t.skill]) == area]
        per_area[area] = round(sum(n in solved for n in names) / len(names), 6) if names else 0.0
    return Group(key, label, tuple(models), round(len(solved) / len(tasks), 6), len(solved), per_area)


def _load_cache(path: Path, digest: str) -> dict[str, Any]:
    """The cache if it grades this exact held-out set; otherwise an empty one."""
    empty = envelope("heldout", None, {"cache_version": HELDOUT_VERSION, "set": digest, "grades": {},
                                       "comparisons": {}})
    if not path.exists():
        return empty
    try:
        data = read_json(path)  # a file from before the envelope has no cache_version: graded again
    except StateError:  # damaged: a cache is graded again, not a reason to stop the report
        return empty
    if not isinstance(data, dict) or data.get("set") != digest or data.get("cache_version") != HELDOUT_VERSION:
        return empty
    return data if _well_formed(data) else empty


def _well_formed(data: dict[str, Any]) -> bool:
    """Every grade a number per task and every comparison readable back."""
    grades, comparisons = data.get("grades"), data.get("comparisons")
    if not isinstance(grades, dict) or not isinstance(comparisons, dict):
        return False
    if not all(isinstance(g, dict) and all(isinstance(v, int | float) for v in g.values()) for g in grades.values()):
        return False
    try:
        for comparison in comparisons.values():
            HeldoutComparison.from_dict(comparison)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def compare_heldout(snapshot: RunSnapshot, size: int | None = None, instances: int = DEFAULT_INSTANCES,
                    grader: Grader | None = None, workers: int = 1) -> HeldoutComparison:
    """Task force vs the starting models on the held-out set (cached per generation).

    N defaults to the number of seeds and is capped by it and by the archive size, since
    the comparison is N evolved models against N seeds. ``workers`` processes grade the
    models not yet in the cache (see ``grade_models``).
    """
    snapshot.require_archive()
    assert snapshot.generation is not None
    seeds = seed_ids(snapshot.run.spec)
    n = min(size or len(seeds), len(snapshot.archive), len(seeds))
    tasks = heldout_tasks(snapshot.run.spec.seed, instances, prompts_seen_by_run(snapshot.root))
    digest = set_digest(tasks)
    path = RunState(snapshot.root).heldout_file
    cache = _load_cache(path, digest)
    key = f"{snapshot.generation}:{n}"
    if key in cache["comparisons"]:
        return HeldoutComparison.from_dict(cache["comparisons"][key])

    force = [m.model_id for m in pick_task_force(snapshot, n).members]
    evolved_pool = len(candidates(snapshot, evolved_only=True))
    evolved = [m.model_id for m in pick_task_force(snapshot, min(n, evolved_pool), evolved_only=True).members] \
        if evolved_pool else []
    best = max(snapshot.archive, key=lambda m: m.fitness).model_id  # first of the fittest, in archive order
    team = pick_starting_team(snapshot, n)
    unscored = tuple(unscored_starting(snapshot))
    paths = {m.model_id: m.model_path for m in snapshot.archive} | resolved_models(snapshot.root)
    base = [BASE_MODEL_ID] if BASE_MODEL_ID in paths else []
    starting = [m for m in dict.fromkeys([*seeds, *starting_ids(snapshot.run.spec), *base]) if m in paths]
    grades: dict[str, dict[str, float]] = cache["grades"]
    wanted = [m for m in dict.fromkeys([*force, *evolved, best, *starting]) if m not in grades]
    by_dir = {m: str(snapshot.state.resolve_model(paths[m])) for m in wanted}
    once = {model_dir: m for m, model_dir in reversed(by_dir.items())}  # the base may stand under two ids
    for model, model_grades in grade_models(grader or LmEvalGrader(snapshot.run.spec),
                                            {m: model_dir for model_dir, m in once.items()}, tasks, workers):
        for same in (m for m, model_dir in by_dir.items() if model_dir == by_dir[model]):
            grades[same] = model_grades
        write_json(path, cache)  # each model as it is graded: an interrupted report goes on from here
    groups = [
        _group("taskforce", f"task force of {n} (archive, greedy on the run's pool)", force, grades, tasks),
        _group("evolved", f"task force of {len(evolved)} evolved models only (seeds left out)", evolved, grades,
               tasks),
        _group("seeds", f"the {n} seed models", seeds[:n], grades, tasks),
        _group("best", "best single model (fitness)", [best], grades, tasks),
    ]
    if base:  # what merging starts from: evolution should add to it, not only recover it
        groups.append(_group("base", "the base model alone (the merges' common ancestor, not a seed)", base,
                             grades, tasks))
    if team:  # the yardstick: what the run could have fielded without evolving anything
        without = f"; NOT comparable: chosen without {', '.join(unscored)} (no generation-0 scores)" if unscored else ""
        groups.append(_group("starting", f"best team of {len(team)} starting models (greedy on the generation-0 "
                             f"pool{without})", team, grades, tasks))
    evolved_graded = [m for m in grades if m in {*force, *evolved, best} and not is_seed_model(m)]
    comparison = HeldoutComparison(snapshot.generation, n, len(tasks), instances, tuple(groups),
                                   _beyond(evolved_graded, starting, grades, tasks), unscored)
    cache["comparisons"][key] = comparison.to_dict()
    write_json(path, cache)
    return comparison


def compare_every_size(snapshot: RunSnapshot, instances: int = DEFAULT_INSTANCES, grader: Grader | None = None,
                       workers: int = 1) -> tuple[HeldoutComparison, ...]:
    """The comparison at every N from 1 to the default size, smallest first (the paper sweeps coverage over N).

    With one slot per seed, a force must hold each seed's whole domain to beat the seeds;
    with fewer slots than domains, a team of starting models leaves a domain out, and a
    model that holds two domains at once is what evolution adds. Both regimes are shown,
    so neither is mistaken for the other. Greedy picks are prefix-stable and grades are
    cached per model, so the smaller sizes grade next to nothing.
    """
    full = compare_heldout(snapshot, None, instances, grader, workers)
    return (*(compare_heldout(snapshot, n, instances, grader, workers) for n in range(1, full.size)), full)
