"""Per-purpose seeds: one run seed fans out into independent, reproducible streams."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for ``purpose`` (e.g. "crossover", "train:base") under ``seed``.

    Hashing keeps streams for different purposes unrelated, so adding a random draw in
    one place never shifts the numbers drawn in another.
    """
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
