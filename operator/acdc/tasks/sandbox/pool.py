"""The trusted side of the sandbox: a pool of confined workers serving batched requests.

Two operations, both batched, and neither ever imports task.py in this process:
``materialize`` runs get_tasks + get_instructions, ``score`` runs score() on answers.
Items are grouped by task (one forked task process per group inside a worker) and the
groups are spread over the workers in chunks, so a worker lost to a stuck or hostile task
costs at most one chunk's unanswered items, each recorded as a failure.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from acdc.errors import PhaseError, UserError
from acdc.tasks.sandbox.limits import SandboxLimits
from acdc.tasks.sandbox.results import Instance, Materialized, ScoreResult
from acdc.tasks.sandbox.worker import SandboxWorker, WorkerLost, install_runtime

log = logging.getLogger(__name__)

JudgeFn = Callable[[str, str, "list[str] | None"], "bool | None"]
_KINDS = {"ok", "timeout", "memory", "violation", "exception", "bad_return"}
DEFAULT_UID_BASE = 61000
UID_BLOCK = 64  # uids per pool; pools on one host claim disjoint blocks
UID_BLOCKS = 64
_LOCK_DIR = Path(tempfile.gettempdir()) / "acdc-sandbox-uids"


def claim_uid_block(uid_base: int, size: int) -> tuple[int, Any]:
    """A block of uids no other live pool on this host uses, and the lock that holds it.

    Workers kill every process of their uid when a task times out, so two pools (two
    score phases running side by side) sharing uids would kill each other's workers.
    The flock is released by the kernel when the process dies, so a crash frees its block.
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
    raise PhaseError(f"all {UID_BLOCKS} sandbox uid blocks are in use on this host")


class ScoreItem(NamedTuple):
    """One answer to grade: the task folder, the instance's data, the model's answer."""

    task_dir: Path
    instance_data: Any
    answer: str


