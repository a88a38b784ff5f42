"""One lock per state folder, outside it: `acdc run` exclusive, `acdc phase` shared."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from acdc.errors import EXIT_INFRASTRUCTURE, StateBusy
from acdc.runner.lock import StateLock, lock_paths, runner_active
from tests.progress import run_progressing, wait_progressing
from tests.runner.conftest import acdc_run, start_run, wait_for_steps


def test_phases_share_the_lock_and_a_runner_excludes_them(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with (StateLock(state, shared=True), StateLock(state, shared=True),
          pytest.raises(StateBusy, match="in use by another acdc command")):
        StateLock(state).__enter__()
    with StateLock(state):
        assert runner_active(state)
        with pytest.raises(StateBusy, match=r"in use by another `acdc run` \(pid \d+\)"):
            StateLock(state, shared=True).__enter__()
    assert not runner_active(state)


def test_the_lock_survives_the_folder_being_deleted_and_recreated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with StateLock(state):
        assert not lock_paths(state)[0].is_relative_to(state)
        shutil.rmtree(state)
        state.mkdir()
        with pytest.raises(StateBusy, match="in use"):
            StateLock(state).__enter__()


def test_an_unusable_sibling_falls_back_to_a_machine_wide_lock(tmp_path: Path, monkeypatch) -> None:
    """A parent where no lock file can be made (here: the name is taken by a folder; in a pod: a
    read-only root above the volume) still gets a lock every process on the machine agrees on."""
    monkeypatch.setattr("acdc.runner.lock.FALLBACK_DIR", tmp_path / "locks")
    state = tmp_path / "state"
    lock_paths(state)[0].mkdir(parents=True)
    with StateLock(state):
        assert lock_paths(state)[1].parent == tmp_path / "locks" and lock_paths(state)[1].is_file()
        with pytest.raises(StateBusy, match="in use"):
            StateLock(state, shared=True).__enter__()


def test_phase_beside_a_live_run_and_a_recreated_folder_are_refused(mini_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    live = start_run(str(mini_run), "--state", str(state), log=tmp_path / "live.log")
    wait_for_steps(state, 1, live)
    os.killpg(live.pid, signal.SIGSTOP)  # frozen, it still holds its lock: no race with its own exit
    phase = run_progressing([sys.executable, "-m", "acdc.cli.main", "phase", "plan", "--state", str(state),
                            "--generation", "0"])
    # Refused entry is not the step's fault: the infrastructure exit code, so no executor drops it.
    assert phase.returncode == EXIT_INFRASTRUCTURE and "in use by another `acdc run`" in phase.stderr, phase.stderr
    assert len(phase.stderr.strip().splitlines()) == 1, phase.stderr
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(exist_ok=True)
    second = acdc_run(str(mini_run), "--state", str(state))
    assert second.returncode == 2 and "in use by another" in second.stderr, second.stderr[-2000:]
    os.killpg(live.pid, signal.SIGCONT)
    assert wait_progressing(live) == EXIT_INFRASTRUCTURE  # the live run notices and stops, dropping nothing
    log = (tmp_path / "live.log").read_text()
    assert "Traceback" not in log, log[-3000:]
