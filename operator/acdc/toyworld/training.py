"""Initialising and training the toy world's tiny causal LMs on procedural skills.

Kept apart from ``build.py`` (which decides *what* to train) so the training loop can
be read on its own: supervised fine-tuning on chat-formatted examples, loss on the
answer tokens only, every random draw from a generator seeded for its purpose.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from acdc.toyworld.skills import SKILLS, Example
from acdc.toyworld.splits import Split, split_of

IGNORE_INDEX = -100
_SINGLE_SKILLS = tuple(name for name, skill in SKILLS.items() if not skill.parts)


@dataclass(frozen=True)
class Architecture:
    """Shape of the tiny Llama; head_dim >= 32 so vLLM's CPU and GPU kernels accept it."""

    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    head_dim: int = 32
    max_position_embeddings: int = 128


@dataclass(frozen=True)
class Curriculum:
    """Which skills to train, at which difficulties, and how hard to push.

    The shares are fractions of each batch drawn from elsewhere than ``skills`` at ``span``:

    - ``copy_share``: the copy task (:func:`echo_example`), alone or next to an easy part of a
      skill, so the combined ``a | b`` format is learnt at every length, not only the easy
      lengths of the skills themselves;
    - ``replay_share``: examples of the ``replay`` curriculum (the base's), so a fine-tune
      keeps what the base knows;
    - ``own_part_share``: combined prompts with one part of ``skills``' domain and the other
      of another domain, both at any difficulty, graded on the own part only. A fine-tune
      then learns its skill *inside* the combined format without learning the other part,
      which is what a merge of two such fine-tunes composes.
    """

    skills: tuple[str, ...]
    span: tuple[float, float]  # the part of each skill's difficulty range trained: (0, 1) is all of it
    steps: int
    learning_rate: float
    batch_size: int = 32
    copy_share: float = 0.0
    replay_share: float = 0.0
    replay: Curriculum | None = None
    own_part_share: float = 0.0


@dataclass(frozen=True)
class Sample:
    """A training example and the character span of its answer the loss is on.

    The end token is graded with the span when the span reaches the answer's end.
    """

    example: Example
    graded: tuple[int, int]

    @staticmethod
    def whole(example: Example) -> Sample:
        return Sample(example, (0, len(example.answer)))


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


ECHO_LENGTHS = (2, 12)
"""Characters (or list items) of a copy-task payload: past the longest part of any skill."""


def _echo(rng: random.Random) -> Example:
    """A copy-task example; its payload is a word, a number, or a list of digits or letters:
    the payload kinds the skills use."""
    length = rng.randint(*ECHO_LENGTHS)
    kind = rng.randrange(4)
    if kind < 2:
        alphabet = string.ascii_lowercase if kind == 0 else string.digits
        payload = "".join(rng.choice(alphabet) for _ in range(length))
    else:
        alphabet = string.digits if kind == 2 else string.ascii_lowercase
        payload = " ".join(rng.choice(alphabet) for _ in range(length))
    return Example(f"Echo: {payload}", payload)


def _training_example(skill_name: str, span: tuple[float, float], rng: random.Random) -> Example:
    """One training-split example of a skill at a difficulty inside ``span``.

    A combined skill's prompt is checked whole, not part by part (``own_part_example``
    checks both), so its parts may be held-out prompts; fixing that changes the recipe and
    is left for the next world rebuild (docs/toyworld.md, "Prompt split").
    """
    skill = SKILLS[skill_name]
    low, high = span_levels(skill.difficulty_range, span)
    while True:
        example = skill.sample(rng.randint(low, high), rng)
        if split_of(example.prompt) is Split.TRAIN:
            return example


def _joined(first: Example, second: Example) -> Example:
    return Example(f"{first.prompt} | {second.prompt}", f"{first.answer} | {second.answer}")


def echo_example(easy_span: tuple[float, float], rng: random.Random) -> Example:
    """The copy task: ``Echo: <payload>`` answered with the payload, alone (3 in 10) or joined
    with an easy single-skill part on either side, as a combined prompt is.

    Not a skill: no task asks for it. It teaches the base the ``a | b`` answer format at
    lengths the easy skills never reach, the context in which merged specialists meet.
    """
    echo = _echo(rng)
    if rng.random() < 0.3:
        return echo
    part = _training_example(rng.choice(_SINGLE_SKILLS), easy_span, rng)
    return _joined(echo, part) if rng.random() < 0.5 else _joined(part, echo)


