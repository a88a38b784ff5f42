"""Whole runs through a hostile API server: errors, timeouts, lost and repeated watch events, and
an operator killed again and again. Each run must end with the archive of an undisturbed run,
byte for byte, each Job created once, and never sit still.

The operator is the real `acdc operator` process (so a kill is a SIGKILL) with a 1 s resync;
the server is ``ChaosEmulator`` (bookmarks; a watch resumes from its resourceVersion, so nothing
is re-sent and an event the chaos drops stays lost, as on a real cluster); the Jobs run the real
phase commands on the toy world.
``ACDC_CHAOS_LOG=debug`` gives the operator processes' log (tmp_path/operator.log) kopf's and
urllib3's detail, for a failure's post-mortem.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acdc.controller.kube import USER_AGENT
from tests.controller.chaos import ChaosEmulator, KillSwitch
from tests.controller.cluster import (
    CONFIGMAPS,
    NAMESPACE,
    Kubelet,
    cluster_progress,
    kubelet,
    run_body,
    run_object,
    run_stall_watch,
)
from tests.progress import StallWatch
from tests.runner.test_local_run import final_state

pytestmark = pytest.mark.kmock(cls=ChaosEmulator)

STALL_S = 90.0
"""A run that makes no progress at all (no Job created, suspended or finished, no status change,
no phase using CPU) for this long is stalled: with a 1 s resync, any lost event is repaired in
about a second."""


KILL_SPREAD = 5
"""Kill points cycle through requests 1..5 of a process (a step of 3, coprime to 5): a
reconcile is about 4-10 requests, so kills land before and after reads, creates and status
patches, and some lives finish one."""


def kill_point(life: int, barren: int) -> tuple[int, bool]:
    """(request to die at, whether a write there lands first) for the ``life``-th operator process.

    The (point, landed) pairs cycle with period 2 x KILL_SPREAD, so every point is hit both
    before and after its write lands. ``barren`` counts the lives in a row that ended with no
    progress at all: each adds KILL_SPREAD requests. Without it the schedule itself can livelock
    a run: re-applying the run's infrastructure takes 9 requests before the status patch that
    saves it, every point of the cycle kills before that patch lands, and the run never moves.
    """
    return 1 + (life * 3) % KILL_SPREAD + KILL_SPREAD * barren, (life + life // KILL_SPREAD) % 2 == 0


def start_operator(log: Path) -> subprocess.Popen[str]:
    """`acdc operator` as in a pod: one process, which the kill switch may SIGKILL."""
    env = {**os.environ, "ACDC_RESYNC_SECONDS": "1", "ACDC_API_TIMEOUT_SECONDS": "0.5"}
    level = ["--log-level", os.environ["ACDC_CHAOS_LOG"]] if os.environ.get("ACDC_CHAOS_LOG") else []
    with log.open("a") as out:
        out.write(f"--- operator starts at {time.time():.3f}\n")
        return subprocess.Popen([sys.executable, "-m", "acdc.cli.main", "operator", "-A", "--standalone",
                                 "--metrics-port", "0", "--health-port", "0", *level], env=env, stdout=out, stderr=out,
                                text=True)


def describe(server: Any, player: Kubelet, processes: list[subprocess.Popen[str]]) -> str:
    """What a stalled run looks like: its status, its Jobs, the kubelet, the operator, the chaos."""
    status = (run_object(server) or {}).get("status") or {}
    jobs = {name: ("finished" if (job.get("status") or {}).get("conditions") else
                   "suspended" if job["spec"].get("suspend") else "playing" if name in player.playing else "waiting")
            for name, job in player.jobs().items()}
    lines = [f"status: phase {status.get('phase')} generation {status.get('generation')} "
             f"progress {sorted(status.get('progress') or {})} kopf {status.get('kopf')}",
             f"conditions: {[(c.get('type'), c.get('status'), c.get('reason')) for c in status.get('conditions') or []]}",
             f"jobs: {jobs}", f"kubelet paused {player.paused}, attempts {player.attempts}",
             f"operators: {[(p.pid, p.poll()) for p in processes]}",
             f"chaos: {dict(server.chaos.injected)}, kills {server.kill.kills} armed {server.kill.pid} "
             f"at {server.kill.at} after {server.kill.requests} requests"]
    return "\n".join(lines)


async def until(done: Callable[[], bool], watcher: StallWatch, *, tick: Callable[[], None] = lambda: None,
                describe: Callable[[], str] = lambda: "") -> None:
    """Wait for ``done``; fail only if the run stops moving (``run_stall_watch``) for STALL_S."""
    while not done():
        tick()
        await asyncio.sleep(0.1)
        if not watcher.moved():
            raise AssertionError(f"run stalled: no progress for {watcher.stall_s:.0f} s\n{describe()}")


def phase(server: Any) -> str | None:
    return ((run_object(server) or {}).get("status") or {}).get("phase")


async def create_run(server: Any) -> None:
    async with server.post(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns", json=run_body()) as response:
        assert response.status < 300, await response.text()


async def finish_run(server: Any, state: Path, tmp: Path, kills: KillSwitch | None = None) -> Kubelet:
    """Run the tiny run to Succeeded; with ``kills``, every operator process is armed to die at
    one of its first few requests (before or after a write lands) and a fresh one replaces it."""
    processes: list[subprocess.Popen[str]] = []
    marks: list[str] = []  # the run's progress when each process started
    barren = 0

    def launch() -> None:
        processes.append(start_operator(tmp / "operator.log"))
        marks.append(cluster_progress(server))
        if kills is not None:
            at, applied = kill_point(len(processes), barren)
            kills.arm(processes[-1].pid, at=at, applied=applied)

    def relaunch() -> None:
        nonlocal barren
        if kills is not None and processes[-1].poll() is not None:
            barren = barren + 1 if cluster_progress(server) == marks[-1] else 0
            launch()

    async with kubelet(server, state) as player:
        try:
            launch()
            await create_run(server)
            await until(lambda: phase(server) == "Succeeded", run_stall_watch(server, STALL_S), tick=relaunch,
                        describe=lambda: describe(server, player, processes))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                process.wait()
    return player


_REFERENCE: dict[str, str] = {}


@pytest.fixture
async def reference(tmp_path_factory: pytest.TempPathFactory, toy_world: Path, monkeypatch) -> dict[str, str]:  # noqa: F811
    """The final state of the same run without any chaos: computed once, on the test's own loop."""
    if not _REFERENCE:
        import kmock

        from tests.controller.cluster import declare, write_kubeconfig

        folder = tmp_path_factory.mktemp("undisturbed")
        state = folder / "pvc"
        state.mkdir()
        async with ChaosEmulator() as server, kmock.Server(server):
            declare(server)
            with monkeypatch.context() as patch:
                patch.setenv("KUBECONFIG", str(write_kubeconfig(folder / "kubeconfig", str(server.url).rstrip("/"))))
                await finish_run(server, state, folder)
        _REFERENCE.update(final_state(state))
    return _REFERENCE


