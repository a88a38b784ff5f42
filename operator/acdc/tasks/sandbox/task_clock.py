"""The per-item time limit, charged to what the task did rather than to what the host did.

``wall_seconds`` used to be plain wall clock, so a task process that waited for a CPU ran
out of it: on a 2-core host, three sandboxes of the pool spinning in a loop, or one spinning
in 15 threads where the kernel shares CPU per thread (a cgroup other than the root one: pods,
systemd services, CI containers), made an honest item that needed 3 s of CPU a ``timeout``
on every try, a failure that neither the task nor the model it graded caused. CI load or
the runner's other work does the same without any hostile task.

So the clock counts the task's **own time**: wall time less the time its main thread waited
on a run queue (``run_delay`` in ``/proc/PID/schedstat``, which the kernel keeps for every
thread). Running and sleeping are the task's own doing (a task that sleeps still times out
after ``wall_seconds``); waiting for a CPU is not. An item times out when its own time, or
the CPU time of all its threads (a task spinning in many threads starves its own main
thread), reaches ``wall_seconds``; a task kept waiting gets more wall time, up to
``HARD_CAP`` times ``wall_seconds`` so that a pool always ends. An item that reaches that
cap has been starved past any fair verdict (``ItemClock.starved``): it is not the task's
failure. The pool runs it again once its other sandboxes are done, alone, where no other
task can starve it; starved even then, the host is at fault and the run stops
(``SandboxPool``). A task that gave up its own priority (a nice above the runner's,
SCHED_BATCH or SCHED_IDLE, fewer CPUs, a niced autogroup: ``TaskUsage.yields``) waited by its own
doing: its timeout is its own, so it cannot stop a run by starving itself on a busy host.

Where the kernel offers no ``schedstat`` (no CONFIG_SCHED_INFO) or the task process cannot
be found, the clock is the wall clock, as before.
"""

from __future__ import annotations

import logging
import os
import time
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

HARD_CAP = 6.0
"""Wall time an item may take, in multiples of ``wall_seconds``, however long it waited for a CPU."""
_MIN_STEP = 0.05
_TICK = os.sysconf("SC_CLK_TCK")


class Usage(NamedTuple):
    """Seconds of CPU of all of a process's threads, and seconds its main thread waited for a CPU."""

    cpu: float
    waited: float


class TaskUsage:
    """Reads one task process's usage from ``/proc`` (None for none: then only wall time counts)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def sample(self) -> Usage | None:
        if self.pid is None:
            return None
        try:
            stat = _read(f"/proc/{self.pid}/stat")
            schedstat = _read(f"/proc/{self.pid}/schedstat").split()
            fields = stat[stat.rindex(b")") + 2:].split()  # the name may hold spaces and parentheses
            return Usage((int(fields[11]) + int(fields[12])) / _TICK, int(schedstat[1]) / 1e9)
        except (OSError, ValueError, IndexError):
            return None


    def yields(self) -> bool:
        """Whether the task process gave up CPU priority of its own: its main thread's nice
        above the runner's, its policy not SCHED_OTHER, its CPUs fewer than the runner's, or
        its session's autogroup niced (a task holds no CAP_SYS_NICE: it can only lower its
        priority, never raise it)."""
        if self.pid is None:
            return False
        try:
            stat = _read(f"/proc/{self.pid}/stat")
            fields = stat[stat.rindex(b")") + 2:].split()
            if (int(fields[16]) > os.getpriority(os.PRIO_PROCESS, 0) or int(fields[38]) != os.SCHED_OTHER
                    or os.sched_getaffinity(self.pid) < os.sched_getaffinity(0)):
                return True
        except (OSError, ValueError, IndexError):
            return False
        try:
            return int(_read(f"/proc/{self.pid}/autogroup").split()[-1]) > 0
        except (OSError, ValueError, IndexError):  # no autogroups here
            return False


def _read(path: str) -> bytes:
    """A small /proc file in one read: a fifth of what ``Path.read_text`` costs, twice per item."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def task_pid(reaper: int, ns_pid: int) -> int | None:
    """The host pid of a sandbox's task process: the child of bubblewrap's reaper (the
    sandbox's pid 1, host pid ``reaper``) whose pid inside the sandbox is ``ns_pid``."""
    try:
        children = Path(f"/proc/{reaper}/task/{reaper}/children").read_text().split()
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        return None
    for child in children:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == str(ns_pid):
                return int(child)
    return None


class ItemClock:
    """How long to keep waiting on a task process for one reply (or one write)."""

    def __init__(self, wall_seconds: float, usage: TaskUsage) -> None:
        self.wall = wall_seconds
        self.usage = usage
        self.started = time.monotonic()
        self.base = usage.sample()
        self.own = self.waited = 0.0

    def remaining(self) -> float:
        """Seconds to wait before asking again; 0 once the task's time is up."""
        elapsed = time.monotonic() - self.started
        if elapsed < self.wall:
            return self.wall - elapsed
        now = self.usage.sample()
        if self.base is None or now is None:
            self.own, self.waited = elapsed, 0.0
        else:
            self.waited = max(0.0, now.waited - self.base.waited)
            self.own = max(elapsed - self.waited, now.cpu - self.base.cpu)
        cap = HARD_CAP * self.wall
        if self.own >= self.wall or elapsed >= cap:
            return 0.0
        return min(max(self.wall - self.own, _MIN_STEP), cap - elapsed)

    def cpu_at_most(self) -> float | None:
        """The most CPU seconds the task process can have used by now, all items counted: its CPU
        when this clock started plus the wall time since on every CPU of the host (None: its
        usage could not be read). Its CPU once it has died cannot be read: it is reaped inside
        the sandbox."""
        if self.base is None:
            return None
        return self.base.cpu + (time.monotonic() - self.started) * (os.cpu_count() or 1)

    @cached_property
    def starved(self) -> bool:
        """Once ``remaining`` said 0: the wall-clock cap ran out before the task's own time did,
        and not because the task gave up its priority. Read from /proc once and kept, so the
        timeout's message (``expired``) and its verdict (``TaskFailed.starved``) agree."""
        return self.own < self.wall and not self.usage.yields()

    def expired(self, what: str) -> str:
        """The timeout's error line, once ``remaining`` said 0; a starved item is logged too."""
        if self.own >= self.wall:
            return f"{what} within {self.wall} s of its own time"
        if not self.starved:
            return (f"{what} within {HARD_CAP * self.wall:.0f} s (wall clock), waiting for a CPU {self.waited:.1f} s "
                    "of them at a priority it lowered itself")
        why = (f"{what} within {HARD_CAP * self.wall:.0f} s (wall clock), the host having kept it waiting "
               f"for a CPU {self.waited:.1f} s of them")
        log.warning("sandbox: a task process starved by the host: %s", why)
        return why
