"""Tenant boundaries: what a run may use in its namespace that its author does not own.

A user allowed to create CoevolutionRuns is not thereby allowed to read the namespace's
Secrets or write its volumes; but the operator's pods run an image the user chose, so any
Secret or claim the operator wires into them is handed to the user. The operator
therefore only uses what was explicitly opened to runs, by the object's owner or by the
admin:

- a Secret (``apiKeySecret``, ``images.pullSecrets``) or an existing claim
  (``storage.existingClaim``) must carry the annotation ``acdc.dev/allow-runs`` with
  ``"*"`` or a comma-separated list of run names, or be listed in the operator's policy
  (chart values ``security.allowedSecrets`` / ``security.allowedClaims``);
- images must come from the admin's registries when ``security.allowedRegistries`` is set;
- ``deploy.extraArgs`` may not pass flags that load code or move the server (``server_args``).

A refused run gets the condition ``Admitted=False`` naming every refusal and a Warning
Event for each, and nothing is created or started for it; it is checked again on every
reconcile, so opening the object (or fixing the spec) lets it go on.

The policy reaches the kopf process as environment variables (``acdc operator`` sets them
from its flags, which the chart renders from its values), so the handlers need no
arguments and a test can set it like any other operator setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from acdc.controller import names
from acdc.controller.job_env import used_endpoint
from acdc.controller.kube import CLAIMS, SECRETS, ApiError, Kube, Resource
from acdc.controller.run_ref import RunRef
from acdc.controller.server_args import refused_args
from acdc.controller.server_manifests import deployed_endpoints
from acdc.controller.status_patch import set_condition
from acdc.spec import CoevolutionRunSpec

ALLOW_ANNOTATION = f"{names.GROUP}/allow-runs"
ALL_RUNS = "*"
CONDITION = "Admitted"
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class TenancyPolicy:
    """The admin's allow-lists (chart values ``security.*``); empty registries: any image."""

    allowed_registries: tuple[str, ...] = ()
    """Registry hosts or repository prefixes: ``ghcr.io``, ``registry.example.com/ml``."""
    allowed_secrets: tuple[str, ...] = ()
    """``name`` (any watched namespace) or ``namespace/name``."""
    allowed_claims: tuple[str, ...] = ()
    allowed_server_args: tuple[str, ...] = ()
    """Flags of ``server_args.DANGEROUS`` the admin lets runs pass."""

    @staticmethod
    def env_name(field: str) -> str:
        return f"ACDC_{field.upper()}"

    def to_env(self) -> dict[str, str]:
        return {self.env_name(f.name): json.dumps(list(getattr(self, f.name))) for f in fields(self)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TenancyPolicy:
        values = {f.name: tuple(json.loads(environ.get(cls.env_name(f.name)) or "[]")) for f in fields(cls)}
        return cls(**values)


@dataclass(frozen=True)
class Refusal:
    reason: str
    """CamelCase, the condition's reason and the Event's."""
    message: str


def repository(image: str) -> str:
    """``vllm/vllm-openai:v0.11.0`` -> ``docker.io/vllm/vllm-openai``: registry and path, no tag or digest."""
    name = image.split("@", 1)[0]
    head, slash, rest = name.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        registry, path = head.lower(), rest
    else:
        registry, path = DOCKER_HUB, name if slash else f"library/{name}"
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path = path[: len(path) - len(last)] + last.split(":", 1)[0]
    return f"{registry}/{path}"


def image_allowed(image: str, registries: Iterable[str]) -> bool:
    """Whether ``image`` lies under one of ``registries`` (whole path segments only)."""
    repo = repository(image)
    for entry in registries:
        prefix = entry.strip().rstrip("/")
        if prefix and (repo == prefix or repo.startswith(prefix + "/")):
            return True
    return False


def _listed(entries: Iterable[str], namespace: str, name: str) -> bool:
    return name in entries or f"{namespace}/{name}" in entries


def _opened_to(meta: Mapping[str, Any], run: str) -> bool:
    value = ((meta.get("annotations") or {}).get(ALLOW_ANNOTATION) or "").strip()
    allowed = {part.strip() for part in value.split(",")}
    return ALL_RUNS in allowed or run in allowed


@dataclass(frozen=True)
class _Kind:
    """How one kind of referenced object is looked up and opened to runs."""

    resource: Resource
    policy_field: str
    value_key: str
    reason: str


_KINDS = {
    "Secret": _Kind(SECRETS, "allowed_secrets", "allowedSecrets", "SecretNotAllowed"),
    "PersistentVolumeClaim": _Kind(CLAIMS, "allowed_claims", "allowedClaims", "ClaimNotAllowed"),
}


def references(spec: CoevolutionRunSpec) -> list[tuple[str, str, str]]:
    """(kind, name, spec field) of every namespaced object the run's pods would be given."""
    out = [("Secret", secret, f"spec.images.pullSecrets[{i}]") for i, secret in enumerate(spec.images.pull_secrets)]
    for role in names.SERVER_ROLES:
        endpoint = used_endpoint(spec, role)
        secret = endpoint.api_key_secret if endpoint is not None else None
        if secret is not None and not any(name == secret.name for _, name, _ in out):
            out.append(("Secret", secret.name, f"spec.{role}.endpoint.apiKeySecret"))
    export = spec.evaluation.export
    if export is not None and export.token_secret is not None and not any(n == export.token_secret.name
                                                                          for _, n, _ in out):
        out.append(("Secret", export.token_secret.name, "spec.evaluation.export.tokenSecret"))
    if export is not None and export.claim is not None:
        out.append(("PersistentVolumeClaim", export.claim, "spec.evaluation.export.claim"))
    if spec.storage.existing_claim:
        out.append(("PersistentVolumeClaim", spec.storage.existing_claim, "spec.storage.existingClaim"))
    return out


def _reference_refusal(kube: Kube, ref: RunRef, kind: str, name: str, field: str,
                       policy: TenancyPolicy) -> Refusal | None:
    rule = _KINDS[kind]
    if _listed(getattr(policy, rule.policy_field), ref.namespace, name):
        return None
    what = f"{kind} {name!r} ({field})"
    how = (f"annotate it {ALLOW_ANNOTATION}: \"{ref.name}\" (or \"{ALL_RUNS}\"), "
           f"or have the admin list it in the chart's security.{rule.value_key}")
    try:
        meta = kube.get_metadata(rule.resource, ref.namespace, name)
    except ApiError as exc:
        if exc.status != 403:
            raise
        return Refusal(rule.reason, f"{what}: the operator may not read it (HTTP 403) to check that it is "
                                    f"open to runs; {how}")
    if meta is None:
        return Refusal(rule.reason, f"{what} does not exist in namespace {ref.namespace}")
    if _opened_to(meta, ref.name):
        return None
    return Refusal(rule.reason, f"{what} is not open to this run: {how}")


def _image_refusals(spec: CoevolutionRunSpec, policy: TenancyPolicy) -> list[Refusal]:
    if not policy.allowed_registries:
        return []
    images = {"spec.images.worker": spec.images.worker}
    if deployed_endpoints(spec):
        images["spec.images.vllm"] = spec.images.vllm
    return [Refusal("ImageNotAllowed", f"{field} {image!r} is not from an allowed registry "
                                       f"({', '.join(policy.allowed_registries)})")
            for field, image in images.items() if not image_allowed(image, policy.allowed_registries)]


def _server_arg_refusals(spec: CoevolutionRunSpec, policy: TenancyPolicy) -> list[Refusal]:
    out = []
    for role, endpoint in deployed_endpoints(spec).items():
        assert endpoint.deploy is not None
        for arg, why in refused_args(endpoint.deploy.extra_args, policy.allowed_server_args):
            out.append(Refusal("ServerArgNotAllowed", f"spec.{role}.endpoint.deploy.extraArgs {arg!r}: {why}"))
    return out


def refusals(kube: Kube, ref: RunRef, spec: CoevolutionRunSpec, policy: TenancyPolicy | None = None) -> list[Refusal]:
    """Everything in ``spec`` that crosses a tenant boundary; empty when the run may go on."""
    policy = policy if policy is not None else TenancyPolicy.from_env()
    found = [refusal for kind, name, field in references(spec)
             if (refusal := _reference_refusal(kube, ref, kind, name, field, policy)) is not None]
    return [*found, *_image_refusals(spec, policy), *_server_arg_refusals(spec, policy)]


def record(status: dict[str, Any], old: Mapping[str, Any], emit: Callable[[str, str, str], None],
           found: list[Refusal]) -> None:
    """Write the Admitted condition for ``found``; a Warning Event per refusal when they change."""
    conditions = status.get("conditions", [])
    if not found:
        status["conditions"] = set_condition(conditions, CONDITION, "True", "Allowed", "")
        return
    message = "; ".join(refusal.message for refusal in found)
    status["conditions"] = set_condition(conditions, CONDITION, "False", found[0].reason, message)
    before: dict[str, Any] = next((c for c in old.get("conditions", []) if c.get("type") == CONDITION), {})
    if before.get("status") != "False" or before.get("message") != message:
        for refusal in found:
            emit("Warning", refusal.reason, refusal.message[:1000])
