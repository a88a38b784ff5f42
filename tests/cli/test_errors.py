"""Every CLI command answers a bad input with one line and an exit code, never a traceback.

The real commands run as a user runs them (a subprocess of ``python -m acdc.cli.main``);
the error classes themselves are checked in-process through ``main``'s one handler.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from acdc.cli import main as cli_main
from acdc.engine.parents import ChildPlan
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool
from acdc.errors import EXIT_INFRASTRUCTURE, AcdcError, Interrupted, PhaseError, RunFailed, StateError, UserError
from acdc.logsafe import escape_controls
from acdc.steps import Phase, Step, StepRecord

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
HANG_GUARD_S = 300
"""Only keeps a regression (a read that blocks: a FIFO) from hanging the suite; no test asserts it."""


def acdc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acdc.cli.main", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=HANG_GUARD_S)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad inputs: broken YAML, a plain file where a folder belongs, an empty folder,
    a run with a missing seed, a state folder whose merge step finds no init output, ones whose
    layout.json is gone or garbled, and ones whose commit record is a FIFO (a read of it would
    block for ever) or holds no model."""
    root = tmp_path_factory.mktemp("bad")
    (root / "broken.yaml").write_text("spec: [\n")
    (root / "a-file").write_text("not a folder\n")
    (root / "empty").mkdir()
    run = yaml.safe_load(QUICKSTART.read_text())
    run["spec"]["models"]["seeds"] = [{"path": str(root / "no-such-model")}]
    (root / "missing-seed").mkdir()
    (root / "missing-seed" / "run.yaml").write_text(yaml.safe_dump(run))
    evaluated = yaml.safe_load(QUICKSTART.read_text())
    evaluated["spec"]["evaluation"].update(bestOfN=["rewardModel"], rewardModel={"path": str(root / "no-such-rm")})
    (root / "missing-reward-model.yaml").write_text(yaml.safe_dump(evaluated))
    for name, seed_tasks in (("missing-tasks", "no-such-tasks"), ("file-tasks", "a-file")):
        bad_tasks = yaml.safe_load(QUICKSTART.read_text())
        bad_tasks["spec"]["tasks"]["seedTasks"] = str(root / seed_tasks)
        (root / f"{name}.yaml").write_text(yaml.safe_dump(bad_tasks))
    (root / "notes").mkdir()
    (root / "notes" / "mine.txt").write_text("someone's own files\n")
    for name in ("no-layout", "garbled-layout", "dir-record", "fifo-record", "empty-archive"):
        (root / name).mkdir()
        (root / name / "run.yaml").write_text(QUICKSTART.read_text())
        RunState(root / name).init()
    RunState(root / "no-layout").save_step(Step(0, Phase.INIT), StepRecord("succeeded", {}))
    (root / "no-layout" / "layout.json").unlink()
    (root / "garbled-layout" / "layout.json").write_bytes(b"\xff\xfe\x00garbage")
    (root / "dir-record" / "archives" / "0000.json").mkdir(parents=True)
    (root / "fifo-record" / "archives").mkdir()
    os.mkfifo(RunState(root / "fifo-record").archive_file(0))
    RunState(root / "empty-archive").save_pool(0, TaskPool())
    RunState(root / "empty-archive").save_archive(0, [])
    (root / "no-init").mkdir()
    (root / "no-init" / "run.yaml").write_text(QUICKSTART.read_text())
    state = RunState(root / "no-init")
    state.init()
    state.save_plan(1, [ChildPlan("child_g0001_00", ("seed_arithmetic", "seed_strings"), 1)])
    return root


