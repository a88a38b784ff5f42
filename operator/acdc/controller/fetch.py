"""Fetch a finished run's report and task force from a cluster, through the API server only.

`acdc report --run NAME` and `acdc taskforce --run NAME --download DIR` start a reader pod
(``reader_pod``) on the run's volume, wait until it is ready, read through the API server's
pod proxy (``/api/v1/namespaces/NS/pods/POD:8080/proxy/...``) and delete the pod again.
The user needs no debugging pod, no port-forward and no access to the node; what RBAC
they need is in docs/evaluation.md (``acdc.controller.rbac.results_reader_rules``).
Every failure (no such run, a pod that cannot start, an HTTP error, a bundle that does not
match its manifest) is one line naming what went wrong.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from acdc.atomic import write_bytes
from acdc.controller.kube import PODS, RUNS, ApiError, Kube, api_configuration
from acdc.controller.reader_pod import build_reader_pod
from acdc.controller.run_ref import RunRef
from acdc.delivery.server import PORT
from acdc.delivery.unpack import unpack_bundle
from acdc.errors import UserError

POLL_S = 0.5
READ_TIMEOUT_S = 600.0  # per read: building a report or hashing a large task force takes a while
REPORT_LIMIT = 64 << 20


USER_AGENT = "acdc-results"
"""A user's fetch, told apart from the operator in audit logs; it needs only ``results_reader_rules``."""


class ClusterError(UserError):
    """The cluster refused or failed a step of the fetch."""


def connect() -> Kube:
    try:
        return Kube(api_configuration(), user_agent=USER_AGENT)
    except Exception as exc:  # kubeconfig missing or malformed: kubernetes raises several kinds
        raise ClusterError(f"cannot configure a Kubernetes client ({type(exc).__name__}: {str(exc)[:200]})") from None


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _why_not_ready(pod: dict[str, Any]) -> str:
    """The most telling reason a pod is not serving: unschedulable, image pull, crash."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("message"):
            return f"{condition.get('type')}: {condition['message']}"
    for container in status.get("containerStatuses") or []:
        for state in (container.get("state") or {}).values():
            if state and (state.get("reason") or state.get("message")):
                return f"{state.get('reason', '')} {state.get('message', '')}".strip()
    return f"phase {status.get('phase') or 'Pending'}"


class Reader:
    """A ready reader pod of one run; ``get`` streams one of its routes through the proxy."""

    def __init__(self, kube: Kube, namespace: str, pod: str) -> None:
        self.kube, self.namespace, self.pod = kube, namespace, pod

    def get(self, route: str) -> Any:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}:{PORT}/proxy{route}"
        try:
            return self.kube.stream(path, READ_TIMEOUT_S)
        except ApiError as exc:
            raise ClusterError(f"reader pod {self.pod}: GET {route} failed: {str(exc)[:300]}") from None


@contextmanager
def reader(kube: Kube, namespace: str, run: str, wait_s: float) -> Iterator[Reader]:
    """Start a reader pod on ``run``'s volume, yield it once ready, always delete it after."""
    from acdc.controller.reconcile import parse_spec
    from acdc.controller.volume_manifests import claim_name

    try:
        body = kube.get(RUNS, namespace, run)
        if body is None:
            raise ClusterError(f"no CoevolutionRun {namespace}/{run}")
        spec = parse_spec(body)
        ref = RunRef.from_body(body)
        pod = build_reader_pod(ref, claim_name(ref, spec), spec.images.worker, spec.images.pull_policy,
                               tuple(spec.images.pull_secrets))
        name = pod["metadata"]["name"]
        kube.create(pod)
    except ApiError as exc:
        raise ClusterError(f"run {namespace}/{run}: {str(exc)[:300]}") from None
    try:
        _wait_ready(kube, namespace, name, wait_s)
        yield Reader(kube, namespace, name)
    finally:
        try:
            kube.delete(PODS, namespace, name)
        except ApiError:
            pass  # activeDeadlineSeconds and the owner reference end it anyway


def _wait_ready(kube: Kube, namespace: str, name: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pod = kube.get(PODS, namespace, name) or {}
        except ApiError as exc:
            raise ClusterError(f"reader pod {name}: {str(exc)[:300]}") from None
        if _ready(pod):
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Failed", "Succeeded") or not pod:
            raise ClusterError(f"reader pod {name} stopped before serving: {_why_not_ready(pod)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"reader pod {name} not ready after {wait_s:.0f} s: {_why_not_ready(pod)}")
        time.sleep(POLL_S)


def _read_bounded(response: BinaryIO, limit: int, what: str) -> bytes:
    data = response.read(limit + 1)
    if len(data) > limit:
        raise ClusterError(f"{what} is larger than {limit} bytes; refusing it")
    return data


@contextmanager
def _one_line(what: str) -> Iterator[None]:
    """API and connection failures as one line (they are not acdc's own error types)."""
    import urllib3

    try:
        yield
    except ApiError as exc:
        raise ClusterError(f"{what}: {str(exc)[:300]}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise ClusterError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from None


def fetch_report(namespace: str, run: str, output: Path, wait_s: float) -> Path:
    kube = connect()
    with _one_line(f"fetching the report of {namespace}/{run}"), reader(kube, namespace, run, wait_s) as pod:
        data = _read_bounded(pod.get("/report.html"), REPORT_LIMIT, "the report")
    if b"<html" not in data[:4096].lower():
        raise ClusterError("the reader pod's answer is not an HTML report")
    write_bytes(output, data)
    return output


def fetch_task_force(namespace: str, run: str, size: int, destination: Path, max_bytes: int,
                     wait_s: float) -> dict[str, Any]:
    kube = connect()
    with _one_line(f"fetching the task force of {namespace}/{run}"), reader(kube, namespace, run, wait_s) as pod:
        return unpack_bundle(pod.get(f"/taskforce/{size}.tar"), destination, max_bytes)
