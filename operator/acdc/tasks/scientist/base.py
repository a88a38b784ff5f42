"""The one interface every scientist implements, and what the engine hands it."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

AdaptationKind = Literal["easier", "harder", "novel", "novel_similar"]
ADAPTATION_KINDS: tuple[AdaptationKind, ...] = ("easier", "harder", "novel", "novel_similar")


@dataclass
class ScientistContext:
    """Where to write tasks and what the scientist may look at.

    ``next_number`` hands out the run-global task counter (the engine owns it, so numbers
    stay unique across scientists); ``examples`` are (task dir, pass rate) pairs shown to
    an LLM scientist as context.
    """

    pool_dir: Path
    generation: int
    next_number: Callable[[], int]
    seed: int = 0
    examples: Sequence[tuple[Path, float]] = field(default_factory=tuple)


class Scientist(Protocol):
    """Creates task folders; the engine decides which to keep (bands, limbo, pruning)."""

    name: str

    def propose_initial(self, n: int, context: ScientistContext) -> list[Path]:
        """Write up to ``n`` new tasks; return the folders written."""

    def adapt(self, parent: Path, kind: AdaptationKind, context: ScientistContext,
              pass_rate: float | None = None) -> Path | None:
        """Write one task adapted from ``parent``; None when no valid task came out."""


def derived_rng(seed: int, *purpose: object) -> random.Random:
    """A generator seeded from (seed, purpose...), independent of any global state."""
    digest = hashlib.sha256(repr((seed, *purpose)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
