"""mypy over the whole package at the configured strictness ([tool.mypy] in pyproject.toml).

Part of the suite, so CI (`make test`) fails on a type error as `make lint` does. The cache
lives in the virtualenv: a warm run checks only what changed (seconds); a clean clone pays
one full run (under a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_mypy_finds_no_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(Path(sys.prefix) / ".mypy_cache"), "--no-color-output", "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"mypy reports:\n{result.stdout}{result.stderr}"
