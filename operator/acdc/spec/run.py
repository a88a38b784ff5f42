"""The CoevolutionRun spec: the contract shared by `acdc run`, the operator and the CRD.

Every default here is the reference implementation's unless its docstring says why it
differs. The CRD in crds/ and the Helm chart's copy are generated from these classes
(`make crd`), so the field docstrings are what `kubectl explain` shows.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from acdc.engine.solved import SOLVED_THRESHOLD
from acdc.spec.base import (
    AS_SET,
    DNS_LABEL,
    INT64_MAX,
    MAX_COUNT,
    MAX_SECONDS,
    PRINTABLE,
    Argument,
    Count,
    DnsLabel,
    DnsSubdomain,
    Fraction,
    GpuCount,
    ImageReference,
    LabelMap,
    LabelValue,
    PathText,
    PositiveInt,
    QualifiedName,
    Seconds,
    SpecModel,
    Text,
    Url,
    unique_items,
)
from acdc.spec.quantity import Quantity
from acdc.spec.rules import F, Given, Rule, UniqueBy, all_below, exactly_one, member, size

API_GROUP = "acdc.dev"
API_VERSION = "v1alpha1"
KIND = "CoevolutionRun"
PLURAL = "coevolutionruns"

TOYWORLD_MODELS = ("base", "arithmetic", "strings", "lists")
SEED_TASK_PATTERN = r"^(builtin:(reference|toyworld)|[^:\x00-\x1f\x7f]+)$"
HF_REPO_ID = r"^[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)?$"
MAX_LIST = 64
"""Seeds, tolerations, arguments, pull secrets: a few are normal, thousands are an attack."""


class ModelSource(SpecModel):
    """Where a model's weights come from: exactly one of hf, path or toyworld."""

    rules = (Rule(exactly_one("hf", "path", "toyworld"), "set exactly one of hf, path, toyworld"),
             Rule(~Given(F("revision")) | Given(F("hf")),
                  "revision applies only to an hf source (a path or toyworld model has none)"))

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=40)] | None = None
    """Short name used in model ids (seed_<name>); derived from the source when omitted."""
    hf: Annotated[str, Field(pattern=HF_REPO_ID, max_length=256)] | None = None
    """Hugging Face hub id, e.g. Qwen/Qwen2.5-7B-Instruct (fetched into the run's volume once)."""
    revision: Text | None = None
    """Hub revision (branch, tag or commit) when hf is set."""
    path: PathText | None = None
    """A model directory: on the run's volume in a cluster, or a local path for `acdc run`."""
    toyworld: Literal["base", "arithmetic", "strings", "lists"] | None = None
    """One of the toy world's CPU models, built locally by `acdc toyworld build`."""

    @property
    def identity(self) -> tuple[str, str]:
        """What the source loads, whatever its name: the same model listed twice has one identity."""
        if self.hf is not None:
            return ("hf", f"{self.hf.lower()}@{self.revision or 'main'}")
        if self.path is not None:
            return ("path", posixpath.normpath(self.path))
        return ("toyworld", self.toyworld or "")

    @property
    def display_name(self) -> str:
        """The name used in model ids: explicit, else the last path component, sanitised."""
        if self.name:
            return self.name
        raw = self.toyworld or (self.hf or self.path or "").rstrip("/").split("/")[-1]
        return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:40] or "model"


class SecretKeyRef(SpecModel):
    """A key of a Secret in the run's namespace."""

    name: DnsSubdomain
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = "api-key"


class HubSpec(SpecModel):
    """Where `hf` model sources are fetched from (by the init phase only), and with what token."""

    endpoint: Url | None = None
    """Hub URL, for a mirror or a self-hosted hub (default: https://huggingface.co)."""
    token_secret: SecretKeyRef | None = None
    """Secret key holding a Hugging Face token, for gated or private repos (e.g. Llama), e.g.
    {name: hf-token, key: token}. In a cluster it reaches only the init Job, as HF_TOKEN; `acdc run`
    uses the HF_TOKEN of its own environment instead."""


