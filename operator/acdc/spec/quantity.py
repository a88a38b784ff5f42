"""Kubernetes resource quantities ("500m", "32Gi") as validated strings."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# The API server's own grammar, simplified to what people write: a decimal number with an
# optional binary (Ki..Ei), decimal (k, M, G, T, P, E) or milli suffix.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"

Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
