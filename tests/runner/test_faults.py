"""Faults that are not a child's own stop the run and drop nothing; resume finishes the same run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from acdc.errors import EXIT_INFRASTRUCTURE, NoSpace, PhaseError, StateError, UserError
from acdc.phases.context import StepRejected
from acdc.phases.faults import Fault, classify, fault_of_exit_code
from acdc.toyworld.store import ensure_built
from tests.runner.conftest import acdc_run, final_state
from tests.runner.finished_run import acdc

MODEL_BYTES = (ensure_built() / "base" / "model.safetensors").stat().st_size


def _raised_from(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(("exc", "fault"), [
    (StepRejected("gibberish"), Fault.REJECTED),
    (NoSpace("disk full"), Fault.INFRASTRUCTURE),
    (OSError(28, "No space left on device"), Fault.INFRASTRUCTURE),
    (PermissionError(13, "Permission denied"), Fault.INFRASTRUCTURE),
    (StateError("archives/0001.json", "file is corrupt"), Fault.INFRASTRUCTURE),
    (UserError("the vllm backend needs the vllm package"), Fault.INFRASTRUCTURE),
    (_raised_from(PhaseError("mergekit linear failed"), OSError(5, "I/O error")), Fault.INFRASTRUCTURE),
    (PhaseError("crossover 'slerp' needs exactly 2 parents"), Fault.STEP),
    (ValueError("a bug"), Fault.STEP),
])
def test_faults_are_told_apart_by_type(exc: BaseException, fault: Fault) -> None:
    assert classify(exc) is fault
    assert fault_of_exit_code(fault.exit_code) is fault


def test_an_implicit_context_is_not_a_disk_fault() -> None:
    """A step error raised while handling an expected FileNotFoundError stays the step's own."""
    try:
        try:
            raise FileNotFoundError("cache")
        except FileNotFoundError:
            raise ValueError("bad recipe")  # noqa: B904 (the point of the test)
    except ValueError as exc:
        assert classify(exc) is Fault.STEP


def test_safetensors_write_on_a_full_disk_is_infrastructure(tmp_path: Path) -> None:
    """safetensors reports ENOSPC as its own exception type; a missing folder stands in for it."""
    with pytest.raises(Exception) as info:
        save_file({"w": torch.zeros(4)}, str(tmp_path / "missing" / "model.safetensors"))
    assert classify(info.value) is Fault.INFRASTRUCTURE


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs the size of 20 toy models (the mini run needs fewer), nearly filled by
    someone else's file: a full disk, as root only."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={20 * MODEL_BYTES}", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_stops_the_run_and_resume_gives_the_uninterrupted_result(
    small_disk: Path, mini_run: Path, reference: dict[str, str]
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - MODEL_BYTES - 2**20))  # about one model left
    state = small_disk / "state"
    stopped = acdc_run(str(mini_run), "--state", str(state))
    assert stopped.returncode == EXIT_INFRASTRUCTURE, stopped.stderr[-3000:]
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert "space" in errors[0].lower() and "resume" in errors[0]
    records = [json.loads(p.read_text()) for p in (state / "steps").glob("g*.json")]
    assert all(record["status"] == "succeeded" for record in records), "a full disk must drop nothing"
    assert not (state / "archives" / "0002.json").exists(), "the run must stop, not commit without the lost children"

    filler.unlink()  # space is freed
    resumed = acdc_run(str(mini_run), "--state", str(state))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert final_state(state) == reference


def stopped_run(tmp_path: Path, mini_run: Path, change: Callable[[dict], None]) -> tuple[str, str, Path]:
    """`acdc run` of the MINI run with ``change`` made to its spec, which must stop with exit 75
    and one error line: (stderr, that line, the state folder)."""
    spec = yaml.safe_load(mini_run.read_text())
    change(spec["spec"])
    run_file = tmp_path / "changed.yaml"
    run_file.write_text(yaml.safe_dump(spec))
    state = tmp_path / "state"
    stopped = acdc_run(str(run_file), "--state", str(state))
    assert stopped.returncode == EXIT_INFRASTRUCTURE, stopped.stderr[-3000:]
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    return stopped.stderr, errors[0], state


def test_a_setting_no_model_can_run_with_stops_the_run_instead_of_dropping_every_model(
    tmp_path: Path, mini_run: Path
) -> None:
    """The vllm backend on a machine without vllm: every evaluate step raises the same
    UserError. It used to be each model's own failure, retried and dropped, until the run
    finished with exit 0 and an empty archive."""
    _, error, state = stopped_run(tmp_path, mini_run, lambda spec: spec["inference"].update(backend="vllm"))
    assert "vllm" in error and "nothing was dropped" in error
    records = [json.loads(p.read_text()) for p in (state / "steps").glob("g*.json")]
    assert records and all(record["status"] == "succeeded" for record in records)


