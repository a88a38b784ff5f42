"""A small pool of long-lived worker processes that execute phase steps.

Why not ProcessPoolExecutor: one crashed worker (an OOM kill during a merge) breaks the
whole executor, and it cannot kill a running task. Here each worker is a spawned process
with its own pipe; a crash fails only the step it was running, and ``kill_all`` stops
everything at once (Ctrl-C). Workers import torch once and keep it, so a step pays no
interpreter start. Workers die with the runner (PR_SET_PDEATHSIG), so a SIGKILLed runner
leaves no orphan writing into the state folder while a resumed runner starts.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from acdc.errors import AcdcError
from acdc.logsafe import configure_logging
from acdc.phases.faults import Fault
from acdc.steps import Step, StepRecord

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the lock file still prevents two runners on one state
        pass


def pin_threads(threads: int) -> None:
    """Give this worker process ``threads`` torch/BLAS threads (call before any heavy work).

    Several workers share the machine's cores; torch's default (one thread per core in
    every process) oversubscribes them: grading one toy model took 50-110 s that way and
    7-11 s single-threaded under the same load.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _left_to_the_runner(_signum: int, _frame: object) -> None:
    """A worker's Ctrl-C / SIGTERM handler: the runner, which gets the same signal, stops the run."""


def _worker_log_level() -> int:
    """What a worker logs: everything when the runner debugs (`acdc -v run`), else warnings and
    errors. A step's INFO lines (each rejected task) would scroll through the runner's live
    table; `acdc phase` and the Kubernetes Jobs log them."""
    return logging.DEBUG if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.WARNING


def _worker_main(conn: Connection, state: str, threads: int, log_level: int) -> None:
    """Worker loop: receive a step name, execute it, send back ('ok', record) or
    ('error', (fault, text)); the fault is classified here, where the exception's type is known."""
    _die_with_parent()
    configure_logging(log_level)  # a spawned process starts unconfigured: untrusted text would go out raw
    # The runner decides what Ctrl-C and SIGTERM mean (stop, kill the workers, exit 130). A
    # signal to the whole process group (a terminal, timeout, systemd) reaches the workers too;
    # one that died of it read as a lost worker (exit 75). A handler that does nothing, not
    # SIG_IGN: exec resets a handler, while an ignored signal stays ignored in every program a
    # step starts. The workers stay in the group, so job control (Ctrl-Z, SIGSTOP) holds them too.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _left_to_the_runner)
    pin_threads(threads)
    from acdc.phases.execute import execute
    from acdc.phases.faults import classify

    while True:
        try:
            name = conn.recv()
        except EOFError:
            return
        try:
            record = execute(Path(state), Step.parse(name))
            conn.send(("ok", record.to_dict()))
        except BaseException as exc:  # report everything: the runner decides about retries
            detail = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AcdcError):  # an expected failure's message says it all
                detail += "\n" + traceback.format_exc(limit=8)
            conn.send(("error", (classify(exc).value, detail)))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    step: Step | None = None


@dataclass(frozen=True)
class Outcome:
    step: Step
    record: StepRecord | None
    error: str | None
    fault: Fault | None = None


class WorkerPool:
    def __init__(self, state: Path, size: int, threads_per_worker: int) -> None:
        self._state = str(state)
        self._threads = threads_per_worker
        self._ctx = mp.get_context("spawn")
        self._workers = [self._spawn() for _ in range(size)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, daemon=True,
                                    args=(child, self._state, self._threads, _worker_log_level()))
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def idle(self) -> int:
        return sum(1 for w in self._workers if w.step is None)

    @property
    def running(self) -> list[Step]:
        return [w.step for w in self._workers if w.step is not None]

    def submit(self, step: Step) -> None:
        worker = next(w for w in self._workers if w.step is None)
        if not worker.process.is_alive():  # died while idle (OOM killer): nothing was lost, start afresh
            self._replace(worker)
        worker.step = step
        worker.conn.send(step.name)

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Block until at least one running step ends (or timeout); return what ended."""
        busy = [w for w in self._workers if w.step is not None]
        if not busy:
            return []
        handles = {w.conn: w for w in busy} | {w.process.sentinel: w for w in busy}
        outcomes = []
        for handle in wait(list(handles), timeout):
            worker = handles[handle]
            if worker.step is None:
                continue
            step, worker.step = worker.step, None
            message = self._receive(worker) if handle is worker.conn else None
            if message is not None:
                kind, payload = message
                if kind == "ok":
                    outcomes.append(Outcome(step, StepRecord.from_dict(payload), None))
                else:
                    fault, detail = payload
                    outcomes.append(Outcome(step, None, detail, Fault(fault)))
            else:  # the process died mid-step (OOM killer, segfault): not the step's subject's fault
                code = worker.process.exitcode
                self._replace(worker)
                outcomes.append(Outcome(step, None, f"worker process died (exit code {code})", Fault.INFRASTRUCTURE))
        return outcomes

    @staticmethod
    def _receive(worker: _Worker) -> Any:
        """The worker's reply, or None when its end of the pipe closed (it died: EOF reads as readable)."""
        try:
            return worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):
            return None

    def _replace(self, worker: _Worker) -> None:
        worker.process.join(timeout=1)
        fresh = self._spawn()
        worker.process, worker.conn = fresh.process, fresh.conn

    def cancel(self, step: Step) -> None:
        """Kill the worker running ``step`` (past its deadline) and start a fresh one in its place.
        A step that finished just before is not lost: its phase saved its record itself."""
        worker = next(w for w in self._workers if w.step == step)
        worker.process.kill()
        worker.step = None
        self._replace(worker)

    def kill_all(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self._workers:
            worker.process.join(timeout=5)
            worker.step = None

    def close(self) -> None:
        for worker in self._workers:
            worker.conn.close()
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
