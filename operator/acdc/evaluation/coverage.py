"""Coverage@N on a benchmark: the fraction of documents at least one of N answers gets right.

For a set of models this is the paper's task-force coverage (an oracle pass@N across
models); for the control it is pass@N of one model's N sampled answers. Curves are
computed from the per-sample logs only, so they can be recomputed without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from acdc.errors import AcdcError
from acdc.evaluation.samples import Sample

Answers = Mapping[int, Sample]
"""doc id -> one model's (or one sample's) graded answer."""


class MismatchedAnswers(AcdcError):
    """Answer sets that grade different documents: coverage over them would count a document
    one set lacks as unsolved by it, a number about the logs rather than the models."""


def coverage_at(answers: Sequence[Answers]) -> float:
    """Fraction of the documents solved by any of ``answers``; every set must grade the same documents."""
    if not answers:
        return 0.0
    docs = answers[0].keys()
    for other in answers[1:]:
        if other.keys() != docs:
            raise MismatchedAnswers(
                f"answer sets grade different documents ({len(docs)} and {len(other)}; doc ids in one only: "
                f"{sorted(docs ^ other.keys())[:5]}): a shard log is short or was run under another "
                "benchmark limit; remove that model's logs under STATE/evaluation/samples and evaluate again")
    if not docs:
        return 0.0
    solved = sum(any(a[d].correct for a in answers) for d in docs)
    return round(solved / len(docs), 6)


def curve(answers: Sequence[Answers], sizes: Sequence[int]) -> dict[int, float]:
    """Coverage of the first N answer sets for each N in ``sizes`` that the sequence reaches."""
    return {n: coverage_at(answers[:n]) for n in sorted(set(sizes)) if n <= len(answers)}


def curves(selections: Mapping[str, Sequence[Answers]], sizes: Sequence[int]) -> dict[str, dict[int, float]]:
    """One curve per selection rule; ``best`` is a single model, so its value holds for every N."""
    result = {}
    for rule, answers in selections.items():
        if rule == "best":
            result[rule] = {n: coverage_at(answers[:1]) for n in sorted(set(sizes))}
        else:
            result[rule] = curve(answers, sizes)
    return result
