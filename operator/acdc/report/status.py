"""`acdc status DIR`: where a run stands, on one screen or as JSON.

Everything shown is derived from committed records (archive, pool, step records), so
the answer is the same whether the run is live, stopped by a kill, or finished.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from acdc.engine.archive import ArchiveMember
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool, bands, pool_pass_rates
from acdc.evaluation.results import load_results, render_headline
from acdc.phases.dag import DagShape
from acdc.phases.params import pool_params
from acdc.phases.select import summary
from acdc.runner.budget import stopped
from acdc.runner.lock import runner_active
from acdc.runner.snapshot import RunSnapshot, open_snapshot
from acdc.spec import CoevolutionRunSpec

BAND_ORDER = ("easy", "medium", "hard", "impossible", "unevaluated")
RECENT_STEPS = 8


@dataclass(frozen=True)
class MemberRow:
    model_id: str
    fitness: float
    parents: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class StepRow:
    step: str
    status: str
    result: dict[str, Any]


@dataclass(frozen=True)
class RunStatus:
    """What `acdc status` prints; ``to_dict`` is the stable `--json` shape."""

    name: str
    state_dir: str
    run_state: str
    generation: int | None
    generations: int | None
    summary: dict[str, Any]
    archive: list[MemberRow]
    pool_size: int
    pool_bands: dict[str, int]
    dropped: list[StepRow]
    recent: list[StepRow]
    evaluation: dict[str, Any] | None = None
    """The benchmark headline (acdc evaluate's results.json), None until the run is evaluated."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_state(snapshot: RunSnapshot) -> str:
    """finished / running / stopped / not started: a stopped run resumes with `acdc run --state`."""
    shape = DagShape.from_spec(snapshot.run.spec)
    if (snapshot.generation is not None and shape.is_last(snapshot.generation)) or stopped(snapshot.root):
        return "finished"  # or ended early by spec.budget
    if runner_active(snapshot.root):
        return "running"
    return "stopped" if RunState(snapshot.root).steps_dir.is_dir() else "not started"


def band_counts(members: Sequence[ArchiveMember], pool: TaskPool, spec: CoevolutionRunSpec) -> dict[str, int]:
    """Active tasks per difficulty band, judged by an archive's pass rates (as adaptation does)."""
    rates = pool_pass_rates(pool, [m.scores for m in members], spec.selection.skill_threshold)
    by_task = bands(rates, pool_params(spec))
    counts = Counter(by_task.get(task, "unevaluated") for task in pool.active)
    return {band: counts.get(band, 0) for band in BAND_ORDER}


def _step_rows(root: Path) -> tuple[list[StepRow], list[StepRow]]:
    """Dropped steps (all) and the most recently committed ones (by record write time)."""
    state = RunState(root)
    records = state.load_steps()  # checked records: a damaged one is a StateError naming its file
    order = sorted(records, key=lambda name: ((state.steps_dir / f"{name}.json").stat().st_mtime_ns, name))
    rows = [StepRow(name, records[name].status, dict(records[name].result)) for name in order]
    return [r for r in rows if r.status == "dropped"], rows[-RECENT_STEPS:]


def collect_status(root: Path) -> RunStatus:
    snapshot = open_snapshot(root)
    dropped, recent = _step_rows(root)
    members = sorted(snapshot.archive, key=lambda m: (-m.fitness, m.model_id))
    return RunStatus(
        name=snapshot.name,
        state_dir=str(root),
        run_state=_run_state(snapshot),
        generation=snapshot.generation,
        generations=snapshot.run.spec.population.generations,
        summary=summary(snapshot.archive, snapshot.pool, snapshot.threshold) if snapshot.archive else {},
        archive=[MemberRow(m.model_id, round(m.fitness, 4), tuple(m.parents), m.model_path) for m in members],
        pool_size=len(snapshot.pool.active),
        pool_bands=band_counts(snapshot.archive, snapshot.pool, snapshot.run.spec) if snapshot.archive else {},
        dropped=dropped,
        recent=recent,
        evaluation=(load_results(root) or {}).get("headline"),
    )


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def render_status(status: RunStatus) -> str:
    """The one-screen text view: header, archive table, pool bands, recent steps."""
    total = "∞" if status.generations is None else str(status.generations)
    done = "-" if status.generation is None else str(status.generation)
    s = status.summary
    lines = [
        f"run {status.name}  ({status.state_dir})",
        f"generation {done} / {total}   state: {status.run_state}",
        (f"best fitness {_fmt(s.get('bestFitness'))}   mean fitness {_fmt(s.get('meanFitness'))}   "
         f"coverage {_fmt(s.get('coverage'))}"),
        "",
        f"archive ({len(status.archive)} models)",
        f"  {'model':<24} {'fitness':>8}  parents",
    ]
    lines += [f"  {m.model_id:<24} {m.fitness:>8.3f}  {', '.join(m.parents) or '(seed)'}" for m in status.archive]
    band_text = "  ".join(f"{band} {count}" for band, count in status.pool_bands.items())
    lines += ["", f"task pool: {status.pool_size} active   {band_text}"]
    if status.evaluation:
        lines += ["", f"benchmarks: {render_headline(status.evaluation)}"]
    if status.dropped:
        lines += ["", f"dropped steps ({len(status.dropped)})"]
        lines += [f"  {row.step}: {_short(row.result)}" for row in status.dropped]
    lines += ["", "recent steps"]
    lines += [f"  {row.step:<22} {row.status:<10} {_short(row.result)}" for row in status.recent] or ["  (none)"]
    if status.run_state == "stopped":
        lines += ["", f"resume with: acdc run --state {status.state_dir}"]
    return "\n".join(lines)


def _short(result: dict[str, Any], limit: int = 90) -> str:
    text = ", ".join(f"{k}={v}" for k, v in result.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
