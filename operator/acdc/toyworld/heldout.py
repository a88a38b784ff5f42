"""A fixed train / held-out split of every skill's prompt space.

A prompt is held out when a hash of its text falls in a fixed 1-in-10 bucket. The split
is stateless, so the trainer can refuse held-out prompts and the evaluation can draw
only held-out ones without either side recording what the other saw; accuracies in
world.json therefore measure generalisation, not memorisation.
"""

from __future__ import annotations

import hashlib
import random

from acdc.toyworld.skills import SKILLS, Example

HELDOUT_BUCKETS = 10


def is_heldout(prompt: str) -> bool:
    digest = hashlib.blake2s(prompt.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % HELDOUT_BUCKETS == 0


def heldout_examples(skill: str, difficulty: int, count: int, rng: random.Random) -> list[Example]:
    """``count`` held-out examples (repeats allowed when the prompt space is tiny)."""
    examples: list[Example] = []
    attempts = 0
    while len(examples) < count:
        example = SKILLS[skill].sample(difficulty, rng)
        attempts += 1
        if is_heldout(example.prompt):
            examples.append(example)
        elif attempts > 1000 * count:
            raise RuntimeError(f"skill {skill!r} at difficulty {difficulty} has no held-out prompts")
    return examples
