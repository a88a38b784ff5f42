"""The task process: the only code that runs inside a sandbox, then the task's own.

Imported and run by the trusted parent's ``python -I -S -c ... CONFIG_JSON`` inside
bubblewrap (or, with the sandbox explicitly turned off, as a plain child). Inside bubblewrap
it caps its scratch tmpfs's files, drops to the slot's uid when started as root, gives up
every capability, loads the seccomp filter (``_confine``), takes a Landlock domain of its own
(no ptrace access out of it), applies rlimits, moves its protocol to private fds and points 0/1/2 at /dev/null, says
``ready``, then reads ``{"mode", "source", "cpu_seconds"}`` and, for ``score``, one
``{"data", "answer"}`` line per item, answering each with exactly one line. It holds no fd
that reaches anything but its own parent, which decides which item a reply belongs to:
forging a reply can only change this task's own scores.

An audit hook turns operations a task never needs (sockets, new processes, signals,
writes outside its scratch dir) into ``SandboxViolation`` so they are reported as
violations; it is defence in depth only (native code and ``dir_fd`` calls bypass it), the
namespaces and rlimits are the guarantee.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import sys
import types

import acdc_sandbox

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing into every sandbox
if TYPE_CHECKING:
    from typing import Protocol

    class _Family(Protocol):
        """What ``_load_family`` checked a TaskFamily has; everything it returns is untrusted."""

        def get_tasks(self) -> object: ...
        def get_instructions(self, data: object) -> object: ...
        def score(self, data: object, answer: object) -> object: ...

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
_EXIT_CONFINE = 97  # confinement failed: the parent treats this as "no sandbox", never as a task failure
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 2, 4, 32
_CAPABILITY_VERSION_3 = 0x20080522
_PENDING_SIGNALS = 64
"""RLIMIT_SIGPENDING: each POSIX timer holds a queued signal in kernel memory outside RLIMIT_AS
(an audit made 96,000 timers, 37 MiB, the host's default limit); no task needs many."""
_LANDLOCK_CREATE_RULESET, _LANDLOCK_RESTRICT_SELF = 444, 446  # one number on every architecture
_LANDLOCK_MAKE_DEVICES = (1 << 6) | (1 << 11)  # LANDLOCK_ACCESS_FS_MAKE_CHAR | MAKE_BLOCK


class SandboxViolation(PermissionError):
    """A task attempted an operation the sandbox forbids."""


class _BoundedSink(io.TextIOBase):
    """Stands in for stdout/stderr: counts what is printed and keeps none of it."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def _install_audit_hook(workdir: str) -> None:
    root = os.path.realpath(workdir) + os.sep

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True
        if not isinstance(path, (str, bytes, os.PathLike)):
            return False
        return os.path.realpath(os.fsdecode(path)).startswith(root)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event in _BLOCKED_EVENTS:
            raise SandboxViolation(f"sandbox forbids {event}")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = (any(c in mode for c in "wax+") if isinstance(mode, str)
                      else isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
            if writes and not inside(path):
                raise SandboxViolation(f"sandbox forbids writing {path!r} outside the task's work dir")
        elif event in _PATH_EVENTS and args and not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes))):
            raise SandboxViolation(f"sandbox forbids {event} outside the task's work dir")

    sys.addaudithook(hook)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]


def _failure(exc: BaseException) -> dict[str, object]:
    if isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, SandboxViolation) or (isinstance(exc, OSError) and exc.errno == 27):  # EFBIG: RLIMIT_FSIZE
        kind = "violation"
    else:
        kind = "exception"
    return {"kind": kind, "error": _describe(exc)}


def _as_score(value: object) -> float:
    # A number is what converts itself to float (int, bool, Fraction, numpy scalars...); a
    # "0.5" string or buffer is not a score, though float() would parse it.
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"score() returned {type(value).__name__}, expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"score() returned {number}")
    return number


def _load_family(source: str) -> _Family:
    module = types.ModuleType("task")
    module.__file__ = os.path.join(os.getcwd(), "task.py")
    sys.modules["task"] = module
    exec(compile(source, "task.py", "exec"), module.__dict__)  # noqa: S102 - this is the sandbox
    family_cls = getattr(module, "TaskFamily", None)
    if family_cls is None:
        raise AttributeError("task.py defines no TaskFamily class")
    missing = [m for m in ("get_tasks", "get_instructions", "score") if not callable(getattr(family_cls, m, None))]
    if missing:
        raise AttributeError(f"TaskFamily lacks {', '.join(missing)}")
    family: _Family
    try:
        family = family_cls()
    except Exception:  # the reference calls the methods on an instance; static methods work on the class too
        family = family_cls
    return family


def _materialize(family: _Family, max_instances: int) -> dict[str, object]:
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
        return {"kind": "bad_return", "error": _describe(exc)}
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is a result
        return _failure(exc)
    return {"instances": instances}


def _score(family: _Family, item: object) -> dict[str, object]:
    try:
        if not isinstance(item, dict):
            raise TypeError(f"score item is {type(item).__name__}, expected an object")
        value = family.score(item["data"], item["answer"])
    except BaseException as exc:  # noqa: BLE001
        return _failure(exc)
    try:
        return {"score": _as_score(value)}
    except (TypeError, ValueError, OverflowError) as exc:
        return {"kind": "bad_return", "error": _describe(exc)}


def _drop_privileges(uid: int | None) -> None:
    """As root (bubblewrap keeps only CAP_SETUID/CAP_SETGID/CAP_SYS_ADMIN for this), become the
    slot's uid."""
    if uid is None or os.geteuid() != 0:
        return
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError:
        os._exit(_EXIT_CONFINE)
    if os.getuid() != uid or os.geteuid() != uid:
        os._exit(_EXIT_CONFINE)


def _confine(confine: dict[str, object], uid: int | None) -> None:
    """Inside bubblewrap, before any task code: cap the scratch tmpfs's files (``nr_inodes``,
    which bwrap cannot set; each file costs the host kernel memory no rlimit counts), then give
    up the CAP_SYS_ADMIN that took (and, as root, become ``uid``), take a Landlock domain, then
    load the seccomp filter, which refuses mounts and Landlock from then on. Each step is checked; one that fails ends the process
    with ``_EXIT_CONFINE``, which the parent reads as the host's fault."""
    try:
        import ctypes  # here, not at the top: the unconfined mode never needs it
    except ImportError:
        os._exit(_EXIT_CONFINE)
    libc = ctypes.CDLL(None, use_errno=True)
    inodes = confine.get("inodes")  # None where bwrap put the task in a nested user namespace
    options = f"nr_inodes={inodes}".encode()
    scratch = str(confine["scratch"]).encode()
    if inodes is not None and libc.mount(None, scratch, None, _MS_REMOUNT | _MS_NOSUID | _MS_NODEV, options) != 0:
        os._exit(_EXIT_CONFINE)
    _drop_privileges(uid)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0 or libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(_EXIT_CONFINE)
    _ptrace_scope()  # before the filter, which refuses Landlock to the task
    program = confine.get("seccomp")
    if isinstance(program, str):
        code = bytes.fromhex(program)

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(SockFprog(len(code) // 8, code)), 0, 0):
            os._exit(_EXIT_CONFINE)
    with open("/proc/self/status") as lines:
        status = dict(line.split(":", 1) for line in lines.read().splitlines() if ":" in line)
    held = [status.get(f"Cap{kind}", "").strip() for kind in ("Prm", "Eff", "Amb")]
    if any(value.strip("0") for value in held) or (program is not None and status.get("Seccomp", "").strip() != "2"):
        os._exit(_EXIT_CONFINE)


def _ptrace_scope() -> None:
    """Put this process in a Landlock domain of its own, so that the kernel refuses it ptrace
    access to every process outside, whatever their uid: bwrap's pid 1 runs as the task's uid
    when bwrap makes a user namespace, without the task's rlimits, and its memory
    (``/proc/1/mem``) was open to writing, a way out of the memory and CPU limits. The ruleset
    handles only making device nodes (no rule allows it; nothing here may anyway): file
    access is the mount namespace's business. Best effort: a kernel without Landlock leaves
    that path open (docs/tasks.md)."""
    try:
        import ctypes  # here, not at the top: only this function needs it
    except ImportError:  # an interpreter built without libffi
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # Landlock's precondition; bwrap has set it already
    handled = ctypes.c_uint64(_LANDLOCK_MAKE_DEVICES)  # struct landlock_ruleset_attr, its first field
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(handled), ctypes.sizeof(handled), 0)
    if ruleset >= 0:
        libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0)
        os.close(ruleset)


def _set_limits(limits: dict[str, int], cpu: int) -> None:
    """``cpu``: the CPU seconds the parent gives this process for all its items."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (_PENDING_SIGNALS, _PENDING_SIGNALS))


def _private_channel() -> acdc_sandbox.Channel:
    """Move the protocol off 0/1 so nothing a task prints or reads can reach it by accident."""
    channel = acdc_sandbox.Channel(os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = _BoundedSink()
    sys.stdin = io.StringIO()
    return channel


def main() -> None:
    config = json.loads(sys.argv[1])
    if isinstance(config.get("confine"), dict):
        _confine(config["confine"], config.get("uid"))
    else:
        _drop_privileges(config.get("uid"))
        _ptrace_scope()
    channel = _private_channel()
    channel.send({"ready": {"uid": os.getuid(), "pid": os.getpid()}})
    header = channel.receive()
    if not isinstance(header, dict):
        return
    limits = config["limits"]
    _set_limits(limits, int(header["cpu_seconds"]))
    acdc_sandbox.channel = channel
    acdc_sandbox._python_fences_only = limits.get("code_blocks") == "reference"
    workdir = os.getcwd()
    _install_audit_hook(workdir)
    try:
        family = _load_family(header["source"])
    except BaseException as exc:  # noqa: BLE001
        failure = _failure(exc)
        failure["error"] = f"loading task.py: {failure['error']}"
        family = None
    if header.get("mode") == "materialize":
        channel.send(failure if family is None else _materialize(family, limits["max_instances"]))
        return
    while (item := channel.receive()) is not None:
        channel.send(failure if family is None else _score(family, item))


