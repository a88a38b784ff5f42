"""The per-item limit counts the task's own time: running and sleeping, not waiting for a CPU
that other processes hold (task_clock). Played on a scripted clock and scripted /proc samples."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from acdc.tasks.sandbox import task_clock
from acdc.tasks.sandbox.task_clock import HARD_CAP, ItemClock, TaskUsage, Usage

WALL = 10.0


class Scripted(TaskUsage):
    """A task process whose usage the test sets; ``None`` plays a host without schedstat."""

    def __init__(self) -> None:
        super().__init__(None)
        self.now: Usage | None = Usage(0.0, 0.0)

    def sample(self) -> Usage | None:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    """A monotonic clock the test moves by hand."""
    fake = SimpleNamespace(t=100.0)
    monkeypatch.setattr(task_clock, "time", SimpleNamespace(monotonic=lambda: fake.t))
    return fake


def test_a_sleeping_task_times_out_after_wall_seconds(clock) -> None:
    usage = Scripted()
    item = ItemClock(WALL, usage)
    clock.t += WALL - 1
    assert item.remaining() == pytest.approx(1.0)
    clock.t += 1
    assert item.remaining() == 0.0
    assert item.expired("no result") == "no result within 10.0 s of its own time"


def test_time_spent_waiting_for_a_cpu_is_given_back(clock) -> None:
    usage = Scripted()
    usage.now = Usage(0.0, 5.0)  # base: what the process had waited before this item
    item = ItemClock(WALL, usage)
    clock.t += WALL
    usage.now = Usage(2.0, 5.0 + 8.0)  # ran 2 s, waited 8 s for a CPU
    assert item.remaining() == pytest.approx(8.0)
    clock.t += 8.0
    usage.now = Usage(4.0, 5.0 + 14.0)
    assert item.remaining() == pytest.approx(6.0)
    clock.t += 6.0
    usage.now = Usage(6.0, 5.0 + 14.0)  # then it had its 10 s
    assert item.remaining() == 0.0
    assert "of its own time" in item.expired("no result")


def test_cpu_of_many_threads_counts_even_when_they_starve_the_main_thread(clock) -> None:
    usage = Scripted()
    item = ItemClock(WALL, usage)
    clock.t += WALL
    usage.now = Usage(WALL, 0.9 * WALL)
    assert item.remaining() == 0.0


def test_a_starved_task_ends_at_the_hard_cap_and_says_why(clock, caplog) -> None:
    usage = Scripted()
    item = ItemClock(WALL, usage)
    while (left := item.remaining()) > 0:
        clock.t += left
        elapsed = clock.t - 100.0
        usage.now = Usage(0.05 * elapsed, 0.95 * elapsed)
    assert clock.t - 100.0 == pytest.approx(HARD_CAP * WALL)
    with caplog.at_level(logging.WARNING):
        error = item.expired("no result")
    assert "waiting for a CPU" in error and "starved" in caplog.text


def test_without_usage_the_wall_clock_decides(clock) -> None:
    usage = Scripted()
    usage.now = None
    item = ItemClock(WALL, usage)
    clock.t += WALL
    assert item.remaining() == 0.0


def test_the_usage_of_a_process_is_read_from_proc() -> None:
    import os

    first = TaskUsage(os.getpid()).sample()
    assert first is not None and first.cpu >= 0 and first.waited >= 0
    assert TaskUsage(None).sample() is None


def test_the_clock_reads_the_sandboxed_task_process() -> None:
    """The parent finds the task process inside bubblewrap (not bwrap or its reaper), else the
    limit would silently be the wall clock again."""
    import os

    from acdc.tasks.sandbox import SandboxPool

    if not os.path.exists("/proc/self/schedstat"):
        pytest.skip("this kernel keeps no schedstat: the wall clock is the limit here")
    with SandboxPool(workers=1) as pool:
        process = pool._spawn(0)
        try:
            assert process.usage.sample() is not None
            with open(f"/proc/{process.usage.pid}/status") as status:
                assert status.readline().split()[1].startswith("python")  # Name:, not bwrap
        finally:
            process.kill()


@pytest.mark.parametrize("command", [["nice", "-n", "5"], ["chrt", "--idle", "0"], ["taskset", "-c", "0"]],
                         ids=["nice", "sched_idle", "one_cpu"])
def test_a_process_that_lowered_its_own_priority_is_seen_to(command: list[str]) -> None:
    """A task that waits for a CPU because it niced itself (or took SCHED_IDLE) starved itself:
    its timeout is its own, or it could stop every run on a busy host."""
    import os
    import shutil
    import subprocess

    if shutil.which(command[0]) is None:
        pytest.skip(f"no {command[0]} here")
    if command[0] == "taskset" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: no fewer to pin to")
    plain = subprocess.Popen(["sleep", "60"])
    lowered = subprocess.Popen([*command, "sleep", "60"])
    try:
        for child in (plain, lowered):  # until the wrapper has exec'd sleep (its name in stat)
            while b"(sleep)" not in Path(f"/proc/{child.pid}/stat").read_bytes():
                os.sched_yield()
        assert not TaskUsage(plain.pid).yields() and not TaskUsage(os.getpid()).yields()
        assert TaskUsage(lowered.pid).yields()
    finally:
        for child in (plain, lowered):
            child.kill()
            child.wait()
