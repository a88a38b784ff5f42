"""Kubernetes resource quantities ("500m", "32Gi") as validated strings."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# The API server's own grammar, simplified to what people write: a decimal number with an
# optional binary (Ki..Ei), decimal (k, M, G, T, P, E) or milli suffix. Not zero: every
# quantity here is a request (CPU, memory, a volume's size), and a zero one is a pod that is
# killed at once or a claim the API server refuses, found only when the Job runs.
QUANTITY_PATTERN = r"^([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"

Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]

_FACTORS = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def to_number(quantity: str) -> float:
    """Value of a quantity in base units (bytes, or cores)."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", quantity)
    if not match or match.group(2) not in _FACTORS:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]
