"""hack/smoke-test.sh: its flow checked against a scripted cluster.

No cluster can run here; the script is run with kubectl, helm and curl replaced by
tests/chart/fake_cluster_cli.py, which plays a cluster whose quickstart run finished (or
failed). What the script applies must be a valid CoevolutionRun, and its assertions must pass
on a good run and fail on a bad one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from acdc.spec import load_run
from tests.progress import run_progressing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "smoke-test.sh"
FAKE = Path(__file__).with_name("fake_cluster_cli.py")

GOOD = {"metadata": {"name": "quickstart"},
        "status": {"phase": "Succeeded", "generation": 1, "completionTime": "2026-11-30T00:00:00Z",
                   "archive": {"size": 4, "bestFitness": 0.4, "coverage": 0.9}},
        "jobPhases": ["init", "tasks", "plan", "merge", "evaluate", "score", "select"]}


def run_script(tmp_path: Path, run: dict, *args: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("kubectl", "helm", "curl"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} {name} "$@"\n')
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_RUN": json.dumps(run),
           "FAKE_LOG": str(tmp_path / "calls.log"), "FAKE_APPLIED": str(tmp_path / "applied.yaml"),
           "WORKER_IMAGE": "registry.example.com/me/acdc-worker:dev", "STORAGE_CLASS": "standard"}
    return run_progressing(["bash", str(SCRIPT), *args], env=env, cwd=ROOT)


def test_a_finished_quickstart_passes_and_what_it_applied_is_a_valid_run(tmp_path: Path) -> None:
    result = run_script(tmp_path, GOOD)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PASS: run quickstart succeeded" in result.stdout
    run = load_run(tmp_path / "applied.yaml")
    assert run.spec.images.worker == "registry.example.com/me/acdc-worker:dev"
    assert run.spec.population.generations == 1 and run.spec.storage.access_modes == ["ReadWriteOnce"]
    assert run.spec.storage.storage_class_name == "standard"
    assert all(getattr(run.spec.resources, phase).gpus == 0 for phase in ("merge", "evaluate"))
    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert ["helm", "uninstall", "acdc", "-n", "acdc-system"] in calls, "cleans up after itself"


@pytest.mark.parametrize(("change", "message"), [
    ({"status": {**GOOD["status"], "phase": "Failed", "lastError": "merge failed"}}, "the run failed"),
    ({"status": {**GOOD["status"], "archive": {"size": 0}}}, "status.archive.size is 0"),
    ({"jobPhases": ["init", "plan"]}, "no tasks Job was seen"),
])
def test_a_bad_run_fails_the_smoke_test(tmp_path: Path, change: dict, message: str) -> None:
    result = run_script(tmp_path, {**GOOD, **change})
    assert result.returncode == 1 and message in result.stderr, result.stdout[-1000:] + result.stderr[-1000:]
