"""Inference backends behind one interface; ``make_backend`` picks one by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acdc.errors import UserError
from acdc.models.inference.base import Backend, Chat, Message, SamplingParams

BACKENDS = ("transformers", "vllm", "openai")


def make_backend(kind: str, target: Path | str, **options: Any) -> Backend:
    """A backend of ``kind`` for ``target`` (a model dir, or for "openai" a base URL).

    Options: transformers: device, batch_size; vllm: engine arguments; openai: model,
    api_key, timeout_s, max_retries, concurrency.
    """
    if kind == "transformers":
        from acdc.models.inference.transformers_backend import TransformersBackend

        return TransformersBackend.load(target, **options)
    if kind == "vllm":
        from acdc.models.inference.vllm_backend import VLLMBackend

        return VLLMBackend(target, **options)
    if kind == "openai":
        from acdc.llm_client import OpenAIClient
        from acdc.models.inference.openai_backend import OpenAIBackend

        concurrency = int(options.pop("concurrency", 8))
        if "model" not in options:
            raise UserError("the openai backend needs the served model name (option 'model')")
        return OpenAIBackend(OpenAIClient(base_url=str(target), **options), concurrency)
    raise UserError(f"unknown inference backend {kind!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "Chat", "Message", "SamplingParams", "make_backend"]
