"""Inference with vLLM's offline engine (the worker image's GPU path).

``vllm`` is imported when the backend is created, never at module import, so the rest
of the package runs where vLLM cannot be installed (CI, the operator image).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acdc.errors import UserError
from acdc.models.inference.base import Chat, SamplingParams


class VLLMBackend:
    """Completes chats with ``vllm.LLM.chat`` (the model's own chat template)."""

    def __init__(self, model_path: Path | str, **engine_args: Any) -> None:
        """``max_model_len`` (an engine argument) also truncates prompts to their last
        ``max_model_len - max_tokens`` tokens rather than failing an oversized one."""
        try:
            import vllm
        except ImportError as exc:
            raise UserError("the vllm backend needs the vllm package (installed in the worker image)") from exc
        self._vllm = vllm
        self.max_model_len: int | None = engine_args.get("max_model_len")
        self.llm = vllm.LLM(model=str(model_path), **engine_args)

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[str]:
        sampling = self._vllm.SamplingParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=list(params.stop) or None,
            truncate_prompt_tokens=None if self.max_model_len is None else max(1, self.max_model_len - params.max_tokens),
        )
        outputs = self.llm.chat([list(chat) for chat in chats], sampling, add_generation_prompt=True, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]

    def close(self) -> None:
        del self.llm
