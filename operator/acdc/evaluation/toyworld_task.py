"""The toy world's held-out split as an lm-evaluation-harness custom task.

The CPU path must run through the same library as the cluster path, so the toy world's
benchmark is an ordinary lm-eval task: a YAML file, a ``utils.py`` next to it for
``!function`` hooks, and a local JSONL file (``dataset_path: json``) — no hub access.
Grading stays the toy world's own: ``process_results`` calls ``acdc.toyworld.skills.check``
on the answer cut out of the completion the way the run cuts it (``extract_answer``), so
a sample is correct here exactly when the run's checker says so.

The documents are drawn from the held-out third of the prompt space (``toyworld.splits``),
which neither training nor the run's tasks ever use, from a stream seeded by (seed,
"benchmark", skill, difficulty). ``write_task_dir`` is reusable: any caller that wants the
toy world's held-out comparison through lm-eval points ``--include_path`` at its folder.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acdc.atomic import write_text
from acdc.engine.rng import derived_seed
from acdc.tasks.answers import extract_answer
from acdc.toyworld.skills import SKILLS, check
from acdc.toyworld.splits import Split, examples_in

TASK_NAME = "acdc_toyworld"
DATA_FILE = "heldout.jsonl"
DEFAULT_PER_LEVEL = 4
METRIC = "exact_match"

# The hooks module lm-eval imports from the task folder: a shim, so the grading code lives
# (and is tested) in this package rather than in a generated file.
_UTILS = '"""lm-eval hooks of the acdc_toyworld task (generated; the code lives in acdc)."""\n' \
         "from acdc.evaluation.toyworld_task import process_results  # noqa: F401\n"


def documents(seed: int, per_level: int = DEFAULT_PER_LEVEL) -> list[dict[str, Any]]:
    """``per_level`` held-out prompts of every skill at every difficulty, in a fixed order."""
    docs: list[dict[str, Any]] = []
    for name, skill in SKILLS.items():
        low, high = skill.difficulty_range
        for difficulty in range(low, high + 1):
            rng = random.Random(derived_seed(seed, "benchmark", name, difficulty))
            for example in examples_in(Split.HELDOUT, name, difficulty, per_level, rng):
                docs.append({"id": len(docs), "skill": name, "difficulty": difficulty,
                             "prompt": example.prompt, "answer": example.answer})
    return docs


def task_yaml(data_file: Path, max_tokens: int) -> str:
    """The task config: greedy generation until the end token, graded by ``process_results``."""
    return "\n".join([
        f"task: {TASK_NAME}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {json.dumps(str(data_file))}",
        "test_split: test",
        "output_type: generate_until",
        'doc_to_text: "{{prompt}}"',
        'doc_to_target: "{{answer}}"',
        "process_results: !function utils.process_results",
        "generation_kwargs:",
        "  until: []",
        "  do_sample: false",
        f"  max_gen_toks: {max_tokens}",
        "metric_list:",
        f"  - metric: {METRIC}",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1.0",
        "",
    ])


def write_task_dir(folder: Path, seed: int, per_level: int = DEFAULT_PER_LEVEL, max_tokens: int = 32) -> Path:
    """Write the task (YAML, hooks, data) into ``folder`` atomically per file; returns ``folder``.

    Idempotent: the same seed writes the same bytes, so a resumed evaluation sees the same
    documents in the same order (shards index into that order).
    """
    return write_documents(folder, documents(seed, per_level), max_tokens)


def write_documents(folder: Path, docs: Sequence[dict[str, Any]], max_tokens: int = 32) -> Path:
    """The task over given documents (``prompt``, ``answer``): the benchmark's split above, or the
    held-out grading's own prompts (``acdc.evaluation.heldout.LmEvalGrader``)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / DATA_FILE
    write_text(data, "".join(json.dumps(doc) + "\n" for doc in docs))
    write_text(folder / "utils.py", _UTILS)
    write_text(folder / f"{TASK_NAME}.yaml", task_yaml(data.resolve(), max_tokens))
    return folder


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """lm-eval hook: 1.0 when the toy world's checker accepts the extracted answer; a document
    may name the run's ``extraction`` (spec.referenceParity.answerExtraction; lenient if absent)."""
    return {METRIC: float(check(doc["answer"], extract_answer(results[0], doc.get("extraction", "lenient"))))}
