"""Inference with transformers: the CPU path of the toy world and a fallback on GPUs.

Batched with left padding so every prompt's last token sits at the same position, which
is what ``generate`` needs to continue all rows at once; greedy at temperature 0 and
stops at the tokenizer's end token. With ``max_model_len`` a prompt keeps only its last
``max_model_len - max_tokens`` tokens (the end holds the question and the generation
prompt), so one oversized task instruction cannot pad a whole batch to its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from acdc.errors import PhaseError
from acdc.models.device import resolve_device
from acdc.models.inference.base import Chat, SamplingParams, cut_at_stop


class TransformersBackend:
    """Completes chats with an in-process ``AutoModelForCausalLM``."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64,
                 max_model_len: int | None = None) -> None:
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        tokenizer.truncation_side = "left"
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_model_len = max_model_len

    @classmethod
    def load(cls, model_path: Path | str, device: str = "auto", batch_size: int = 64,
             max_model_len: int | None = None) -> TransformersBackend:
        """Load a model dir onto ``device`` ("auto": CUDA when present, else CPU)."""
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise PhaseError(f"{path}: not a model directory (no config.json)")
        tokenizer = AutoTokenizer.from_pretrained(path)
        # transformers types .to() through a decorator that hides torch's signature
        model = AutoModelForCausalLM.from_pretrained(path).to(resolve_device(device))  # type: ignore[arg-type]
        return cls(model, tokenizer, batch_size, max_model_len)

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[str]:
        prompts = [
            str(self.tokenizer.apply_chat_template(list(chat), add_generation_prompt=True, tokenize=False))
            for chat in chats
        ]
        completions: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            completions.extend(self._generate_batch(prompts[start : start + self.batch_size], params))
        return [cut_at_stop(text, params.stop) for text in completions]

    def _generate_batch(self, prompts: list[str], params: SamplingParams) -> list[str]:
        limit = {} if self.max_model_len is None else {
            "truncation": True, "max_length": max(1, self.max_model_len - params.max_tokens)}
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False, **limit)
        batch = batch.to(self.model.device)
        sampling = params.temperature > 0
        options = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
            if sampling
            else {"do_sample": False}
        )
        # generate() draws from the global torch RNG; fork it so the seed stays local to this call.
        devices = [self.model.device] if self.model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(params.seed)
            output = self.model.generate(
                **batch,
                max_new_tokens=params.max_tokens,
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=self.tokenizer.pad_token_id,
                **options,
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def close(self) -> None:
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
