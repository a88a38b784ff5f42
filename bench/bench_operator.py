"""Operator latency and API cost on kmock: a 3-generation toy run, the real operator process.

Prints the median delay from a Job's completion (the status PATCH) to the creation of
the next phase's Job, and the operator's API requests per generation. The baseline is
a design that polls runs every 10 s instead of watching Jobs (median delay 5 s).
Job creation is observed by a 5 ms poll of the server's store, so delays are +-5 ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import kmock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.controller.cluster import (  # noqa: E402
    NAMESPACE,
    Kubelet,
    declare,
    fake_phase,
    operator,
    run_body,
    run_object,
    write_kubeconfig,
)

GENERATIONS = 3
POLLING_BASELINE_S = 5.0


def operator_requests(server: kmock.KubernetesEmulator) -> int:
    """Requests other than the kubelet stand-in's (pod creation, Job status) and the bench's own."""
    count = 0
    for request in list(server):
        path, method = str(request.url.path), request.method.value
        if (method == "POST" and path.endswith("/pods")) or (method == "PATCH" and "/jobs/" in path):
            continue
        count += 1
    return count


async def main() -> None:
    async with kmock.KubernetesEmulator() as server, kmock.Server(server):
        declare(server)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["KUBECONFIG"] = str(write_kubeconfig(Path(tmp) / "kubeconfig", str(server.url).rstrip("/")))
            os.environ["ACDC_METRICS_PORT"] = "0"
            state = Path(tmp) / "pvc"
            state.mkdir()
            player = Kubelet(server, state, poll_s=0.005, phase_runner=fake_phase)  # the operator alone
            task = asyncio.create_task(player.run())
            body = run_body(population={"size": 2, "childrenPerGeneration": 2, "initialSize": 3, "generations": GENERATIONS - 1})
            async with operator():
                before = operator_requests(server)
                async with server.post(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns", json=body):
                    pass
                while ((run_object(server) or {}).get("status") or {}).get("phase") != "Succeeded":
                    await asyncio.sleep(0.01)
                requests = operator_requests(server) - before - 1
            task.cancel()
    completions = sorted(player.finished.values())
    delays = []
    for created in player.seen.values():
        earlier = [t for t in completions if t <= created]
        if earlier:
            delays.append(created - earlier[-1])
    print(f"jobs: {len(player.seen)}, generations: {GENERATIONS}")
    print(f"median Job completion -> next Job creation: {statistics.median(delays) * 1000:.0f} ms "
          f"(baseline, 10 s polling: {POLLING_BASELINE_S * 1000:.0f} ms)")
    print(f"operator API requests per generation: {requests / GENERATIONS:.1f} "
          f"({len(player.seen) / GENERATIONS:.1f} Jobs per generation)")


if __name__ == "__main__":
    asyncio.run(main())
