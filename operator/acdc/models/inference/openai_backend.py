"""Inference through an OpenAI-compatible server (vLLM in the cluster, or a hosted API).

The server applies the model's chat template itself, so chats are sent as messages.
Requests run concurrently on a small thread pool; timeouts and retries are the shared
client's (``acdc.llm_client``). A chat the server refuses while it still answers a minimal
one raises ``PhaseError``; a server that answers nothing is ``EndpointDown`` (exit 75): the
model it serves is not at fault, and dropping it would change the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from acdc.errors import PhaseError
from acdc.llm_client import LLMError, OpenAIClient, endpoint_answers_or_fault
from acdc.models.inference.base import Chat, SamplingParams


class OpenAIBackend:
    """Completes chats with ``POST {base_url}/chat/completions``, ``concurrency`` at a time."""

    def __init__(self, client: OpenAIClient, concurrency: int = 8) -> None:
        self.client = client
        self.concurrency = concurrency

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[str]:
        def one(chat: Chat) -> str:
            return self.client.chat(
                chat,
                temperature=params.temperature,
                max_tokens=params.max_tokens,
                top_p=params.top_p,
                seed=params.seed,
                stop=params.stop or None,
            )

        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                return list(pool.map(one, chats))
        except LLMError as exc:
            endpoint_answers_or_fault("inference", exc, self.client.probe)
            raise PhaseError(f"inference via {self.client.base_url} failed: {exc}") from exc

    def close(self) -> None:
        """Nothing to release: each request opens its own connection."""
