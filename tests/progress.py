"""Wait on slow work by its progress, never by the clock.

CI runs the suite on two busy cores, where a step that takes ten seconds idle can take
minutes; a fixed deadline then fails a healthy test. A wait here fails only when the work
has *stalled*: for ``STALL_S`` seconds it neither used ``MIN_CPU_S`` of CPU (its process
tree) nor wrote output nor changed a watched folder. A hang (a deadlock, a lost child, a
read that never returns) uses no CPU and is caught; slow-but-working never is.

Work that runs in a thread of the test process (the controller tests' kubelet stand-in
plays each Job's phase in a worker thread) is counted by ``counted_work`` per thread, never
by the whole process: an operator thread idling through resyncs beside it is not progress.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

STALL_S = 300.0
MIN_CPU_S = 5.0  # idle polling loops use well under 1 s per STALL_S; real work uses more
POLL_S = 0.2


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (reaped children count in cutime)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def folder_fingerprint(folders: Iterable[Path]) -> tuple[int, int]:
    """(files, newest mtime) under the folders: changes whenever work is committed there."""
    count, newest = 0, 0
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(root, name)).st_mtime_ns)
                    count += 1
    return count, newest


class StallWatch:
    """Tracks whether work moved: ``moved()`` is False once it has been still for ``stall_s``."""

    def __init__(self, cpu: Callable[[], float], marks: Callable[[], Any] = lambda: None,
                 stall_s: float = STALL_S, min_cpu_s: float = MIN_CPU_S) -> None:
        self._cpu, self._marks, self.stall_s, self._min_cpu = cpu, marks, stall_s, min_cpu_s
        self._since, self._cpu_then, self._marks_then = time.monotonic(), cpu(), marks()

    def moved(self) -> bool:
        now, cpu, marks = time.monotonic(), self._cpu(), self._marks()
        if marks != self._marks_then or cpu - self._cpu_then >= self._min_cpu:
            self._since, self._cpu_then, self._marks_then = now, cpu, marks
        return now - self._since < self.stall_s


def run_progressing(argv: Sequence[str], *, watch: Sequence[Path] = (), env: dict[str, str] | None = None,
                    cwd: Path | None = None, stall_s: float = STALL_S,
                    stdin_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` bounded by progress: kills the process group and fails if it stalls."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryFile("w+") as stdin:
        stdin.write(stdin_text or "")
        stdin.seek(0)
        process = subprocess.Popen(list(argv), stdin=stdin, stdout=out, stderr=err, text=True, env=env, cwd=cwd,
                                   start_new_session=True)
        files = (out, err)
        watcher = StallWatch(lambda: tree_cpu_seconds(process.pid),
                             lambda: (*(os.fstat(f.fileno()).st_size for f in files), folder_fingerprint(watch)),
                             stall_s=stall_s)
        try:
            while process.poll() is None:
                if not watcher.moved():
                    raise AssertionError(f"{argv[:4]} stalled: no CPU, output or file progress for {stall_s:.0f} s")
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(list(argv), process.returncode, out.read(), err.read())


def wait_progressing(process: subprocess.Popen[Any], *, watch: Sequence[Path] = (), stall_s: float = STALL_S) -> int:
    """``process.wait()`` bounded by progress (its CPU and the watched folders)."""
    watcher = StallWatch(lambda: tree_cpu_seconds(process.pid), lambda: folder_fingerprint(watch), stall_s=stall_s)
    while process.poll() is None:
        if not watcher.moved():
            raise AssertionError(f"pid {process.pid} stalled: no CPU or file progress for {stall_s:.0f} s")
        time.sleep(POLL_S)
    return process.returncode


_work_done_s = 0.0
_work_live: dict[int, tuple[int, float]] = {}  # thread ident -> (its CPU clock, its CPU at the start)
_work_lock = threading.Lock()


@contextlib.contextmanager
def counted_work() -> Iterator[None]:
    """Count the CPU this thread uses inside the block as progress (``work_cpu_seconds``).

    For work run in a thread of the test process (a phase the kubelet stand-in plays): the
    process's own CPU would also count an operator thread that idles through resyncs, so a
    hung run would look busy forever. Only the threads doing the run's work count."""
    global _work_done_s
    ident = threading.get_ident()
    clock = time.pthread_getcpuclockid(ident)
    with _work_lock:
        _work_live[ident] = (clock, time.clock_gettime(clock))
    try:
        yield
    finally:
        with _work_lock:
            _, start = _work_live.pop(ident)
            _work_done_s += time.clock_gettime(clock) - start


def work_cpu_seconds() -> float:
    """CPU used so far inside ``counted_work`` blocks, finished and running."""
    with _work_lock:
        total = _work_done_s
        for clock, start in _work_live.values():
            with contextlib.suppress(OSError):
                total += time.clock_gettime(clock) - start
    return total
