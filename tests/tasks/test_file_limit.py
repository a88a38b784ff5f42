"""spec.sandbox.maxFileKib reaches the task process in KiB (it used to be rounded down to
whole MiB, and up to 1 MiB below that: `maxFileKib: 100` let a task write a 1 MiB file)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from acdc.phases.params import sandbox_limits
from acdc.spec import parse_run
from acdc.tasks.sandbox import SandboxLimits, SandboxPool, ScoreItem

from .conftest import FAST_LIMITS, make_task

ROOT = Path(__file__).resolve().parents[2]

WRITE_150_KIB = """
try:
    with open("out.bin", "wb") as f:
        f.write(b"x" * 150 * 1024)
except OSError:
    return 0.0
return 1.0
"""


@pytest.mark.parametrize(("kib", "expected"), [(100, 100 * 1024), (1536, 1536 * 1024), (0, 0)])
def test_the_spec_value_is_the_rlimit_in_kib(kib: int, expected: int) -> None:
    run = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    run["spec"].setdefault("sandbox", {})["maxFileKib"] = kib
    limits = sandbox_limits(parse_run(run).spec)
    assert limits.file_kib == kib and limits.for_task_process()["file_bytes"] == expected


@pytest.mark.parametrize(("kib", "score"), [(100, 0.0), (1024, 1.0)])
def test_a_task_cannot_write_past_the_limit(tmp_path: Path, kib: int, score: float) -> None:
    task = make_task(tmp_path, f"writer_{kib}", WRITE_150_KIB)
    limits: SandboxLimits = replace(FAST_LIMITS, file_kib=kib)
    with SandboxPool(workers=1, limits=limits) as pool:
        [result] = pool.score([ScoreItem(task, {"x": 1}, "any")])
    assert result.score == score, result


HOST_BELOW_THE_LIMIT = """
import resource, sys
from pathlib import Path
from acdc.errors import InfrastructureFault
from acdc.tasks.sandbox import SandboxLimits, SandboxPool, ScoreItem

resource.setrlimit(resource.RLIMIT_FSIZE, (200 << 10, 200 << 10))  # `ulimit -f 200` before `acdc run`
try:
    with SandboxPool(workers=1, limits=SandboxLimits(wall_seconds=5, cpu_seconds=5, file_kib=1024)) as pool:
        [result] = pool.score([ScoreItem(Path(sys.argv[1]), {"x": 1}, "any")])
    print("scored", result.score, result.kind)
except InfrastructureFault as fault:
    print("fault", fault)
"""


def test_a_host_hard_limit_below_the_sandbox_limit_is_an_infrastructure_fault(tmp_path: Path) -> None:
    """Every task process died setting its RLIMIT_FSIZE above the host's hard limit, before the
    task ran: each task read as broken (scored null, rejected by the tasks step) for a limit of
    the machine. Now the pool refuses to start, naming the limit (exit 75 from a step)."""
    task = make_task(tmp_path, "fine", "return 1.0")
    done = subprocess.run([sys.executable, "-c", HOST_BELOW_THE_LIMIT, str(task)], capture_output=True, text=True,
                          check=False)
    assert done.stdout.startswith("fault") and "RLIMIT_FSIZE" in done.stdout, done.stdout + done.stderr[-2000:]
