"""Probe chats for the sanity check of a merged toy-world child (``acdc.models.sanity``).

They live with the skills they are drawn from: the sanity check itself is model-generic
and takes its probes as an argument.
"""

from __future__ import annotations

import random

from acdc.models.inference.base import Chat
from acdc.toyworld.skills import SKILLS


def toy_probes(count: int = 12, seed: int = 0) -> list[Chat]:
    """Probe chats (question and answer) drawn from every toy skill at its lowest difficulty."""
    rng = random.Random(seed)
    names = sorted(SKILLS)
    chats: list[Chat] = []
    for index in range(count):
        skill = SKILLS[names[index % len(names)]]
        example = skill.sample(skill.difficulty_range[0], rng)
        chats.append([{"role": "user", "content": example.prompt}, {"role": "assistant", "content": example.answer}])
    return chats
