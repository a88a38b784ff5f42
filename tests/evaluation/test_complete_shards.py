"""A shard lm-eval grades short is never saved, and coverage never counts a missing document
as unsolved: either would move coverage@N for reasons that have nothing to do with the models."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from acdc.errors import InfrastructureFault
from acdc.evaluation import harness
from acdc.evaluation.coverage import MismatchedAnswers, coverage_at, curve
from acdc.evaluation.harness import HarnessConfig, run_shard
from acdc.evaluation.samples import Sample, Shard
from acdc.phases.faults import Fault, classify

DOCS = [{"prompt": f"Add: {i}+1", "answer": str(i + 1)} for i in range(9)]


def _lm_eval_grading(monkeypatch: pytest.MonkeyPatch, graded: list[int]) -> list[list[int]]:
    """lm-eval stand-in that logs a correct sample for the doc ids ``graded`` only; returns the ids it was asked."""
    import lm_eval

    asked: list[list[int]] = []
    task = SimpleNamespace(eval_docs=DOCS, doc_to_text=lambda doc: doc["prompt"], config=SimpleNamespace(task="toy"))

    def simple_evaluate(**kwargs: Any) -> dict[str, Any]:
        asked.append(kwargs["samples"]["toy"])
        return {"samples": {"toy": [{"doc_id": i, "doc": DOCS[i], "target": DOCS[i]["answer"],
                                     "filtered_resps": [DOCS[i]["answer"]], "exact_match": 1.0} for i in graded]}}

    monkeypatch.setattr(harness, "load_task", lambda name, config: (None, task))
    monkeypatch.setattr(lm_eval, "simple_evaluate", simple_evaluate)
    return asked


def test_a_shard_with_every_document_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _lm_eval_grading(monkeypatch, [1, 4, 7])
    samples = run_shard(Shard("toy", "m", "greedy", 1, 3), "model", HarnessConfig())
    assert asked == [[1, 4, 7]] and [s.doc_id for s in samples] == [1, 4, 7]


@pytest.mark.parametrize("graded", [[1, 4], [1, 4, 7, 8], [0, 4, 7]], ids=["short", "extra", "other"])
def test_a_shard_lm_eval_grades_short_or_otherwise_is_an_infrastructure_fault(monkeypatch: pytest.MonkeyPatch,
                                                                                graded: list[int]) -> None:
    _lm_eval_grading(monkeypatch, graded)
    with pytest.raises(InfrastructureFault, match="of the 3 documents of toy/m/greedy/1of3") as caught:
        run_shard(Shard("toy", "m", "greedy", 1, 3), "model", HarnessConfig())
    assert classify(caught.value) is Fault.INFRASTRUCTURE  # retried on resume, never dropped or saved


def _answers(correct: dict[int, bool]) -> dict[int, Sample]:
    return {d: Sample(d, "q", "a", "a" if ok else "b", ok) for d, ok in correct.items()}


def test_coverage_refuses_answer_sets_over_different_documents() -> None:
    full = _answers({0: True, 1: False, 2: False, 3: False})
    other = _answers({0: False, 1: True, 2: False, 3: False})
    assert coverage_at([full, other]) == 0.5 and curve([full, other], [1, 2]) == {1: 0.25, 2: 0.5}
    short = _answers({0: False, 1: True})
    for answers in ([full, short], [short, full]):
        with pytest.raises(MismatchedAnswers, match="grade different documents"):
            coverage_at(answers)

