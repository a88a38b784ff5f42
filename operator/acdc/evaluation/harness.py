"""One shard through lm-evaluation-harness: its task definitions, prompting, answer filters
and per-sample correctness, with its Hugging Face backend on CPU and its vLLM backend on GPUs.

Only the orchestration is ours: which documents a shard holds (lm-eval's ``samples``
argument takes explicit document indices), which sampling a variant uses, and how a
logged sample becomes a :class:`Sample`. Datasets come from the cache on the run's volume
with the hub switched off, so an evaluation Job never downloads anything.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from acdc.errors import InfrastructureFault, UserError
from acdc.evaluation.samples import Sample, Shard

Backend = Literal["hf", "vllm"]


@dataclass(frozen=True)
class HarnessConfig:
    """How lm-eval runs a shard: backend, device, batch size, prompting and the benchmark's grading key."""

    backend: Backend = "hf"
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 16
    system_prompt: str | None = None
    include_path: Path | None = None
    num_fewshot: int | None = None
    limit: int | None = None
    metric: str = "exact_match"
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.85


def offline_environment(cache: Path | None, offline: bool = True) -> dict[str, str]:
    """Environment for an evaluation process: datasets and hub files from ``cache``, no downloads."""
    env: dict[str, str] = {}
    if cache is not None:
        env |= {"HF_HOME": str(cache), "HF_DATASETS_CACHE": str(cache / "datasets")}
    if offline:
        env |= {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    return env


@functools.cache
def _task_manager(include_path: str | None, defaults: bool) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=defaults)


def load_task(name: str, config: HarnessConfig) -> tuple[Any, Any]:
    """The lm-eval TaskManager that knows ``name`` and its Task (a group of tasks is refused).

    A task found in the include path alone skips indexing lm-eval's thousands of built-in
    task files (about 11 s per process here); a built-in name indexes them once per process.
    """
    from lm_eval.api.task import Task
    from lm_eval.tasks import get_task_dict

    include = str(config.include_path) if config.include_path else None
    manager = _task_manager(include, False) if include else None
    if manager is None or name not in manager.all_tasks:
        manager = _task_manager(include, True)
    if name not in manager.all_tasks:
        raise UserError(f"benchmark {name!r} is not an lm-eval task (include path: {include})")
    task = get_task_dict([name], manager).get(name)
    if not isinstance(task, Task):
        raise UserError(f"benchmark {name!r} is a group of lm-eval tasks; list its tasks one by one")
    return manager, task


def document_count(task: Any, limit: int | None) -> int:
    total = len(task.eval_docs)
    return min(total, limit) if limit else total


def _model(config: HarnessConfig, model_path: str) -> tuple[str, dict[str, Any]]:
    if config.backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise UserError("the vllm backend of lm-eval needs the vllm package (the worker image has it); "
                            "set evaluation.backend: hf or resources.evaluate.gpus: 0 to use transformers")
        return "vllm", {"pretrained": model_path, "dtype": config.dtype, "max_model_len": config.max_model_len,
                        "gpu_memory_utilization": config.gpu_memory_utilization}
    return "hf", {"pretrained": model_path, "dtype": config.dtype}


def _response(entry: dict[str, Any]) -> str:
    filtered = entry.get("filtered_resps")
    value = filtered[0] if isinstance(filtered, list) and filtered else filtered
    while isinstance(value, list) and value:  # generate_until with repeats nests one level deeper
        value = value[0]
    return "" if value is None else str(value)


def run_shard(shard: Shard, model_path: str, config: HarnessConfig, temperature: float = 0.0,
              seed: int = 0) -> list[Sample]:
    """Evaluate ``model_path`` on the documents of ``shard`` and return one graded sample per document."""
    import lm_eval

    manager, task = load_task(shard.task, config)
    ids = shard.doc_ids(document_count(task, config.limit))
    if not ids:
        return []
    model, model_args = _model(config, model_path)
    gen_kwargs = {"do_sample": True, "temperature": temperature} if temperature > 0 else None
    results = lm_eval.simple_evaluate(
        model=model, model_args=model_args, tasks=[task], samples={shard.task: ids}, num_fewshot=config.num_fewshot,
        batch_size=config.batch_size, device=config.device, apply_chat_template=True,
        system_instruction=config.system_prompt, gen_kwargs=gen_kwargs, log_samples=True, task_manager=manager,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
        bootstrap_iters=0,  # no verbosity=: acdc.logsafe.QUIET_LOGGERS sets lm-eval's level
    )
    assert results is not None  # only non-zero ranks of a distributed run get None
    samples = _graded(results["samples"][shard.task], task, config.metric)
    require_graded(samples, ids, f"documents of {shard.name}")
    return samples


def require_graded(samples: Sequence[Sample], ids: Sequence[int], what: str) -> None:
    """Stop unless ``samples`` are exactly the documents ``ids``, in order.

    A document lm-eval did not hand back would otherwise be saved as a short shard, and
    coverage would count it unsolved for that model alone. Not the model's fault, so an
    infrastructure fault: the evaluation stops and is retried, nothing short is saved.
    """
    graded = [s.doc_id for s in samples]
    if graded != list(ids):
        missing, unasked = sorted(set(ids) - set(graded)), sorted(set(graded) - set(ids))
        raise InfrastructureFault(f"lm-eval graded {len(graded)} of the {len(ids)} {what} "
                                  f"(missing doc ids {missing[:5]}, not asked for {unasked[:5]})")


def _graded(entries: Sequence[dict[str, Any]], task: Any, metric: str) -> list[Sample]:
    """One sample per document: the first filter's entry (lm-eval logs one per filter)."""
    by_doc: dict[int, Sample] = {}
    for entry in entries:
        doc_id = int(entry["doc_id"])
        if doc_id in by_doc:
            continue
        if metric not in entry:
            raise UserError(f"benchmark {task.config.task!r} logs no per-sample {metric!r} "
                            f"(it logs {sorted(k for k in entry if k in entry.get('metrics', []))})")
        by_doc[doc_id] = Sample(doc_id, str(task.doc_to_text(entry["doc"])), str(entry.get("target", "")),
                                _response(entry), float(entry[metric]) >= 1.0)
    return [by_doc[i] for i in sorted(by_doc)]