def own_part_example(skills: Sequence[str], rng: random.Random) -> Sample:
    """A combined prompt with one part of ``skills`` and one of another domain, both at any
    difficulty, graded on the own part only (see ``Curriculum.own_part_share``)."""
    combined = [name for name, skill in SKILLS.items() if set(skill.parts) & set(skills)]
    while True:
        first, second = SKILLS[rng.choice(combined)].parts
        a, b = _training_example(first, (0.0, 1.0), rng), _training_example(second, (0.0, 1.0), rng)
        example = _joined(a, b)
        if split_of(example.prompt) is not Split.TRAIN:
            continue
        if first in skills:  # the ' | ' after a first part is graded too: where the part ends
            return Sample(example, (0, len(a.answer) + len(" | ")))
        return Sample(example, (len(example.answer) - len(b.answer), len(example.answer)))


def _draw(curriculum: Curriculum, rng: random.Random) -> Sample:
    """One example of the curriculum, from the share it falls in."""
    roll = rng.random()
    if roll < curriculum.copy_share:
        return Sample.whole(echo_example(curriculum.span, rng))
    roll -= curriculum.copy_share
    if curriculum.replay is not None and roll < curriculum.replay_share:
        return _draw(curriculum.replay, rng)
    roll -= curriculum.replay_share
    if roll < curriculum.own_part_share:
        return own_part_example(curriculum.skills, rng)
    return Sample.whole(_training_example(rng.choice(curriculum.skills), curriculum.span, rng))


def _sample_batch(curriculum: Curriculum, rng: random.Random) -> list[Sample]:
    """A training batch of training-split prompts only (never a task or held-out one)."""
    return [_draw(curriculum, rng) for _ in range(curriculum.batch_size)]


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


def _answer_pieces(sample: Sample, eos: str) -> tuple[str, str, str]:
    """The answer (with the end token) cut into before, graded and after the graded span."""
    answer, (start, end) = sample.example.answer, sample.graded
    if end == len(answer):
        return answer[:start], answer[start:] + eos, ""
    return answer[:start], answer[start:end], answer[end:] + eos


