"""Tenant boundaries against the real operator (kmock): each crossing is refused with a
condition and an Event, and nothing is created for the run; opening the object lets it go on."""

from __future__ import annotations

import asyncio
from typing import Any

import kmock
import pytest

from acdc.controller.tenancy import TenancyPolicy
from tests.controller.cluster import CONFIGMAPS, JOBS, NAMESPACE, PVCS, operator, run_body, run_object, wait_for

EVENTS = kmock.resource("", "v1", "events")
EVENTS_V1 = kmock.resource("events.k8s.io", "v1", "events")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
KEYED = {"url": "https://llm.example.com/v1", "model": "gpt", "apiKeySecret": {"name": "openai"}}
LLM_SCIENTIST = {"kind": "llm", "endpoint": KEYED}


def admitted(cluster, name: str = "demo") -> dict[str, Any]:
    conditions = ((run_object(cluster, name) or {}).get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Admitted"), {})


def events(cluster, reason: str) -> list[dict[str, Any]]:
    return [obj.raw for key, obj in cluster.objects.items()
            if key[0] in (EVENTS, EVENTS_V1) and not obj.deleted and obj.raw.get("reason") == reason]


def live(cluster, resource) -> dict[str, dict[str, Any]]:
    return {key[2]: obj.raw for key, obj in cluster.objects.items() if key[0] == resource and not obj.deleted}


async def post(cluster, path: str, body: dict[str, Any]) -> None:
    async with cluster.post(path, json=body) as response:
        assert response.status < 300, await response.text()


async def create(cluster, kind: str, name: str, annotations: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None, **fields: Any) -> None:
    plural = {"Secret": "secrets", "ConfigMap": "configmaps", "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
    meta = {"name": name, "namespace": NAMESPACE, "annotations": annotations or {}, "labels": labels or {}}
    await post(cluster, f"/api/v1/namespaces/{NAMESPACE}/{plural}", {"apiVersion": "v1", "kind": kind,
                                                                      "metadata": meta, **fields})


async def create_run(cluster, body: dict[str, Any]) -> None:
    await post(cluster, f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns", body)


async def patch(cluster, path: str, body: dict[str, Any]) -> None:
    async with cluster.patch(path, json=body) as response:
        assert response.status < 300, await response.text()


async def refused(cluster, reason: str, *words: str) -> dict[str, Any]:
    """Wait for the refusal; check its condition, its Event, and that nothing was made for the run."""
    await wait_for(lambda: admitted(cluster).get("status") == "False")
    condition = admitted(cluster)
    assert condition["reason"] == reason, condition
    assert all(word in condition["message"] for word in words), condition["message"]
    await wait_for(lambda: events(cluster, reason))
    (event,) = events(cluster, reason)
    assert event["type"] == "Warning" and all(word in event["message"] for word in words)
    assert (event.get("involvedObject") or event.get("regarding") or {}).get("name") == "demo"
    assert not live(cluster, JOBS) and not live(cluster, DEPLOYMENTS)
    assert "demo-spec" not in live(cluster, CONFIGMAPS)
    return condition


async def admitted_and_started(cluster) -> None:
    await wait_for(lambda: admitted(cluster).get("status") == "True")
    await wait_for(lambda: "demo-g0000-init" in live(cluster, JOBS))


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch):
    """Set the operator's admin policy the way `acdc operator` hands it to the handlers."""
    def apply(**allowed: tuple[str, ...]) -> None:
        for name, value in TenancyPolicy(**allowed).to_env().items():
            monkeypatch.setenv(name, value)
    apply()
    return apply


async def test_api_key_secret_without_opt_in_is_refused_until_opened(cluster, policy):
    async with operator():
        await create(cluster, "Secret", "openai", stringData={"api-key": "sk-secret"})
        await create_run(cluster, run_body(scientist=LLM_SCIENTIST))
        await refused(cluster, "SecretNotAllowed", "'openai'", "spec.scientist.endpoint.apiKeySecret",
                      "acdc.dev/allow-runs")
        await patch(cluster, f"/api/v1/namespaces/{NAMESPACE}/secrets/openai",
                    {"metadata": {"annotations": {"acdc.dev/allow-runs": "other, demo"}}})
        await patch(cluster, f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo",
                    {"spec": {"suspend": True}})  # any spec edit reconciles again
        await wait_for(lambda: admitted(cluster).get("status") == "True")


async def test_secret_opened_to_other_runs_only_is_refused(cluster, policy):
    async with operator():
        await create(cluster, "Secret", "regcred", annotations={"acdc.dev/allow-runs": "other,demo-2"})
        await create_run(cluster, run_body(images={"pullSecrets": ["regcred"]}))
        await refused(cluster, "SecretNotAllowed", "'regcred'", "spec.images.pullSecrets[0]", "not open to this run")


async def test_missing_secret_is_refused(cluster, policy):
    async with operator():
        await create_run(cluster, run_body(scientist=LLM_SCIENTIST))
        await refused(cluster, "SecretNotAllowed", "'openai'", "does not exist")


async def test_admin_allow_list_admits_a_secret_without_annotation(cluster, policy):
    policy(allowed_secrets=(f"{NAMESPACE}/openai",))
    async with operator():
        await create(cluster, "Secret", "openai", stringData={"api-key": "sk-secret"})
        await create_run(cluster, run_body(scientist=LLM_SCIENTIST))
        await admitted_and_started(cluster)


async def test_opened_secret_is_injected_into_the_pods_that_use_it(cluster, policy):
    async with operator():
        await create(cluster, "Secret", "openai", annotations={"acdc.dev/allow-runs": "*"})
        await create_run(cluster, run_body(scientist=LLM_SCIENTIST))
        await admitted_and_started(cluster)
    container = live(cluster, JOBS)["demo-g0000-init"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "openai", "key": "api-key"} in [e["valueFrom"]["secretKeyRef"] for e in container["env"]
                                                     if "valueFrom" in e]


async def test_existing_claim_without_opt_in_is_refused(cluster, policy):
    async with operator():
        await create(cluster, "PersistentVolumeClaim", "team-data",
                     spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}})
        await create_run(cluster, run_body(storage={"existingClaim": "team-data"}))
        await refused(cluster, "ClaimNotAllowed", "'team-data'", "spec.storage.existingClaim")


