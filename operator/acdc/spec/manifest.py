"""The whole CoevolutionRun object and loading it from YAML with readable errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from acdc.errors import UserError
from acdc.spec.base import DNS_LABEL, DnsLabel, LabelMap, label_keys
from acdc.spec.reader import load_documents, read_bounded
from acdc.spec.run import API_GROUP, API_VERSION, KIND, CoevolutionRunSpec
from acdc.spec.status import CoevolutionRunStatus


class ObjectMeta(BaseModel):
    """The part of metadata a run file needs; the rest (uid, managedFields...) passes through.

    Labels and annotations are bounded as the API server bounds them (annotations: 256 KiB
    in all, which the run file's own size limit already enforces locally).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=DNS_LABEL, max_length=52)
    namespace: DnsLabel | None = None
    labels: LabelMap | None = None
    annotations: Annotated[dict[str, Annotated[str, Field(max_length=262_144)]], Field(max_length=1024),
                           AfterValidator(label_keys)] | None = None


class CoevolutionRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: Literal["CoevolutionRun"]
    metadata: ObjectMeta
    spec: CoevolutionRunSpec
    status: CoevolutionRunStatus | None = None

    @field_validator("api_version")
    @classmethod
    def _served_version(cls, value: str) -> str:
        if value != api_version():
            raise ValueError(f"expected {api_version()} (got {value[:80]!r})")
        return value


MAX_PROBLEMS_SHOWN = 20


class SpecInvalid(UserError):
    """A run file failed validation; carries one line per problem, each with its field path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:  # one problem, one line
            super().__init__(f"{source}: invalid CoevolutionRun: {problems[0]}")
        else:  # a file of thousands of mistakes is answered in a screenful
            shown = [f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
            if len(problems) > MAX_PROBLEMS_SHOWN:
                shown.append(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
            super().__init__(f"{source}: invalid CoevolutionRun\n" + "\n".join(shown))


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "model-")):
            continue  # pydantic's internal validator names add nothing for the user
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _shown(value: Any, limit: int = 60) -> str:
    """The offending value as the user wrote it, cut short: a 100 kB string is not echoed."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit, from wherever it came
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else type(value).__name__
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def format_errors(error: ValidationError) -> list[str]:
    """One line per error: 'spec.population.size: must be >= 2 (got -1)'."""
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "literal_error":
            message = f"{message} (got {_shown(item['input'])})"
        elif item["type"] not in ("missing", "value_error") and not isinstance(item.get("input"), (dict, list)):
            message = f"{message} (got {_shown(item.get('input'))})"
        lines.append(f"{_path(tuple(item['loc']))}: {message}")
    return lines


def parse_run(document: Any, source: str = "<input>") -> CoevolutionRun:
    """Validate a decoded YAML/JSON document as a CoevolutionRun."""
    if not isinstance(document, dict):
        found = type(document).__name__
        raise SpecInvalid(source, [f"(top level): expected a mapping with apiVersion, kind, metadata, spec; got {found}"])
    if document.get("kind") not in (None, KIND):
        raise SpecInvalid(source, [f"kind: expected {KIND} (got {_shown(document.get('kind'))})"])
    try:
        return CoevolutionRun.model_validate(document)
    except ValidationError as exc:
        raise SpecInvalid(source, format_errors(exc)) from None


def load_run(path: Path | str) -> CoevolutionRun:
    """Read and validate a run.yaml; every failure is a UserError naming the file.

    The file may be hostile: ``acdc.spec.reader`` bounds what is read and built.
    """
    path = Path(path)
    documents = load_documents(read_bounded(path), str(path))
    if len(documents) != 1:
        raise SpecInvalid(str(path), [f"(top level): expected one YAML document, found {len(documents)}"])
    return parse_run(documents[0], str(path))


def api_version() -> str:
    return f"{API_GROUP}/{API_VERSION}"