class ModelsSpec(SpecModel):
    """The seed models (experts) and the base they were fine-tuned from."""

    seeds: Annotated[list[ModelSource], Field(min_length=1, max_length=MAX_LIST)]
    """Seed experts; all must share the base's architecture and tensor shapes."""
    base: ModelSource | None = None
    """Common base model. Required by task_arithmetic, ties, dare_ties and dare_linear."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Dtype children are saved in; auto keeps the seeds' dtype. Merges accumulate in float32."""
    base_candidate: bool | None = None
    """The base also stands as a candidate (id ``seed_base``): evaluated with the seeds at
    generation 0, kept in the archive while selection keeps it, eligible for the task force,
    as the paper counts its generalist seed. Null: on when the base is a toy-world model."""
    hub: HubSpec = HubSpec()
    """Hub endpoint and token for `hf` sources."""

    @property
    def sources(self) -> list[ModelSource]:
        """Every model the run loads as given: the seeds, then the base when there is one."""
        return [*self.seeds, *([self.base] if self.base is not None else [])]

    @property
    def base_is_candidate(self) -> bool:
        """Whether the base runs as a candidate (``base_candidate``, its null resolved)."""
        if self.base is None:
            return False
        return self.base_candidate if self.base_candidate is not None else self.base.toyworld is not None

    rules = (Rule(~(Given(F("base_candidate")) & F("base_candidate").compare("==", True)) | Given(F("base")),
                  "models.baseCandidate needs models.base"),)

    @model_validator(mode="after")
    def _unique_seed_names(self) -> ModelsSpec:
        """Names and identities are derived (from paths, hub ids): no CEL rule can say them."""
        names = [seed.display_name for seed in self.seeds] + (["base"] if self.base_is_candidate else [])
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"seed model names must be unique (the base candidate is named 'base'); repeated: "
                             f"{', '.join(duplicates)} (set seeds[].name)")
        candidates = [*self.seeds, *([self.base] if self.base is not None and self.base_is_candidate else [])]
        identities = [source.identity for source in candidates]
        repeated = next((source for source in candidates if identities.count(source.identity) > 1), None)
        if repeated is not None:
            raise ValueError(f"{repeated.identity[0]} {repeated.identity[1]} is listed twice among the seeds (and the "
                             "base candidate): the same model twice is one candidate counted twice")
        return self


class PopulationSpec(SpecModel):
    """Size of the model archive and of each generation."""

    size: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 16
    """Archive size kept by selection (reference: 16)."""
    children_per_generation: PositiveInt = 8
    """Children merged and evaluated each generation (reference: 8)."""
    generations: Count | None = 50
    """Generations after generation 0; null runs until stopped (reference: 50)."""
    initial_size: PositiveInt = 16
    """Generation-0 population, seeds included (reference: 16)."""
    seeds_in_archive: bool = True
    """Seed experts enter the generation-0 archive (reference: true)."""
    sanity_check: bool = True
    """Reject degenerate (gibberish) children before evaluation."""


class SelectionSpec(SpecModel):
    """Dominated Novelty Search survival and parent selection."""

    method: Literal["dns", "topFitness"] = "dns"
    """dns: dominated novelty; topFitness: the elitist ablation."""
    k_neighbors: PositiveInt = 3
    """Fitter neighbours averaged in the dominated-novelty score."""
    skill_threshold: Fraction = SOLVED_THRESHOLD
    """A task counts as solved when its score is at least this."""
    use_skill_ratio: bool = True
    """Distance = share of tasks solved that the fitter model fails; false: Hamming distance."""
    difficulty_weights: bool = True
    """Weight each task by the share of the population failing it."""
    skill_ratio_to_full: bool = True
    """Normalise by all tasks' weight (true) or by the fitter model's unsolved tasks (false)."""
    dominated_score: Annotated[float, Field(ge=-1e9, le=1e9)] = 999.0
    """Score given to a solution with no fitter one (always survives)."""
    tie_rule: Literal["reference", "strict"] = "reference"
    """reference: list-order ties as the reference (archive before children); strict: symmetric."""
    penalize_duplicates: bool = False
    """Score an exact copy of an at-least-as-fit model 0, so a clone never evicts a unique skill
    holder (with kNeighbors >= 2 the reference formula allows that; off to match it)."""
    parent_selection: Literal["uniform", "fitness", "tournament"] = "uniform"
    """How merge parents are drawn from the archive (reference: uniform)."""
    tournament_size: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 3
    """Candidates per draw when parentSelection is tournament."""


class CrossoverSpec(SpecModel):
    """Weight-space crossover of two parents, run with mergekit."""

    method: Literal["linear", "slerp", "task_arithmetic", "ties", "dare_ties", "dare_linear"] = "linear"
    """mergekit merge method."""
    weight_std: Annotated[float, Field(ge=0.0, le=100.0)] = 0.01
    """Per-parent weights drawn from N(1, weightStd) (reference: 0.01): linear averages the
    parents with them; the task-vector methods weight each parent's task vector (then scale).
    A wide draw (0.5) lets a child lean on one parent, or stay near the base."""
    density: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """ties/dare: fraction of each task vector kept."""
    scale: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    """Task-vector methods: lambda, the scale of the merged task vector."""
    normalize: bool = True
    """Normalise merge weights to sum to one."""


