"""Reading a run file that may be hostile: bounded in bytes, time, memory and depth.

A run file comes from a user (or from someone who hands one to a user), and `acdc
validate` / `acdc run` must answer every file with a result or one clear line, never a
hang, a traceback or an exhausted machine. So, before any YAML is built:

- only a regular file is read (a FIFO, /dev/zero or a directory is refused before a
  single read, and the open itself never blocks: ``acdc.atomic.read_regular``), and at
  most ``MAX_BYTES``: a run file is a few kilobytes;
- the event stream is checked first (libyaml, fast, streaming, aborting early): no
  aliases (a billion-laughs document expands nothing), no explicit tag but ``!!str`` (a
  run file is JSON's types; ``!!set``, ``!!binary`` or ``!!bool abc`` would build a value
  no field takes, or fail inside the constructor without a line), at most ``MAX_DEPTH``
  levels of nesting (no RecursionError) and ``MAX_NODES`` nodes;
- while building: duplicate mapping keys are an error (YAML says keys are unique; the
  last value silently winning hides mistakes), so is a key that is not a string (YAML 1.1
  reads ``on:`` as ``true:``; Kubernetes keys are strings), integers longer than
  ``MAX_INT_DIGITS`` digits (in any base) are refused, so is a YAML 1.1 base-60 number
  (``1:30`` reads as 90 here and as text in the API server's YAML), and a date that is
  not one (``2001-13-45``) is named with its line.

Every failure is a UserError of one line naming the file (and the line and column). Each
document keeps the line of every key and list item, so that a value the spec refuses is
named with its line too (``acdc.spec.manifest``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from acdc.atomic import RefusedFile, read_regular
from acdc.errors import UserError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000
MAX_INT_DIGITS = 24  # an int64 has 19; beyond this a number cannot be meant

if TYPE_CHECKING:
    # libyaml's CSafeLoader and the pure-Python SafeLoader share SafeConstructor's methods,
    # the only part the loader below overrides; mypy checks it against the latter.
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RunFileError(UserError):
    """A run file that cannot be read or parsed; exit code 2, one line."""


def read_bounded(path: Path, limit: int = MAX_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes; anything else is a RunFileError."""
    try:
        data = read_regular(path, limit)
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RunFileError(f"{path}: cannot read run file: a directory") from None
    except RefusedFile as exc:
        raise RunFileError(f"{path}: run file {exc}") from None
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read run file ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(f"{path}: run file is not UTF-8 text (byte {exc.start})") from None


