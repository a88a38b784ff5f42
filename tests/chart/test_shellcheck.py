"""Every script under hack/ is ShellCheck-clean (users run them on their own machines and clusters)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.progress import run_progressing

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "hack").glob("*.sh"))


def test_the_hack_scripts_are_found() -> None:
    assert {p.name for p in SCRIPTS} >= {"smoke-test.sh", "loaded-test.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_shellcheck_clean(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = run_progressing([shellcheck, str(script)])
    assert result.returncode == 0, result.stdout