class MutationSpec(SpecModel):
    """Mutation applied to each child after crossover."""

    method: Literal["svd", "gaussian", "none"] = "svd"
    """svd: noise on the top singular values of every 2-D weight; gaussian: element-wise noise."""
    rate: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    """Noise scale; defaults to the reference's 0.25 for svd and 3e-4 for gaussian."""
    keep_rank: PositiveInt = 256
    """svd: number of leading singular values perturbed."""
    skip_embeddings: bool = False
    """Leave embed_tokens and lm_head untouched (the reference mutates them)."""

    rules = (Rule(F("method").compare("!=", "none") | ~Given(F("rate")),
                  "rate is set but method is none (no noise is added): remove one"),)

    @property
    def effective_rate(self) -> float:
        if self.rate is not None:
            return self.rate
        return {"svd": 0.25, "gaussian": 3e-4, "none": 0.0}[self.method]


class NoveltySpec(SpecModel):
    """Filter that keeps only new tasks that differ from every task seen before."""

    enabled: bool = True
    similarity_threshold: Fraction = 0.7
    """Cosine similarity at or above which an earlier task counts as a near neighbour."""
    llm_check: bool = True
    """Ask the scientist whether a task with near neighbours is still interestingly new."""
    max_neighbors: PositiveInt = 3
    """Neighbours shown to the scientist."""


class TasksSpec(SpecModel):
    """The coevolving task pool."""

    seed_tasks: Annotated[str, Field(pattern=SEED_TASK_PATTERN, max_length=4096)] = "builtin:reference"
    """builtin:reference (four reference-style tasks), builtin:toyworld, or a directory."""
    initial_pool_size: PositiveInt = 300
    """Tasks generated before generation 0 (reference: 300)."""
    max_pool_size: PositiveInt = 250
    """Active pool bound; the oldest tasks are retired first (reference: 250)."""
    adaptation_interval: Count = 5
    """Adapt the pool every this many generations; 0 never adapts."""
    new_tasks_per_adaptation: PositiveInt = 150
    """Adaptation attempts per cycle (reference: 150)."""
    easy_threshold: Fraction = 0.5
    """Pass rate above which a task is too easy and gets a harder child."""
    hard_threshold: Fraction = 0.0
    """Pass rate below which a task is too hard and gets an easier child."""
    discard_impossible: bool = True
    """Retire tasks no archive model solves."""
    parent_replacement: bool = True
    """A harder/easier child replaces its parent, which returns if the child proves impossible."""
    parent_task_selection: Literal["uniform", "biased"] = "uniform"
    """Which tasks get adapted: uniform with replacement (reference) or biased to the band edges."""
    novel_prompt_probability: Fraction = 0.8
    """For in-band tasks: probability of a novel-but-similar child (else completely novel)."""
    instances_per_task: PositiveInt = 1
    """Instances scored per task, averaged (reference: 1, the first instance)."""
    max_reflections: Annotated[int, Field(ge=0, le=100)] = 3
    """LLM scientist: self-review rounds before a task is accepted."""
    novelty: NoveltySpec = NoveltySpec()

    rules = (Rule(F("hard_threshold") <= F("easy_threshold"), "hardThreshold must not exceed easyThreshold"),)


class ServerDeploy(SpecModel):
    """Deploy this model with vLLM as a Deployment + Service owned by the run."""

    model: PathText
    """Hugging Face id or a path on the run's volume."""
    gpus: GpuCount = 1
    tensor_parallel: Annotated[int, Field(ge=1, le=64)] = 1
    max_model_len: Annotated[int, Field(ge=1, le=2**24)] | None = None
    extra_args: Annotated[list[Argument], Field(max_length=MAX_LIST)] = []
    """Extra `vllm serve` arguments."""
    cpu: Quantity = "4"
    memory: Quantity = "32Gi"

    rules = (Rule((F("tensor_parallel") <= 1) | (F("tensor_parallel") <= F("gpus")),
                  "tensorParallel {tensor_parallel} needs as many GPUs, but gpus is {gpus}"),)


class EndpointSpec(SpecModel):
    """An OpenAI-compatible server: an existing URL, or one the operator deploys."""

    rules = (Rule(exactly_one("url", "deploy"), "set exactly one of url, deploy"),
             Rule(~Given(F("url")) | (Given(F("model")) & F("model").compare("!=", "")),
                  "model is required with url (the served model name)"))

    url: Url | None = None
    """Base URL ending in /v1, e.g. http://scientist.ml.svc:8000/v1."""
    model: Text | None = None
    """Served model name; defaults to deploy.model."""
    api_key_secret: SecretKeyRef | None = None
    deploy: ServerDeploy | None = None
    timeout_seconds: Seconds = 60.0
    max_retries: Annotated[int, Field(ge=0, le=100)] = 5

    @property
    def served_model(self) -> str:
        return self.model or (self.deploy.model if self.deploy else "")


ROOM_IN_DEPLOYED_CONTEXT = Rule(
    ~Given(F("endpoint.deploy.max_model_len")) | (F("max_tokens") < F("endpoint.deploy.max_model_len")),
    "maxTokens {max_tokens} leaves no room for the prompt in endpoint.deploy.maxModelLen "
    "{endpoint.deploy.max_model_len}")
