"""The gibberish check: reject broken children before they cost an evaluation.

The reference asks the scientist LLM whether three sampled answers look like gibberish.
Here the check is model-based and cheap, so it runs with no scientist at all:

1. Probe loss: the child's mean token loss on the assistant turns of a few probe chats
   must stay nearer the worst parent's loss than a uniform guess over the vocabulary
   (ln V nats a token): ``max_loss_share`` is how far towards knowing nothing a child may
   move. A merge that blew up (weights scaled, NaN) scores near or past a uniform guess.
   Not a ratio of losses: parents that answer the probes have a loss near 0 (the toy
   world's seeds: 0.001-0.08), where a ratio of 3 (floored at 0.1) rejected 191 of the
   340 children of five quickstart runs, at losses of 0.3-5.5, among them children that
   answer (python bench/bench_merge_quality.py prints each child's loss and verdict);
   this rule rejects the 25 of them past about 2.9, the clearly broken ones.
2. Probe generations: greedy answers to the probe prompts must not be mostly empty or
   mostly one short pattern repeated (the classic failure of a degenerate merge).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from acdc.models.device import resolve_device
from acdc.models.inference.base import Chat, SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend


@dataclass(frozen=True)
class SanityReport:
    """Verdict plus the evidence, recorded next to the child's evaluation."""

    ok: bool
    reasons: list[str]
    probe_loss: float
    parent_loss: float | None
    samples: list[str] = field(default_factory=list)


def probe_loss(model_dir: Path | str, probes: Sequence[Chat], device: str = "auto") -> float:
    """Mean next-token loss on the probes' assistant turns (inf when not finite)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # transformers types .to() through a decorator that hides torch's signature
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(resolve_device(device)).eval()  # type: ignore[arg-type]
    total, count = 0.0, 0
    with torch.inference_mode():
        for chat in probes:
            prompt = tokenizer.apply_chat_template(chat[:-1], add_generation_prompt=True, tokenize=False)
            full = tokenizer.apply_chat_template(chat, tokenize=False)
            prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
            ids = tokenizer(full, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
            labels = ids.clone()
            labels[:, :prompt_len] = -100
            loss = model(input_ids=ids, labels=labels).loss.item()
            n = int((labels != -100).sum().item()) - 1
            total, count = total + loss * n, count + n
    mean = total / max(1, count)
    return mean if math.isfinite(mean) else math.inf


_PARENT_LOSSES: dict[tuple[str, int, str, str], float] = {}
"""Probe losses of parent models in this process, by (folder, newest weights mtime, probes,
device). A local runner's worker checks child after child of the same few archive models:
without it, two of each check's three model loads were its parents, again (a finished
model's weights never change; a rewritten one gets a new mtime)."""


def parent_probe_loss(model_dir: Path | str, probes: Sequence[Chat], device: str = "auto") -> float:
    """``probe_loss`` of a finished model, computed once per process."""
    path = Path(model_dir).resolve()
    stamp = max((f.stat().st_mtime_ns for f in path.glob("*.safetensors")), default=0)
    key = (str(path), stamp, json.dumps(list(probes), sort_keys=True), device)
    if key not in _PARENT_LOSSES:
        _PARENT_LOSSES[key] = probe_loss(path, probes, device)
    return _PARENT_LOSSES[key]


def is_repetitive(text: str, min_length: int = 24, max_period: int = 4) -> bool:
    """True when ``text`` is long and mostly one pattern of at most ``max_period`` chars."""
    text = text.strip()
    if len(text) < min_length:
        return False
    for period in range(1, max_period + 1):
        pattern = text[:period]
        if text.count(pattern) * period >= 0.8 * len(text):
            return True
    return False


def check_model(
    model_dir: Path | str,
    probes: Sequence[Chat],
    parents: Sequence[Path | str] = (),
    max_loss_share: float = 0.5,
    device: str = "auto",
) -> SanityReport:
    """Decide whether the model at ``model_dir`` is sane enough to evaluate, on ``probes``
    (chats whose last turn is the expected answer; ``acdc.toyworld.probes`` draws them)."""
    reasons: list[str] = []
    loss = probe_loss(model_dir, probes, device)
    parent_loss = max((parent_probe_loss(p, probes, device) for p in parents), default=None)
    if not math.isfinite(loss):
        reasons.append("probe loss is not finite")
    elif parent_loss is not None:
        uniform = math.log(AutoConfig.from_pretrained(model_dir).vocab_size)
        limit = parent_loss + max_loss_share * max(0.0, uniform - parent_loss)
        if loss > limit:
            reasons.append(f"probe loss {loss:.3f} is past {limit:.3f}, {max_loss_share:.0%} of the way from the "
                           f"worst parent's {parent_loss:.3f} to a uniform guess's {uniform:.3f}")
    backend = TransformersBackend.load(model_dir, device=device)
    samples = backend.generate([chat[:-1] for chat in probes], SamplingParams(max_tokens=32))
    backend.close()
    empty = sum(not s.strip() for s in samples)
    repetitive = sum(is_repetitive(s) for s in samples)
    if empty > len(samples) / 2:
        reasons.append(f"{empty}/{len(samples)} probe answers are empty")
    if repetitive > len(samples) / 2:
        reasons.append(f"{repetitive}/{len(samples)} probe answers are one short pattern repeated")
    return SanityReport(not reasons, reasons, loss, parent_loss, samples)
