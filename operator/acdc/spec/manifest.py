"""The whole CoevolutionRun object and loading it from YAML with readable errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from acdc.errors import UserError
from acdc.spec.run import API_GROUP, API_VERSION, DNS_LABEL, KIND, CoevolutionRunSpec
from acdc.spec.status import CoevolutionRunStatus


class ObjectMeta(BaseModel):
    """The part of metadata a run file needs; the rest (labels, uid...) passes through."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=DNS_LABEL, max_length=52)
    namespace: str | None = None


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
            raise ValueError(f"expected {api_version()} (got {value!r})")
        return value


class SpecInvalid(UserError):
    """A run file failed validation; carries one line per problem, each with its field path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid CoevolutionRun\n" + "\n".join(f"  {p}" for p in problems))


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


def format_errors(error: ValidationError) -> list[str]:
    """One line per error: 'spec.population.size: must be >= 2 (got -1)'."""
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "literal_error":
            message = f"{message} (got {item['input']!r})"
        elif item["type"] not in ("missing", "value_error") and not isinstance(item.get("input"), (dict, list)):
            message = f"{message} (got {item.get('input')!r})"
        lines.append(f"{_path(tuple(item['loc']))}: {message}")
    return lines


def parse_run(document: Any, source: str = "<input>") -> CoevolutionRun:
    """Validate a decoded YAML/JSON document as a CoevolutionRun."""
    if not isinstance(document, dict):
        found = type(document).__name__
        raise SpecInvalid(source, [f"(top level): expected a mapping with apiVersion, kind, metadata, spec; got {found}"])
    if document.get("kind") not in (None, KIND):
        raise SpecInvalid(source, [f"kind: expected {KIND} (got {document.get('kind')!r})"])
    try:
        return CoevolutionRun.model_validate(document)
    except ValidationError as exc:
        raise SpecInvalid(source, format_errors(exc)) from None


def load_run(path: Path | str) -> CoevolutionRun:
    """Read and validate a run.yaml; every failure is a UserError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read run file ({exc})") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise SpecInvalid(str(path), [f"(top level): not valid YAML: {_yaml_problem(exc)}"]) from None
    if len(documents) != 1:
        raise SpecInvalid(str(path), [f"(top level): expected one YAML document, found {len(documents)}"])
    return parse_run(documents[0], str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line: what is wrong and where (its own text adds a code excerpt)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def api_version() -> str:
    return f"{API_GROUP}/{API_VERSION}"
