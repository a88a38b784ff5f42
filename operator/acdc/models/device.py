"""Choosing where tensors live: CUDA when the machine has it, the CPU otherwise."""

from __future__ import annotations

import torch

from acdc.errors import UserError


def resolve_device(device: str = "auto") -> torch.device:
    """Map "auto" | "cpu" | "cuda[:n]" to a torch device, refusing CUDA where there is none."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise UserError(f"unknown device {device!r} (use auto, cpu or cuda[:n])") from exc