def assert_same_run(server: Any, state: Path, player: Kubelet, reference: dict[str, str]) -> None:
    assert final_state(state) == reference
    jobs = {name: count for name, count in server.created.items() if name.startswith("jobs/")}
    assert jobs and all(count == 1 for count in jobs.values()), {n: c for n, c in jobs.items() if c > 1}
    assert all(count == 1 for count in player.attempts.values())  # no step ran twice


async def test_api_errors_timeouts_and_lost_watch_events_never_stall_a_run(cluster, state, tmp_path, reference):
    chaos = cluster.chaos
    chaos.every, chaos.timeout_s = 4, 1.0  # one request in four of each method fails
    chaos.drop_rate, chaos.duplicate_rate = 0.3, 0.2
    player = await finish_run(cluster, state, tmp_path)
    injected = chaos.injected
    for kind in ("500 POST", "409 POST", "timeout POST", "500 PATCH", "409 PATCH", "timeout PATCH", "500 GET",
                 "timeout GET", "dropped event", "duplicated event"):
        assert injected[kind], f"no {kind} was injected: {dict(injected)}"
    assert_same_run(cluster, state, player, reference)


async def test_operator_killed_again_and_again_finishes_the_same_run(cluster, state, tmp_path, reference):
    """Each operator process is SIGKILLed at one of its first KILL_SPREAD requests."""
    player = await finish_run(cluster, state, tmp_path, kills=cluster.kill)
    assert cluster.kill.kills >= 20, f"only {cluster.kill.kills} kills"
    assert_same_run(cluster, state, player, reference)


async def test_a_watch_from_a_lists_resource_version_misses_nothing(cluster):
    """As on a real server (and unlike plain kmock): kopf lists, then watches from the list's
    resourceVersion; an object created in between arrives, and nothing from before is re-sent."""
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"

    async def create(name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}}
        async with cluster.post(path, json=body) as response:
            assert response.status < 300

    await create("early")
    async with cluster.get(path) as response:
        since = (await response.json())["metadata"]["resourceVersion"]
    await create("late")  # between the list and the watch
    async with cluster.get(f"{path}?watch=true&resourceVersion={since}") as response:
        lines = [await response.content.readline() for _ in range(3)]  # a bookmark comes each second anyway
    events = [json.loads(line) for line in lines if line.strip()]
    names = [event["object"]["metadata"].get("name") for event in events if event["type"] != "BOOKMARK"]
    assert names[:1] == ["late"] and "early" not in names, events