"""An LLM role's ``maxTokens`` must leave room for a prompt in the context of the server the
run deploys for it: vLLM refuses every request that cannot fit, so each call would fail."""


class ScientistSpec(SpecModel):
    """Who writes and adapts tasks."""

    kind: Literal["llm", "procedural"] = "llm"
    """llm: a scientist LLM (reference); procedural: the toy world's task-family generator."""
    endpoint: EndpointSpec | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.7
    max_tokens: PositiveInt = 2000
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95

    rules = (ROOM_IN_DEPLOYED_CONTEXT,)


class JudgeSpec(SpecModel):
    """LLM judge for tasks scored by eval_with_llm_judge; defaults to the scientist's endpoint."""

    endpoint: EndpointSpec | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    """0 makes grading repeatable (the reference samples at 0.7)."""
    max_tokens: PositiveInt = 1024

    rules = (ROOM_IN_DEPLOYED_CONTEXT,)


class EmbeddingSpec(SpecModel):
    """Text embeddings for the task novelty filter."""

    kind: Literal["builtin", "endpoint", "features"] = "builtin"
    """builtin: packaged MiniLM on CPU; endpoint: OpenAI-compatible /embeddings; features: the
    procedural scientist's family parameters (toy world, no model)."""
    endpoint: EndpointSpec | None = None

    rules = (Rule(~Given(F("endpoint")) | F("kind").compare("==", "endpoint"),
                  "endpoint is set but kind is {kind}, which does not use it (a deployed one would still take its "
                  "GPUs): set kind: endpoint or remove endpoint"),)


class InferenceSpec(SpecModel):
    """How population models answer tasks."""

    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """auto: vLLM on GPU workers, transformers on CPU."""
    max_tokens: PositiveInt = 512
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    max_model_len: Annotated[int, Field(ge=1, le=2**24)] = 2048
    prompt_style: Literal["cot", "direct", "plain"] = "cot"
    """cot: reason then 'Answer:' (reference default); direct: answer only; plain: no system prompt."""
    batch_size: PositiveInt = 32
    gpu_memory_utilization: Annotated[float, Field(gt=0.0, le=1.0)] = 0.85

    # Both backends keep a prompt's last maxModelLen - maxTokens tokens (at least one): with
    # no room left every task would be answered from a prompt cut to nothing, silently.
    rules = (Rule(F("max_tokens") < F("max_model_len"),
                  "maxTokens {max_tokens} leaves no room for the prompt in maxModelLen {max_model_len}"),)


class SandboxSpec(SpecModel):
    """Limits for running untrusted task code."""

    timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    """Time limit per scored answer in the task's own time (not waiting for a CPU; at most 6 times this of wall time)."""
    cpu_seconds: Annotated[int, Field(ge=1, le=86_400)] = 20
    memory_mib: Annotated[int, Field(ge=64, le=2**20)] = 512
    """Address space of the task process (the whole sandbox's where its seccomp filter refuses new processes)."""
    max_processes: Annotated[int, Field(ge=1, le=4096)] = 16
    """Threads and processes of one sandbox's uid (RLIMIT_NPROC)."""
    max_output_kib: Annotated[int, Field(ge=1, le=2**20)] = 256
    """Largest reply (one JSON line) a scored answer may send back; larger fails it."""
    max_file_kib: Annotated[int, Field(ge=0, le=2**30)] = 1024
    """Largest file a scored task may write, in KiB (0: it may write nothing)."""
    workers: Annotated[int, Field(ge=1, le=1024)] | None = None
    """Task sandboxes running at once; defaults to twice the CPU count (starting one mostly waits)."""
    runtime_class_name: DnsSubdomain | None = None
    """Kubernetes RuntimeClass for scoring pods (e.g. gvisor)."""
    max_instruction_chars: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    """Longest instruction a task may produce; a longer one fails that task's materialisation."""
    max_instance_kib: Annotated[int, Field(ge=1, le=16_384)] = 64
    """Largest instance data (as JSON) a task may produce."""
    max_judge_calls_per_item: Annotated[int, Field(ge=1, le=100)] = 4
    """LLM-judge calls one scored answer may make; more fail that answer."""
    unsafe: bool = False
    """Run generated task code even where bubblewrap cannot confine it (rlimits only). Off: refuse."""
    seccomp_profile: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Kubernetes: Localhost seccomp profile for pods that run task code (it must allow user
    namespaces for bubblewrap, which RuntimeDefault forbids); unset: RuntimeDefault."""
    app_armor_profile: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Kubernetes: Localhost AppArmor profile for those pods (one that allows bubblewrap's mounts)."""


