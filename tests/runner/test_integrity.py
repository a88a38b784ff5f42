"""Damage to what a run committed is found, named and never silently scored around."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from acdc.engine.integrity import MANIFEST
from acdc.errors import EXIT_INFRASTRUCTURE
from tests.progress import run_progressing
from tests.runner.finished_run import acdc


def _latest(state: Path, kind: str) -> dict:
    return json.loads(max((state / kind).glob("*.json")).read_text())


def _child(state: Path) -> Path:
    """A merged child of the newest archive (seeds live outside the state)."""
    member = next(m for m in _latest(state, "archives")["members"] if not m["model_id"].startswith("seed_"))
    return state / member["model_path"]


def _task(state: Path, position: int = -1) -> Path:
    return state / "tasks" / _latest(state, "pools")["active"][position]


def _delete_model(state: Path) -> Path:
    shutil.rmtree(_child(state))
    return _child(state)


def _truncate_model(state: Path) -> Path:
    weights = _child(state) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    return weights


def _flip_model_header(state: Path) -> Path:
    weights = _child(state) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[20] ^= 0xFF  # same size: only the header hash can tell
    weights.write_bytes(bytes(data))
    return weights


def _delete_task_code(state: Path) -> Path:
    (_task(state) / "task.py").unlink()
    return _task(state) / "task.py"


def _corrupt_task_card(state: Path) -> Path:
    card = _task(state, 0) / "task.json"
    card.write_text("{" + " " * (len(card.read_text()) - 1))
    return card


def _delete_manifest(state: Path) -> Path:
    (_task(state) / MANIFEST).unlink()
    return _task(state) / MANIFEST


def _not_a_run(state: Path) -> Path:
    (state / "run.yaml").write_text("kind: Pod\n")
    return state / "run.yaml"


def _corrupt_layout(state: Path) -> Path:
    (state / "layout.json").write_text('{"layout_version": 1, "kind": "archive"}\n')
    return state / "layout.json"


DAMAGE: dict[str, Callable[[Path], Path]] = {
    "deleted model": _delete_model,
    "truncated model": _truncate_model,
    "overwritten model header": _flip_model_header,
    "deleted task.py": _delete_task_code,
    "corrupt task.json": _corrupt_task_card,
    "deleted task manifest": _delete_manifest,
    "corrupt layout.json": _corrupt_layout,
    "run.yaml not a run": _not_a_run,
}


@pytest.fixture
def state(finished_state: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(finished_state, copy)
    return copy


def test_an_intact_run_verifies(state: Path) -> None:
    result = acdc("verify", str(state))
    assert result.returncode == 0 and "intact" in result.stdout, result.stderr


@pytest.mark.parametrize("case", sorted(DAMAGE), ids=str)
def test_damage_is_named_by_resume_and_by_verify(case: str, state: Path) -> None:
    damaged = DAMAGE[case](state)
    resumed = acdc("run", "--state", str(state), "--plain", "--no-report")
    assert resumed.returncode == EXIT_INFRASTRUCTURE, resumed.stderr
    errors = resumed.stderr.strip().splitlines()
    assert len(errors) == 1 and str(damaged) in errors[0] and "Traceback" not in resumed.stderr, resumed.stderr
    verified = acdc("verify", str(state))
    assert verified.returncode == 1 and str(damaged) in verified.stderr, verified.stderr
    assert "recomputable" in verified.stderr or "not recomputable" in verified.stderr or "backup" in verified.stderr


@pytest.mark.parametrize("record", ["steps/g0002-select.json", "archives/0002.json", "pools/0002.json",
                                    "seeds.json", "steps/g0001-score-00.json"])
@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_record_stops_the_resume_as_an_infrastructure_fault(state: Path, record: str, damage: str) -> None:
    """The runner's own reads on resume (step records, the newest commit, seeds.json): a torn or
    lost record stops it with exit 75 and one line naming the file, as it stops a step; it was
    exit 1, a failed run, for the same damage a phase reported as 75."""
    path = state / record
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:20])
    else:
        path.unlink()
    resumed = acdc("run", "--state", str(state), "--plain", "--no-report")
    errors = resumed.stderr.strip().splitlines()
    if damage == "missing" and record.startswith("steps/"):
        # a step without a record is a step not run yet: it runs (again, idempotent) and the run finishes
        assert resumed.returncode == 0, resumed.stderr
        return
    assert resumed.returncode == EXIT_INFRASTRUCTURE, resumed.stderr
    assert len(errors) == 1 and str(path) in errors[0] and "Traceback" not in resumed.stderr, resumed.stderr
    assert "resume" in errors[0]


def test_a_deleted_child_is_recomputable_from_its_recipe(state: Path) -> None:
    _delete_model(state)
    verified = acdc("verify", str(state))
    assert "recomputable: `acdc phase merge" in verified.stderr, verified.stderr


def test_a_phase_refuses_a_task_whose_code_is_gone(state: Path) -> None:
    """Before use: scoring a model must not turn a missing task.py into a null score for it alone."""
    answers = sorted((max((state / "generations").iterdir()) / "answers").glob("gen_*.json"))
    model_id = answers[0].stem
    generation, index = int(model_id.split("_")[1]), int(model_id.split("_")[3])
    task = json.loads(answers[0].read_text())["answers"]
    victim = state / "tasks" / sorted(task)[0] / "task.py"
    victim.unlink()
    scored = run_progressing([sys.executable, "-m", "acdc.cli.main", "phase", "score", "--state", str(state),
                             "--generation", str(generation), "--index", str(index)])
    assert scored.returncode == EXIT_INFRASTRUCTURE and str(victim) in scored.stderr, scored.stderr[-2000:]
    assert "Traceback" not in scored.stderr


def _force_child(state: Path) -> tuple[int, Path]:
    """A task force that includes a merged child, and that child's weights."""
    from acdc.runner.snapshot import open_snapshot
    from acdc.runner.taskforce import pick_task_force

    size = len(open_snapshot(state).archive)
    members = pick_task_force(open_snapshot(state), size).members
    child = next(m for m in members if not m.model_id.startswith("seed_"))
    return size, state / "models" / child.model_id / "model.safetensors"


