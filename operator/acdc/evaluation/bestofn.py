"""Best-of-N: answer each document with one of the task force's N answers, picked without the key.

Two pickers, as in the reference: an LLM judge that sees all N answers at once, numbered,
and names one (a single call per document; none when every answer is the same, and a
seeded random pick when the reply names no valid candidate), and a reward model, a
Hugging Face sequence classifier whose one logit scores each (question, answer) pair,
run in batches. Accuracy is how often the picked answer is correct; pick share is how
often each model's answer was picked.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acdc.engine.taskforce import judge_select
from acdc.evaluation.coverage import Answers
from acdc.llm_client import OpenAIClient

log = logging.getLogger(__name__)

_SYSTEM = ("You are shown a question and several numbered candidate answers written by different models. "
           "Decide which candidate answers the question correctly; prefer correctness over style. Reason briefly, "
           "then end with a line 'CHOICE: <number>' naming exactly one candidate.")
# One run of separators (\W* covers the colon: "\W*:?\W*" backtracked quadratically on a long
# run), and a number of at most six digits (int() raises ValueError past 4,300 digits).
_CHOICE = re.compile(r"choice\W*(\d{1,6})(?!\d)", re.IGNORECASE)


def judge_prompt(question: str, candidates: Sequence[str]) -> str:
    numbered = "\n\n".join(f"CANDIDATE {i + 1}:\n{c}" for i, c in enumerate(candidates))
    return f"QUESTION:\n{question}\n\n{numbered}\n\nWhich candidate is correct?"


def parse_choice(text: str, count: int) -> int | None:
    """Zero-based index of the last 'CHOICE: k' (k of at most six digits) with 1 <= k <= count;
    None otherwise."""
    found = _CHOICE.findall(text or "")
    if not found:
        return None
    k = int(found[-1])
    return k - 1 if 1 <= k <= count else None


@dataclass
class NumberedCandidatesJudge:
    """The reference's single-call judge through the project's OpenAI-compatible client."""

    client: OpenAIClient
    temperature: float = 0.0
    max_tokens: int = 1024
    calls: int = 0
    unusable: int = 0

    def choose(self, question: str, candidates: Sequence[str]) -> int | None:
        self.calls += 1
        messages = [{"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": judge_prompt(question, candidates)}]
        # down, the judge made every pick a random one: verdict_chat raises EndpointDown instead
        reply = self.client.verdict_chat("best-of-N judge", messages, temperature=self.temperature,
                                         max_tokens=self.max_tokens)
        if reply is None:
            self.unusable += 1
            return None
        choice = parse_choice(reply, len(candidates))
        if choice is None:
            log.warning("best-of-N judge named no valid candidate: %r", reply[:200])
            self.unusable += 1
        return choice


@dataclass(frozen=True)
class BestOfN:
    """Best-of-N over the first ``size`` task-force models on one benchmark."""

    method: str
    size: int
    accuracy: float
    pick_share: dict[str, float]
    calls: int = 0
    unusable: int = 0
    picks: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "size": self.size, "accuracy": self.accuracy, "pickShare": self.pick_share,
                "calls": self.calls, "unusable": self.unusable}


def _result(method: str, models: Sequence[str], answers: Sequence[Answers], picks: Mapping[int, int],
            calls: int = 0, unusable: int = 0) -> BestOfN:
    docs = list(answers[0])
    correct = sum(answers[picks[d]][d].correct for d in docs)
    shares = Counter(models[picks[d]] for d in docs)
    return BestOfN(method, len(models), round(correct / len(docs), 6) if docs else 0.0,
                   {m: round(shares[m] / len(docs), 6) if docs else 0.0 for m in models}, calls, unusable,
                   {d: models[picks[d]] for d in docs})


def judge_best_of_n(models: Sequence[str], answers: Sequence[Answers], judge: NumberedCandidatesJudge,
                    seed: int) -> BestOfN:
    """One judge call per document whose N answers differ; identical answers need none."""
    rng = np.random.default_rng(seed)
    picks = {}
    before_calls, before_unusable = judge.calls, judge.unusable
    for d in answers[0]:
        candidates = [a[d].response for a in answers]
        picks[d] = judge_select(answers[0][d].question, candidates, judge, rng)
    return _result("judge", models, answers, picks, judge.calls - before_calls, judge.unusable - before_unusable)


class RewardModel:
    """A sequence classifier with one output: higher logit, better answer."""

    def __init__(self, path: Path | str, batch_size: int = 16, device: str = "cpu") -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
        if self.model.config.num_labels != 1:
            from acdc.errors import UserError

            raise UserError(f"{path}: a reward model must have one output (num_labels=1), "
                            f"not {self.model.config.num_labels}")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size = batch_size

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One scalar per (question, answer), computed ``batch_size`` pairs at a time."""
        import torch

        scores: list[float] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            batch = self.tokenizer([q for q, _ in chunk], [a for _, a in chunk], padding=True, truncation=True,
                                   return_tensors="pt").to(self.model.device)
            with torch.inference_mode():
                scores += self.model(**batch).logits[:, 0].float().tolist()
        return scores


def reward_best_of_n(models: Sequence[str], answers: Sequence[Answers], reward: RewardModel) -> BestOfN:
    """The highest-scoring answer per document (first model on ties)."""
    docs = list(answers[0])
    pairs = [(answers[0][d].question, a[d].response) for d in docs for a in answers]
    scores = np.asarray(reward.score(pairs), dtype=float).reshape(len(docs), len(answers)) if docs else np.zeros((0, 0))
    picks = {d: int(np.argmax(scores[i])) for i, d in enumerate(docs)}
    return _result("rewardModel", models, answers, picks)
