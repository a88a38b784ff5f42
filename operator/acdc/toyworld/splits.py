"""A fixed three-way split of every skill's prompt space: training, tasks, held out.

A prompt's split is a hash of its text, so every side can tell it without recording what
the others saw:

- ``TRAIN`` (8 in 10): the only prompts the toy-world models are trained on whole; a
  combined training prompt is checked as a whole, so its single-skill parts may be of any
  split (``training._training_example``; left for the next world rebuild);
- ``TASKS`` (1 in 10): the only prompts the procedural scientist puts into a run's tasks,
  so a run measures its models on problems they never trained on, as AC/DC's scientist
  writes new problems for real models (with training prompts in the pool, a run chose
  merged models that passed training prompts and failed held-out ones);
- ``HELDOUT`` (1 in 10): only the report's held-out comparison and world.json's
  accuracies use these, so both measure generalisation and the run never sees them
  (single-skill ones excepted where training showed them as parts of a combined prompt).
"""

from __future__ import annotations

import enum
import hashlib
import random

from acdc.toyworld.skills import SKILLS, Example

BUCKETS = 10


class Split(enum.Enum):
    TRAIN = "train"
    TASKS = "tasks"
    HELDOUT = "heldout"


def split_of(prompt: str) -> Split:
    digest = hashlib.blake2s(prompt.encode(), digest_size=4).digest()
    bucket = int.from_bytes(digest, "big") % BUCKETS
    return Split.HELDOUT if bucket == 0 else Split.TASKS if bucket == 1 else Split.TRAIN


def examples_in(split: Split, skill: str, difficulty: int, count: int, rng: random.Random) -> list[Example]:
    """``count`` examples of ``split`` (repeats allowed when the prompt space is tiny).

    Raises RuntimeError when 1000 draws per wanted example find none: the skill's space
    at that difficulty has no prompt in the split.
    """
    examples: list[Example] = []
    attempts = 0
    while len(examples) < count:
        example = SKILLS[skill].sample(difficulty, rng)
        attempts += 1
        if split_of(example.prompt) is split:
            examples.append(example)
        elif attempts > 1000 * count:
            raise RuntimeError(f"skill {skill!r} at difficulty {difficulty} has no {split.value} prompts")
    return examples