class SandboxPool:
    """Confined worker processes; use as a context manager (workers die with it).

    ``judge`` answers eval_with_llm_judge calls relayed from task code (None: every judge
    call gets no verdict, which the helper reads as a fail). ``uid_base`` + slot is the
    unprivileged uid each worker drops to when this process is root.
    """

    def __init__(self, workers: int | None = None, limits: SandboxLimits | None = None,
                 judge: JudgeFn | None = None, uid_base: int = DEFAULT_UID_BASE,
                 chunk_items: int = 64) -> None:
        self.size = max(1, workers or os.cpu_count() or 1)
        self.limits = limits or SandboxLimits()
        self.judge = judge
        self.uid_base = uid_base
        self.chunk_items = chunk_items
        self._base: Path | None = None
        self._workers: list[SandboxWorker] = []
        self._uid_lock: Any = None

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._workers:
            return
        self._base = Path(tempfile.mkdtemp(prefix="acdc-sandbox-"))
        self._base.chmod(0o755)
        lib = install_runtime(self._base)
        root = os.geteuid() == 0
        first_uid = None
        if root:
            first_uid, self._uid_lock = claim_uid_block(self.uid_base, self.size)
        self._workers = [
            SandboxWorker(lib, self._base, first_uid + slot if first_uid is not None else None, self.limits)
            for slot in range(self.size)
        ]
        for worker in self._workers:
            worker.start()
        report = self._workers[0].confinement
        if not report.get("network_namespace"):
            log.warning("sandbox has no network namespace here (%s); rely on the pod's NetworkPolicy",
                        report.get("network_namespace_error") or report.get("note"))

    def close(self) -> None:
        for worker in self._workers:
            worker.kill()
        self._workers = []
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
        if self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock = None

    @property
    def confinement(self) -> dict[str, Any]:
        """What the workers enforce on this host (namespaces, uid drop), as they reported it."""
        self.start()
        return dict(self._workers[0].confinement)

    # -- operations ---------------------------------------------------------------------

    def score(self, items: Sequence[ScoreItem]) -> list[ScoreResult]:
        """Score every item; a failing item yields a failed ScoreResult, never an exception."""
        results: list[ScoreResult | None] = [None] * len(items)
        groups: dict[Path, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(Path(item.task_dir), []).append(index)
        requests: list[dict[str, Any]] = []
        for task_dir, indexes in groups.items():
            source = _read_source(task_dir)
            if isinstance(source, ScoreResult):
                for index in indexes:
                    results[index] = source
                continue
            for start in range(0, len(indexes), self.chunk_items):
                part = indexes[start:start + self.chunk_items]
                requests.append({"key": str(task_dir), "source": source, "items": [
                    {"i": i, "data": items[i].instance_data, "answer": str(items[i].answer)} for i in part]})

        def deliver(message: dict[str, Any]) -> None:
            index = message.get("i")
            if isinstance(index, int) and 0 <= index < len(results) and results[index] is None:
                results[index] = _score_result(message)

        self._run("score", requests, deliver, lambda group: [item["i"] for item in group["items"]],
                  lambda index, error: results.__setitem__(index, results[index] or ScoreResult(None, error, "timeout")))
        return [r or ScoreResult(None, "no result from the sandbox", "exception") for r in results]

    def materialize(self, task_dirs: Sequence[Path]) -> list[Materialized]:
        """Instances (data + instructions) of each task, computed inside the sandbox."""
        results: list[Materialized | None] = [None] * len(task_dirs)
        requests = []
        for index, task_dir in enumerate(task_dirs):
            source = _read_source(Path(task_dir))
            if isinstance(source, ScoreResult):
                results[index] = Materialized(error=source.error, kind=source.kind)
            else:
                requests.append({"key": str(index), "source": source})

        def deliver(message: dict[str, Any]) -> None:
            index = int(message.get("key", -1))
            if 0 <= index < len(results) and results[index] is None:
                results[index] = _materialized(message)

        self._run("materialize", requests, deliver, lambda group: [int(group["key"])],
                  lambda index, error: results.__setitem__(index, results[index] or Materialized(error=error, kind="timeout")))
        return [r or Materialized(error="no result from the sandbox", kind="exception") for r in results]

    # -- dispatch -----------------------------------------------------------------------

    def _run(self, mode: str, groups: list[dict[str, Any]], deliver: Callable[[dict[str, Any]], None],
             indexes_of: Callable[[dict[str, Any]], list[int]], fail: Callable[[int, str], None]) -> None:
        """Spread ``groups`` over the workers in chunks, one thread per worker."""
        if not groups:
            return
        self.start()
        lock = threading.Lock()
        chunks: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        per_chunk = max(1, math.ceil(sum(len(g.get("items") or [0]) for g in groups) / (4 * self.size)))
        per_chunk = min(per_chunk, self.chunk_items)
        current: list[dict[str, Any]] = []
        count = 0
        for group in groups:
            current.append(group)
            count += len(group.get("items") or [0])
            if count >= per_chunk:
                chunks.put(current)
                current, count = [], 0
        if current:
            chunks.put(current)

        def locked_deliver(message: dict[str, Any]) -> None:
            with lock:
                deliver(message)

        def serve(worker: SandboxWorker) -> None:
            while True:
                try:
                    chunk = chunks.get_nowait()
                except queue.Empty:
                    return
                try:
                    worker.request({"type": mode, "groups": chunk}, locked_deliver, self._call_judge)
                except WorkerLost as exc:
                    log.warning("sandbox worker lost (%s); restarting it", exc)
                    with lock:
                        for group in chunk:
                            for index in indexes_of(group):
                                fail(index, f"sandbox worker lost: {exc}")

        threads = [threading.Thread(target=serve, args=(w,), daemon=True) for w in self._workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _call_judge(self, message: dict[str, Any]) -> bool | None:
        if self.judge is None:
            log.warning("a task asked for the LLM judge but none is configured; no verdict")
            return None
        criteria = message.get("criteria")
        try:
            return self.judge(str(message.get("instructions")), str(message.get("submission")),
                              [str(c) for c in criteria] if isinstance(criteria, list) else None)
        except Exception as exc:  # noqa: BLE001 - a judge failure is a missing verdict, not a crash
            log.warning("judge call failed: %s", exc)
            return None


def _read_source(task_dir: Path) -> str | ScoreResult:
    """task.py as text (reading is not importing); a missing or unreadable file is a failure."""
    try:
        return (task_dir / "task.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return ScoreResult(None, f"cannot read {task_dir / 'task.py'}: {exc}", "exception")


def _score_result(message: dict[str, Any]) -> ScoreResult:
    kind = message.get("kind")
    error = message.get("error")
    error = str(error)[:2000] if error is not None else None
    if kind not in _KINDS:
        return ScoreResult(None, f"worker sent unknown kind {kind!r}", "exception")
    if kind != "ok":
        return ScoreResult(None, error, kind)
    score = message.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return ScoreResult(None, f"non-numeric score {score!r}", "bad_return")
    return ScoreResult(float(score))


def _materialized(message: dict[str, Any]) -> Materialized:
    kind = message.get("kind")
    if kind != "ok":
        kind = kind if kind in _KINDS else "exception"
        return Materialized(error=str(message.get("error"))[:2000], kind=kind)
    raw = message.get("instances")
    instances = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("instructions"), str):
            instances.append(Instance(entry["id"], entry.get("data"), entry["instructions"]))
    if not instances:
        return Materialized(error="no valid instances", kind="bad_return")
    return Materialized(instances=instances)
