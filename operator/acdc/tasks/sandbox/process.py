"""One sandboxed task process as seen from the trusted side: start, talk, kill.

The parent owns the protocol. It sends the task's source and then one item at a time, and
reads exactly one reply per item from the process's stdout through a bounded,
deadline-aware reader; every line must be a JSON object of a known shape with bounded
values, judge requests are relayed up to the per-item cap, and anything else (garbage,
oversized lines, NaN, huge integers, extra keys, a crash, silence) raises ``TaskFailed``,
after which the process is killed. Which item a reply belongs to is decided here, never
by the task. How long a reply may take is measured in the task's own time
(``task_clock``): waiting for a CPU that other processes hold is not charged to it.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from acdc.errors import InfrastructureFault
from acdc.tasks.sandbox.confinement import Confinement
from acdc.tasks.sandbox.folders import remove_tree
from acdc.tasks.sandbox.limits import LineBounds, SandboxLimits
from acdc.tasks.sandbox.runtime.lines import LineReader, LineTooLong, until, write_line
from acdc.tasks.sandbox.task_clock import ItemClock, TaskUsage, task_pid

_STARTUP_SECONDS = 60.0
_TEARDOWN_SECONDS = 10.0
_FAILURE_KINDS = frozenset({"timeout", "memory", "violation", "exception", "bad_return"})
_EXIT_CONFINE = 97
MAX_REPLY_DEPTH = 64
"""Deepest nesting of lists and objects a reply may hold. Far more than task data needs, and
far less than what overflows the recursion of the trusted code that later copies and writes
instance data (``dataclasses.asdict``, ``json.dumps``; 900 levels did)."""


REQUEST_BOUNDS = LineBounds(containers=3, values=1024)
"""Those of a line other than a materialisation (``SandboxLimits.line_bounds``): a judge
request's three objects and arrays (the line, the request, its criteria) and its values, a
criterion a value, so up to about a thousand criteria; a score or a failure has one object
and four values."""
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_END = object()

JudgeFn = Callable[[str, str, "list[str] | None"], "bool | None"]


class TaskFailed(Exception):
    """The task process broke the protocol, crashed or stalled; ``kind`` says which.

    ``starved``: it timed out at the wall-clock cap having had less than its limit of its own
    time, the host having kept it waiting for a CPU: not yet the task's failure (the pool
    runs the item again alone, ``SandboxPool``)."""

    def __init__(self, kind: str, error: str, starved: bool = False) -> None:
        super().__init__(error)
        self.kind = kind
        self.error = error
        self.starved = starved


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number the sandbox accepts")


def parse_line(line: bytes, bounds: LineBounds) -> dict[str, Any]:
    """A reply line as a JSON object, or TaskFailed: never an exception of another type.

    A line with more objects and arrays, or more values, than ``bounds`` is refused before it
    is parsed: an object or array costs the runner 20 times its bytes or more (``{}`` is a
    64-byte dict), a short string or number up to about 13 times (``"ab",``: a 51-byte str and
    its 8-byte pointer), so without a bound on values a line cost 13 times its cap. A
    MemoryError while parsing is put down to the line, as the task's own failure.
    """
    containers, values = _count(line, bounds)
    if containers > bounds.containers:
        raise TaskFailed("violation", f"reply holds more than {bounds.containers} JSON objects and arrays")
    if values > bounds.values:
        raise TaskFailed("violation", f"reply holds more than {bounds.values} JSON values")
    try:
        # UTF-8 only: given bytes, json.loads takes UTF-16 or UTF-32 too, where a quote byte
        # inside another character hid objects and arrays from the count before parsing
        value = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
        if not isinstance(value, dict):
            raise TaskFailed("violation", f"reply is a JSON {type(value).__name__}, not an object")
        _check_writable(value)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise TaskFailed("violation", f"malformed reply from the task process ({str(exc)[:200]})") from None
    except MemoryError:
        raise TaskFailed("memory", f"the runner ran out of memory parsing a reply of {len(line)} bytes") from None
    return value


def _count(line: bytes, bounds: LineBounds) -> tuple[int, int]:
    """At least its objects and arrays, and at least its values, as far as needed to compare
    them with ``bounds``.

    Every value but the first starts a container's contents or follows a ``,`` or ``:``, so
    values are at most 1 + objects and arrays + separators. Counted over the whole line first,
    and only when that is over a bound again outside its strings (code and prose are full of
    braces and commas), one string at a time: a line holding more strings than values is
    invalid, so the walk stops there, and it never copies the line or its pieces.
    """
    def tokens(start: int, end: int) -> tuple[int, int]:
        opened = line.count(b"{", start, end) + line.count(b"[", start, end)
        return opened, opened + line.count(b",", start, end) + line.count(b":", start, end)

    containers, values = tokens(0, len(line))
    if containers <= bounds.containers and values < bounds.values:
        return containers, values + 1
    containers, values, start = 0, 1, 0
    for strings, match in enumerate(chain(_STRING.finditer(line), (None,))):
        opened, more = tokens(start, len(line) if match is None else match.start())
        containers, values = containers + opened, values + more
        if containers > bounds.containers or values > bounds.values or strings > bounds.values:
            return containers, max(values, strings)
        start = match.end() if match is not None else start
    return containers, values


def _check_writable(value: Any) -> None:
    """TaskFailed unless the trusted side can store the value as it is: nesting within
    ``MAX_REPLY_DEPTH``, and every string valid Unicode (JSON's ``\\ud800`` escape decodes to a
    lone surrogate, which no UTF-8 file can hold: the state write would fail, not the task), and
    every number finite (``1e999`` parses to infinity, which instances.json would hold as
    ``Infinity``, no JSON). One iterator per level of nesting: what the walk holds is bounded by the depth, not by
    the size of the value."""
    levels: list[Iterator[Any]] = [iter((value,))]
    while levels:
        item = next(levels[-1], _END)
        if item is _END:
            levels.pop()
        elif isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise TaskFailed("violation", "reply holds a string that is not valid Unicode") from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise TaskFailed("violation", "reply holds a number too large for JSON")
        elif isinstance(item, dict | list):
            if len(levels) > MAX_REPLY_DEPTH:
                raise TaskFailed("violation", f"reply nested deeper than {MAX_REPLY_DEPTH} levels")
            levels.append(chain(item, item.values()) if isinstance(item, dict) else iter(item))


def bounded_score(value: Any) -> float:
    """A finite float from a reply's ``score``, or TaskFailed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TaskFailed("bad_return", f"non-numeric score of type {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise TaskFailed("bad_return", "score is too large") from None
    if not math.isfinite(number):
        raise TaskFailed("bad_return", "score is not finite")
    return number


