"""Base model for every spec object, and the bounded field types every field uses.

Kubernetes manifests use camelCase; Python code uses snake_case. Rejecting unknown
fields is what turns a misspelt key into an error with a field path instead of a
silently ignored setting.

Every field is bounded, because a run file may be hostile or merely wrong, and an
unbounded number or string flows into Jobs, sandboxes and memory: floats are finite
(``allow_inf_nan=False``), every number has a minimum and a maximum, every string a
length limit (and a pattern where Kubernetes has one), every list and map a size
limit. The bounds live in the types (``Field`` constraints), so the generated CRD gets
the same ``maximum``/``maxLength``/``maxItems`` and the API server enforces them too.
tests/spec/test_bounds.py walks the schema and fails on any unbounded field.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from acdc.spec.rules import Rule, check_rules


def _cel_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The CRD carries a model's cross-field ``rules`` as its CEL validations (acdc.spec.rules)."""
    rules: tuple[Rule, ...] = getattr(model, "rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.kubernetes() for rule in rules]


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
        json_schema_extra=_cel_rules,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()
    """Cross-field checks, run after the fields validate and rendered into the CRD as CEL."""

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        check_rules(self, type(self).rules)
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML's ``true`` is not 1, nor is 0 (or "yes") false, nor is "16" a number: pydantic
        would take the first for a count or a seed, the second for a switch and the third for a
        size, while the API server, checking the CRD's ``integer``/``number`` and ``boolean``,
        refuses all three. Refused here too, so a run file the local runner accepts is one the
        cluster accepts."""
        if info.field_name is None:
            return value
        leaves = _leaves(cls.model_fields[info.field_name].annotation)
        items = value if isinstance(value, list) else [value]
        numeric = bool(leaves & {int, float}) and bool not in leaves
        if numeric and any(isinstance(item, bool) for item in items):
            raise ValueError("expected a number, got a boolean")
        text = next((item for item in items if isinstance(item, str)), None)
        if numeric and str not in leaves and text is not None:
            raise ValueError(f"expected a number, got the text {text[:40]!r} (write plain digits, unquoted; times are "
                             "in seconds)")
        if leaves - {type(None)} == {bool} and not all(item is None or isinstance(item, bool) for item in items):
            raise ValueError("expected a boolean (true or false)")
        return value


def _leaves(annotation: Any) -> set[Any]:
    """The plain types a field's type is made of, through Annotated, Optional and list."""
    leaves, stack = set(), [annotation]
    while stack:
        current = stack.pop()
        origin = get_origin(current)
        if origin is Annotated:
            stack.append(get_args(current)[0])
        elif origin in (Union, UnionType, list):
            stack.extend(get_args(current))
        else:
            leaves.add(current)
    return leaves


INT64_MAX = 2**63 - 1
MAX_COUNT = 1_000_000
"""Generations, pool sizes, attempts: far above any real run, far below what breaks a loop."""
MAX_SECONDS = 31_536_000
"""A year: the longest deadline or timeout a phase, a request or a toleration may ask for."""
MAX_GPUS = 16
"""GPUs one pod may request: the largest GPU nodes have 8-16."""

# Kubernetes' own name grammars (apimachinery validation), with their length limits.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
QUALIFIED_NAME = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# An OCI image reference: [registry[:port]/]path[:tag][@digest], no spaces or control characters.
IMAGE_REFERENCE = (r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*"
                   r"(:[\w][\w.-]{0,127})?(@[a-z0-9]+:[a-f0-9]{32,})?$")
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (newlines included): such values end up in argv, logs and labels."""

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]
DnsSubdomain = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN, max_length=253)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
QualifiedName = Annotated[str, StringConstraints(pattern=QUALIFIED_NAME, max_length=317)]
ImageReference = Annotated[str, StringConstraints(pattern=IMAGE_REFERENCE, max_length=512)]
Text = Annotated[str, StringConstraints(pattern=PRINTABLE, max_length=256)]
"""A short printable value: a model name, a revision, a Secret key."""
PathText = Annotated[str, StringConstraints(pattern=PRINTABLE, min_length=1, max_length=4096)]
"""A file system path (PATH_MAX)."""
URL = r"^https?://[^\s\x00-\x1f\x7f]+$"
Url = Annotated[str, StringConstraints(pattern=URL, max_length=2048)]
Argument = Annotated[str, StringConstraints(pattern=PRINTABLE, max_length=1024)]

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PositiveInt = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
GpuCount = Annotated[int, Field(ge=0, le=MAX_GPUS)]


def label_keys(value: dict[str, str]) -> dict[str, str]:
    """Map keys must be Kubernetes qualified names. Checked here, not in the key's type: a
    pattern on keys would give the CRD ``patternProperties``, which a structural schema forbids."""
    for key in value:
        if len(key) > 317 or not re.fullmatch(QUALIFIED_NAME, key):
            raise ValueError(f"{key[:80]!r} is not a valid label key (a qualified name, at most 317 characters)")
    return value


def unique_items(items: list[Any]) -> list[Any]:
    """A list that stands for a set (sizes, modes, names): an item twice is a mistake, not a weight."""
    repeated = next((item for index, item in enumerate(items) if item in items[:index]), None)
    if repeated is not None:
        raise ValueError(f"{repeated!r} is listed twice")
    return items


AS_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}
"""The CRD's mark for a list of unique scalars, so the API server refuses a repeated item as
``unique_items`` does (Annotated[list[X], Field(..., json_schema_extra=AS_SET), AfterValidator(unique_items)])."""

LabelMap = Annotated[dict[str, LabelValue], Field(max_length=64), AfterValidator(label_keys)]
"""Labels or a node selector: qualified-name keys, label values, at most 64 entries."""
