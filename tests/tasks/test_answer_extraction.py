"""referenceParity.answerExtraction, both ways: the project's lenient extraction credits code
outside a ```python fence and completions without an answer marker; the reference's scores
them 0. Checked end to end: completion -> extracted answer -> the sandbox scores a code task."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from acdc.tasks.answers import NO_ANSWER, extract_answer
from acdc.tasks.instances import load_instances, score_tasks
from acdc.tasks.sandbox import SandboxPool
from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks

from .conftest import FAST_LIMITS

CODE = ("def run_length_encode(s):\n    out, i = [], 0\n    while i < len(s):\n        j = i\n"
        "        while j < len(s) and s[j] == s[i]:\n            j += 1\n        out.append(s[i] + str(j - i))\n"
        "        i = j\n    return ''.join(out)\n")

# completion -> (score with lenient extraction, score with the reference's)
COMPLETIONS = {
    "python fence after Answer:": (f"I will write it.\nAnswer:\n```python\n{CODE}```", 1.0, 1.0),
    "```py fence": (f"Answer:\n```py\n{CODE}```", 1.0, 0.0),
    "bare code, no marker": (CODE, 1.0, 0.0),
}


def test_marker_rules_both_ways() -> None:
    assert extract_answer("Reasoning... 42") == "Reasoning... 42"
    assert extract_answer("Reasoning... 42", "reference") == NO_ANSWER
    assert extract_answer("Answer:  7 \n") == "7"
    assert extract_answer("Answer:  7 \n", "reference") == "  7 \n"
    assert extract_answer("so \\boxed{1} or \\boxed{2}.") == "1"
    assert extract_answer("so \\boxed{1} or \\boxed{2}.", "reference") == "1} or \\boxed{2"
    assert extract_answer("#### 12\nAnswer: 3", "reference") == "12\nAnswer: 3"
    assert extract_answer("\\boxed{\n1}\nAnswer: 5", "reference") == " 5"  # \boxed{ closed on another line


@pytest.fixture(scope="module")
def code_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    seed = next(d for d in list_task_dirs(resolve_seed_tasks("builtin:reference")) if d.name == "string_compression_function")
    target = tmp_path_factory.mktemp("tasks") / seed.name
    target.mkdir()
    for name in ("task.py", "task.json"):
        (target / name).write_bytes((seed / name).read_bytes())
    return target


@pytest.fixture(scope="module")
def reference_pool() -> Iterator[SandboxPool]:
    with SandboxPool(workers=1, limits=replace(FAST_LIMITS, code_blocks="reference")) as sandbox:
        yield sandbox


@pytest.mark.parametrize("case", COMPLETIONS, ids=list(COMPLETIONS))
def test_code_answers_score_as_each_mode_says(case: str, code_task: Path, pool: SandboxPool,
                                              reference_pool: SandboxPool) -> None:
    completion, lenient, reference = COMPLETIONS[case]
    for sandbox, mode, expected in ((pool, "lenient", lenient), (reference_pool, "reference", reference)):
        [materialized] = load_instances(sandbox, [code_task])
        assert materialized.ok, materialized.error
        answer = extract_answer(completion, mode)
        [score] = score_tasks(sandbox, {code_task: [answer]}).values()
        assert score.score == expected, (mode, answer)
