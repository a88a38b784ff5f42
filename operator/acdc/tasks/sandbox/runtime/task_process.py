"""What a forked task process does: load one task.py and run its methods on a batch.

Runs in a child of the worker, in its own process group, after the worker is confined.
An audit hook turns the operations a task never needs (sockets, new processes, signals,
writes outside its work dir) into ``SandboxViolation`` so they are reported as violations;
the kernel-level limits set by ``confine`` stay the real guarantee (the hook can be
bypassed by native code, the namespaces and rlimits cannot).
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import resource
import sys
from typing import Any

import acdc_sandbox

_BLOCKED_EVENTS = {
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen",
    "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "os.setuid", "os.setgid",
}
_PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
    "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_MAX_ERROR_CHARS = 2000


class SandboxViolation(PermissionError):
    """A task attempted an operation the sandbox forbids."""


class _BoundedSink(io.TextIOBase):
    """Stands in for stdout/stderr: keeps the first bytes, drops the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)


def _install_audit_hook(workdir: str) -> None:
    root = os.path.realpath(workdir) + os.sep

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return True
        return os.path.realpath(os.fsdecode(path)).startswith(root)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _BLOCKED_EVENTS:
            raise SandboxViolation(f"sandbox forbids {event}")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = any(c in (mode or "") for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            if writes and not inside(path):
                raise SandboxViolation(f"sandbox forbids writing {path!r} outside the task's work dir")
        elif event in _PATH_EVENTS and args and not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes))):
            raise SandboxViolation(f"sandbox forbids {event} outside the task's work dir")

    sys.addaudithook(hook)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:_MAX_ERROR_CHARS]


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, MemoryError):
        return "memory", _describe(exc)
    if isinstance(exc, SandboxViolation):
        return "violation", _describe(exc)
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: RLIMIT_FSIZE
        return "violation", _describe(exc)
    return "exception", _describe(exc)


def _as_score(value: Any) -> float:
    if value is None or isinstance(value, (dict, list, tuple, set)):
        raise TypeError(f"score() returned {type(value).__name__}, expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"score() returned {number}")
    return number


def _load_family(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("task", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["task"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    family_cls = getattr(module, "TaskFamily", None)
    if family_cls is None:
        raise AttributeError("task.py defines no TaskFamily class")
    missing = [m for m in ("get_tasks", "get_instructions", "score") if not callable(getattr(family_cls, m, None))]
    if missing:
        raise AttributeError(f"TaskFamily lacks {', '.join(missing)}")
    try:
        return family_cls()
    except Exception:  # the reference calls the methods on an instance; static methods work on the class too
        return family_cls


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run(mode: str, workdir: str, task_path: str, items: list[dict[str, Any]], limits: dict[str, Any],
        out_fd: int, judge_reply_fd: int) -> None:
    """Body of the forked task process; reports one message per item (or one for materialize)."""
    os.setpgid(0, 0)
    os.chdir(workdir)
    cpu = limits["cpu_seconds"] * max(1, len(items))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    acdc_sandbox._judge_channel = (out_fd, judge_reply_fd)
    acdc_sandbox._python_fences_only = limits.get("code_blocks") == "reference"
    sink = _BoundedSink(limits["output_bytes"])
    sys.stdout = sys.stderr = sink
    _install_audit_hook(workdir)
    try:
        family = _load_family(task_path)
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is a result
        kind, error = _failure(exc)
        for item in items or [{"i": 0}]:
            _send(out_fd, {"t": "result", "i": item["i"], "kind": kind, "error": f"loading task.py: {error}"})
        return
    if mode == "materialize":
        _materialize(family, limits["max_instances"], out_fd)
        return
    for item in items:
        try:
            value = family.score(item["data"], item["answer"])
        except BaseException as exc:  # noqa: BLE001
            kind, error = _failure(exc)
            _send(out_fd, {"t": "result", "i": item["i"], "kind": kind, "error": error})
            continue
        try:
            _send(out_fd, {"t": "result", "i": item["i"], "kind": "ok", "score": _as_score(value)})
        except (TypeError, ValueError) as exc:
            _send(out_fd, {"t": "result", "i": item["i"], "kind": "bad_return", "error": _describe(exc)})


def _materialize(family: Any, max_instances: int, out_fd: int) -> None:
    try:
        tasks = family.get_tasks()
        if not isinstance(tasks, dict) or not tasks:
            raise TypeError(f"get_tasks() returned {type(tasks).__name__}, expected a non-empty dict")
        instances = []
        for key, data in list(tasks.items())[:max_instances]:
            json.dumps(data)
            instructions = family.get_instructions(data)
            if not isinstance(instructions, str):
                raise TypeError(f"get_instructions() returned {type(instructions).__name__}, expected str")
            instances.append({"id": str(key), "data": data, "instructions": instructions})
    except (TypeError, ValueError) as exc:
        _send(out_fd, {"t": "result", "i": 0, "kind": "bad_return", "error": _describe(exc)})
        return
    except BaseException as exc:  # noqa: BLE001
        kind, error = _failure(exc)
        _send(out_fd, {"t": "result", "i": 0, "kind": kind, "error": error})
        return
    _send(out_fd, {"t": "result", "i": 0, "kind": "ok", "instances": instances})