def _position(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _where(mark: Any) -> str:
    return f" at {_position(mark)}" if mark is not None else ""


TEXT_TAG = "tag:yaml.org,2002:str"


def _check_events(text: str, source: str) -> None:
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent):
            raise RunFileError(f"{source}: YAML aliases (*{event.anchor}) are not allowed in a run file"
                               f"{_where(event.start_mark)}")
        tag = getattr(event, "tag", None)
        if tag is not None and not (tag == TEXT_TAG and isinstance(event, yaml.ScalarEvent)):
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")[:40]
            raise RunFileError(f"{source}: YAML tag {shown} is not allowed in a run file (only !!str, on a "
                               f"value to keep as text){_where(event.start_mark)}")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise RunFileError(f"{source}: nested deeper than {MAX_DEPTH} levels{_where(event.start_mark)}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise RunFileError(f"{source}: more than {MAX_NODES} YAML nodes{_where(event.start_mark)}")


class _Refused(yaml.constructor.ConstructorError):
    """A scalar that is valid YAML and that the run file refuses as a value (a date that is no
    date, an integer past the bound, a key that is not a string): its line says what is wrong
    and where, not "not valid YAML"."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)


class _StrictLoader(_Base):
    """SafeLoader that refuses duplicate keys and absurdly long integers."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]`: a complex key
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise _Refused(f"a {kind} as a key is not allowed (keys are field names)", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # `on:` or `1:` as a key: Kubernetes keys are strings
                raise _Refused(f"key {str(key_node.value)[:40]!r} reads as a {type(key).__name__}, not a string "
                               "(quote it)", key_node.start_mark)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        _refuse_base_60(node)
        # Decimal digits are counted before parsing (Python refuses past 4,300 of them with a
        # ValueError); hex, octal, binary and base-60 literals parse fast at any length, and
        # their value is bounded after.
        digits = sum(ch.isdigit() for ch in str(node.value))
        value = None if digits > MAX_INT_DIGITS else super().construct_yaml_int(node)
        if value is None or abs(value) >= 10**MAX_INT_DIGITS:
            literal = str(node.value)
            shown = literal if len(literal) <= 30 else f"{literal[:30]}... ({len(literal)} characters)"
            raise _Refused(f"integer {shown} is out of range", node.start_mark)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        _refuse_base_60(node)
        return super().construct_yaml_float(node)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # A scalar shaped like a date (2001-13-45) that is no date: the calendar's ValueError
        # would name neither the value nor where it is.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise _Refused(f"{str(node.value)[:40]} is not a valid date ({exc}; quote it to keep it as text)",
                           node.start_mark) from None


def _refuse_base_60(node: yaml.ScalarNode) -> None:
    """YAML 1.1 reads ``1:30`` as the number 90 and the API server's YAML as the text "1:30":
    neither is what a run file means, and the two would disagree."""
    if ":" in str(node.value):
        raise _Refused(f"{str(node.value)[:40]} reads as a base-60 number in YAML 1.1 (quote it to keep it as "
                       "text)", node.start_mark)


# YAML 1.1's float needs a dot; the API server's YAML (and 1.2) reads ``1e3`` as a number too, so it
# is one here: `name: 1e3` is refused with "quote it" by both, not text locally and a number there.
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                                    list("-+0123456789"))
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


KeyPath = tuple[str | int, ...]
"""Where a value sits in a document: its keys and list indexes from the top."""


@dataclass(frozen=True)
class Document:
    """A YAML document, the line it starts on, and the line of each of its keys and list items."""

    value: Any
    line: int
    lines: dict[KeyPath, int]


def _lines(root: yaml.Node) -> dict[KeyPath, int]:
    """The line of ``root`` (key ``()``: where a missing top-level field is reported) and of each
    key and list item below it; keys are strings (the loader refused others)."""
    lines: dict[KeyPath, int] = {(): root.start_mark.line + 1}
    stack: list[tuple[KeyPath, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        children: list[tuple[str | int, yaml.Node, yaml.Node]]
        if isinstance(node, yaml.MappingNode):
            children = [(str(key.value), key, value) for key, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(index, item, item) for index, item in enumerate(node.value)]
        else:
            continue
        for part, marked, child in children:
            lines[(*path, part)] = marked.start_mark.line + 1
            stack.append(((*path, part), child))
    return lines


def _documents(text: str) -> Iterator[Document]:
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None, "check_node() said a document follows"
            value = loader.construct_document(node)
            if value is not None:
                yield Document(value, node.start_mark.line + 1, _lines(node))
    finally:
        loader.dispose()


def load_documents(text: str, source: str) -> list[Document]:
    """The non-empty YAML documents of ``text``, checked as the module docstring says."""
    try:
        _check_events(text, source)
        return list(_documents(text))
    except _Refused as exc:
        raise RunFileError(f"{source}: {_position(exc.problem_mark)}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "invalid"
        if "tag:yaml.org,2002:merge" in problem:
            problem = "YAML merge keys (<<) are not allowed in a run file"
        raise RunFileError(f"{source}: not valid YAML: {problem}{_where(exc.problem_mark)}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls): where it is
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - text.rfind("\n", 0, exc.position)
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise RunFileError(f"{source}: not valid YAML: control character {character!r} at line {line}, "
                           f"column {column}") from None
    except yaml.YAMLError as exc:
        raise RunFileError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a last guard: still one line
        raise RunFileError(f"{source}: cannot parse run file ({type(exc).__name__})") from None
