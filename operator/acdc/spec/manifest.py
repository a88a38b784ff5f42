"""The whole CoevolutionRun object and loading it from YAML with readable errors."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from acdc.errors import UserError
from acdc.spec.base import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE_REFERENCE,
    LABEL_VALUE,
    PRINTABLE,
    QUALIFIED_NAME,
    URL,
    DnsLabel,
    LabelMap,
    label_keys,
)
from acdc.spec.notes import interval_notes
from acdc.spec.quantity import QUANTITY_PATTERN
from acdc.spec.reader import Document, KeyPath, load_documents, read_bounded
from acdc.spec.run import API_GROUP, API_VERSION, HF_REPO_ID, KIND, SEED_TASK_PATTERN, CoevolutionRunSpec
from acdc.spec.status import CoevolutionRunStatus


class ObjectMeta(BaseModel):
    """The part of metadata a run file needs, and the fields the API server adds (uid,
    managedFields...), which pass through unread so that `kubectl get -o yaml` output
    validates. Any other key is refused: a misspelt `namespce` would otherwise be ignored.

    Labels and annotations are bounded as the API server bounds them (annotations: 256 KiB
    in all, which the run file's own size limit already enforces locally).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    name: str = Field(pattern=DNS_LABEL, max_length=52)
    namespace: DnsLabel | None = None
    labels: LabelMap | None = None
    annotations: Annotated[dict[str, Annotated[str, Field(max_length=262_144)]], Field(max_length=1024),
                           AfterValidator(label_keys)] | None = None
    generate_name: Any = None
    uid: Any = None
    resource_version: Any = None
    generation: Any = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: Any = None
    finalizers: Any = None
    owner_references: Any = None
    managed_fields: Any = None
    self_link: Any = None


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


def _user_path(loc: tuple[Any, ...]) -> KeyPath:
    """The keys and indexes of a pydantic error location, without its internal validator names."""
    return tuple(part for part in loc if isinstance(part, int) or not str(part).startswith(("function-", "model-")))


def _path(parts: KeyPath) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _shown(value: Any, limit: int = 60) -> str:
    """The offending value as the user wrote it, cut short: a 100 kB string is not echoed."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit, from wherever it came
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else type(value).__name__
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _variants(annotation: Any) -> list[Any]:
    """The types a field's annotation may hold, through Annotated and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _variants(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [variant for arg in get_args(annotation) for variant in _variants(arg)]
    return [annotation]


def _accepted_keys(parent: KeyPath) -> list[str]:
    """The keys the mapping at ``parent`` takes, found by following it through the models' fields."""
    types: list[Any] = [CoevolutionRun]
    for part in parent:
        following = []
        for kind in (variant for current in types for variant in _variants(current)):
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
                following += [f.annotation for name, f in kind.model_fields.items() if (f.alias or name) == part]
            elif get_origin(kind) is list and isinstance(part, int):
                following.append(get_args(kind)[0])
            elif get_origin(kind) is dict and isinstance(part, str):
                following.append(get_args(kind)[1])
        types = following
    return [f.alias or name for current in types for kind in _variants(current)
            if isinstance(kind, type) and issubclass(kind, BaseModel) for name, f in kind.model_fields.items()]


def _unknown_field(parts: KeyPath) -> str:
    """The message for an unknown key: with the accepted key it most likely misspells (or writes in
    snake_case)."""
    key, accepted = str(parts[-1]), _accepted_keys(parts[:-1])
    guess = to_camel(key) if to_camel(key) in accepted else next(iter(difflib.get_close_matches(key, accepted, 1)), None)
    return f"unknown field (did you mean {guess}?)" if guess else "unknown field"


def _line(parts: KeyPath, lines: Mapping[KeyPath, int]) -> str:
    """'line N: ' of the innermost key of ``parts`` the file writes (a missing field: its parent's,
    the document's own line for a top-level one)."""
    for end in range(len(parts), -1, -1):
        if parts[:end] in lines:
            return f"line {lines[parts[:end]]}: "
    return ""


PATTERN_MEANINGS = {
    DNS_LABEL: "a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit",
    DNS_SUBDOMAIN: "a Kubernetes name: lowercase letters, digits, '-' and '.', starting and ending with a letter or "
                   "digit",
    LABEL_VALUE: "a label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    QUALIFIED_NAME: "a qualified name such as example.com/gpu: letters, digits, '-', '_' and '.', with an optional "
                    "DNS prefix and '/'",
    IMAGE_REFERENCE: "an image reference such as registry.example.com/team/image:tag (lowercase path)",
    PRINTABLE: "text without control characters (no newlines or tabs)",
    URL: "an http:// or https:// URL without spaces",
    QUANTITY_PATTERN: "a Kubernetes quantity above zero such as 500m, 2, 512Mi or 4Gi",
    SEED_TASK_PATTERN: "builtin:reference, builtin:toyworld or a folder of tasks",
    HF_REPO_ID: "a Hugging Face repo id such as Qwen/Qwen2.5-7B-Instruct",
}
"""What each of the spec's common patterns means, said instead of the regular expression."""


def format_errors(error: ValidationError, lines: Mapping[KeyPath, int] | None = None) -> list[str]:
    """One line per error: 'spec.population.size: must be >= 2 (got -1)', after 'line N: ' when
    ``lines`` (a run file's) says where the field is."""
    out = []
    for item in error.errors(include_url=False):
        parts = _user_path(tuple(item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        pattern = (item.get("ctx") or {}).get("pattern")
        if item["type"] == "extra_forbidden":
            message = _unknown_field(parts)
        elif item["type"] in ("model_type", "dict_type"):  # not "... or instance of PopulationSpec"
            found = "nothing (null)" if item.get("input") is None else f"a {type(item.get('input')).__name__}"
            message = f"expected a mapping of fields (key: value), got {found}"
        elif item["type"] == "string_pattern_mismatch" and pattern in PATTERN_MEANINGS:
            message = f"expected {PATTERN_MEANINGS[pattern]} (got {_shown(item['input'])})"
        elif item["type"] == "literal_error":
            message = f"{message} (got {_shown(item['input'])})"
        elif item["type"] not in ("missing", "value_error") and not isinstance(item.get("input"), (dict, list)):
            message = f"{message} (got {_shown(item.get('input'))})"
        if item["type"] == "string_type" and not isinstance(item.get("input"), (dict, list, type(None))):
            message += "; quote it (YAML reads an unquoted yes, no, on, 0777 or 2001-01-01 as no text)"
        out.append(f"{_line(parts, lines or {})}{_path(parts)}: {message}")
    return out


def parse_run(document: Any, source: str = "<input>", lines: Mapping[KeyPath, int] | None = None) -> CoevolutionRun:
    """Validate a decoded YAML/JSON document as a CoevolutionRun; ``lines`` (from a run file's
    YAML) puts each error's line before its field. Keys are the camelCase names Kubernetes
    takes: a snake_case one would be dropped or refused by the API server, so it is refused here."""
    if not isinstance(document, dict):
        found = type(document).__name__
        raise SpecInvalid(source, [f"{_line((), lines or {})}(top level): expected a mapping with apiVersion, kind, "
                                   f"metadata, spec; got {found}"])
    if document.get("kind") not in (None, KIND):
        raise SpecInvalid(source, [f"{_line(('kind',), lines or {})}kind: expected {KIND} "
                                   f"(got {_shown(document.get('kind'))})"])
    try:
        return CoevolutionRun.model_validate(document, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise SpecInvalid(source, format_errors(exc, lines)) from None


def load_run(path: Path | str) -> CoevolutionRun:
    """Read and validate a run.yaml; every failure is a UserError naming the file.

    The file may be hostile: ``acdc.spec.reader`` bounds what is read and built.
    """
    return load_run_noting(path)[0]


def load_run_noting(path: Path | str, generations: int | None = None) -> tuple[CoevolutionRun, list[str]]:
    """``load_run``, and a warning line (``FILE: line N: spec.x.y: ...``) for each setting the
    run will not use (``acdc.spec.notes``), ``generations`` standing for its length when given."""
    path = Path(path)
    document = _one_document(path)
    run = parse_run(document.value, str(path), document.lines)
    notes = [f"{path}: {_line(field, document.lines)}{_path(field)}: {note}"
             for field, note in interval_notes(run.spec, generations)]
    return run, notes


def _one_document(path: Path) -> Document:
    documents = load_documents(read_bounded(path), str(path))
    if not documents:
        raise SpecInvalid(str(path), ["(top level): no YAML document (the file is empty, or holds only comments "
                                      "or null)"])
    if len(documents) > 1:
        raise SpecInvalid(str(path), [f"(top level): expected one YAML document, found {len(documents)} (the second "
                                      f"starts at line {documents[1].line})"])
    return documents[0]


def api_version() -> str:
    return f"{API_GROUP}/{API_VERSION}"
