"""A small dict-in, dict-out Kubernetes API client for the few calls the operator makes.

The typed ``kubernetes`` client turns every object into generated classes; the operator
builds and reads plain manifests, so it uses the client's connection handling
(kubeconfig, in-cluster token, TLS) and sends JSON itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import kubernetes.config
from kubernetes.client import ApiClient, Configuration

from acdc.controller.ownership import NotOwned, owns
from acdc.spec import API_GROUP, API_VERSION, PLURAL


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path


RUNS = Resource(API_GROUP, API_VERSION, PLURAL)
JOBS = Resource("batch", "v1", "jobs")
PODS = Resource("", "v1", "pods")
CONFIGMAPS = Resource("", "v1", "configmaps")
CLAIMS = Resource("", "v1", "persistentvolumeclaims")
SERVICES = Resource("", "v1", "services")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
SECRETS = Resource("", "v1", "secrets")
EVENTS = Resource("", "v1", "events")
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies")
BY_KIND = {
    "Job": JOBS, "ConfigMap": CONFIGMAPS, "PersistentVolumeClaim": CLAIMS, "Service": SERVICES,
    "Deployment": DEPLOYMENTS, "NetworkPolicy": NETWORK_POLICIES, "Pod": PODS,
}
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
"""Accept header asking for an object's metadata alone: reading a Secret's annotations
must not bring its data into the operator."""


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def api_configuration() -> Configuration:
    """Connection settings from the service account in a pod, else from $KUBECONFIG (read
    here, not at import: the kubernetes package reads it once, when first imported)."""
    configuration = Configuration()
    if in_cluster():
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    else:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)
    return configuration


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _selector(pairs: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in pairs.items())


USER_AGENT = "acdc-operator"
"""What the operator's calls say they are in the API server's audit log (not the client library's default)."""

REQUEST_TIMEOUT_S = 30.0
"""No call may hang a reconcile (and its run's lock): a slow API server is an error, retried."""


class Kube:
    def __init__(self, configuration: Configuration, timeout_s: float = REQUEST_TIMEOUT_S,
                 user_agent: str = USER_AGENT) -> None:
        self.client = ApiClient(configuration)
        self.client.user_agent = user_agent
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
              query: list[tuple[str, str]] | None = None, accept: str = "application/json") -> Any:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, payload, _ = self.client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self.client.call_api(method, url, header_params=headers, body=payload, _request_timeout=self.timeout_s)
        raw = response.read()
        if response.status >= 400:
            raise ApiError(response.status, raw.decode(errors="replace")[:500])
        return json.loads(raw) if raw else None

    def stream(self, path: str, read_timeout_s: float) -> Any:
        """GET ``path`` without reading the body: the caller reads the returned urllib3
        response in chunks (a pod proxy streaming a large file). The connection must open
        within the usual timeout, each read within ``read_timeout_s`` (no bound on the total:
        a large download takes as long as it takes). ApiError on >= 400."""
        method, url, headers, _, _ = self.client.param_serialize(
            "GET", path, header_params={"Accept": "*/*"}, auth_settings=["BearerToken"])
        response = self.client.rest_client.request(method, url, headers=headers,
                                                   _request_timeout=(self.timeout_s, read_timeout_s))
        raw = response.response
        if response.status >= 400:
            raise ApiError(response.status, raw.read(2000).decode(errors="replace").strip())
        return raw

    def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(res, namespace, name, "application/json")

    def get_metadata(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object's metadata only (name, labels, annotations); None if it does not exist."""
        found = self._get(res, namespace, name, METADATA_ONLY)
        return None if found is None else found.get("metadata") or {}

    def _get(self, res: Resource, namespace: str, name: str, accept: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] | None = self._call("GET", res.path(namespace, name), accept=accept)
            return found
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def events_about(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The Events whose involvedObject is ``kind``/``name`` (filtered here too, as ``list``)."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        items = self._call("GET", EVENTS.path(namespace), query=[("fieldSelector", selector)])["items"]
        about = [(item, item.get("involvedObject") or {}) for item in items]
        return [item for item, subject in about if subject.get("kind") == kind and subject.get("name") == name]

    def list(self, res: Resource, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        """Objects carrying ``labels``; filtered here too, since not every server honours selectors."""
        items = self._call("GET", res.path(namespace), query=[("labelSelector", _selector(labels))])["items"]
        return [item for item in items
                if all((item.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in labels.items())]

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create ``manifest``; False if the run's own object of that name exists (names are
        deterministic: that is a retry). NotOwned if somebody else's does (``ownership.owns``)."""
        return self.create_or_existing(manifest) is None

    def apply(self, manifest: dict[str, Any], update: bool = True) -> None:
        """Create ``manifest``, or merge-patch the run's existing object of that name to it.

        An existing object that is not the run's is never touched: NotOwned is raised.
        ``update=False`` leaves the run's own object as it is (a bound claim's spec is immutable).
        """
        existing = self.create_or_existing(manifest)
        if existing is not None and update:
            meta = manifest["metadata"]
            patch = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind", "metadata")}
            patch["metadata"] = {"labels": meta.get("labels", {})}
            self.patch(BY_KIND[manifest["kind"]], meta["namespace"], meta["name"], patch)

    def create_or_existing(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """None once ``manifest`` is created; else the run's own existing object of its name
        (it may be being deleted: the caller decides what that means). NotOwned as ``create``."""
        res = BY_KIND[manifest["kind"]]
        meta = manifest["metadata"]
        for _ in range(2):  # a namesake deleted between the 409 and the GET: create again, once
            try:
                self._call("POST", res.path(meta["namespace"]), manifest)
                return None
            except ApiError as exc:
                if exc.status != 409:
                    raise
            existing = self.get(res, meta["namespace"], meta["name"])
            if existing is not None:
                if not owns(manifest, existing):
                    raise NotOwned(manifest["kind"], meta["name"])
                return existing
        raise ApiError(409, f"{manifest['kind']} {meta['name']} keeps reappearing")

    def patch(self, res: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None) -> Any:
        return self._call("PATCH", res.path(namespace, name, subresource), patch, "application/merge-patch+json")

    def delete_collection(self, res: Resource, namespace: str, labels: dict[str, str],
                          fields: dict[str, str] | None = None) -> tuple[str, ...]:
        """Delete every object carrying ``labels`` (and matching ``fields``) in one request,
        pods of Jobs too (background propagation); returns the names the server deleted.

        One call however many objects: a closed generation's Jobs go at a constant cost."""
        query = [("labelSelector", _selector(labels))]
        if fields:
            query.append(("fieldSelector", _selector(fields)))
        found = self._call("DELETE", res.path(namespace), {"propagationPolicy": "Background"}, query=query)
        return tuple(item["metadata"]["name"] for item in (found or {}).get("items") or [])

    def delete(self, res: Resource, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete (pods of Jobs too: background propagation); False if it was already gone.

        ``uid`` is a precondition: the object checked before is the one deleted, not a
        namesake created in between.
        """
        options: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            self._call("DELETE", res.path(namespace, name), options)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
