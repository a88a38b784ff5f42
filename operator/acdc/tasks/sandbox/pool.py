"""The trusted side of the sandbox: batched requests served by sandboxed task processes.

Two operations, both batched, and neither ever imports task.py in this process:
``materialize`` runs get_tasks + get_instructions, ``score`` runs score() on answers.
Items are grouped by task and each group runs in its own sandboxed task process
(``process.TaskProcess``), several groups at a time (one thread per slot). Results are
filled in by the parent at the indexes it chose; a task process that fails, stalls or
breaks the protocol costs only its own current item, is killed, and its remaining items
run in a fresh process: no task can touch another task's result.

An item the host kept waiting for a CPU until the wall-clock cap ran out (``task_clock``)
is no failure of its task's: other sandboxes of the pool (a hostile task spinning in many
threads) or other work on the host starved it. It runs again once every group is done,
alone, where no other sandbox competes for the CPU; starved even then, the host cannot give
the task its time, an ``InfrastructureFault`` that stops the run (it resumes later).
"""

from __future__ import annotations

import compileall
import ctypes
import fcntl
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from acdc.errors import InfrastructureFault, StateError, UserError
from acdc.tasks.format import read_code
from acdc.tasks.sandbox.confinement import Confinement, choose
from acdc.tasks.sandbox.folders import make_pool_folder, remove_tree, sweep_orphans
from acdc.tasks.sandbox.limits import SandboxLimits
from acdc.tasks.sandbox.process import JudgeFn, TaskFailed, TaskProcess, bounded_score, failure_of
from acdc.tasks.sandbox.results import Instance, Materialized, ScoreResult

log = logging.getLogger(__name__)

DEFAULT_UID_BASE = 61000
UID_BLOCK = 64  # uids per pool; pools on one host claim disjoint blocks
UID_BLOCKS = 64
RUNTIME_DIR = Path(__file__).with_name("runtime")
_RUNTIME_FILES = ("task_process.py", "acdc_sandbox.py", "sandbox_eval_helper.py")
_LOCK_DIR = Path(tempfile.gettempdir()) / "acdc-sandbox-uids"
_PR_SET_DUMPABLE = 4
_MAX_ID_CHARS = 256


def claim_uid_block(uid_base: int, size: int) -> tuple[int, Any]:
    """A block of uids no other live pool on this host uses, and the lock that holds it.

    Each slot's task processes run under their own uid, so RLIMIT_NPROC counts only that
    slot's processes; two pools sharing uids would share those counts. The flock is
    released by the kernel when the process dies, so a crash frees its block.
    """
    if size > UID_BLOCK:
        raise UserError(f"at most {UID_BLOCK} sandbox workers per pool, got {size}")
    _LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    for block in range(UID_BLOCKS):
        handle = open(_LOCK_DIR / f"{uid_base}-{block}.lock", "w")  # noqa: SIM115 (held for the pool's life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return uid_base + block * UID_BLOCK, handle
    raise InfrastructureFault(f"all {UID_BLOCKS} sandbox uid blocks are in use on this host")


def install_runtime(base_dir: Path) -> Path:
    """Copy the stdlib-only runtime into a read-only lib dir (bound at /acdc in the sandbox),
    with its bytecode: the sandbox's interpreter is the base of this one, so it is valid there."""
    lib = base_dir / "lib"
    lib.mkdir(mode=0o755)
    for name in _RUNTIME_FILES:
        shutil.copyfile(RUNTIME_DIR / name, lib / name)
        (lib / name).chmod(0o444)
    compileall.compile_dir(lib, quiet=1)  # each task process starts with them: skip compiling
    lib.chmod(0o555)
    return lib


def make_undumpable() -> None:
    """PR_SET_DUMPABLE 0: processes of the same uid cannot ptrace this one or read its
    /proc entries (environ, fds, memory); the sandbox already hides them, this covers the
    unconfined mode and anything else the runner's uid runs."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


class ScoreItem(NamedTuple):
    """One answer to grade: the task folder, the instance's data, the model's answer."""

    task_dir: Path
    instance_data: Any
    answer: str


class _Group(NamedTuple):
    """One task's source and the (result index, data, answer) entries to run in one process."""

    source: str
    entries: list[tuple[int, Any, str]]


