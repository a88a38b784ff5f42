"""Seeded random generators derived from (run seed, purpose...).

The engine never touches global RNG state: every draw comes from a generator whose
seed mixes the run seed with a purpose path (e.g. ``("parents", generation)``), so a
phase re-run after a crash draws exactly the same numbers, and two purposes never
share a stream.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _purpose_words(purpose: tuple[str | int, ...]) -> list[int]:
    text = "\x1f".join(f"{type(p).__name__}:{p}" for p in purpose)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def generator(seed: int, *purpose: str | int) -> np.random.Generator:
    """A numpy Generator private to ``purpose`` under run seed ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed % 2**64, *_purpose_words(purpose)])))


def derived_seed(seed: int, *purpose: str | int) -> int:
    """A 31-bit integer seed for consumers that take an int (torch, mergekit recipes)."""
    return int(generator(seed, "derived-seed", *purpose).integers(0, 2**31 - 1))
