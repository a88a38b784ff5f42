"""Per-sample logs of benchmark evaluation on the state volume: one file per finished shard.

Layout: ``STATE/evaluation/samples/<task>/<model id>/<variant>/shard-<k>-of-<S>.json``.
A shard file is written atomically once its whole shard is graded, so its presence is the
only record that the shard is done: a killed evaluation leaves no partial file, and a
resumed one skips every shard whose file exists. Model ids never change their weights, so
logs are keyed by model and variant only and reused by every later evaluation of the run.
``variant`` is ``greedy`` or ``sample<k>`` (the control's k-th sampled answer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, write_json
from acdc.engine.state import RunState, envelope
from acdc.errors import StateError


@dataclass(frozen=True)
class Sample:
    """One graded document: what was asked, what the model answered, and whether it is correct."""

    doc_id: int
    question: str
    target: str
    response: str
    correct: bool


@dataclass(frozen=True)
class Shard:
    """One unit of evaluation work: a model's variant on one shard of one benchmark."""

    task: str
    model_id: str
    variant: str
    index: int
    count: int

    def path(self, root: Path) -> Path:
        return (RunState(root).evaluation_dir / "samples" / self.task / self.model_id / self.variant
                / f"shard-{self.index:03d}-of-{self.count:03d}.json")

    @property
    def name(self) -> str:
        return f"{self.task}/{self.model_id}/{self.variant}/{self.index}of{self.count}"

    def doc_ids(self, total: int) -> list[int]:
        """Round-robin: shard k holds documents k, k+S, k+2S... (sizes differ by at most one)."""
        return list(range(self.index, total, self.count))


def is_done(root: Path, shard: Shard) -> bool:
    return shard.path(root).is_file()


def save_shard(root: Path, shard: Shard, samples: list[Sample], seconds: float) -> None:
    write_json(shard.path(root), envelope("evaluation-shard", None, {
        **asdict(shard), "seconds": round(seconds, 3), "samples": [asdict(s) for s in samples]}))


def load_shard(root: Path, shard: Shard) -> list[Sample]:
    path = shard.path(root)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("kind") != "evaluation-shard" or "samples" not in data:
        raise StateError(path, "not an evaluation shard file")
    try:
        return [Sample(int(s["doc_id"]), str(s["question"]), str(s["target"]), str(s["response"]),
                       bool(s["correct"])) for s in data["samples"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(path, f"malformed sample record ({exc})") from exc


def shard_seconds(root: Path, shard: Shard) -> float:
    return float(read_json(shard.path(root)).get("seconds", 0.0))


def load_answers(root: Path, shards: list[Shard]) -> dict[int, Sample]:
    """doc id -> sample over all ``shards`` of one (task, model, variant); every shard must be done."""
    merged: dict[int, Sample] = {}
    for shard in shards:
        for sample in load_shard(root, shard):
            merged[sample.doc_id] = sample
    return merged


def describe(samples: dict[int, Sample]) -> dict[str, Any]:
    """Accuracy of one model's answers (for tables and logs)."""
    return {"documents": len(samples), "accuracy": round(sum(s.correct for s in samples.values()) / len(samples), 6)
            if samples else 0.0}
