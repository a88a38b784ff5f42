"""Run Debian's promtool on rule files, as the observability tests need it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.progress import run_progressing

METRIC_NAME = re.compile(r"\bacdc_[a-z0-9_]+\b")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: apt-get install -y --no-install-recommends prometheus")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = run_progressing([promtool(), *args])
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    return path


def metric_names(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))
