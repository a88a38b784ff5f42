"""Initialising and training the toy world's tiny causal LMs on procedural skills.

Kept apart from ``build.py`` (which decides *what* to train) so the training loop can
be read on its own: supervised fine-tuning on chat-formatted examples, loss on the
answer tokens only, every random draw from a generator seeded for its purpose.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from acdc.toyworld.skills import SKILLS, Example
from acdc.toyworld.splits import Split, split_of

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Architecture:
    """Shape of the tiny Llama; head_dim >= 32 so vLLM's CPU and GPU kernels accept it."""

    hidden_size: int = 96
    intermediate_size: int = 256
    num_hidden_layers: int = 3
    num_attention_heads: int = 3
    head_dim: int = 32
    max_position_embeddings: int = 96


@dataclass(frozen=True)
class Curriculum:
    """Which skills to train, at which difficulties, and how hard to push."""

    skills: tuple[str, ...]
    span: tuple[float, float]  # the part of each skill's difficulty range trained: (0, 1) is all of it
    steps: int
    learning_rate: float
    batch_size: int = 32


def new_model(tokenizer: PreTrainedTokenizerBase, arch: Architecture, seed: int) -> LlamaForCausalLM:
    """A freshly initialised Llama whose weights depend only on ``seed`` (not global RNG)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_attention_heads,
        head_dim=arch.head_dim,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim >= 2:
                param.normal_(0.0, 0.02, generator=generator)
            elif "norm" in name:
                param.fill_(1.0)
            else:
                param.zero_()
    return model


def span_levels(difficulty_range: tuple[int, int], span: tuple[float, float]) -> tuple[int, int]:
    """The difficulties a fraction ``span`` of a skill's range covers (at least its easiest one).

    Relative, because a difficulty means digits for one skill and letters for another: the
    easiest third of every skill is what the base learns, whatever its knob measures.
    """
    first, last = difficulty_range
    low = first + round(span[0] * (last - first))
    return low, max(low, first + round(span[1] * (last - first)))


def _sample_batch(curriculum: Curriculum, rng: random.Random) -> list[Example]:
    """A training batch of training-split prompts only (never a task or held-out one)."""
    batch: list[Example] = []
    while len(batch) < curriculum.batch_size:
        skill = SKILLS[rng.choice(curriculum.skills)]
        low, high = span_levels(skill.difficulty_range, curriculum.span)
        example = skill.sample(rng.randint(low, high), rng)
        if split_of(example.prompt) is Split.TRAIN:
            batch.append(example)
    return batch


def chat_prefix(tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    """The chat template's text before and after a user message (with generation prompt).

    Rendering jinja once per training example would dominate a CPU training step; the
    template is fixed, so it is rendered once around a marker and split there.
    """
    marker = "\x00"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": marker}], add_generation_prompt=True, tokenize=False
    )
    # tokenize=False returns a str; the stubs type every return of the call. (An ignore, not a
    # str(): a code change here would change world_hash and invalidate the shipped world.)
    head, tail = rendered.split(marker)  # type: ignore[union-attr]
    return head, tail


def encode_batch(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, attention_mask and labels (answer and end token only) for a batch."""
    head, tail = chat_prefix(tokenizer)
    prompts = tokenizer([head + ex.prompt + tail for ex in examples], add_special_tokens=False)["input_ids"]
    answers = tokenizer([ex.answer + tokenizer.eos_token for ex in examples], add_special_tokens=False)["input_ids"]
    length = max(len(p) + len(a) for p, a in zip(prompts, answers, strict=True))
    ids = torch.full((len(examples), length), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        n_prompt, n_total = len(prompt), len(prompt) + len(answer)
        ids[row, :n_total] = torch.tensor(prompt + answer)
        mask[row, :n_total] = 1
        labels[row, n_prompt:n_total] = torch.tensor(answer)
    return ids, mask, labels


def train(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase, curriculum: Curriculum, seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Run the curriculum in place; return the mean loss of the last 10% of steps.

    ``progress(step, loss)`` is called after every tenth of the steps: a build takes
    minutes, and a quiet terminal for that long reads as a hang.
    """
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=curriculum.learning_rate, weight_decay=0.0)
    warmup = max(1, curriculum.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * max(0.05, 1.0 - step / curriculum.steps),
    )
    model.train()
    tail_losses: list[float] = []
    for step in range(curriculum.steps):
        ids, mask, labels = encode_batch(tokenizer, _sample_batch(curriculum, rng))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step >= curriculum.steps * 0.9:
            tail_losses.append(loss.item())
        if progress is not None and (step + 1) % max(1, curriculum.steps // 10) == 0:
            progress(step + 1, loss.item())
    model.eval()
    return sum(tail_losses) / max(1, len(tail_losses))
