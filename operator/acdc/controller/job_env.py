"""Environment variables of phase Jobs: the run's namespace, the API keys it may need, its threads.

An endpoint's ``apiKeySecret`` never enters the spec ConfigMap or the state volume: the key
reaches a pod only as ``ACDC_<ROLE>_API_KEY`` from a secretKeyRef, and only in the pods of
phases that call that endpoint (``acdc.phases.services.endpoint_client`` reads it there).
A pod referencing a missing Secret does not start, so unused keys are left out as well.
The same holds for the hub token (``models.hub.tokenSecret``): only init gets it.
"""

from __future__ import annotations

import math
from typing import Any

from acdc.controller.run_ref import RunRef
from acdc.spec import CoevolutionRunSpec
from acdc.spec.quantity import to_number
from acdc.spec.run import EndpointSpec
from acdc.steps import Phase

NAMESPACE_ENV = "ACDC_NAMESPACE"
HF_TOKEN_ENV = "HF_TOKEN"
THREADS_ENV = "OMP_NUM_THREADS"

# Which endpoints each phase talks to. tasks validates new tasks in a sandbox that relays
# LLM-judge calls, so it gets the judge's key too.
_ROLES_BY_PHASE: dict[Phase, tuple[str, ...]] = {
    Phase.INIT: ("scientist", "embedding"),
    Phase.TASKS: ("scientist", "embedding", "judge"),
    Phase.SCORE: ("judge",),
    Phase.RESCORE: ("judge",),
}


def api_key_env(role: str) -> str:
    """The variable ``endpoint_client`` reads for ``role`` (scientist, judge, embedding)."""
    return f"ACDC_{role.upper()}_API_KEY"


def used_endpoint(spec: CoevolutionRunSpec, role: str) -> EndpointSpec | None:
    """The endpoint phases call for ``role``; the judge falls back to the scientist's."""
    if role == "scientist":
        return spec.scientist.endpoint if spec.scientist.kind == "llm" else None
    if role == "embedding":
        return spec.embedding.endpoint if spec.embedding.kind == "endpoint" else None
    if role == "judge":
        return spec.judge.endpoint or spec.scientist.endpoint
    raise ValueError(f"unknown endpoint role {role!r}")


def api_key_vars(spec: CoevolutionRunSpec, phase: Phase) -> list[dict[str, Any]]:
    """secretKeyRef env entries for the endpoints ``phase`` calls that have an apiKeySecret."""
    out = []
    for role in _ROLES_BY_PHASE.get(phase, ()):
        endpoint = used_endpoint(spec, role)
        if endpoint is None or endpoint.api_key_secret is None:
            continue
        secret = endpoint.api_key_secret
        out.append({"name": api_key_env(role),
                    "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}})
    return out


def hub_vars(spec: CoevolutionRunSpec, phase: Phase) -> list[dict[str, Any]]:
    """Hub access for init, the only phase that fetches `hf` models.

    The worker image sets HF_HUB_OFFLINE=1 so that no other phase can reach the hub (a model id
    that slipped into evaluate must fail, not pull 15 GB); init's Job turns it off and, when the
    spec names a token Secret, gets the token as HF_TOKEN (read by huggingface_hub itself).
    """
    if phase is not Phase.INIT or all(source.hf is None for source in spec.models.sources):
        return []
    out: list[dict[str, Any]] = [{"name": "HF_HUB_OFFLINE", "value": "0"}]
    secret = spec.models.hub.token_secret
    if secret is not None:
        out.append({"name": HF_TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}})
    return out


def run_env(ref: RunRef, spec: CoevolutionRunSpec, phase: Phase) -> list[dict[str, Any]]:
    """What every phase container learns about its run: namespace (metrics labels), keys, hub access."""
    return [{"name": NAMESPACE_ENV, "value": ref.namespace}, *api_key_vars(spec, phase), *hub_vars(spec, phase)]


def thread_vars(cpu: str) -> list[dict[str, Any]]:
    """torch/BLAS threads for a Job requesting ``cpu``: the request, rounded up.

    torch starts one intra-op thread per core it can see, and a container sees every core of
    its node, not its request: an evaluate Job asking for 8 CPUs on a 96-core node would
    spin 96 threads on its 8-CPU share. On this project's 2-core test machine one evaluate
    Job of a toy model spent 8.9 s in the phase with torch's default threads and 2.8 s with
    one (tests/controller/test_container_path.py runs such Jobs with this environment).
    """
    return [{"name": THREADS_ENV, "value": str(max(1, math.ceil(to_number(cpu))))}]
