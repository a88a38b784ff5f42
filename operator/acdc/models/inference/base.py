"""The one interface every inference backend implements: chats in, completions out.

Evaluation, the sanity check and the task force all talk to models through this, so
switching between transformers (CPU tests, small GPUs), vLLM (the worker image) and an
OpenAI-compatible server is a configuration choice, not a code change. Backends apply
the model's own chat template with the generation prompt, as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]
"""One chat turn: {"role": "system" | "user" | "assistant", "content": str}."""

Chat = list[Message]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings shared by all backends; temperature 0 means greedy."""

    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


class Backend(Protocol):
    """Something that completes chats; one completion per chat, in input order."""

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[str]: ...

    def close(self) -> None:
        """Release the model or connections (GPU memory, engine processes)."""
        ...


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Truncate ``text`` before the earliest stop string (backends without native stop)."""
    cut = min((index for s in stop if (index := text.find(s)) >= 0), default=len(text))
    return text[:cut]
