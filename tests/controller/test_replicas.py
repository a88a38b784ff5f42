"""Two operator replicas: kopf peering lets only the higher-priority one act."""

from __future__ import annotations

from tests.controller.cluster import PEERINGS, kubelet, operator, run_body, wait_for
from tests.controller.test_operator_run import create_run, phase_of


def job_creations(cluster) -> list[str]:
    return [r.data["metadata"]["name"] for r in cluster.log if r.method.value == "POST" and str(r.url.path).endswith("/jobs")]


async def test_two_replicas_only_the_active_peer_acts(cluster, state):
    cluster.objects[PEERINGS, None, "acdc-operator"] = {
        "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "acdc-operator"}, "status": {}}
    async with kubelet(cluster, state), operator("--peering", "acdc-operator", "--priority", "100"), \
            operator("--peering", "acdc-operator", "--priority", "10"):
        await wait_for(lambda: len(cluster.objects[PEERINGS, None, "acdc-operator"].raw.get("status", {})) == 2)
        peers = cluster.objects[PEERINGS, None, "acdc-operator"].raw["status"].values()
        priorities = sorted(peer["priority"] for peer in peers)
        await create_run(cluster, run_body())
        await wait_for(lambda: phase_of(cluster) == "Succeeded")
    assert priorities == [10, 100]
    created = job_creations(cluster)
    assert created and len(created) == len(set(created))  # a second actor would have hit 409s
    executed = (state / "executed.log").read_text().split()
    assert len(executed) == len(set(executed))
