"""hack/loaded-test.sh: its loaders run during every `make test` and
are gone afterwards, whether the runs pass or fail.

The suite itself is not run here (that is the script's job, on a machine free for it): a
fake `make` on PATH records what it was asked and which processes the script had started
beside it, and passes or fails as told.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil

from tests.progress import run_progressing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "loaded-test.sh"
FAKE_MAKE = """#!/bin/sh
echo "$@" >> "$FAKE_DIR/make-args"
ps -o pid= --ppid "$PPID" >> "$FAKE_DIR/siblings"
if [ -e "$FAKE_DIR/fail" ]; then echo "1 failed, 2 passed in 0.10s"; exit 1; fi
echo "3 passed in 0.10s"
"""


def run_script(tmp_path: Path, *args: str, fail: bool = False):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    if fail:
        (tmp_path / "fail").touch()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path), "LOADERS": "2",
           "LOG_DIR": str(tmp_path / "logs"), "PYTEST_ARGS": "-k demo"}
    result = run_progressing(["bash", str(SCRIPT), *args], env=env, cwd=ROOT)
    found = re.search(r"\(pids ([0-9 ]+)\)", result.stdout)
    assert found, result.stdout + result.stderr
    return result, [int(pid) for pid in found[1].split()]


def assert_stopped(pids: list[int]) -> None:
    for pid in pids:
        if psutil.pid_exists(pid):  # a recycled pid would not be our loader's child of bash
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE or \
                   psutil.Process(pid).name() not in ("yes", "stress-ng"), f"loader {pid} still runs"


def test_every_run_is_loaded_and_reported_and_the_loaders_stop(tmp_path: Path) -> None:
    result, pids = run_script(tmp_path, "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "make-args").read_text().splitlines() == ["test PYTEST_ARGS=-k demo"] * 2
    siblings = {int(pid) for pid in (tmp_path / "siblings").read_text().split()}
    assert len(pids) >= 1 and set(pids) <= siblings  # the loaders ran beside make
    assert re.findall(r"^run (\d)/2: passed in \dm\d\ds  3 passed", result.stdout, re.MULTILINE) == ["1", "2"]
    assert "2 of 2 runs passed under load" in result.stdout
    assert_stopped(pids)


def test_a_failed_run_fails_the_script_and_still_stops_the_loaders(tmp_path: Path) -> None:
    result, pids = run_script(tmp_path, fail=True)
    assert result.returncode == 1
    assert result.stdout.count("FAILED in") == 3 and "0 of 3 runs passed" in result.stdout
    assert_stopped(pids)


def test_a_bad_run_count_is_one_line(tmp_path: Path) -> None:
    result = run_progressing(["bash", str(SCRIPT), "three"], cwd=ROOT)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "RUNS" in result.stderr