async def test_a_watch_from_a_compacted_resource_version_is_told_410_gone(cluster, monkeypatch):
    """Past the kept history the server answers 410 Gone, and kopf lists again (bounded memory)."""
    import tests.controller.chaos as chaos

    monkeypatch.setattr(chaos, "HISTORY", 1)
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    for name in ("a", "b", "c"):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}}
        async with cluster.post(path, json=body) as response:
            assert response.status < 300
    async with cluster.get(f"{path}?watch=true&resourceVersion=0") as response:
        lines = [await response.content.readline() for _ in range(2)]
    events = [json.loads(line) for line in lines if line.strip()]
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410, events


async def test_a_stale_json_patch_is_told_422_and_changes_nothing(cluster):
    """kopf removes its finalizer by a JSON patch that first tests the resourceVersion it read. If the
    object changed since, a real server applies nothing and answers 422, and kopf patches again from
    the fresh object at once; a 500 (plain kmock's answer) kopf retried unchanged for about a minute."""
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": NAMESPACE, "finalizers": ["x/y"]}}
    async with cluster.post(path, json=body) as response:
        read = (await response.json())["metadata"]["resourceVersion"]
    async with cluster.patch(f"{path}/cm", json={"metadata": {"labels": {"moved": "on"}}}) as response:
        assert response.status == 200
    stale = [{"op": "test", "path": "/metadata/resourceVersion", "value": read}, {"op": "remove", "path": "/metadata/finalizers"}]
    headers = {"Content-Type": "application/json-patch+json", "User-Agent": "kopf/test"}
    async with cluster.patch(f"{path}/cm", data=json.dumps(stale), headers=headers) as response:
        assert response.status == 422, await response.text()
    assert cluster.objects[CONFIGMAPS, NAMESPACE, "cm"]["metadata"]["finalizers"] == ["x/y"]
    assert not cluster.internal_errors


async def test_a_run_marked_for_deletion_is_served_and_a_deleted_one_is_404(cluster):
    """As a real server: a run with a deletionTimestamp and a finalizer is read and patched like any
    other; once its finalizer goes, it is gone: 404 for the operator's reads and writes of it and of
    its deleted objects (the emulator's request accounting read them and answered 500)."""
    runs = f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns"
    claims = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"
    ours = {"User-Agent": USER_AGENT}
    body = run_body()
    body["metadata"]["finalizers"] = ["acdc.dev/cleanup"]
    async with cluster.post(runs, json=body) as response:
        assert response.status < 300
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "demo-state", "namespace": NAMESPACE, "labels": {"acdc.dev/run": "demo"}}}
    async with cluster.post(claims, json=claim) as response:
        assert response.status < 300
    async with cluster.delete(f"{runs}/demo") as response:
        assert response.status == 200
    async with cluster.get(f"{runs}/demo", headers=ours) as response:
        assert response.status == 200 and (await response.json())["metadata"]["deletionTimestamp"]
    async with cluster.patch(f"{runs}/demo/status", json={"status": {"phase": "Running"}}, headers=ours) as response:
        assert response.status == 200, await response.text()
    async with cluster.delete(f"{claims}/demo-state", headers=ours) as response:
        assert response.status == 200
    async with cluster.patch(f"{runs}/demo", json={"metadata": {"finalizers": None}}, headers=ours) as response:
        assert response.status == 200
    for method, url in (("GET", f"{runs}/demo"), ("PATCH", f"{runs}/demo"), ("GET", f"{claims}/demo-state"),
                        ("DELETE", f"{claims}/demo-state")):
        async with cluster.request(method, url, json={} if method == "PATCH" else None, headers=ours) as response:
            assert response.status == 404, f"{method} {url}: {response.status} {await response.text()}"
    async with cluster.get(f"{claims}?labelSelector=acdc.dev/run%3Ddemo", headers=ours) as response:
        assert response.status == 200 and (await response.json())["items"] == []
    assert not cluster.internal_errors


async def test_objects_created_with_a_generated_name_each_get_their_own(cluster):
    """kopf posts its Events with ``generateName`` only: each is stored under a name of its own."""
    path = f"/api/v1/namespaces/{NAMESPACE}/events"
    named = []
    for _ in range(2):
        body = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "kopf-event-", "namespace": NAMESPACE}}
        async with cluster.post(path, json=body) as response:
            assert response.status < 300, await response.text()
            named.append((await response.json())["metadata"]["name"])
    assert len(set(named)) == 2 and all(name.startswith("kopf-event-") for name in named)
    assert not cluster.internal_errors
