"""Base model for every spec object: camelCase on the wire, unknown fields rejected.

Kubernetes manifests use camelCase; Python code uses snake_case. Rejecting unknown
fields is what turns a misspelt key into an error with a field path instead of a
silently ignored setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )
