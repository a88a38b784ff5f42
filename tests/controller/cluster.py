"""Test cluster: kmock as the API server, kopf in a thread, and a kubelet stand-in.

``Kubelet`` plays the Job controller and the kubelet: it notices new Jobs, mounts their
spec ConfigMap as a file, runs their phase step through a *phase runner* against a
folder standing in for the PVC, retries per backoffLimit, writes the pod (with its
termination message) and marks the Job Complete or Failed, all through the API, as the
real controllers would.

``PHASE_RUNNER`` names what a Job's container does: the real phase commands
(``real_phase``: exactly `acdc phase ... --state STATE --run RUN_YAML`, in-process). The
operator bench measures the operator alone and passes ``fake_phase`` instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import datetime
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml
from kopf.testing import KopfRunner

from acdc.cli.phase_cmd import stopped_by_fault
from acdc.errors import EXIT_INFRASTRUCTURE
from acdc.phases.context import EXIT_REJECTED
from acdc.phases.execute import execute
from acdc.phases.faults import Fault, classify
from acdc.spec import API_GROUP, API_VERSION, KIND, PLURAL
from acdc.steps import Step, StepRecord
from tests.progress import STALL_S, StallWatch, counted_work, work_cpu_seconds

NAMESPACE = "ml"
RUNS = kmock.resource(API_GROUP, API_VERSION, PLURAL)
JOBS = kmock.resource("batch", "v1", "jobs")
PVCS = kmock.resource("", "v1", "persistentvolumeclaims")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
SECRETS = kmock.resource("", "v1", "secrets")
PEERINGS = kmock.resource("kopf.dev", "v1", "clusterkopfpeerings")

PhaseRunner = Callable[[Path, Step, Path], tuple[int, StepRecord | None]]
"""(state dir, step, mounted run.yaml) -> (exit code, termination record or None).

What the Job's container does: ``acdc phase ... --state STATE --run RUN_YAML``. Exit 0
succeeded, EXIT_REJECTED (3) dropped, EXIT_INFRASTRUCTURE (75) failed without retry, anything else
failed (retried per backoffLimit); OOM_KILLED (137) is a container the kernel killed at its
memory limit (the kubelet's reason OOMKilled)."""
OOM_KILLED = 137
GIVEN_UP: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("GIVEN_UP", default=frozenset())
"""The ``--given-up`` steps on the command line of the Job whose attempt is playing (what the
operator tells the Jobs that read other steps' outputs): set around each attempt, so a
three-argument PhaseRunner need not carry them, and ``real_phase`` passes them on."""
TERMINATION: contextvars.ContextVar[Path | None] = contextvars.ContextVar("TERMINATION", default=None)
"""The file the attempt playing has at /dev/termination-log (set as GIVEN_UP is): ``real_phase``
writes its record there, or an infrastructure fault's cause, as `acdc phase --termination-log`
does, and the kubelet stand-in puts what it holds in the pod's termination message."""
CLOCK_START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
"""The kubelet stand-in's clock: every Job starts at this time and each of its attempts takes
an hour, so a Job's GPU-hours are its requested GPUs times its attempts."""


def declare(server: Any) -> None:
    server.resources.load_bundled()
    server.resources[RUNS] = kmock.ResourceInfo(kind=KIND, namespaced=True, subresources={"status"},
                                                verbs={"get", "list", "watch", "create", "patch", "delete"})
    server.resources[PEERINGS] = kmock.ResourceInfo(kind="ClusterKopfPeering", namespaced=False,
                                                    verbs={"get", "list", "watch", "patch", "create"})


def write_kubeconfig(path: Path, url: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "u"}}],
    }))
    return path


@contextlib.asynccontextmanager
async def operator(*extra: str):
    """The real operator (kopf + acdc.controller.handlers) in its own thread."""
    args = ["run", "-A", "--verbose", "-m", "acdc.controller.handlers", *(extra or ("--standalone",))]
    runner = KopfRunner(args, timeout=60)
    await asyncio.to_thread(runner.__enter__)
    try:
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)


def run_body(name: str = "demo", **spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {  # a real, tiny toy-world run: the phases really execute it
        "seed": 7,
        # baseCandidate off: generation 0 then merges one child (initialSize 3 - 2 seeds), which the tests fail on purpose
        "models": {"seeds": [{"toyworld": "arithmetic"}, {"toyworld": "strings"}], "base": {"toyworld": "base"},
                   "baseCandidate": False},
        "population": {"size": 2, "childrenPerGeneration": 1, "initialSize": 3, "generations": 1},
        "tasks": {"seedTasks": "builtin:toyworld", "initialPoolSize": 6, "maxPoolSize": 6, "adaptationInterval": 0,
                  "instancesPerTask": 2, "novelty": {"enabled": False}},
        "scientist": {"kind": "procedural"},
        "embedding": {"kind": "features"},
        "inference": {"backend": "transformers", "maxTokens": 12, "promptStyle": "plain"},
        "sandbox": {"workers": 1, "timeoutSeconds": 10},
        "storage": {"size": "1Gi"},
    }
    spec.update(spec_overrides)
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND,
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}", "resourceVersion": "1"}, "spec": spec}


def fake_phase(state: Path, step: Step, run_yaml: Path) -> tuple[int, StepRecord | None]:
    """Stand-in for the real phases: succeeds at once with the small result each phase reports."""
    result: dict[str, Any] = {}
    if step.phase.value in ("tasks", "init"):
        result = {"archive": 2, "pool": 10}
    if step.phase.value in ("select", "sync"):
        result = {"archive": 2, "bestFitness": 0.5 + step.generation / 10, "meanFitness": 0.4, "coverage": 0.6, "pool": 10}
    return 0, StepRecord("succeeded", result)


def real_phase(state: Path, step: Step, run_yaml: Path) -> tuple[int, StepRecord | None]:
    """What `acdc phase ... --state STATE --run RUN_YAML --termination-log TERMINATION` does,
    in-process, with its exit code."""
    try:
        record = execute(state, step, run_yaml, TERMINATION.get(), given_up=GIVEN_UP.get())
    except Exception as exc:
        logging.getLogger(__name__).exception("%s failed", step.name)
        if classify(exc) is Fault.INFRASTRUCTURE:
            return stopped_by_fault(step, exc, TERMINATION.get()), None
        return classify(exc).exit_code, None
    return (0 if record.status == "succeeded" else EXIT_REJECTED), record


PHASE_RUNNER: PhaseRunner = real_phase
"""The phase runner of every test and bench; see the module docstring."""


@dataclass
class Kubelet:
    """Plays the Job controller and kubelet against kmock; ``phase_runner`` runs each attempt.

    Event-driven, like the real controllers: it follows kmock's Job event bus (no scan of
    every Job each few ms, which cost the bench most of its CPU at ten runs) and sweeps the
    Jobs once a second only to pick up what a pause held back. ``concurrent`` plays Jobs
    side by side (the bench's fake phases); the tests play one at a time, as before.
    Every successful attempt is appended to ``executed.log`` on the 'PVC', whatever the runner.
    """

    server: Any
    state: Path
    phase_runner: PhaseRunner = PHASE_RUNNER
    attempts: dict[str, int] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    paused: bool = False
    seen: dict[str, float] = field(default_factory=dict)
    concurrent: bool = False
    sweep_s: float = 1.0
    playing: set[str] = field(default_factory=set)
    pods_lost: set[str] = field(default_factory=set)
    """Jobs whose pods are gone before the operator reads them (a node scaled away, pod GC)."""
    held: set[str] = field(default_factory=set)
    """Jobs it leaves alone, for the test to play their pods and end."""

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {key[2]: obj.raw for key, obj in self.server.objects.items()
                if key[0] == JOBS and not obj.deleted}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def listen() -> None:
            async for event in self.server._buses[JOBS]:  # kmock's own event bus: what watches see
                events.put_nowait(event.get("object") or {})

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0)
        try:
            for job in self.jobs().values():
                events.put_nowait(job)
            while True:
                try:
                    # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that arrives with an
                    # event (the test's end, as the last Jobs are deleted) and this loop then runs
                    # on, so the test hung forever waiting for it to stop.
                    async with asyncio.timeout(self.sweep_s):
                        batch = [await events.get()]
                except TimeoutError:
                    batch = list(self.jobs().values())
                while not events.empty():
                    batch.append(events.get_nowait())
                for job in batch:
                    name = (job.get("metadata") or {}).get("name")
                    if name:
                        self.seen.setdefault(name, loop.time())
                    if name and not self.paused and self._runnable(name):
                        if self.concurrent:
                            self.playing.add(name)
                            asyncio.create_task(self._play_once(name))
                        else:
                            await self._play_once(name)
        finally:
            listening.cancel()

    def _runnable(self, name: str) -> bool:
        """The Job as the store holds it now (events may be stale): unfinished, admitted, not yet played."""
        if name in self.playing or name in self.held:
            return False
        try:
            found = self.server.objects[JOBS, NAMESPACE, name]
        except KeyError:
            return False
        if found.deleted:
            return False
        job = found.raw
        return not (job.get("status") or {}).get("conditions") and not job["spec"].get("suspend")

    async def _play_once(self, name: str) -> None:
        self.playing.add(name)
        try:
            found = self.server.objects[JOBS, NAMESPACE, name]
            if not found.deleted:  # a concurrent play starts a moment after its Job was found runnable
                await self._play(name, found.raw)
        finally:
            self.playing.discard(name)

    async def _play(self, name: str, job: dict[str, Any]) -> None:
        if "acdc.dev/evaluation" in job["metadata"]["labels"]:
            return await self._play_command(name, job)
        step = Step.parse(job["metadata"]["labels"]["acdc.dev/step"])
        backoff = job["spec"]["backoffLimit"]
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        GIVEN_UP.set(frozenset(value for flag, value in zip(command, command[1:], strict=False) if flag == "--given-up"))
        for played in range(1, backoff + 2):
            attempt = self.attempts.get(name, 0)
            self.attempts[name] = attempt + 1
            termination = self.state.parent / "mounts" / f"{name}-{attempt}.termination"
            TERMINATION.set(termination)
            # In a worker thread: a real phase takes seconds and must not stall kmock's loop.
            code, record = await asyncio.to_thread(_counted, self.phase_runner, self.state, step, self._mount_spec(job))
            await self._pod(job, attempt, code, record, termination.read_text() if termination.exists() else None)
            if code == 0:
                with (self.state / "executed.log").open("a") as log:
                    log.write(step.name + "\n")
                return await self._finish(name, played, "Complete", "Completed")
            if code in (EXIT_REJECTED, EXIT_INFRASTRUCTURE):  # the Job's pod failure policy, in the Job controller's words
                return await self._finish(name, played, "Failed", "PodFailurePolicy", f"Container phase for pod "
                                          f"{NAMESPACE}/{name}-{attempt} failed with exit code {code} matching "
                                          "FailJob rule at index 1")
        await self._finish(name, backoff + 1, "Failed", "BackoffLimitExceeded")

    async def _play_command(self, name: str, job: dict[str, Any]) -> None:
        """An evaluation Job: its container's own `acdc ...` command against the 'PVC'.

        In-process, except a Job whose env carries a Secret: that one runs in a child process
        with the pod's env (Secrets resolved, /state mapped), as its pod would, so neither the
        secret nor the pod's settings leak into the test process that every other Job shares."""
        from acdc.cli.main import main
        from acdc.controller.job_manifest import SPEC_FILE, STATE_MOUNT, TERMINATION_LOG

        container = job["spec"]["template"]["spec"]["containers"][0]
        termination = self.state.parent / "mounts" / f"{name}.termination"
        mounts = {STATE_MOUNT: str(self.state), SPEC_FILE: str(self._mount_spec(job)), TERMINATION_LOG: str(termination)}
        argv = [mounts.get(arg, arg) for arg in container["command"][1:]]
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if any("secretKeyRef" in (var.get("valueFrom") or {}) for var in container.get("env", [])):
            env = {**os.environ, **self._pod_env(container["env"])}
            process = await asyncio.create_subprocess_exec(sys.executable, "-m", "acdc.cli.main", *argv, env=env)
            code = await process.wait()
        else:
            code = await asyncio.to_thread(_counted, main, argv)
        message = termination.read_text() if termination.exists() else None
        await self._pod(job, 0, code, None, message)
        with (self.state / "executed.log").open("a") as log:
            log.write(name + "\n")
        await self._finish(name, 1, "Complete" if code == 0 else "Failed", "Completed" if code == 0 else "BackoffLimitExceeded")

    def _pod_env(self, variables: list[dict[str, Any]]) -> dict[str, str]:
        """A container's env as its pod sees it: literal values (paths under /state on the 'PVC')
        and Secret keys read from the API (a missing one fails, as the pod would not start)."""
        from acdc.controller.job_manifest import STATE_MOUNT

        out = {}
        for var in variables:
            if "value" in var:
                value = var["value"]
                out[var["name"]] = str(self.state) + value[len(STATE_MOUNT):] if value.startswith(STATE_MOUNT) else value
            elif ref := (var.get("valueFrom") or {}).get("secretKeyRef"):
                secret = self.server.objects[SECRETS, NAMESPACE, ref["name"]].raw
                out[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        return out

    def _mount_spec(self, job: dict[str, Any]) -> Path:
        """The Job's spec ConfigMap as the file its container sees at /etc/acdc/run.yaml."""
        volumes = job["spec"]["template"]["spec"]["volumes"]
        configmap = next(v["configMap"]["name"] for v in volumes if "configMap" in v)
        data = self.server.objects[CONFIGMAPS, NAMESPACE, configmap].raw["data"]
        mount = self.state.parent / "mounts" / configmap
        mount.mkdir(parents=True, exist_ok=True)
        for key, text in data.items():
            (mount / key).write_text(text)
        return mount / "run.yaml"

    async def _pod(self, job: dict[str, Any], attempt: int, code: int, record: StepRecord | None,
                   message: str | None = None) -> None:
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        if name in self.pods_lost:
            return
        terminated: dict[str, Any] = {"exitCode": code, **({"reason": "OOMKilled"} if code == OOM_KILLED else {})}
        if record is not None or message is not None:
            terminated["message"] = message if message is not None else json.dumps(record.to_dict())
        # As the Job controller labels and owns its pods: by the Job's name and, what tells a
        # Job from a namesake created after it, its uid.
        labels = {**job["spec"]["template"]["metadata"]["labels"], "batch.kubernetes.io/job-name": name,
                  "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": True}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{name}-{attempt}", "namespace": NAMESPACE, "labels": labels,
                            "ownerReferences": [owner]},
               "status": {"containerStatuses": [{"name": "phase", "state": {"terminated": terminated}}]}}
        async with self.server.post(f"/api/v1/namespaces/{NAMESPACE}/pods", json=pod) as response:
            assert response.status < 300, await response.text()

    async def _finish(self, name: str, attempts: int, type_: str, reason: str, message: str | None = None) -> None:
        # The pod counts, as the Job controller keeps them (``status.successful`` selects on them),
        # and its times on CLOCK_START's clock (a completionTime only for a Job that succeeded).
        counts = {"succeeded": 1} if type_ == "Complete" else {"failed": self.attempts.get(name, 1)}
        end = (CLOCK_START + datetime.timedelta(hours=attempts)).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {"type": type_, "status": "True", "reason": reason, "message": message or reason,
                     "lastTransitionTime": end}
        times = {"startTime": CLOCK_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 **({"completionTime": end} if type_ == "Complete" else {})}
        status = {"status": {"conditions": [condition], **counts, **times}}
        async with self.server.patch(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}/status", json=status) as response:
            assert response.status < 300 or response.status == 404, await response.text()  # 404: run deleted meanwhile
        self.finished[name] = asyncio.get_running_loop().time()


