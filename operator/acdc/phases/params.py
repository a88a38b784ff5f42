"""The spec translated into the engine's, the models' and the tasks' own parameter types.

The one place that does it, so those packages never import the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acdc.engine.dns import DNSParams
from acdc.engine.parents import Method as ParentMethod
from acdc.engine.parents import ParentParams
from acdc.engine.retention import RetentionPolicy
from acdc.engine.taskpool import TaskPoolParams
from acdc.spec import CoevolutionRunSpec

if TYPE_CHECKING:  # imported where used: `acdc phase plan` never loads the sandbox
    from acdc.tasks.sandbox import SandboxLimits


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