class Toleration(SpecModel):
    """A pod toleration, with the API server's own rules checked here, so a bad one fails the run
    file instead of every Job that carries it."""

    key: QualifiedName | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[int, Field(ge=0, le=MAX_SECONDS)] | None = None

    rules = (Rule(F("operator").compare("!=", "Exists") | ~Given(F("value")) | F("value").compare("==", ""),
                  "value must be empty when operator is Exists"),
             Rule((Given(F("key")) & F("key").compare("!=", "")) | F("operator").compare("==", "Exists"),
                  "operator must be Exists when key is empty (it then tolerates every taint)"),
             Rule(~Given(F("toleration_seconds")) | (Given(F("effect")) & F("effect").compare("==", "NoExecute")),
                  "tolerationSeconds applies only to effect NoExecute"))


class PhaseResources(SpecModel):
    """Pod resources and scheduling for one kind of phase Job."""

    gpus: GpuCount = 0
    """nvidia.com/gpu requested by each Job."""
    cpu: Quantity = "1"
    memory: Quantity = "4Gi"
    node_selector: LabelMap = {}
    tolerations: Annotated[list[Toleration], Field(max_length=MAX_LIST)] = []
    priority_class_name: DnsSubdomain | None = None
    active_deadline_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    backoff_limit: Annotated[int, Field(ge=0, le=100)] = 2
    """Retries of a failed Job before the step is dropped (children) or the run fails."""


class ResourcesSpec(SpecModel):
    """Per-phase resources. Merge and evaluate default to one GPU each."""

    merge: PhaseResources = PhaseResources(gpus=1, cpu="8", memory="96Gi")
    evaluate: PhaseResources = PhaseResources(gpus=1, cpu="8", memory="64Gi")
    score: PhaseResources = PhaseResources(cpu="4", memory="8Gi")
    control: PhaseResources = PhaseResources(cpu="2", memory="8Gi")
    """plan, select, sync."""
    tasks: PhaseResources = PhaseResources(cpu="8", memory="16Gi")
    kueue_queue_name: DnsLabel | None = None
    """Kueue LocalQueue; sets kueue.x-k8s.io/queue-name on every Job."""
    kueue_admission_timeout_seconds: Annotated[int, Field(ge=0, le=MAX_SECONDS)] = 24 * 3600
    """How long a step's Job may wait for Kueue to admit it (or to admit it again after a
    preemption) before the run fails (AdmissionTimeout, resumable); 0 waits for ever."""


class StorageSpec(SpecModel):
    """The run's volume: models, tasks and state."""

    size: Quantity = "500Gi"
    storage_class_name: DnsSubdomain | None = None
    existing_claim: DnsSubdomain | None = None
    """Use this PVC instead of creating one."""
    access_modes: Annotated[list[Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]],
                            Field(min_length=1, max_length=3, json_schema_extra=AS_SET),
                            AfterValidator(unique_items)] = [
        "ReadWriteMany"]

    rules = (Rule(~(Given(F("existing_claim")) & Given(F("storage_class_name"))),
                  "storageClassName is set with existingClaim, whose class is already chosen: remove one"),)


class ImagesSpec(SpecModel):
    worker: ImageReference = "ghcr.io/acdc-operator/acdc-worker:0.1.0"
    """Runs every phase command (mergekit, vLLM, sandbox)."""
    vllm: ImageReference = "vllm/vllm-openai:v0.11.0"
    """Serves scientist, judge and embedding models when deployed by the run."""
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    pull_secrets: Annotated[list[DnsSubdomain], Field(max_length=MAX_LIST, json_schema_extra=AS_SET),
                            AfterValidator(unique_items)] = []


class PhasePolicy(SpecModel):
    """Retries and deadline of one phase's Jobs; an unset field takes its spec.resources class's value."""

    backoff_limit: Annotated[int, Field(ge=0, le=100)] | None = None
    """Retries of a failed Job before the step is dropped (children) or the run fails; 0: none."""
    active_deadline_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] | None = None
    """Seconds a Job may run, over all its attempts, before Kubernetes fails it."""
    priority_class_name: DnsSubdomain | None = None


