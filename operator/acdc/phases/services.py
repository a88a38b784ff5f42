"""The services a phase opens: the sandbox pool, LLM endpoint clients and the judge.

Each is imported where used, so `acdc phase plan` never loads the sandbox or the HTTP
client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from acdc.errors import PhaseError
from acdc.phases.context import PhaseContext
from acdc.phases.params import sandbox_limits
from acdc.spec.run import EndpointSpec

if TYPE_CHECKING:
    from acdc.llm_client import OpenAIClient
    from acdc.metrics import LLMRole
    from acdc.tasks.judge import LLMJudge
    from acdc.tasks.sandbox import SandboxPool


@contextmanager
def sandbox(ctx: PhaseContext, judge: bool = True) -> Iterator[SandboxPool]:
    """A started sandbox pool with the run's limits, relaying judge calls when configured."""
    from acdc.tasks.sandbox import SandboxPool

    with SandboxPool(workers=ctx.spec.sandbox.workers, limits=sandbox_limits(ctx.spec),
                     judge=make_judge(ctx) if judge else None, unsafe=ctx.spec.sandbox.unsafe) as pool:
        yield pool


def endpoint_client(endpoint: EndpointSpec, role: LLMRole, run_name: str) -> OpenAIClient:
    """An OpenAIClient for an endpoint spec.

    Phases only ever see a URL: the operator rewrites a ``deploy`` endpoint to its Service's
    URL before a Job starts (``controller.server_manifests.in_cluster_spec``), and nothing
    deploys servers for the local runner, so an endpoint without one cannot be reached.
    """
    import os

    from acdc import metrics
    from acdc.llm_client import OpenAIClient

    url = endpoint.url
    if url is None:
        raise PhaseError(f"the {role} endpoint has no url: a `deploy` endpoint is served only when the "
                         "operator runs the run; locally, give the url of a running server")
    api_key = os.environ.get(f"ACDC_{role.upper()}_API_KEY") if endpoint.api_key_secret else None
    namespace = os.environ.get("ACDC_NAMESPACE", "local")
    return OpenAIClient(
        base_url=url,
        model=endpoint.served_model,
        api_key=api_key,
        timeout_s=endpoint.timeout_seconds,
        max_retries=endpoint.max_retries,
        on_request=lambda _endpoint, seconds, ok: metrics.observe_llm_request(namespace, run_name, role, seconds, ok),
    )


def make_judge(ctx: PhaseContext) -> LLMJudge | None:
    """The LLM judge for tasks that ask for one: the judge endpoint, else the scientist's."""
    endpoint = ctx.spec.judge.endpoint or ctx.spec.scientist.endpoint
    if endpoint is None:
        return None
    from acdc.tasks.judge import LLMJudge

    client = endpoint_client(endpoint, "judge", ctx.run_name)
    return LLMJudge(client, temperature=ctx.spec.judge.temperature, max_tokens=ctx.spec.judge.max_tokens)