def _flip_deep_byte(weights: Path) -> None:
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, same header: only the whole hash can tell
    weights.write_bytes(bytes(data))


def _swap_for_link(weights: Path) -> None:
    elsewhere = weights.parent.parent / "elsewhere.safetensors"
    elsewhere.write_bytes(weights.read_bytes()[::-1])
    weights.unlink()
    weights.symlink_to(elsewhere)


def test_an_export_ships_exactly_what_the_run_committed(state: Path, tmp_path: Path) -> None:
    from acdc.delivery.export import copy_task_force
    from acdc.engine.integrity import read_manifest

    size, weights = _force_child(state)
    copied = copy_task_force(state, size, tmp_path / "intact")
    shipped = {p.relative_to(copied / "models" / weights.parent.name).as_posix()
               for p in (copied / "models" / weights.parent.name).rglob("*") if p.is_file()}
    assert shipped == set(read_manifest(weights.parent)), "the committed files, no more and no fewer"


@pytest.mark.parametrize("damage", [_flip_deep_byte, _swap_for_link, Path.unlink], ids=["flipped", "linked", "gone"])
def test_an_export_refuses_a_member_that_differs_from_its_commit(state: Path, tmp_path: Path,
                                                                 damage: Callable[[Path], None]) -> None:
    from acdc.delivery.export import copy_task_force
    from acdc.errors import IntegrityError

    size, weights = _force_child(state)
    damage(weights)
    with pytest.raises(IntegrityError, match=str(weights)):
        copy_task_force(state, size, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_verify_of_a_folder_no_run_used_is_a_usage_error(tmp_path: Path) -> None:
    verified = acdc("verify", str(tmp_path))
    assert verified.returncode == 2 and "not an acdc state folder" in verified.stderr, verified.stderr


def test_verify_checks_the_children_merged_since_the_last_commit(state: Path) -> None:
    """A child merged (its merge step recorded) but not yet committed is what a resume goes on
    with; deleted, the resume stopped on it every time while verify said "intact" (an audit)."""
    newest = max((state / "archives").glob("*.json"))
    generation = int(newest.stem)
    newest.unlink()  # the newest generation is in flight again: merged, not committed
    for record in (state / "steps").glob(f"g{generation:04d}-*.json"):
        if record.stem.split("-")[1] not in ("plan", "merge", "evaluate", "score"):
            record.unlink()
    merges = [json.loads(path.read_text()) for path in sorted((state / "steps").glob(f"g{generation:04d}-merge-*.json"))]
    folder = state / "models" / next(m["result"]["model"] for m in merges if m["status"] == "succeeded")
    if folder.is_dir():  # kept by selection; a child it dropped lost its folder at the commit undone above
        shutil.rmtree(folder)
    verified = acdc("verify", str(state))
    assert verified.returncode == 1 and str(folder) in verified.stderr, verified.stderr
    assert "recomputable: `acdc phase merge" in verified.stderr, verified.stderr
