"""Sandbox worker: confine itself, then serve batched requests from the trusted parent.

Started as ``python -I runner.py REQ_FD RESP_FD CONFIG_JSON`` with an empty environment,
stdout/stderr on /dev/null and the protocol on two dedicated pipes, so nothing task code
prints can corrupt it. Each group of items for one task runs in a forked task process
(fork costs about a millisecond; a fresh interpreter costs tens), which keeps tasks from
tampering with each other while one worker serves thousands of answers. The worker
enforces a wall-clock deadline per item and kills the task process's whole process group
(and, with a dedicated uid, every process of that uid) when it is exceeded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from typing import Any

_CONFIG = json.loads(sys.argv[3])
sys.path.insert(0, _CONFIG["lib_dir"])
sys.dont_write_bytecode = True

import confine  # noqa: E402
import lines  # noqa: E402
import sandbox_eval_helper  # noqa: E402,F401 - preloaded: the lib dir is not visible once confined
import task_process  # noqa: E402

_MAX_JUDGE_CALLS_PER_ITEM = 4


class Worker:
    """The serve loop; one instance per worker process."""

    def __init__(self, req_fd: int, resp_fd: int, config: dict[str, Any]) -> None:
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.limits: dict[str, Any] = config["limits"]  # integers, and code_blocks
        self.workdir: str = config["workdir"]
        self.requests = lines.LineReader(req_fd, self.limits["message_bytes"] * 64)
        self.own_uid = False
        self.group_counter = 0

    def send(self, message: dict[str, Any]) -> None:
        lines.write_line(self.resp_fd, json.dumps(message).encode())

    def reap_strays(self, pgid: int) -> None:
        """Kill a finished or stuck task process group, and with our own uid anything it forked."""
        for target in ([-1] if self.own_uid else []):
            try:
                os.kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def serve(self) -> None:
        while True:
            try:
                line = self.requests.read_line(None)
            except EOFError:
                return
            request = json.loads(line)
            mode = request["type"]
            for group in request["groups"]:
                self.run_group(mode, group)
            self.send({"type": "done"})

    def run_group(self, mode: str, group: dict[str, Any]) -> None:
        """Run every item of one task, re-forking after an item kills its task process."""
        pending = list(group.get("items") or [{"i": 0}])
        self.group_counter += 1
        workdir = os.path.join(self.workdir, f"g{self.group_counter}")
        os.mkdir(workdir, 0o700)
        task_path = os.path.join(workdir, "task.py")
        with open(task_path, "w", encoding="utf-8") as handle:
            handle.write(group["source"])
        try:
            while pending:
                pending = self.run_task_process(mode, group["key"], workdir, task_path, pending)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def run_task_process(self, mode: str, key: str, workdir: str, task_path: str,
                         items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fork one task process for ``items``; return the items it never got to."""
        out_r, out_w = os.pipe()
        reply_r, reply_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(reply_w)
            os.close(self.req_fd)
            os.close(self.resp_fd)
            code = 0
            try:
                task_process.run(mode, workdir, task_path, items, self.limits, out_w, reply_r)
            except BaseException:  # noqa: BLE001 - the child must never return into the serve loop
                code = 1
            os._exit(code)
        os.close(out_w)
        os.close(reply_r)
        reader = lines.LineReader(out_r, self.limits["message_bytes"])
        remaining = list(items)
        judge_calls = 0
        failure: tuple[str, str] | None = None
        deadline = time.monotonic() + self.limits["wall_seconds"]
        try:
            while remaining:
                try:
                    line = reader.read_line(deadline)
                except lines.LineTooLong as exc:
                    failure = ("violation", f"task produced an oversized message ({exc})")
                    break
                except EOFError:
                    failure = None
                    break
                if line is None:
                    failure = ("timeout", f"no result within {self.limits['wall_seconds']} s (wall clock)")
                    break
                message = json.loads(line)
                if message.get("t") == "judge":
                    judge_calls += 1
                    verdict = self.relay_judge(message) if judge_calls <= _MAX_JUDGE_CALLS_PER_ITEM else None
                    lines.write_line(reply_w, json.dumps({"verdict": verdict}).encode())
                    deadline = time.monotonic() + self.limits["wall_seconds"]
                    continue
                self.send({"type": "result", "key": key, **{k: v for k, v in message.items() if k != "t"}})
                remaining = [item for item in remaining if item["i"] != message.get("i")]
                judge_calls = 0
                deadline = time.monotonic() + self.limits["wall_seconds"]
        finally:
            self.reap_strays(pid)
            _, status = os.waitpid(pid, 0)
            os.close(out_r)
            os.close(reply_w)
        if not remaining:
            return []
        if failure is None:
            failure = self.classify_exit(status)
        kind, error = failure
        self.send({"type": "result", "key": key, "i": remaining[0]["i"], "kind": kind, "error": error})
        return remaining[1:]

    @staticmethod
    def classify_exit(status: int) -> tuple[str, str]:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig in (signal.SIGXCPU, signal.SIGKILL):
                return "timeout", f"task process killed by {signal.Signals(sig).name} (CPU time limit)"
            if sig == signal.SIGXFSZ:
                return "violation", "task exceeded the file size limit"
            return "exception", f"task process died from {signal.Signals(sig).name}"
        return "exception", f"task process exited with status {os.WEXITSTATUS(status)} before reporting"

    def relay_judge(self, message: dict[str, Any]) -> bool | None:
        """Ask the trusted parent to call the judge; the sandbox itself has no network."""
        self.send({"type": "judge", "instructions": message.get("instructions"),
                   "submission": message.get("submission"), "criteria": message.get("criteria")})
        try:
            line = self.requests.read_line(None)
        except EOFError:
            sys.exit(0)
        reply = json.loads(line)
        return reply.get("verdict")


def main() -> None:
    req_fd, resp_fd = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    report = confine.confine(_CONFIG["workdir"], _CONFIG.get("uid"), _CONFIG["limits"])
    os.environ["HOME"] = os.environ["TMPDIR"] = str(report["workdir"])
    worker = Worker(req_fd, resp_fd, {**_CONFIG, "workdir": report["workdir"]})
    worker.own_uid = bool(report["uid_dropped"])
    worker.send({"type": "ready", "confinement": report})
    worker.serve()


if __name__ == "__main__":
    main()