def failure_of(reply: dict[str, Any]) -> TaskFailed | None:
    """The task-reported failure in a reply (``kind`` + ``error``), if it is one. Its error,
    task-written, is made one printable line (newlines, escape sequences and bidi controls
    escaped as in a repr): it is logged and shown, where it could forge log lines or rewrite a
    terminal."""
    if set(reply) != {"kind", "error"}:
        return None
    kind, error = reply["kind"], reply["error"]
    if not isinstance(kind, str) or kind not in _FAILURE_KINDS or not isinstance(error, str):
        raise TaskFailed("violation", "malformed failure reply")
    return TaskFailed(kind, "".join(c if c.isprintable() else repr(c)[1:-1] for c in error[:2000]))


def exit_failure(code: int, cpu_at_most: float | None, cpu_limit: int) -> TaskFailed:
    """What a task process's exit status ``code`` says, for the item it left without a reply.

    RLIMIT_CPU sends SIGXCPU at ``cpu_limit`` and SIGKILL a second later (to a task that ignores
    SIGXCPU); but SIGKILL is also how the kernel's out-of-memory killer (whose first victims are
    task processes, oom_score_adj 1000) and a pod's memory limit end a process. The process's
    CPU time at its death cannot be read, so a SIGKILL is put down to memory, not to the CPU
    limit, only while ``cpu_at_most``, a bound on that time, is short of the limit.
    """
    signum = -code if code < 0 else code - 128 if code > 128 else 0
    if signum == signal.SIGXCPU:
        return TaskFailed("timeout", f"task process killed by SIGXCPU at its CPU time limit ({cpu_limit} s)")
    if signum == signal.SIGKILL:
        if cpu_at_most is not None and cpu_at_most < cpu_limit:
            return TaskFailed("memory", f"task process killed by SIGKILL after at most {cpu_at_most:.2f} s of CPU, "
                              f"short of its {cpu_limit} s limit: the memory limit or the out-of-memory killer, "
                              "or an external kill")
        return TaskFailed("timeout", f"task process killed by SIGKILL: its CPU time limit ({cpu_limit} s), "
                          "or the memory limit or the out-of-memory killer")
    if signum == signal.SIGXFSZ:
        return TaskFailed("violation", "task exceeded the file size limit")
    if signum:
        return TaskFailed("exception", f"task process died from signal {signum}")
    return TaskFailed("exception", f"task process exited with status {code} before reporting")