def _counted(work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work`` (in a worker thread) with its CPU counted as the run's progress."""
    with counted_work():
        return work(*args)


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` as a task of the running loop for the block's duration; cancel it at the end."""
    task = asyncio.create_task(work)
    await asyncio.sleep(0)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def kubelet(server: Any, state: Path, phase_runner: PhaseRunner = PHASE_RUNNER):
    player = Kubelet(server, state, phase_runner)
    async with in_background(player.run()):
        yield player


def run_object(server: Any, name: str = "demo") -> dict[str, Any] | None:
    obj = server.objects.get((RUNS, NAMESPACE, name)) if hasattr(server.objects, "get") else None
    for key, value in server.objects.items():
        if key[0] == RUNS and key[2] == name and not value.deleted:
            return value.raw
    return obj


WATCHED: list[Any] = []
"""The fake cluster of the running test (the ``cluster`` fixture sets it): what ``wait_for``
reads progress from."""


def cluster_progress(server: Any) -> str:
    """A fingerprint of what moves when runs advance: each run's status (kopf's own
    bookkeeping aside) and each Job (created, suspended, finished, deleted). Writes that change
    nothing (a no-op patch, an Event, a failed retry) leave it as it was."""
    runs, jobs = [], []
    for key, obj in list(server.objects.items()):
        if obj.deleted:
            continue
        if key[0] == RUNS:
            runs.append((key[2], {k: v for k, v in (obj.raw.get("status") or {}).items() if k != "kopf"}))
        elif key[0] == JOBS:
            jobs.append((key[2], bool(obj.raw["spec"].get("suspend")), (obj.raw.get("status") or {}).get("conditions")))
    return json.dumps([sorted(runs, key=lambda run: run[0]), sorted(jobs, key=lambda job: job[0])], sort_keys=True)


def run_stall_watch(server: Any, stall_s: float = STALL_S) -> StallWatch:
    """Progress of the runs on ``server``: their status and Jobs moving, or a phase the
    kubelet stand-in plays using CPU. The operator idling or retrying in vain is not progress."""
    return StallWatch(work_cpu_seconds, lambda: cluster_progress(server), stall_s=stall_s)


async def wait_for(predicate: Callable[[], Any]) -> Any:
    """Poll ``predicate`` until it holds; fail once the run has stalled (``run_stall_watch`` on the
    running test's cluster), never on a deadline (tests.progress), and at once when the fake API
    server failed a request by a bug of its own (``ChaosEmulator.internal_errors``): the operator's
    retries of such a 500 look like a stall, minutes later, with the cause buried in kopf's log."""
    server = WATCHED[-1] if WATCHED else None
    watcher = run_stall_watch(server) if server is not None else StallWatch(work_cpu_seconds)
    while True:
        value = predicate()
        if value:
            return value
        broken = getattr(server, "internal_errors", None)
        if broken:
            raise AssertionError(f"the fake API server failed {len(broken)} request(s) by its own fault: {broken[:3]}")
        if not watcher.moved():
            raise AssertionError(f"condition not reached: the run made no progress for {watcher.stall_s:.0f} s")
        await asyncio.sleep(0.05)