class PhasesSpec(SpecModel):
    """Per-phase overrides of the retry, deadline and priority settings that spec.resources sets per
    class of phase (control covers plan, select and sync; evaluate covers reevaluate and benchmark too)."""

    init: PhasePolicy = PhasePolicy()
    tasks: PhasePolicy = PhasePolicy()
    plan: PhasePolicy = PhasePolicy()
    merge: PhasePolicy = PhasePolicy()
    evaluate: PhasePolicy = PhasePolicy()
    score: PhasePolicy = PhasePolicy()
    select: PhasePolicy = PhasePolicy()
    reevaluate: PhasePolicy = PhasePolicy()
    rescore: PhasePolicy = PhasePolicy()
    sync: PhasePolicy = PhasePolicy()
    benchmark: PhasePolicy = PhasePolicy()

    def resolve(self, phase: str, fallback: PhaseResources) -> JobPolicy:
        """``phase``'s policy with every unset field taken from its resource class ``fallback``:
        the one place the operator (Job manifests) and the local runner (its retries) read them."""
        own: PhasePolicy = getattr(self, phase)
        return JobPolicy(fallback.backoff_limit if own.backoff_limit is None else own.backoff_limit,
                         own.active_deadline_seconds or fallback.active_deadline_seconds,
                         own.priority_class_name or fallback.priority_class_name)


    def set_deadline(self, phase: str, fallback: PhaseResources) -> int | None:
        """The ``activeDeadlineSeconds`` the run file sets for ``phase`` (its own, else its
        resource class's), None where both are defaults: the local runner applies only those,
        since the Jobs' default hour was sized for GPUs, not for a CPU running the same step."""
        own: PhasePolicy = getattr(self, phase)
        if own.active_deadline_seconds is not None:
            return own.active_deadline_seconds
        return fallback.active_deadline_seconds if "active_deadline_seconds" in fallback.model_fields_set else None


@dataclass(frozen=True)
class JobPolicy:
    """A phase's resolved retries, deadline and priority (``PhasesSpec.resolve``)."""

    backoff_limit: int
    active_deadline_seconds: int
    priority_class_name: str | None


class BudgetSpec(SpecModel):
    """Limits that end a run early and successfully, with the reason in its conditions.
    The operator checks them as each generation closes, so the archive is always whole."""

    max_wall_seconds: PositiveInt | None = None
    """Stop once this long has passed since the run started."""
    max_gpu_hours: Annotated[float, Field(gt=0, le=1e9)] | None = None
    """Stop once the Jobs' requested GPUs times their run time add up to this."""
    stop_when_coverage_stale_for: PositiveInt | None = None
    """Stop when the archive's coverage has not improved for this many generations."""


class JobHistorySpec(SpecModel):
    """How long finished Jobs stay. The operator deletes a generation's Jobs once its outcomes
    are saved; these settings keep what a person needs to debug a failed step."""

    keep_failed: bool = True
    """Keep the Jobs (and pods) of failed or rejected steps until the run is deleted."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=3600, le=MAX_SECONDS)] = 7 * 24 * 3600
    """Backstop: Kubernetes deletes any finished Job after this, kept or not (at least 1 h,
    so an operator that is down for a while still finds the outcomes it has not recorded)."""


class RetentionSpec(SpecModel):
    """What is kept on disk (a 7B child is about 15 GB) and when the run is deleted."""

    keep_every_nth_generation: Count = 5
    """Keep archive members of every Nth generation; 0 keeps only the current archive."""
    keep_initial_generation: bool = True
    cleanup_interval: PositiveInt = 2
    """Generations between model garbage collections."""
    min_free_gib: Annotated[float, Field(ge=0, le=2**20)] = 0.0
    """Refuse to start a merge with less free space than this plus the child's size."""
    volume_on_delete: Literal["Retain", "Delete"] = "Retain"
    """Keep or delete the run's PVC when the CoevolutionRun is deleted."""


class BenchmarkSpec(SpecModel):
    """One lm-evaluation-harness task the task force is measured on."""

    task: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.\-]+$")]
    """lm-eval task name (gsm8k, minerva_math, bbh_cot_fewshot, ...), or acdc_toyworld: the toy world's
    held-out split as an lm-eval custom task (its YAML and data are written into the state folder)."""
    include_path: PathText | None = None
    """Folder of custom task YAMLs (an absolute path, or relative to the state folder on the run's volume)."""
    limit: PositiveInt | None = None
    """Evaluate only the first LIMIT documents (a quick look; coverage is then over those)."""
    shards: PositiveInt = 1
    """Split the documents into this many shards: one evaluation Job per model x shard; a finished shard is
    never re-run."""
    num_fewshot: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Few-shot examples; None keeps the task's own setting."""
    metric: Annotated[str, Field(min_length=1, max_length=256, pattern=PRINTABLE)] = "exact_match"
    """The per-sample metric lm-eval logs for the task; a document counts as solved when it is 1."""


class EvaluationControlSpec(SpecModel):
    """The control of the coverage curves: N samples of one model instead of N different models."""

    model: Literal["best", "base"] = "best"
    """best: the fittest model of the archive; base: the merges' common ancestor (models.base)."""
    temperature: Annotated[float, Field(gt=0.0, le=2.0)] = 0.7


class RewardModelSpec(SpecModel):
    """A Hugging Face sequence classifier (one logit) that scores question + answer pairs for best-of-N."""

    path: PathText
    """Model folder (absolute, or relative to the state folder) or a hub id present in the dataset cache."""
    batch_size: PositiveInt = 16


