"""Phase and grading logs carry no library progress bars (phases/execute.quiet_libraries)."""

from __future__ import annotations

import io
import multiprocessing
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from tqdm.std import tqdm

from acdc.phases.execute import quiet_libraries
from tests.progress import run_progressing


def test_a_bar_asked_for_explicitly_still_draws_nothing() -> None:
    quiet_libraries()
    quiet_libraries()  # twice is the same as once
    out = io.StringIO()
    for _ in tqdm(range(50), disable=False, file=out, desc="Running generate_until requests"):
        pass
    assert out.getvalue() == ""


def draw_then_wait(conn: Connection) -> None:
    """A runner worker in small: quiet bars, one drawn (lm-eval and transformers draw theirs
    in every phase), then blocked until it is killed."""
    quiet_libraries()
    for _ in tqdm(range(3)):
        pass
    conn.send("drawn")
    conn.recv()


def kill_a_worker_that_drew_a_bar() -> None:
    """What `acdc run` does on Ctrl-C: its spawned workers are SIGKILLed mid-step, then it exits."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    worker = context.Process(target=draw_then_wait, args=(child,), daemon=True)
    worker.start()
    assert parent.recv() == "drawn"
    worker.kill()
    worker.join()


def test_a_worker_killed_after_a_bar_leaks_no_semaphore() -> None:
    """tqdm's default lock is a multiprocessing RLock: a POSIX semaphore, which a killed worker
    never released, so the resource tracker warned of leaked semaphores when `acdc run` ended."""
    script = "from tests.phases.test_quiet_libraries import kill_a_worker_that_drew_a_bar as k; k()"
    outcome = run_progressing([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert "leaked semaphore" not in outcome.stderr, outcome.stderr[-2000:]