def _timed_out(clock: ItemClock, what: str) -> TaskFailed:
    """The timeout once ``clock`` ran out, marked ``starved`` when the host's wait, not the
    task's own time, ran it out."""
    return TaskFailed("timeout", clock.expired(what), starved=clock.starved)


def _sandbox_init(info_fd: int) -> tuple[int, int]:
    """The host pid of the sandbox's pid 1 (from bwrap's --info-fd) and a pidfd on it, so that
    kill() can wait until every process of the sandbox is gone: a PID namespace dies with its
    pid 1, asynchronously."""
    text = b""
    deadline = time.monotonic() + _STARTUP_SECONDS
    while len(text) < 1 << 12 and select.select([info_fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(info_fd, 1 << 12)
        if not chunk:
            break
        text += chunk
    try:
        pid = int(json.loads(text)["child-pid"])
        return pid, os.pidfd_open(pid)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise InfrastructureFault(f"the task sandbox did not report its pid 1 ({exc})") from None


def _first_to_go(pid: int | None) -> None:
    """oom_score_adj 1000 for a task process, set before any task code runs: when the host
    runs out of memory the kernel kills task processes, the biggest first, rather than the
    runner or an inference server beside it. Written by a root runner the value sticks
    (with CAP_SYS_RESOURCE it is also the floor); a non-root runner's, the task may lower to 0."""
    if pid is None:
        return
    try:
        Path(f"/proc/{pid}/oom_score_adj").write_text("1000")
    except OSError:
        pass


class TaskProcess:
    """A task process in its own sandbox (bubblewrap), started for one group of items."""

    def __init__(self, confinement: Confinement, limits: SandboxLimits, uid: int | None, cwd: Path,
                 scratch: bool = False) -> None:
        """``scratch``: ``cwd`` is this process's own scratch dir, removed when it is killed."""
        self.limits = limits
        self.cpu_seconds = limits.process_cpu_seconds(1)  # RLIMIT_CPU of the process, as begin() sets it
        self.scratch = cwd if scratch else None
        self._pidfd: int | None = None
        config: dict[str, object] = {"uid": uid, "limits": limits.for_task_process()}
        info_r, info_w = os.pipe() if confinement.confined else (-1, -1)
        passed = [info_w] if confinement.confined else []
        try:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by us
                confinement.argv(config, info_w if confinement.confined else None), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=passed,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd), "TMPDIR": str(cwd)}, cwd=cwd,
                close_fds=True, start_new_session=True, bufsize=0)
        finally:
            for fd in passed:
                os.close(fd)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin_fd = self.process.stdin.fileno()
        os.set_blocking(self.stdin_fd, False)
        self.reader = LineReader(self.process.stdout.fileno(), limits.line_bytes)
        pid: int | None = self.process.pid
        try:
            self._await_ready()
            if confinement.confined:
                reaper, self._pidfd = _sandbox_init(info_r)
                ns_pid = self.ready.get("pid")  # sent by the runtime before any task code ran
                pid = task_pid(reaper, ns_pid) if isinstance(ns_pid, int) else None
        finally:
            if confinement.confined:
                os.close(info_r)
        self.usage = TaskUsage(pid)
        self._clock = ItemClock(limits.wall_seconds, self.usage)  # that of the last message sent
        _first_to_go(pid)

    def _await_ready(self) -> None:
        """The sandbox came up (before any task code ran): otherwise the host is at fault."""
        try:
            line = self.reader.read_line(until(time.monotonic() + _STARTUP_SECONDS))
            ready = parse_line(line, REQUEST_BOUNDS) if line is not None else None
        except (EOFError, LineTooLong, TaskFailed):
            ready = None
        if not isinstance(ready, dict) or not isinstance(ready.get("ready"), dict):
            code = self.kill()
            why = ("its confinement could not be applied: the scratch's file cap, the uid or capabilities dropped, "
                   "the seccomp filter" if code == _EXIT_CONFINE else f"exit status {code}")
            raise InfrastructureFault(f"the task sandbox did not start ({why})")
        self.ready: dict[str, Any] = ready["ready"]

    def begin(self, mode: str, source: str, items: int) -> None:
        """Send what to run: ``mode``, the task's source, and the CPU seconds the process may use
        for its ``items`` in all, which it applies before any task code runs (RLIMIT_CPU)."""
        self.cpu_seconds = self.limits.process_cpu_seconds(items)
        self.send({"mode": mode, "source": source, "cpu_seconds": self.cpu_seconds})

    def send(self, message: dict[str, Any]) -> None:
        """Write one line; a task that stops reading its input times out like a silent one.

        Its clock runs on until the reply: one limit covers a message and its answer.
        """
        clock = self._clock = ItemClock(self.limits.wall_seconds, self.usage)
        try:
            written = write_line(self.stdin_fd, json.dumps(message).encode(), clock.remaining)
        except OSError:
            raise self._died() from None
        if not written:
            raise _timed_out(clock, "task process did not read its input")

    def reply(self, judge: JudgeFn | None, max_bytes: int | None = None,
              bounds: LineBounds = REQUEST_BOUNDS) -> dict[str, Any]:
        """The next reply that is not a judge request; relays up to the per-item cap of those.

        A line (reply or judge request) longer than ``max_bytes`` (default: the per-item output
        cap) or with more JSON objects and arrays, or values, than ``bounds`` is a violation.
        """
        cap = max_bytes or self.limits.message_bytes
        judge_calls = 0
        while True:
            clock = self._clock
            try:
                line = self.reader.read_line(clock.remaining)
            except LineTooLong:
                raise TaskFailed("violation", f"reply longer than {self.limits.line_bytes} bytes") from None
            except EOFError:
                raise self._died() from None
            if line is None:
                raise _timed_out(clock, "no result")
            if len(line) > cap:
                raise TaskFailed("violation", f"reply of {len(line)} bytes (at most {cap})")
            reply = parse_line(line, bounds)
            if set(reply) != {"judge"}:
                return reply
            judge_calls += 1
            if judge_calls > self.limits.judge_calls_per_item:
                raise TaskFailed("violation", f"more than {self.limits.judge_calls_per_item} judge calls for one item")
            self.send({"verdict": self._judge(reply["judge"], judge)})

    @staticmethod
    def _judge(request: Any, judge: JudgeFn | None) -> bool | None:
        if not isinstance(request, dict) or set(request) != {"instructions", "submission", "criteria"}:
            raise TaskFailed("violation", "malformed judge request")
        instructions, submission, criteria = request["instructions"], request["submission"], request["criteria"]
        if not isinstance(instructions, str) or not isinstance(submission, str):
            raise TaskFailed("violation", "malformed judge request")
        if criteria is not None and (not isinstance(criteria, list) or not all(isinstance(c, str) for c in criteria)):
            raise TaskFailed("violation", "malformed judge criteria")
        if judge is None:
            return None
        try:
            return judge(instructions, submission, criteria) is True
        except InfrastructureFault:  # the judge endpoint is down: no task's fault, the step stops
            raise
        except Exception:  # noqa: BLE001 - a judge failure is a missing verdict, not a crash
            return None

    def _died(self) -> TaskFailed:
        """Why the process stopped talking: its exit, or, when it does not exit (it closed its
        output), the kill that ends it, which is ours and no cause of its."""
        try:
            self.process.wait(timeout=self.limits.wall_seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            return TaskFailed("timeout", f"task process closed its output and did not exit within "
                              f"{self.limits.wall_seconds} s")
        cpu_at_most = self._clock.cpu_at_most()
        return exit_failure(self.kill(), cpu_at_most, self.cpu_seconds)

    def kill(self) -> int:
        """Kill the sandbox (its PID namespace dies with it) and return the exit status."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        code = self.process.wait()
        if self._pidfd is not None:  # the namespace is empty once its pid 1 has exited
            select.select([self._pidfd], [], [], _TEARDOWN_SECONDS)
            os.close(self._pidfd)
            self._pidfd = None
        if self.scratch is not None:
            remove_tree(self.scratch)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        return code