class ExportSpec(SpecModel):
    """Where the task force goes after evaluation: a Hugging Face Hub(-compatible) model repo, or another PVC."""

    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,95}/[A-Za-z0-9][-A-Za-z0-9_.]{0,95}$",
                               max_length=193)] | None = None
    """The model repo, OWNER/NAME (created, private by default, if it does not exist)."""
    endpoint: Url | None = None
    """Hub URL, for a mirror or a self-hosted hub (default: https://huggingface.co)."""
    token_secret: SecretKeyRef | None = None
    """Secret key holding a write token; in a cluster it reaches only the export Job, as HF_TOKEN.
    `acdc export` uses the HF_TOKEN of its own environment."""
    claim: DnsSubdomain | None = None
    """Instead of a repo: an existing PVC in the run's namespace (open to the run, like storage.existingClaim);
    the export Job mounts it and writes the verified task force into `directory` on it."""
    directory: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,199}$", max_length=200)] | None = None
    """Folder on the claim (default: the run's name); must not hold another export."""
    size: Annotated[int, Field(ge=1, le=64)] | None = None
    """Task-force size N (default: the largest of taskForceSizes)."""
    private: bool = True

    rules = (Rule(exactly_one("repo", "claim"),
                  "evaluation.export needs exactly one destination: repo (a hub) or claim (a PVC)"),)


class EvaluationSpec(SpecModel):
    """Benchmark evaluation of the archive after the run (lm-evaluation-harness): coverage@N, best-of-N."""

    enabled: bool = False
    """Evaluate once the final generation has committed (`acdc run`; the operator's evaluation Jobs).
    `acdc evaluate STATE` evaluates the newest committed generation at any time, enabled or not."""
    every_generations: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    """Also evaluate after every K-th generation's commit, as a `benchmark` step of the generation DAG
    (both executors), for the coverage-vs-generation curve in the report. 0: only after the run."""
    benchmarks: Annotated[list[BenchmarkSpec], Field(max_length=64)] = [BenchmarkSpec(task="acdc_toyworld")]
    task_force_sizes: Annotated[list[Annotated[int, Field(ge=1, le=64)]],
                                Field(min_length=1, max_length=64, json_schema_extra=AS_SET),
                                AfterValidator(unique_items)] = [1, 2, 3]
    """The N of coverage@N and best-of-N."""
    selections: Annotated[list[Literal["taskforce", "seeds", "best", "control"]],
                          Field(min_length=1, max_length=4, json_schema_extra=AS_SET), AfterValidator(unique_items)] = [
        "taskforce", "seeds", "best", "control"]
    """taskforce: the run's greedy coverage on its own pool; seeds: the first N seeds; best: the fittest single
    model; control: N samples of one model (see control)."""
    control: EvaluationControlSpec = EvaluationControlSpec()
    best_of_n: Annotated[list[Literal["judge", "rewardModel"]], Field(max_length=2, json_schema_extra=AS_SET),
                         AfterValidator(unique_items)] = []
    """How one answer is picked from the task force's N: an LLM judge that sees all N numbered candidates
    (no call when they all agree), or a reward model's highest score."""
    judge: EndpointSpec | None = None
    """The best-of-N judge; defaults to judge.endpoint, then scientist.endpoint."""
    reward_model: RewardModelSpec | None = None
    backend: Literal["auto", "hf", "vllm"] = "auto"
    """lm-eval model backend: auto picks vllm when a GPU is requested for evaluate, else hf."""
    batch_size: PositiveInt = 16
    dataset_cache: PathText = "datasets"
    """HF datasets/hub cache on the run's volume (relative to the state folder); evaluation runs offline
    (HF_DATASETS_OFFLINE, HF_HUB_OFFLINE) against it. Fill it with the prefetch Job or `acdc evaluate --prefetch`."""
    offline: bool = True
    prefetch: bool = False
    """Operator: fill datasetCache first, in a prefetch Job that alone may reach the hub (the cluster needs
    network for it); locally: `acdc evaluate STATE --prefetch`. Off: fill the cache from outside (docs)."""
    export: ExportSpec | None = None
    """After evaluation, upload the task force (model folders + manifest.json with SHA-256s and lineage)."""

    rules = (
        Rule(~member("rewardModel", F("best_of_n")) | Given(F("reward_model")),
             "evaluation.rewardModel is required when bestOfN lists rewardModel"),
        Rule(~Given(F("reward_model")) | member("rewardModel", F("best_of_n")),
             "evaluation.rewardModel is set but bestOfN does not list rewardModel, so nothing uses it"),
        Rule(~Given(F("judge")) | member("judge", F("best_of_n")),
             "evaluation.judge is set but bestOfN does not list judge, so nothing uses it"),
        Rule((size(F("benchmarks")) > 0) | ~(F("enabled").compare("==", True) | F("every_generations").compare("!=", 0)),
             "evaluation.benchmarks is empty: an enabled evaluation needs at least one benchmark"),
        Rule(~Given(F("judge")) | Given(F("judge.url")),
             "evaluation.judge must name a url (the operator deploys only the run's judge and scientist servers; "
             "leave evaluation.judge unset to use them)"),
        Rule(UniqueBy(F("benchmarks"), "task"), "evaluation.benchmarks lists a task twice"),
    )


