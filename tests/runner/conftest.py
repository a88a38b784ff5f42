"""A small toy-world run shared by the local-runner tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.progress import StallWatch, folder_fingerprint, run_progressing, tree_cpu_seconds
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (pytest fixture)

MINI = {
    "apiVersion": "acdc.dev/v1alpha1",
    "kind": "CoevolutionRun",
    "metadata": {"name": "mini"},
    "spec": {
        "seed": 1,
        "models": {"base": {"toyworld": "base"},
                   "seeds": [{"toyworld": "arithmetic"}, {"toyworld": "strings"}, {"toyworld": "lists"}]},
        "population": {"size": 4, "childrenPerGeneration": 2, "generations": 2, "initialSize": 5},
        "crossover": {"method": "linear", "weightStd": 0.3},
        "mutation": {"method": "svd", "rate": 0.02, "keepRank": 16},
        "tasks": {"seedTasks": "builtin:toyworld", "initialPoolSize": 12, "maxPoolSize": 12,
                  "adaptationInterval": 2, "newTasksPerAdaptation": 4, "instancesPerTask": 2,
                  "novelty": {"llmCheck": False, "similarityThreshold": 0.97}},
        "scientist": {"kind": "procedural"},
        "embedding": {"kind": "features"},
        "inference": {"backend": "transformers", "maxTokens": 16, "promptStyle": "plain"},
        "sandbox": {"timeoutSeconds": 10, "workers": 1},
        "retention": {"keepEveryNthGeneration": 0, "cleanupInterval": 1},
        # A benchmark step in generation 2's DAG (the smallest that exercises it: one model, 6 documents).
        "evaluation": {"everyGenerations": 2, "benchmarks": [{"task": "acdc_toyworld", "limit": 6}],
                       "taskForceSizes": [1], "selections": ["taskforce"]},
    },
}


@pytest.fixture
def mini_run(tmp_path: Path, toy_world: Path) -> Path:  # noqa: F811 (fixture)
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(MINI))
    return path


def acdc_run(*args: str, report: bool = False) -> subprocess.CompletedProcess[str]:
    """`acdc run` as a user runs it; the report (and its held-out grading) only when asked.

    Bounded by progress (tests.progress), not by a deadline: on two busy cores a healthy run
    can take many times longer than on an idle machine.
    """
    flags = ["--plain", "--workers", "2"] + ([] if report else ["--no-report"])
    state = [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg == "--state"]
    return run_progressing([sys.executable, "-m", "acdc.cli.main", "run", *args, *flags], watch=state)


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_orphan_runs():
    """A failed test must not leave an `acdc run` (and its workers) burning CPU behind it."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            kill_group(process, signal.SIGKILL)


def start_run(*args: str, log: Path | None = None) -> subprocess.Popen[str]:
    """Start `acdc run` in its own process group; output goes to ``log`` (a pipe could fill up)."""
    sink = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed by the child's exit)
    process = subprocess.Popen([sys.executable, "-m", "acdc.cli.main", "run", *args, "--plain", "--workers", "2"],
                               stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _STARTED.append(process)
    return process


def wait_for_steps(state: Path, count: int, process: subprocess.Popen[str], names: str = "g*") -> None:
    """Block until ``count`` step records (named like ``names``) exist; fail if the process ends or stalls first."""
    watcher = StallWatch(lambda: tree_cpu_seconds(process.pid), lambda: folder_fingerprint([state]))
    while process.poll() is None and watcher.moved():
        steps = state / "steps"
        if steps.is_dir() and len(list(steps.glob(f"{names}.json"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"run ended or stalled before {count} steps (rc={process.poll()})")


def kill_group(process: subprocess.Popen[str], sig: int) -> None:
    os.killpg(process.pid, sig)
    process.wait()


@pytest.fixture(scope="session")
def finished_state(tmp_path_factory: pytest.TempPathFactory, toy_world: Path) -> Path:  # noqa: F811 (fixture)
    """The state folder of one completed MINI run (with its report), shared by every module
    that inspects a finished run: built once per session, bounded by progress."""
    folder = tmp_path_factory.mktemp("inspect")
    run_file = folder / "mini.yaml"
    run_file.write_text(yaml.safe_dump(MINI))
    result = acdc_run(str(run_file), "--state", str(folder / "state"), report=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "state"


def final_state(state: Path) -> dict[str, str]:
    """Every record that defines the run's outcome, with the state path normalised away."""
    files = sorted([*state.glob("archives/*.json"), *state.glob("pools/*.json"),
                    *state.glob("generations/*/*.json"), *state.glob("generations/*/scores/*.json"),
                    *state.glob("generations/*/rescores/*.json")])
    return {str(p.relative_to(state)): p.read_text().replace(str(state), "<state>") for p in files}


@pytest.fixture(scope="session")
def reference(finished_state: Path) -> dict[str, str]:
    """The uninterrupted MINI run's outcome: what kills, full disks and damage are compared with."""
    return final_state(finished_state)