# (arguments, exit code, words the one line must contain)
CASES = {
    "validate: broken yaml": (["validate", "broken.yaml"], 2, "not valid YAML"),
    "validate: missing file": (["validate", "nope.yaml"], 2, "no such file"),
    "crd: output below a file": (["crd", "-o", "a-file/crd.yaml"], 2, "a-file"),
    "toyworld build: into a file": (["toyworld", "build", "a-file"], 1, "a-file"),
    "toyworld: no subcommand": (["toyworld"], 2, "required: COMMAND (see `acdc toyworld -h`)"),
    # A phase that cannot read its inputs is an infrastructure fault (acdc.phases.faults): exit 75,
    # so no executor records the step as the step's own failure.
    "phase: no run file": (["phase", "plan", "--state", "empty", "--generation", "1"], EXIT_INFRASTRUCTURE,
                           "run.yaml"),
    # So is a setting the step cannot work with: every model would fail the same way.
    "phase: user error (missing seed)": (["phase", "init", "--state", "missing-seed", "--generation", "0"],
                                         EXIT_INFRASTRUCTURE, "no-such-model"),
    "phase: state error (no archive)": (["phase", "plan", "--state", "no-init", "--generation", "1"],
                                        EXIT_INFRASTRUCTURE,
                                        "0000.json"),
    "phase: per-model step without --index": (["phase", "merge", "--state", "no-init", "--generation", "1"], 2,
                                               "pass --index"),
    "phase: phase error (init never ran)": (["phase", "merge", "--state", "no-init", "--generation", "1",
                                              "--index", "0"], 1, "init phase has not run"),
    "phase: a step the run does not have": (["phase", "select", "--state", "no-init", "--generation", "1",
                                             "--index", "5"], 2, "not a step of generation 1"),
    "phase: an index past the generation's children": (["phase", "merge", "--state", "no-init", "--generation", "1",
                                                        "--index", "99"], 2, "not a step of generation 1"),
    "phase: a negative index": (["phase", "merge", "--state", "no-init", "--generation", "1", "--index", "-1"], 2,
                                "--index"),
    "phase: a generation past the last": (["phase", "plan", "--state", "no-init", "--generation", "9"], 2,
                                          "generations 0 to 8"),
    "phase: a given-up step that is no step name": (["phase", "select", "--state", "no-init", "--generation", "1",
                                                     "--given-up", "score-2"], 2, "not a step name: 'score-2'"),
    "run: broken yaml": (["run", "broken.yaml", "--state", "run-state"], 2, "not valid YAML"),
    "run: empty state": (["run", "--state", "empty"], 2, "holds no run"),
    "run: negative generations": (["run", str(QUICKSTART), "--generations", "-1"], 2, "--generations"),
    "run: generations past the spec's bound": (["run", str(QUICKSTART), "--generations", "2000000"], 2,
                                                "--generations"),
    "run: unknown flag": (["run", str(QUICKSTART), "--bogus"], 2, "--bogus"),
    "run: metrics port out of range": (["run", str(QUICKSTART), "--metrics-port", "70000"], 2, "port"),
    "run: workers past any machine": (["run", str(QUICKSTART), "--workers", "100000"], 2, "--workers"),
    "run: empty --state": (["run", str(QUICKSTART), "--state", ""], 2, "must not be empty"),
    "run: state is a file": (["run", str(QUICKSTART), "--state", "a-file"], 2, "not a folder"),
    "run: state holds someone's files": (["run", str(QUICKSTART), "--state", "notes"], 2, "not empty"),
    "run: missing model path": (["run", "missing-seed/run.yaml", "--state", "never-made"], 2, "no-such-model"),
    "run: missing seed tasks": (["run", "missing-tasks.yaml", "--state", "never-made"], 2, "no-such-tasks"),
    "run: seed tasks in a plain file": (["run", "file-tasks.yaml", "--state", "never-made"], 2,
                                        "a-file' is not a directory"),
    "run: missing reward model folder": (["run", "missing-reward-model.yaml", "--state", "never-made"], 2,
                                         "evaluation.rewardModel.path: "),
    "run: resume a folder that is not there": (["run", "--state", "never-made"], 2, "holds no run"),
    "validate: empty path": (["validate", ""], 2, "must not be empty"),
    "status: layout.json gone after a step": (["status", "no-layout"], 1, "layout.json: file is missing"),
    "status: a garbled layout.json": (["status", "garbled-layout"], 1, "layout.json: file is corrupt"),
    "taskforce: a garbled layout.json": (["taskforce", "garbled-layout", "--size", "2"], 1, "layout.json: file is"),
    "report: a garbled layout.json": (["report", "garbled-layout", "--output", "r.html"], 1, "layout.json: file is"),
    "status: a folder where a record belongs": (["status", "dir-record"], 1, "is a folder where a file belongs"),
    "status: a FIFO for a record": (["status", "fifo-record"], 1, "0000.json: file is not a regular file"),
    "taskforce: a FIFO for a record": (["taskforce", "fifo-record", "--size", "2"], 1, "not a regular file"),
    # damage to the state stops a run as an infrastructure fault (75), as it stops a step
    "run: a FIFO for a record (read holding the lock)": (["run", "--state", "fifo-record", "--plain", "--no-report"],
                                                         EXIT_INFRASTRUCTURE, "0000.json: file is not a regular file"),
    "serve-results: not a state folder": (["serve-results", "empty"], 2, "not an acdc state folder"),
    "report: output onto a device": (["report", "no-init", "--output", "/dev/null"], 2, "not a regular file"),
    "taskforce: output a new file inside a state folder": (["taskforce", "no-init", "--size", "2", "--output",
                                                            "no-init/archives/0002.json"], 2, "inside the run state"),
    "report: output into a new folder of a state folder": (["report", "no-init", "--output", "no-init/new/r.html"], 2,
                                                           "inside the run state"),
    "evaluate: termination log inside a state folder": (["evaluate", "no-init", "--termination-log",
                                                         "no-init/steps/log"], 2, "inside the run state"),
    "taskforce: a committed archive without a model": (["taskforce", "empty-archive", "--size", "2"], 1,
                                                        "0000.json: the committed archive of generation 0 holds no"),
    "taskforce: a size of zero": (["taskforce", "empty-archive", "--size", "0"], 2, "argument --size: must be between 1"),
    "taskforce: a negative size": (["taskforce", "--run", "r", "--size", "-2"], 2, "argument --size: must be between 1"),
    "taskforce: a negative wait": (["taskforce", "--run", "r", "--size", "2", "--wait", "-1"], 2, "--wait"),
    "status: not a state folder": (["status", "empty"], 2, "not an acdc state folder"),
    "report: no such folder": (["report", "nope"], 2, "no such state folder"),
    "taskforce: no such folder": (["taskforce", "nope", "--size", "2"], 2, "no such state folder"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_gives_one_line_and_an_exit_code(bad_inputs: Path, case: str) -> None:
    args, code, words = CASES[case]
    result = acdc(bad_inputs, *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    detail = lines[errors[0] + 1:]  # only an invalid run file adds lines: one per field, indented
    assert all(line.startswith("  ") and ": " in line for line in detail), result.stderr
    assert words in "\n".join(lines[errors[0]:]), result.stderr
    assert not (bad_inputs / "never-made").exists(), "a refused run leaves no state folder behind"


def test_control_characters_in_a_message_are_escaped_on_its_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["status", "new\nline\x1b[2J\u2028\u202etxt.exe"]) == 2
    err = capsys.readouterr().err
    assert err == "error: new\\nline\\x1b[2J\\u2028\\u202etxt.exe: no such state folder\n", err


FORGING_NAME = "new\nerror: forged\x1b[2J\u2028.yaml"


@pytest.mark.parametrize(("argv", "expected"), [
    (["validate", FORGING_NAME], f"error: {escape_controls(FORGING_NAME)}: no such file"),
    (["status", "state", FORGING_NAME],  # argparse repeats the arguments it does not recognize as typed
     f"error: acdc: unrecognized arguments: {escape_controls(FORGING_NAME)} (see `acdc -h`)"),
], ids=["validate", "argparse"])
def test_a_file_name_that_would_forge_a_line_stays_on_the_one_error_line(
        bad_inputs: Path, argv: list[str], expected: str) -> None:
    result = acdc(bad_inputs, *argv)
    assert (result.returncode, result.stderr) == (2, expected + "\n")


def test_toyworld_path_with_a_cache_root_below_a_file_is_one_line(
    bad_inputs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a world that is not the shipped one is looked up in the cache (a subprocess would
    just print the shipped world), so the recipe hash is made to differ from the shipped one."""
    monkeypatch.setattr("acdc.toyworld.store.world_hash", lambda recipe: "not-the-shipped-hash")
    assert cli_main.main(["toyworld", "path", "--cache-root", str(bad_inputs / "a-file")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "a-file" in err, err


def test_a_bad_flag_is_one_usage_line_not_a_traceback(bad_inputs: Path) -> None:
    result = acdc(bad_inputs, "operator", "--metrics-port", "99999")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: acdc operator: argument --metrics-port: not a port number (0-65535): '99999' (see `acdc operator -h`)"]
    result = acdc(bad_inputs, "operator", "--workers", "0")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "not a number of workers (1-1024): '0'" in result.stderr


def _parser_raising(exc: BaseException) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acdc")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def handler(_args: argparse.Namespace) -> int:
        raise exc

    commands.add_parser("boom").set_defaults(handler=handler)
    return parser


@pytest.mark.parametrize(("exc", "code"), [
    (UserError("bad flag"), 2),
    (StateError("state/x.json", "not valid JSON"), 1),
    (PhaseError("merge input is broken"), 1),
    (RunFailed("g0001-merge-00 failed after 3 attempts"), 1),
    (Interrupted("stopped by SIGTERM"), 130),
    (PermissionError(13, "Permission denied", "state/run.yaml"), 1),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_each_expected_failure_is_caught_once_in_main(
    exc: BaseException, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(exc, (AcdcError, OSError))
    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_raising(exc))
    assert cli_main.main(["boom"]) == code
    err = capsys.readouterr().err
    assert err == f"error: {exc}\n"


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_raising(KeyError("bug")))
    with pytest.raises(KeyError):
        cli_main.main(["boom"])


def test_a_phase_stopped_by_a_fault_writes_its_cause_to_the_termination_log(bad_inputs: Path) -> None:
    """The operator shows the cause in the run's condition (``job_outcome.fault_cause``): the same
    cause as the error line, as ``{"fault": ...}``, which no reader takes for a step record."""
    result = acdc(bad_inputs, "phase", "plan", "--state", "no-init", "--generation", "1", "--termination-log", "tl")
    assert result.returncode == EXIT_INFRASTRUCTURE, result.stderr
    cause = json.loads((bad_inputs / "tl").read_text())["fault"]
    assert "0000.json" in cause and result.stderr.endswith(f"not recorded: {cause}\n"), (cause, result.stderr)