class ReferenceParitySpec(SpecModel):
    """Where the project deliberately computes differently from the reference implementation,
    with a switch back to the reference's behaviour (docs/reference-deviations.md lists all)."""

    dns_arithmetic: Literal["exact", "reference"] = "exact"
    """exact: DNS scores from integer failure counts, so exactly equal scores are equal and keep
    list order (archive first); reference: the reference's float weights and sums bit for bit,
    so exact ties are ordered by rounding noise as it orders them."""
    answer_extraction: Literal["lenient", "reference"] = "lenient"
    """lenient: a completion without an answer marker is the answer, and code outside a
    ```python fence still runs; reference: "No answer found." and only ```python blocks run
    (both score 0), a greedy \\boxed{...} and the unstripped text after "Answer:"."""


class CoevolutionRunSpec(SpecModel):
    """An AC/DC run: coevolve merged models and synthetic tasks."""

    seed: Annotated[int, Field(ge=0, le=INT64_MAX)] = 42
    """Seeds every random draw (parents, merge weights, mutation noise, tasks)."""
    models: ModelsSpec
    population: PopulationSpec = PopulationSpec()
    selection: SelectionSpec = SelectionSpec()
    crossover: CrossoverSpec = CrossoverSpec()
    mutation: MutationSpec = MutationSpec()
    tasks: TasksSpec = TasksSpec()
    scientist: ScientistSpec = ScientistSpec()
    judge: JudgeSpec = JudgeSpec()
    embedding: EmbeddingSpec = EmbeddingSpec()
    inference: InferenceSpec = InferenceSpec()
    sandbox: SandboxSpec = SandboxSpec()
    resources: ResourcesSpec = ResourcesSpec()
    storage: StorageSpec = StorageSpec()
    images: ImagesSpec = ImagesSpec()
    retention: RetentionSpec = RetentionSpec()
    job_history: JobHistorySpec = JobHistorySpec()
    phases: PhasesSpec = PhasesSpec()
    budget: BudgetSpec = BudgetSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    reference_parity: ReferenceParitySpec = ReferenceParitySpec()
    suspend: bool = False
    """Pause after the current phase; set back to false to continue."""

    rules = (
        Rule(member(F("crossover.method"), ["linear", "slerp"]) | Given(F("models.base")),
             "crossover.method {crossover.method} needs models.base (a task-vector method)"),
        Rule(F("scientist.kind").compare("!=", "llm") | Given(F("scientist.endpoint")),
             "scientist.endpoint is required when scientist.kind is llm"),
        Rule(F("embedding.kind").compare("!=", "endpoint") | Given(F("embedding.endpoint")),
             "embedding.endpoint is required when embedding.kind is endpoint"),
        Rule((F("population.initial_size") >= size(F("models.seeds"))) | F("population.seeds_in_archive").compare("==", False),
             "population.initialSize must be at least the number of seed models"),
        Rule(all_below(F("evaluation.task_force_sizes"), F("population.size"))
             | ~(F("evaluation.enabled").compare("==", True) | F("evaluation.every_generations").compare("!=", 0)),
             "evaluation.taskForceSizes asks for a task force of more models than the archive holds "
             "(population.size {population.size})"),
        Rule(~Given(F("evaluation.export.size")) | (F("evaluation.export.size") <= F("population.size")),
             "evaluation.export.size {evaluation.export.size} is more models than the archive holds "
             "(population.size {population.size})"),
        Rule(~(member("control", F("evaluation.selections")) & F("evaluation.control.model").compare("==", "base"))
             | Given(F("models.base")),
             "evaluation.control.model base needs models.base (the control would silently be the best model)"),
        Rule(~member("judge", F("evaluation.best_of_n")) | Given(F("evaluation.judge"))
             | Given(F("judge.endpoint")) | Given(F("scientist.endpoint")),
             "evaluation.bestOfN lists judge but no evaluation.judge, judge.endpoint or scientist.endpoint is set"),
    )

    @property
    def best_of_n_judge(self) -> EndpointSpec | None:
        """The endpoint that picks best-of-N answers: evaluation.judge, else the task judge's, else the scientist's."""
        return self.evaluation.judge or self.judge.endpoint or self.scientist.endpoint


# Fields that define what a run *is*; changing them mid-run would corrupt its state. models.hub
# is not among them: after init failed on a gated repo, adding the token must not need a new run.
IMMUTABLE_FIELDS = ("seed", "models.seeds", "models.base", "models.dtype", "models.base_candidate", "crossover",
                    "mutation", "selection", "tasks", "storage", "scientist.kind", "reference_parity")