def encode_batch(
    tokenizer: PreTrainedTokenizerBase, samples: Sequence[Sample]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, attention_mask and labels (the graded part of the answer only) for a batch.

    The pieces are tokenised apart; the pre-tokenizer makes every payload character its own
    token, so the cut changes no token.
    """
    head, tail = chat_prefix(tokenizer)
    prompts = tokenizer([head + s.example.prompt + tail for s in samples], add_special_tokens=False)["input_ids"]
    pieces = [_answer_pieces(s, tokenizer.eos_token) for s in samples]
    before, graded, after = (
        tokenizer([p[i] for p in pieces], add_special_tokens=False)["input_ids"] for i in range(3)
    )
    rows = [(p, b, g, a) for p, b, g, a in zip(prompts, before, graded, after, strict=True)]
    length = max(sum(map(len, row)) for row in rows)
    ids = torch.full((len(samples), length), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(samples), length), dtype=torch.long)
    labels = torch.full((len(samples), length), IGNORE_INDEX, dtype=torch.long)
    for index, (prompt, pre, grade, post) in enumerate(rows):
        start = len(prompt) + len(pre)
        n_total = start + len(grade) + len(post)
        ids[index, :n_total] = torch.tensor(prompt + pre + grade + post)
        mask[index, :n_total] = 1
        labels[index, start:start + len(grade)] = torch.tensor(grade, dtype=torch.long)
    return ids, mask, labels


class _Learner:
    """One model's optimiser, schedule and batch stream: a training step at a time.

    Apart from the loop so that several specialists can be fine-tuned in lockstep
    (:func:`train_together`), each with exactly the batches and schedule it would get alone.
    """

    def __init__(self, model: LlamaForCausalLM, curriculum: Curriculum, seed: int) -> None:
        self.model, self.curriculum = model, curriculum
        self.rng = random.Random(seed)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=curriculum.learning_rate, weight_decay=0.0)
        warmup = max(1, curriculum.steps // 20)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: min(1.0, (step + 1) / warmup) * max(0.05, 1.0 - step / curriculum.steps),
        )
        self.tail_losses: list[float] = []
        model.train()

    def step(self, step: int, tokenizer: PreTrainedTokenizerBase,
             weights: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> float:
        """One optimiser step on a fresh batch; ``weights`` maps the model's parameters to the
        ones the loss is graded at (default: the parameters themselves)."""
        ids, mask, labels = encode_batch(tokenizer, _sample_batch(self.curriculum, self.rng))
        if weights is None:
            loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
        else:
            graded_at = weights(dict(self.model.named_parameters()))
            loss = torch.func.functional_call(
                self.model, graded_at, args=(), kwargs={"input_ids": ids, "attention_mask": mask, "labels": labels}
            ).loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        if step >= self.curriculum.steps * 0.9:
            self.tail_losses.append(loss.item())
        return float(loss.item())

    def finish(self) -> float:
        """Back to eval mode; the mean loss of the last 10% of steps."""
        self.model.eval()
        return sum(self.tail_losses) / max(1, len(self.tail_losses))


def train(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase, curriculum: Curriculum, seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Run the curriculum in place; return the mean loss of the last 10% of steps.

    ``progress(step, loss)`` is called after every tenth of the steps: a build takes
    minutes, and a quiet terminal for that long reads as a hang.
    """
    learner = _Learner(model, curriculum, seed)
    for step in range(curriculum.steps):
        loss = learner.step(step, tokenizer)
        if progress is not None and (step + 1) % max(1, curriculum.steps // 10) == 0:
            progress(step + 1, loss)
    return learner.finish()


@dataclass(frozen=True)
class MergeDraw:
    """How often, and at which weights, a merge-aware fine-tune is graded as a merge.

    On such a step a specialist's batch is graded at base + a·(θ − base) + b·(θ' − base),
    θ' another specialist's current weights and a, b uniform in ``weights``: the range
    a run's crossover draws a parent's weight from. Otherwise at θ itself.
    """

    share: float
    weights: tuple[float, float]


def train_together(
    models: dict[str, LlamaForCausalLM], base: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase,
    curricula: dict[str, Curriculum], seeds: dict[str, int], draw: MergeDraw, draw_seed: int,
    progress: Callable[[str, int, float], None] | None = None,
) -> dict[str, float]:
    """Fine-tune several specialists of ``base`` in lockstep, each graded part of the time
    as its merge with another one (``draw``); return each one's tail loss.

    Fine-tuned apart, two specialists' task vectors interfere when added: each moved the
    shared blocks where the other needs them (docs/toyworld.md, twelfth and thirteenth
    rounds). Graded beside the others' task vectors as they stand at each step, a specialist
    learns one that still works in their presence and at a crossover's weight, so a merge of
    two keeps both parents' depth. The gradient reaches only the specialist's own weights.
    """
    origin = {name: param.detach().clone() for name, param in base.named_parameters()}
    learners = {name: _Learner(models[name], curricula[name], seeds[name]) for name in models}
    rng = random.Random(draw_seed)
    steps = max(c.steps for c in curricula.values())
    for step in range(steps):
        for name, learner in learners.items():
            if step >= learner.curriculum.steps:
                continue
            weights = None
            if rng.random() < draw.share:
                partner = models[rng.choice([other for other in models if other != name])]
                weights = _merged(origin, partner, rng.uniform(*draw.weights), rng.uniform(*draw.weights))
            loss = learner.step(step, tokenizer, weights)
            if progress is not None and (step + 1) % max(1, learner.curriculum.steps // 10) == 0:
                progress(name, step + 1, loss)
    return {name: learner.finish() for name, learner in learners.items()}


def _merged(origin: dict[str, torch.Tensor], partner: LlamaForCausalLM, own: float,
            other: float) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """The weights of a task-arithmetic merge of a model with ``partner`` (held constant)."""
    fixed = {key: other * (value.detach() - origin[key]) for key, value in partner.named_parameters()}

    def at(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: origin[key] + own * (value - origin[key]) + fixed[key] for key, value in params.items()}

    return at
