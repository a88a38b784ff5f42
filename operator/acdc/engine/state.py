"""The run-state directory: versioned, immutable per-generation records written atomically.

Each phase reads only records earlier steps finished and writes its own, named by
generation, so re-running a phase (after a kill, or twice) rewrites identical bytes.
There is no mutable "current" pointer: the current generation is the newest one whose
commit record (``archives/GGGG.json``, written last) exists. Every record is wrapped in
an envelope ``{"layout_version", "kind", "generation", ...}``; a missing, corrupt,
partial, mistyped or newer-version file raises StateError naming it. The layout is
documented in docs/state-layout.md.

Every name directly under the state folder is defined here (``RunState``'s paths); the
inside of a task, model, novelty-store or evaluation folder is its own module's format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from acdc.atomic import read_json, sweep_staging, write_json
from acdc.engine.archive import ArchiveMember, SelectionOutcome
from acdc.engine.ids import model_generation
from acdc.engine.parents import ChildPlan
from acdc.engine.taskpool import AdaptationRequest, TaskPool
from acdc.errors import StateError
from acdc.steps import Step, StepRecord

LAYOUT_VERSION = 1
_GEN_FILE = re.compile(r"^(\d{4,})\.json$")
T = TypeVar("T")


@dataclass(frozen=True)
class SelectionRecord:
    """What the select phase decided: survivor ids in rank order, scores, evicted ids."""

    survivors: tuple[str, ...]
    scores: Mapping[str, float]
    evicted: tuple[str, ...]

    @classmethod
    def from_outcome(cls, outcome: SelectionOutcome) -> SelectionRecord:
        return cls(tuple(m.model_id for m in outcome.survivors), dict(outcome.scores), outcome.evicted)

    def to_dict(self) -> dict[str, Any]:
        return {"survivors": list(self.survivors), "scores": dict(self.scores), "evicted": list(self.evicted)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SelectionRecord:
        return cls(
            tuple(map(str, data["survivors"])),
            {str(k): float(v) for k, v in data["scores"].items()},
            tuple(map(str, data["evicted"])),
        )


class RunState:
    """Paths and typed load/save for one run's state folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------
    @property
    def layout_file(self) -> Path:
        return self.root / "layout.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, model_id: str) -> Path:
        model_generation(model_id)  # rejects anything that is not a model id (no path tricks)
        return self.models_dir / model_id

    def archive_file(self, generation: int) -> Path:
        return self.root / "archives" / f"{generation:04d}.json"

    def pool_file(self, generation: int) -> Path:
        return self.root / "pools" / f"{generation:04d}.json"

    def resolve_model(self, model_path: str) -> Path:
        """Archive records keep children relative to the state folder (so a state folder can
        move, or be mounted elsewhere) and seeds absolute; this gives the usable path."""
        path = Path(model_path)
        return path if path.is_absolute() else self.root / path

    def generation_dir(self, generation: int) -> Path:
        return self.root / "generations" / f"{generation:04d}"

    def plan_file(self, generation: int) -> Path:
        return self.generation_dir(generation) / "plan.json"

    def scores_file(self, generation: int, model_id: str, rescore: bool = False) -> Path:
        """A child's scores (``scores/``) or an archive member's re-evaluation (``rescores/``)."""
        model_generation(model_id)
        return self.generation_dir(generation) / ("rescores" if rescore else "scores") / f"{model_id}.json"

    def answers_file(self, generation: int, model_id: str, rescore: bool = False) -> Path:
        """Raw completions and extracted answers of one evaluation, waiting to be scored."""
        model_generation(model_id)
        return self.generation_dir(generation) / ("reanswers" if rescore else "answers") / f"{model_id}.json"

    def selection_file(self, generation: int) -> Path:
        return self.generation_dir(generation) / "select.json"

    def adaptation_file(self, generation: int) -> Path:
        return self.generation_dir(generation) / "adaptation.json"

    @property
    def run_file(self) -> Path:
        """The run as `acdc run` was given it (YAML, so `kubectl apply` takes the same file)."""
        return self.root / "run.yaml"

    @property
    def steps_dir(self) -> Path:
        """The local runner's record of every finished step (the operator keeps them in status)."""
        return self.root / "steps"

    def step_file(self, step: Step) -> Path:
        return self.steps_dir / f"{step.name}.json"

    @property
    def seeds_file(self) -> Path:
        return self.root / "seeds.json"

    @property
    def tasks_dir(self) -> Path:
        """Every task the run ever created (the active pool is a list of ids)."""
        return self.root / "tasks"

    def task_dir(self, task_id: str) -> Path:
        if not task_id or "/" in task_id or task_id in (".", ".."):
            raise StateError(self.tasks_dir, f"{task_id!r} is not a task id")
        return self.tasks_dir / task_id

    @property
    def hub_dir(self) -> Path:
        """Hub models init fetched into the run's volume (``acdc.models.hub``), one folder each."""
        return self.root / "hub"

    @property
    def novelty_dir(self) -> Path:
        """The novelty filter's embedding store (``acdc.tasks.novelty``)."""
        return self.root / "novelty"

    @property
    def heldout_file(self) -> Path:
        """The toy world's held-out grades and comparisons, a cache (``acdc.evaluation.heldout``)."""
        return self.root / "heldout.json"

    @property
    def evaluation_dir(self) -> Path:
        """Benchmark evaluation: samples, selections and results (``acdc.evaluation``)."""
        return self.root / "evaluation"

    @property
    def report_file(self) -> Path:
        return self.root / "report.html"

    # -- envelope ----------------------------------------------------------------------
    def check_layout(self) -> None:
        """layout.json names this folder as acdc state of a version this acdc reads; every phase
        but init (which writes it) checks it first, so a damaged one stops the run loudly."""
        self._read(self.layout_file, "layout", None)

    def init(self) -> None:
        """Create the folder (idempotent) and clear scratch files left by killed writers."""
        if self.layout_file.exists():
            self.check_layout()
        else:
            write_json(self.layout_file, {"layout_version": LAYOUT_VERSION, "kind": "layout"})
        for sub in (self.root, self.root / "archives", self.root / "pools"):
            sweep_staging(sub)

    def _write(self, path: Path, kind: str, generation: int | None, payload: Mapping[str, Any]) -> None:
        write_json(path, envelope(kind, generation, payload))

    def _read(self, path: Path, kind: str, generation: int | None, legacy: bool = False) -> dict[str, Any]:
        """The record at ``path``, its envelope checked. ``legacy``: a record acdc wrote before
        it had an envelope (steps, seeds) is read as version 1, so an older run resumes."""
        data = read_json(path)
        if not isinstance(data, dict):
            raise StateError(path, f"expected a JSON object ({kind} record)")
        if legacy and "layout_version" not in data and "kind" not in data:
            return data
        version = data.get("layout_version")
        if not isinstance(version, int):
            raise StateError(path, "has no layout_version; not an acdc state file")
        if version > LAYOUT_VERSION:
            raise StateError(
                path, f"written with state layout {version}, this acdc reads up to {LAYOUT_VERSION}; upgrade acdc"
            )
        if version < 1:
            raise StateError(path, f"unknown state layout version {version}")
        if data.get("kind") != kind:
            raise StateError(path, f"expected a {kind} record, found {data.get('kind')!r}")
        if generation is not None and data.get("generation") != generation:
            raise StateError(path, f"records generation {data.get('generation')!r}, expected {generation}")
        return data

    def _decode(self, path: Path, kind: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(path, f"malformed {kind} record ({type(exc).__name__}: {exc})") from exc

    # -- typed records -----------------------------------------------------------------
    def save_archive(self, generation: int, members: Sequence[ArchiveMember]) -> None:
        """The generation's commit record: write it after its pool, as its last step."""
        self._write(self.archive_file(generation), "archive", generation, {"members": [m.to_dict() for m in members]})

    def load_archive(self, generation: int) -> list[ArchiveMember]:
        path = self.archive_file(generation)
        data = self._read(path, "archive", generation)
        return self._decode(path, "archive", lambda: [ArchiveMember.from_dict(m) for m in data["members"]])

    def save_pool(self, generation: int, pool: TaskPool) -> None:
        self._write(self.pool_file(generation), "task_pool", generation, pool.to_dict())

    def load_pool(self, generation: int) -> TaskPool:
        path = self.pool_file(generation)
        data = self._read(path, "task_pool", generation)
        return self._decode(path, "task_pool", lambda: TaskPool.from_dict(data))

    def save_plan(self, generation: int, children: Sequence[ChildPlan]) -> None:
        self._write(self.plan_file(generation), "plan", generation, {"children": [c.to_dict() for c in children]})

    def load_plan(self, generation: int) -> list[ChildPlan]:
        path = self.plan_file(generation)
        data = self._read(path, "plan", generation)
        return self._decode(path, "plan", lambda: [ChildPlan.from_dict(c) for c in data["children"]])

    def save_scores(self, generation: int, model_id: str, scores: Mapping[str, float | None],
                    rescore: bool = False) -> None:
        payload = {"model_id": model_id, "scores": dict(sorted(scores.items()))}
        self._write(self.scores_file(generation, model_id, rescore), "scores", generation, payload)

    def load_scores(self, generation: int, model_id: str, rescore: bool = False) -> dict[str, float | None]:
        path = self.scores_file(generation, model_id, rescore)
        data = self._read(path, "scores", generation)

        def build() -> dict[str, float | None]:
            if data["model_id"] != model_id:
                raise ValueError(f"holds scores of {data['model_id']!r}, expected {model_id!r}")
            return {str(k): None if v is None else float(v) for k, v in data["scores"].items()}

        return self._decode(path, "scores", build)

    def has_scores(self, generation: int, model_id: str, rescore: bool = False) -> bool:
        return self.scores_file(generation, model_id, rescore).is_file()

    def save_answers(self, generation: int, model_id: str, answers: Mapping[str, Mapping[str, Any]],
                     rescore: bool = False) -> None:
        """``answers``: task id -> {"raw": [completion per instance], "answers": [extracted]}."""
        payload = {"model_id": model_id, "answers": {t: dict(answers[t]) for t in sorted(answers)}}
        self._write(self.answers_file(generation, model_id, rescore), "answers", generation, payload)

    def load_answers(self, generation: int, model_id: str, rescore: bool = False) -> dict[str, dict[str, Any]]:
        path = self.answers_file(generation, model_id, rescore)
        data = self._read(path, "answers", generation)
        return self._decode(path, "answers", lambda: {str(t): dict(v) for t, v in data["answers"].items()})

    def save_selection(self, generation: int, record: SelectionRecord) -> None:
        self._write(self.selection_file(generation), "selection", generation, record.to_dict())

    def load_selection(self, generation: int) -> SelectionRecord:
        path = self.selection_file(generation)
        data = self._read(path, "selection", generation)
        return self._decode(path, "selection", lambda: SelectionRecord.from_dict(data))

    def save_adaptation(self, generation: int, requests: Sequence[AdaptationRequest]) -> None:
        self._write(
            self.adaptation_file(generation), "adaptation", generation, {"requests": [r.to_dict() for r in requests]}
        )

    def load_adaptation(self, generation: int) -> list[AdaptationRequest]:
        path = self.adaptation_file(generation)
        data = self._read(path, "adaptation", generation)
        return self._decode(path, "adaptation", lambda: [AdaptationRequest.from_dict(r) for r in data["requests"]])

    def save_step(self, step: Step, record: StepRecord) -> None:
        """The local runner's commit point of one step."""
        self._write(self.step_file(step), "step", step.generation, {"step": step.name, **record.to_dict()})

    def forget_step(self, step: Step) -> None:
        """Remove ``step``'s record so that the runner runs it again: its outputs were lost after
        it succeeded (``acdc.phases.records.lost_outputs``). One unlink: atomic."""
        self.step_file(step).unlink(missing_ok=True)

    def load_steps(self) -> dict[str, StepRecord]:
        """Every committed step record, keyed by step name."""
        if not self.steps_dir.is_dir():
            return {}
        return {path.stem: self._load_step(path) for path in sorted(self.steps_dir.glob("g*.json"))}

    def load_step(self, step: Step) -> StepRecord | None:
        """One step's record, None when it has none (not run, or given up by the operator,
        which keeps that record in the run's status, off this volume)."""
        path = self.step_file(step)
        return self._load_step(path) if path.exists() else None

    def _load_step(self, path: Path) -> StepRecord:
        data = self._read(path, "step", None, legacy=True)
        return self._decode(path, "step", lambda: StepRecord.from_dict(data))

    def save_seeds(self, models: Mapping[str, str], integrity: Mapping[str, Any]) -> None:
        """Seed (and base) model id -> folder, and each one's manifest: written once, by init."""
        self._write(self.seeds_file, "seeds", None, {"models": dict(models), "integrity": dict(integrity)})

    def load_seeds(self) -> tuple[dict[str, str], dict[str, Any]]:
        """(model id -> folder, model id -> manifest as recorded; {} for a record from before manifests)."""
        path = self.seeds_file
        data = self._read(path, "seeds", None, legacy=True)
        return self._decode(path, "seeds", lambda: ({str(k): str(v) for k, v in data["models"].items()},
                                                    dict(data.get("integrity") or {})))

    # -- where the run stands ----------------------------------------------------------
    def committed_generations(self) -> list[int]:
        """Generations whose commit record exists (atomic writes: existing means complete)."""
        folder = self.root / "archives"
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _GEN_FILE.match(p.name)))

    def latest_generation(self) -> int | None:
        """The newest committed generation, checked readable; None for a fresh run.

        A corrupt newest record raises rather than silently falling back to an older one.
        """
        generations = self.committed_generations()
        if not generations:
            return None
        latest = generations[-1]
        self.load_archive(latest)
        self.load_pool(latest)
        return latest

    def next_generation(self) -> int:
        latest = self.latest_generation()
        return 0 if latest is None else latest + 1


def envelope(kind: str, generation: int | None, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the state folder stores it: versioned and typed (and dated by generation)."""
    head: dict[str, Any] = {"layout_version": LAYOUT_VERSION, "kind": kind}
    if generation is not None:
        head["generation"] = generation
    return {**head, **payload}
