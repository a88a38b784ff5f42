"""Held-out grading follows spec.referenceParity.answerExtraction, as the run's own scoring does.

The real grader (``TransformersGrader``) runs with the inference backend replaced by one
that returns fixed completions, so what is tested is the grader's prompt -> completion ->
extracted answer -> exact match path, not a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from acdc.evaluation.heldout import HeldoutTask, TransformersGrader
from acdc.models.inference.base import Chat, SamplingParams
from acdc.spec import load_run
from acdc.toyworld.skills import Example

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASK = HeldoutTask("add", 1, (Example("What is 2 + 3?", "5"), Example("What is 4 + 4?", "8")))
# per prompt: no answer marker (the lenient extraction takes the text, the reference's
# finds no answer), and an "Answer:" line (both take "8" once stripped; the reference keeps
# the spaces, which the toy world's exact match normalises away)
COMPLETIONS = ["5", "Let me add.\nAnswer: 8"]


class _Canned:
    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[str]:
        assert len(chats) == len(COMPLETIONS)
        return list(COMPLETIONS)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("extraction", "expected"), [("lenient", 1.0), ("reference", 0.5)])
def test_heldout_grades_with_the_runs_answer_extraction(monkeypatch: pytest.MonkeyPatch, extraction: str,
                                                        expected: float) -> None:
    def canned_backend(kind: str, target: Any, **_: Any) -> _Canned:
        assert kind == "transformers"
        return _Canned()

    monkeypatch.setattr("acdc.models.inference.make_backend", canned_backend)
    spec = load_run(EXAMPLES / "quickstart.yaml").spec
    spec = spec.model_copy(update={"reference_parity": spec.reference_parity.model_copy(
        update={"answer_extraction": extraction})})
    assert TransformersGrader(spec)("unused-model-dir", [TASK]) == {TASK.name: expected}


@pytest.mark.parametrize(("extraction", "expected"), [("lenient", 1.0), ("reference", 0.5)])
def test_the_lm_eval_grader_extracts_as_the_run_does(extraction: str, expected: float) -> None:
    """The default held-out grader (``LmEvalGrader``) scores through the lm-eval task's hook, which
    reads the run's extraction from each document: the same verdicts as the plain grader above."""
    from acdc.evaluation.toyworld_task import METRIC, process_results

    verdicts = [process_results({"answer": example.answer, "extraction": extraction}, [completion])[METRIC]
                for example, completion in zip(TASK.examples, COMPLETIONS, strict=True)]
    assert sum(verdicts) / len(verdicts) == expected