async def test_existing_claim_opened_to_the_run_is_mounted(cluster, policy):
    async with operator():
        await create(cluster, "PersistentVolumeClaim", "team-data", annotations={"acdc.dev/allow-runs": "demo"},
                     spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}})
        await create_run(cluster, run_body(storage={"existingClaim": "team-data"}))
        await admitted_and_started(cluster)
    volumes = live(cluster, JOBS)["demo-g0000-init"]["spec"]["template"]["spec"]["volumes"]
    assert {"claimName": "team-data"} in [v["persistentVolumeClaim"] for v in volumes if "persistentVolumeClaim" in v]


async def test_image_outside_the_allowed_registries_is_refused(cluster, policy):
    policy(allowed_registries=("ghcr.io/acdc-operator",))
    async with operator():
        await create_run(cluster, run_body(images={"worker": "ghcr.io/acdc-operator-evil/worker:1"}))
        await refused(cluster, "ImageNotAllowed", "spec.images.worker", "ghcr.io/acdc-operator-evil/worker:1")


async def test_dangerous_server_flag_is_refused_and_no_server_is_deployed(cluster, policy):
    scientist = {"kind": "llm", "endpoint": {"deploy": {"model": "org/model", "extraArgs": ["--trust_remote_code"]}}}
    async with operator():
        await create_run(cluster, run_body(scientist=scientist))
        await refused(cluster, "ServerArgNotAllowed", "--trust_remote_code", "runs Python code")


async def test_foreign_object_of_the_same_name_is_not_overwritten(cluster, policy):
    async with operator():
        await create(cluster, "ConfigMap", "demo-spec", data={"owner": "someone else"})
        await create_run(cluster, run_body())
        await wait_for(lambda: admitted(cluster).get("reason") == "ObjectNotOwned")
        condition = admitted(cluster)
        assert condition["status"] == "False" and "ConfigMap 'demo-spec'" in condition["message"]
        await wait_for(lambda: events(cluster, "ObjectNotOwned"))
        await asyncio.sleep(0.3)
    assert live(cluster, CONFIGMAPS)["demo-spec"]["data"] == {"owner": "someone else"}
    assert not live(cluster, JOBS)


async def test_foreign_state_claim_is_neither_adopted_nor_deleted(cluster, policy):
    claim_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}
    async with operator():
        await create(cluster, "PersistentVolumeClaim", "demo-state", spec=claim_spec)
        await create_run(cluster, run_body(retention={"volumeOnDelete": "Delete"}))
        await wait_for(lambda: admitted(cluster).get("reason") == "ObjectNotOwned")
        assert "PersistentVolumeClaim 'demo-state'" in admitted(cluster)["message"]
        async with cluster.delete(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns/demo") as response:
            assert response.status < 300
        await wait_for(lambda: run_object(cluster) is None)
    assert "demo-state" in live(cluster, PVCS)
    assert not live(cluster, JOBS)


async def test_a_retained_claim_of_the_run_is_adopted(cluster, policy):
    labels = {"app.kubernetes.io/name": "acdc", "app.kubernetes.io/managed-by": "acdc-operator", "acdc.dev/run": "demo"}
    async with operator():
        await create(cluster, "PersistentVolumeClaim", "demo-state", labels=labels,
                     spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}})
        await create_run(cluster, run_body())
        await admitted_and_started(cluster)


async def test_foreign_job_of_a_steps_name_is_not_taken_for_the_step(cluster, policy):
    foreign = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "demo-g0000-init", "namespace": NAMESPACE},
               "spec": {"template": {"spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "x", "image": "busybox"}]}}}}
    async with operator():
        await post(cluster, f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", foreign)
        await create_run(cluster, run_body())
        await wait_for(lambda: admitted(cluster).get("reason") == "ObjectNotOwned")
        assert "Job 'demo-g0000-init'" in admitted(cluster)["message"]
        await wait_for(lambda: events(cluster, "ObjectNotOwned"))
    job = live(cluster, JOBS)["demo-g0000-init"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox" and not job["metadata"].get("labels")
    assert list(live(cluster, JOBS)) == ["demo-g0000-init"]