class SandboxPool:
    """Runs task code in sandboxed processes; use as a context manager.

    ``workers`` sandboxes run at once (default: twice the CPU count, because starting one
    mostly waits on the kernel: namespaces, mounts, the interpreter's start-up reads).
    ``judge`` answers eval_with_llm_judge calls relayed from task code (None: every judge
    call gets no verdict, which the helper reads as a fail). ``uid_base`` + slot is the
    unprivileged uid each slot's task processes drop to when this process is root.
    ``unsafe`` runs task code without OS confinement where bubblewrap cannot start
    (otherwise the pool refuses with a UserError).
    """

    def __init__(self, workers: int | None = None, limits: SandboxLimits | None = None,
                 judge: JudgeFn | None = None, uid_base: int = DEFAULT_UID_BASE,
                 chunk_items: int = 64, unsafe: bool = False) -> None:
        self.size = max(1, workers or min(UID_BLOCK, 2 * (os.cpu_count() or 1)))
        self.limits = limits or SandboxLimits()
        self.judge = judge
        self.uid_base = uid_base
        self.chunk_items = max(1, chunk_items)
        self.unsafe = unsafe
        self._base: Path | None = None
        self._confinement: Confinement | None = None
        self._first_uid: int | None = None
        self._uid_lock: Any = None

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._confinement is not None:
            return
        self.limits.require_host_allows()
        make_undumpable()
        sweep_orphans()
        self._base = make_pool_folder()
        self._base.chmod(0o755)
        try:
            lib = install_runtime(self._base)
            self._confinement = choose(lib, self.limits, self.unsafe)
        except BaseException:
            self.close()
            raise
        if not self._confinement.confined:
            log.warning("sandbox.unsafe: task code runs WITHOUT OS confinement (rlimits and an audit hook only)")
        elif self._confinement.syscall_filter is None:
            log.warning("no seccomp filter for this machine (%s): task code runs confined by namespaces only",
                        os.uname().machine)
        if os.geteuid() == 0:
            self._first_uid, self._uid_lock = claim_uid_block(self.uid_base, self.size)

    def close(self) -> None:
        if self._base is not None:
            remove_tree(self._base)
            self._base = None
        if self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock = None
        self._confinement = None

    @property
    def confinement(self) -> dict[str, Any]:
        """What confines task code here: bubblewrap (namespaces) or nothing, and the uid."""
        self.start()
        assert self._confinement is not None
        return {"bubblewrap": self._confinement.bwrap, "confined": self._confinement.confined,
                "uid_dropped": self._first_uid is not None,
                "uids": None if self._first_uid is None else [self._first_uid, self._first_uid + self.size - 1],
                "user_namespace": self._confinement.confined and not self._confinement.as_root}

    # -- operations ---------------------------------------------------------------------

    def score(self, items: Sequence[ScoreItem]) -> list[ScoreResult]:
        """Score every item; a failing item yields a failed ScoreResult, never an exception."""
        results: list[ScoreResult | None] = [None] * len(items)
        by_task: dict[Path, list[int]] = {}
        for index, item in enumerate(items):
            by_task.setdefault(Path(item.task_dir), []).append(index)
        groups: list[_Group] = []
        for task_dir, indexes in by_task.items():
            source = _read_source(task_dir)
            if isinstance(source, ScoreResult):
                for index in indexes:
                    results[index] = source
                continue
            for start in range(0, len(indexes), self.chunk_items):
                part = indexes[start:start + self.chunk_items]
                groups.append(_Group(source, [(i, items[i].instance_data, str(items[i].answer)) for i in part]))

        starved: list[_Group] = []

        def run(group: _Group, slot: int, alone: bool = False) -> None:
            pending = group.entries
            while pending:
                done = 0
                process = self._spawn(slot)
                try:
                    process.begin("score", group.source, len(pending))
                    for index, data, answer in pending:
                        process.send({"data": data, "answer": answer})
                        results[index] = _score_result(process.reply(self.judge))
                        done += 1
                    pending = []
                except TaskFailed as exc:
                    if _starved(exc, alone):
                        starved.append(_Group(group.source, [pending[done]]))
                    else:
                        results[pending[done][0]] = ScoreResult(None, exc.error, exc.kind)  # type: ignore[arg-type]
                    pending = pending[done + 1:]
                finally:
                    process.kill()

        self._run(groups, run)
        self._run(starved, lambda group, slot: run(group, slot, alone=True), workers=1)
        return [r or ScoreResult(None, "no result from the sandbox", "exception") for r in results]

    def materialize(self, task_dirs: Sequence[Path]) -> list[Materialized]:
        """Instances (data + instructions) of each task, computed inside the sandbox."""
        results: list[Materialized | None] = [None] * len(task_dirs)
        groups = []
        for index, task_dir in enumerate(task_dirs):
            source = _read_source(Path(task_dir))
            if isinstance(source, ScoreResult):
                results[index] = Materialized(error=source.error, kind=source.kind)
            else:
                groups.append(_Group(source, [(index, None, "")]))

        starved: list[_Group] = []

        def run(group: _Group, slot: int, alone: bool = False) -> None:
            index = group.entries[0][0]
            process = self._spawn(slot)
            try:
                process.begin("materialize", group.source, 1)
                reply = process.reply(self.judge, self.limits.line_bytes, self.limits.line_bounds)
                results[index] = self._materialized(reply)
            except TaskFailed as exc:
                if _starved(exc, alone):
                    starved.append(group)
                else:
                    results[index] = Materialized(error=exc.error, kind=exc.kind)  # type: ignore[arg-type]
            finally:
                process.kill()

        self._run(groups, run)
        self._run(starved, lambda group, slot: run(group, slot, alone=True), workers=1)
        return [r or Materialized(error="no result from the sandbox", kind="exception") for r in results]

    # -- dispatch -----------------------------------------------------------------------

    def _spawn(self, slot: int) -> TaskProcess:
        assert self._confinement is not None and self._base is not None
        uid = None if self._first_uid is None else self._first_uid + slot
        if self._confinement.confined:  # the scratch dir is the sandbox's own tmpfs
            return TaskProcess(self._confinement, self.limits, uid, self._base)
        scratch = Path(tempfile.mkdtemp(dir=self._base, prefix="t"))  # a fresh, private name each time
        if uid is not None:
            os.chown(scratch, uid, uid)
        return TaskProcess(self._confinement, self.limits, uid, scratch, scratch=True)

    def _run(self, groups: list[_Group], run: Callable[[_Group, int], None], workers: int | None = None) -> None:
        """Run every group, ``workers`` (default ``self.size``) at a time; re-raise a host failure
        (InfrastructureFault)."""
        if not groups:
            return
        self.start()
        todo: queue.SimpleQueue[_Group] = queue.SimpleQueue()
        for group in groups:
            todo.put(group)
        errors: list[BaseException] = []

        def serve(slot: int) -> None:
            while not errors:
                try:
                    group = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    run(group, slot)
                except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                    errors.append(exc)

        threads = [threading.Thread(target=serve, args=(slot,), daemon=True)
                   for slot in range(min(workers or self.size, len(groups)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _materialized(self, reply: dict[str, Any]) -> Materialized:
        """Instances from a reply, each checked against the caps; violations fail the task."""
        failure = failure_of(reply)
        if failure is not None:
            return Materialized(error=failure.error, kind=failure.kind)  # type: ignore[arg-type]
        raw = reply.get("instances")
        if set(reply) != {"instances"} or not isinstance(raw, list):
            raise TaskFailed("violation", "malformed materialize reply")
        if not raw or len(raw) > self.limits.max_instances:
            return Materialized(error=f"{len(raw)} instances (1 to {self.limits.max_instances} allowed)",
                                kind="bad_return")
        instances = []
        for entry in raw:
            if not isinstance(entry, dict) or set(entry) != {"id", "data", "instructions"}:
                raise TaskFailed("violation", "malformed instance in the materialize reply")
            key, instructions = entry["id"], entry["instructions"]
            if not isinstance(key, str) or not isinstance(instructions, str) or len(key) > _MAX_ID_CHARS:
                raise TaskFailed("violation", "malformed instance id or instructions")
            if len(instructions) > self.limits.instruction_chars:
                return Materialized(error=f"instance {key[:40]!r}: instructions of {len(instructions)} characters "
                                          f"(at most {self.limits.instruction_chars})", kind="bad_return")
            if len(json.dumps(entry["data"])) > self.limits.instance_bytes:
                return Materialized(error=f"instance {key[:40]!r}: data over {self.limits.instance_bytes} bytes "
                                          "as JSON", kind="bad_return")
            instances.append(Instance(key, entry["data"], instructions))
        return Materialized(instances=instances)


def _starved(failure: TaskFailed, alone: bool) -> bool:
    """Whether ``failure`` is an item the host starved, to run again alone; starved alone, the
    host cannot give task code its time: an InfrastructureFault."""
    if failure.starved and alone:
        raise InfrastructureFault(f"the host kept a task process waiting for a CPU even with no other sandbox "
                                  f"running: {failure.error}; resume the run once the host is less busy")
    return failure.starved


def _read_source(task_dir: Path) -> str | ScoreResult:
    """task.py as text (reading is not importing); a missing or unreadable file is a failure."""
    try:
        return read_code(task_dir).decode("utf-8")
    except (StateError, OSError, UnicodeDecodeError) as exc:
        return ScoreResult(None, f"cannot read {task_dir / 'task.py'}: {exc}", "exception")


def _score_result(reply: dict[str, Any]) -> ScoreResult:
    failure = failure_of(reply)
    if failure is not None:
        return ScoreResult(None, failure.error, failure.kind)  # type: ignore[arg-type]
    if set(reply) != {"score"}:
        raise TaskFailed("violation", "malformed score reply")
    return ScoreResult(bounded_score(reply["score"]))
