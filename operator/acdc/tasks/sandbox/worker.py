"""One sandbox worker process as seen from the trusted side: spawn, talk, kill, respawn."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acdc.errors import PhaseError
from acdc.tasks.sandbox.limits import SandboxLimits
from acdc.tasks.sandbox.runtime.lines import LineReader, LineTooLong, write_line

log = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).with_name("runtime")
_RUNTIME_FILES = ("runner.py", "confine.py", "lines.py", "task_process.py", "acdc_sandbox.py", "sandbox_eval_helper.py")
_STARTUP_SECONDS = 30.0
_SLACK_SECONDS = 2.0

Message = dict[str, Any]


class WorkerLost(Exception):
    """The worker died, stalled or broke the protocol; it has been killed."""


def install_runtime(base_dir: Path) -> Path:
    """Copy the stdlib-only runtime into a root-owned, read-only lib dir under ``base_dir``."""
    lib = base_dir / "lib"
    lib.mkdir(mode=0o755)
    for name in _RUNTIME_FILES:
        shutil.copyfile(RUNTIME_DIR / name, lib / name)
        (lib / name).chmod(0o444)
    lib.chmod(0o555)
    return lib


class SandboxWorker:
    """A confined ``python -I`` worker; requests go down one pipe, results come up another.

    ``uid`` is the dedicated unprivileged uid for this slot (None when not root: then the
    worker keeps the pod's uid). The environment is empty but for HOME/TMPDIR/PATH/LANG.
    """

    def __init__(self, lib_dir: Path, base_dir: Path, uid: int | None, limits: SandboxLimits) -> None:
        self.lib_dir = lib_dir
        self.base_dir = base_dir
        self.uid = uid
        self.limits = limits
        self.process: subprocess.Popen[bytes] | None = None
        self.confinement: dict[str, Any] = {}

    def start(self) -> None:
        workdir = Path(tempfile.mkdtemp(dir=self.base_dir, prefix="w"))
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        config = {"workdir": str(workdir), "uid": self.uid, "lib_dir": str(self.lib_dir),
                  "limits": self.limits.for_worker()}
        env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(self.lib_dir / "runner.py"), str(req_r), str(resp_w), json.dumps(config)],
                env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(req_r, resp_w), start_new_session=True,
            )
        finally:
            os.close(req_r)
            os.close(resp_w)
        self.workdir = workdir
        self.req_fd = req_w
        self.resp_fd = resp_r
        self.reader = LineReader(resp_r, self.limits.message_bytes * 2)
        ready = self._next_message(time.monotonic() + _STARTUP_SECONDS)
        if ready.get("type") != "ready":
            self.kill()
            raise PhaseError(f"sandbox worker did not start: {ready}")
        self.confinement = ready["confinement"]

    def _next_message(self, deadline: float) -> Message:
        try:
            line = self.reader.read_line(deadline)
        except (EOFError, LineTooLong) as exc:
            self.kill()
            raise WorkerLost(str(exc)) from exc
        if line is None:
            self.kill()
            raise WorkerLost("no message before the deadline")
        try:
            message = json.loads(line)
        except ValueError as exc:
            self.kill()
            raise WorkerLost(f"unparseable message ({exc})") from exc
        if not isinstance(message, dict):
            self.kill()
            raise WorkerLost("message is not an object")
        return message

    def request(self, message: Message, on_result: Callable[[Message], None],
                on_judge: Callable[[Message], bool | None]) -> None:
        """Send one batched request; deliver each result; relay judge calls; return at 'done'.

        The parent expects some message at least every per-item wall limit plus slack (the
        worker enforces the per-item limit itself); silence beyond that means the worker is
        stuck, and it is killed (WorkerLost).
        """
        if self.process is None or self.process.poll() is not None:
            self.start()
        try:
            write_line(self.req_fd, json.dumps(message).encode())
        except OSError as exc:
            self.kill()
            raise WorkerLost(f"worker pipe closed ({exc})") from exc
        idle = self.limits.wall_seconds + _SLACK_SECONDS
        while True:
            reply = self._next_message(time.monotonic() + idle)
            kind = reply.get("type")
            if kind == "done":
                return
            if kind == "result":
                on_result(reply)
            elif kind == "judge":
                verdict = on_judge(reply)
                write_line(self.req_fd, json.dumps({"type": "judge_reply", "verdict": verdict}).encode())
            else:
                self.kill()
                raise WorkerLost(f"unexpected message type {kind!r}")

    def kill(self) -> None:
        """Kill the worker's session and anything left running under its uid; drop its dir."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None
            os.close(self.req_fd)
            os.close(self.resp_fd)
        if self.uid is not None:
            _kill_uid(self.uid)
        if getattr(self, "workdir", None) is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _kill_uid(uid: int) -> None:
    """Kill every process of a dedicated sandbox uid (escapees that left the session)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
