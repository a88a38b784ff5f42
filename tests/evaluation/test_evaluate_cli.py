"""`acdc evaluate` user mistakes: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.runner.finished_run import acdc


def test_missing_state_folder(tmp_path: Path) -> None:
    outcome = acdc("evaluate", str(tmp_path / "nowhere"))
    assert outcome.returncode == 2
    assert outcome.stderr.strip().splitlines() == [f"error: {tmp_path / 'nowhere'}: no such state folder"]


def test_bad_thread_count(tmp_path: Path) -> None:
    outcome = acdc("evaluate", str(tmp_path), "--threads", "0")
    assert outcome.returncode == 2 and "Traceback" not in outcome.stderr
    assert outcome.stderr.strip().splitlines()[-1].startswith("error: ")
