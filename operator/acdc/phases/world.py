"""Everything a phase needs from the run besides its own records: resolved model paths,
engine parameters derived from the spec, the task folders, and the service factories.

This is the one place where the pydantic spec is translated into the engine's, the
models' and the tasks' own parameter types, so those packages never import the spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from acdc.engine.dns import DNSParams
from acdc.engine.ids import seed_model_id
from acdc.engine.parents import Method as ParentMethod
from acdc.engine.parents import ParentParams
from acdc.engine.retention import RetentionPolicy
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPoolParams
from acdc.errors import PhaseError
from acdc.phases.context import PhaseContext
from acdc.spec import CoevolutionRunSpec
from acdc.spec.run import EndpointSpec

if TYPE_CHECKING:  # imported where used: `acdc phase plan` never loads the sandbox or HTTP client
    from acdc.llm_client import OpenAIClient
    from acdc.metrics import LLMRole
    from acdc.tasks.judge import LLMJudge
    from acdc.tasks.sandbox import SandboxLimits, SandboxPool

BASE_MODEL_ID = "base"  # the base model's key in seeds.json, beside the seeds' model ids
BASE_CANDIDATE_ID = seed_model_id(BASE_MODEL_ID)  # the base's model id when it runs as a candidate


def state_of(ctx: PhaseContext) -> RunState:
    return RunState(ctx.state)


def resolved_models(state: Path) -> dict[str, str]:
    """seed model id (and BASE_MODEL_ID) -> model dir, as the init phase recorded them."""
    run_state = RunState(state)
    if not run_state.seeds_file.exists():
        raise PhaseError(f"{run_state.seeds_file} is missing: the init phase has not run")
    return run_state.load_seeds()[0]


def stored_model_path(ctx: PhaseContext, model_id: str) -> str:
    """How records name a model: seeds absolute (where init found them), children relative
    to the state folder (models/<id>), so a state folder stays valid wherever it is mounted."""
    seeds = resolved_models(ctx.state)
    if model_id in seeds:
        return seeds[model_id]
    state = state_of(ctx)
    return str(state.model_dir(model_id).relative_to(state.root))


def model_path(ctx: PhaseContext, model_id: str) -> str:
    """The model's directory, usable as is."""
    return str(state_of(ctx).resolve_model(stored_model_path(ctx, model_id)))


def seed_ids(spec: CoevolutionRunSpec) -> list[str]:
    """The seed experts' model ids."""
    return [seed_model_id(seed.display_name) for seed in spec.models.seeds]


def starting_ids(spec: CoevolutionRunSpec) -> list[str]:
    """Every model the run starts from as a candidate: the seeds, then the base when it is one."""
    return seed_ids(spec) + ([BASE_CANDIDATE_ID] if spec.models.base_is_candidate else [])


def dns_params(spec: CoevolutionRunSpec) -> DNSParams:
    s = spec.selection
    return DNSParams(
        population_size=spec.population.size,
        k_neighbors=s.k_neighbors,
        dominated_score=s.dominated_score,
        use_skill_ratio=s.use_skill_ratio,
        use_difficulty_weights=s.difficulty_weights,
        skill_ratio_to_full=s.skill_ratio_to_full,
        use_top_fitness_selection=s.method == "topFitness",
        tie_rule=s.tie_rule,
        penalize_duplicates=s.penalize_duplicates,
        arithmetic=spec.reference_parity.dns_arithmetic,
    )


def parent_params(spec: CoevolutionRunSpec) -> ParentParams:
    method: dict[str, ParentMethod] = {"uniform": "uniform", "fitness": "fitness_proportional",
                                       "tournament": "tournament"}
    return ParentParams(method[spec.selection.parent_selection], spec.selection.tournament_size)


def pool_params(spec: CoevolutionRunSpec) -> TaskPoolParams:
    t = spec.tasks
    return TaskPoolParams(
        max_pool_size=t.max_pool_size,
        easy_threshold=t.easy_threshold,
        hard_threshold=t.hard_threshold,
        new_tasks_per_generation=t.new_tasks_per_adaptation,
        adaptation_interval=t.adaptation_interval,
        discard_impossible=t.discard_impossible,
        conditional_parent_replacement=t.parent_replacement,
        novel_similar_probability=t.novel_prompt_probability,
    )


def retention_policy(spec: CoevolutionRunSpec) -> RetentionPolicy:
    r = spec.retention
    return RetentionPolicy(keep_every_n_generations=r.keep_every_nth_generation,
                           keep_initial_generation=r.keep_initial_generation)


def sandbox_limits(spec: CoevolutionRunSpec) -> SandboxLimits:
    from acdc.tasks.sandbox import SandboxLimits

    s = spec.sandbox
    return SandboxLimits(
        wall_seconds=s.timeout_seconds,
        cpu_seconds=s.cpu_seconds,
        memory_mb=s.memory_mib,
        file_kib=s.max_file_kib,
        processes=s.max_processes,
        message_bytes=s.max_output_kib * 1024,
        instruction_chars=s.max_instruction_chars,
        instance_bytes=s.max_instance_kib * 1024,
        judge_calls_per_item=s.max_judge_calls_per_item,
        code_blocks=spec.reference_parity.answer_extraction,
    )


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