def test_a_hub_out_of_reach_stops_the_run_at_init_instead_of_retrying_it_as_a_failed_step(
    tmp_path: Path, mini_run: Path
) -> None:
    """`hf:` seeds with no route to the hub (nothing listens on port 9): one attempt, exit 75,
    the cause on one line, nothing recorded; it was the init step's own failure, retried
    ``backoffLimit`` times and then exit 1 as if the run were wrong."""
    models = {"seeds": [{"hf": "acdc-toy/arithmetic"}, {"hf": "acdc-toy/strings"}],
              "hub": {"endpoint": "http://127.0.0.1:9"}}
    stderr, error, state = stopped_run(tmp_path, mini_run, lambda spec: spec.update(models=models))
    assert "could not fetch acdc-toy/" in error and "nothing was dropped" in error
    assert "attempt" not in stderr, "a network fault is not retried as the step's failure"
    assert not list((state / "steps").glob("g*.json"))


def test_the_runner_out_of_memory_stops_the_run_as_an_infrastructure_fault(
    tmp_path: Path, mini_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MemoryError in the runner's own process (a worker's is classified in the worker): exit 75
    and one line, as for a worker the OOM killer took; it escaped as a traceback."""
    from acdc.runner.executor import LocalRunner

    def out_of_memory(_runner: LocalRunner) -> None:
        raise MemoryError

    monkeypatch.setattr(LocalRunner, "run", out_of_memory)
    stopped = acdc("run", str(mini_run), "--state", str(tmp_path / "state"), "--plain", "--no-report")
    assert stopped.returncode == EXIT_INFRASTRUCTURE, stopped.stderr
    errors = stopped.stderr.strip().splitlines()
    assert len(errors) == 1 and "out of memory" in errors[0] and "resume" in errors[0], stopped.stderr


def test_a_worker_lost_mid_step_is_an_infrastructure_fault_and_records_nothing(tmp_path: Path) -> None:
    from acdc.runner.executor import LocalRunner, RunnerOptions, RunStopped
    from acdc.runner.pool import WorkerPool
    from acdc.spec import load_run
    from acdc.steps import Phase, Step

    step = Step(0, Phase.PLAN)
    pool = WorkerPool(tmp_path, 1, 1)
    try:
        worker = pool._workers[0]
        worker.step = step  # as if the step had been sent, then the OOM killer struck
        worker.process.kill()
        worker.process.join(timeout=60)
        (outcome,) = pool.wait(timeout=60)
        assert outcome.record is None and outcome.fault is Fault.INFRASTRUCTURE and "died" in (outcome.error or "")
        pool.submit(step)  # the dead worker was replaced: the pool still works
        (again,) = pool.wait(timeout=120)
        assert again.fault is Fault.INFRASTRUCTURE  # no state here: a StateError, still not the step's fault
    finally:
        pool.kill_all()
        pool.close()
    root = Path(__file__).resolve().parents[2]
    runner = LocalRunner(tmp_path, "lost", load_run(root / "examples" / "quickstart.yaml").spec, RunnerOptions(1))
    with pytest.raises(RunStopped, match="nothing was dropped") as info:
        runner._failed(step, outcome.error or "", outcome.fault, progress=None)  # type: ignore[arg-type]
    assert info.value.exit_code == EXIT_INFRASTRUCTURE
    assert runner.records == {} and not (tmp_path / "steps").exists()


def test_a_run_killed_during_its_final_evaluation_evaluates_on_the_next_acdc_run(
        finished_state: Path, tmp_path: Path) -> None:
    """Killed after the DAG's last step, before the evaluation's summary: the next `acdc run`
    said "already finished" and exit 0, and the run was never evaluated (an audit)."""
    state = tmp_path / "state"
    shutil.copytree(finished_state, state)
    run = yaml.safe_load((state / "run.yaml").read_text())
    run["spec"]["evaluation"]["enabled"] = True  # MINI benchmarks inside its DAG only
    (state / "run.yaml").write_text(yaml.safe_dump(run))
    for path in (state / "evaluation").glob("results*.json"):
        path.unlink()
    again = acdc_run("--state", str(state))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already finished; evaluating it" in again.stdout and "evaluation:" in again.stdout
    assert (state / "evaluation" / "results.json").is_file()
    third = acdc_run("--state", str(state))
    assert third.returncode == 0 and "already finished; state in" in third.stdout


def test_a_worker_logs_untrusted_text_as_one_escaped_line(tmp_path: Path) -> None:
    """A real spawned worker of the pool logs what its step logged through the escaping formatter."""
    from acdc.logsafe import escape_controls
    from tests.runner.forging_worker import FORGED

    script = Path(__file__).with_name("forging_worker.py")
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout == "succeeded\n", result.stderr
    (line,) = result.stderr.splitlines()
    assert line.endswith(f"WARNING acdc.phases.tasks: adapting t1 failed: {escape_controls(FORGED)}"), result.stderr
    assert "\\n2026-12-02" in line and "\\x1b[31mRED" in line and "\\u2028\\u202eevil" in line
