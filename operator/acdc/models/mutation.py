"""Mutation operators of the reference, applied to a state dict in place.

- ``svd_gaussian`` (the reference's default, rate 0.25, keep_rank 256): for every 2-D
  weight, thin SVD in fp32, add N(0, rate^2) noise to the ``keep_rank`` largest singular
  values, clamp them at 0, rebuild, cast back. Norm weights and 1-D tensors are skipped.
- ``gaussian`` (rate 3e-4): element-wise N(0, rate^2) noise on every selected tensor.

Which tensors are touched is explicit: ``skip_embeddings`` leaves the token embeddings
and the LM head alone (the reference mutates them too, so the default is False).
All noise comes from one ``torch.Generator`` seeded by the caller, and tensors are
visited in sorted name order, so a recipe reproduces its child bit for bit on a device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from acdc.errors import PhaseError

EMBEDDING_MARKERS = ("embed_tokens", "lm_head", "wte", "wpe")


@dataclass(frozen=True)
class TensorFilter:
    """Which parameters a mutation may change."""

    skip_norms: bool
    skip_1d: bool
    skip_embeddings: bool

    def selects(self, name: str, tensor: torch.Tensor) -> bool:
        if self.skip_norms and "norm" in name:
            return False
        if self.skip_1d and tensor.ndim < 2:
            return False
        return not (self.skip_embeddings and any(marker in name for marker in EMBEDDING_MARKERS))


def _svd_gaussian(
    tensors: dict[str, torch.Tensor], params: Mapping[str, Any], generator: torch.Generator, device: torch.device
) -> list[str]:
    rate = float(params["rate"])
    keep_rank = int(params["keep_rank"])
    selected = TensorFilter(skip_norms=True, skip_1d=True, skip_embeddings=bool(params["skip_embeddings"]))
    changed = []
    for name in sorted(tensors):
        weight = tensors[name]
        if not selected.selects(name, weight) or weight.ndim != 2:
            continue
        work = weight.to(device=device, dtype=torch.float32)
        u, s, vh = torch.linalg.svd(work, full_matrices=False)
        rank = min(keep_rank, s.numel())
        noise = torch.randn(rank, generator=generator, device=device, dtype=torch.float32) * rate
        s = s.clone()
        s[:rank] = (s[:rank] + noise).clamp_min(0.0)
        tensors[name] = ((u * s) @ vh).to(device=weight.device, dtype=weight.dtype)
        changed.append(name)
    return changed


def _gaussian(
    tensors: dict[str, torch.Tensor], params: Mapping[str, Any], generator: torch.Generator, device: torch.device
) -> list[str]:
    rate = float(params["rate"])
    selected = TensorFilter(skip_norms=False, skip_1d=False, skip_embeddings=bool(params["skip_embeddings"]))
    changed = []
    for name in sorted(tensors):
        weight = tensors[name]
        if not selected.selects(name, weight):
            continue
        noise = torch.randn(weight.shape, generator=generator, device=device, dtype=torch.float32) * rate
        tensors[name] = (weight.to(device=device, dtype=torch.float32) + noise).to(weight.device, weight.dtype)
        changed.append(name)
    return changed


MutationFn = Callable[[dict[str, torch.Tensor], Mapping[str, Any], torch.Generator, torch.device], list[str]]

MUTATIONS: dict[str, tuple[MutationFn, dict[str, Any]]] = {
    "svd_gaussian": (_svd_gaussian, {"rate": 0.25, "keep_rank": 256, "skip_embeddings": False}),
    "gaussian": (_gaussian, {"rate": 3e-4, "skip_embeddings": False}),
}
"""Mutation name -> (operator, default parameters from the reference's configs)."""


def mutate(
    tensors: dict[str, torch.Tensor], method: str, params: Mapping[str, Any], seed: int, device: torch.device
) -> dict[str, Any]:
    """Mutate ``tensors`` in place; return the effective parameters and the changed names."""
    try:
        operator, defaults = MUTATIONS[method]
    except KeyError:
        raise PhaseError(f"unknown mutation method {method!r}; known: {sorted(MUTATIONS)}") from None
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise PhaseError(f"mutation {method!r}: unknown parameter(s) {unknown}; allowed: {sorted(defaults)}")
    effective = {**defaults, **params}
    generator = torch.Generator(device=device).manual_seed(seed)
    changed = operator(tensors, effective, generator, device)
    return {"params": effective, "changed": changed}
