"""Every field of every example, mutated every way a person or a script gets it wrong: each
mutated file is either valid or refused with problems of one line each that start with a line
of the file, and one of those lines is where the mutated field (or the section that lacks a
deleted one) is written. Never an exception other than SpecInvalid, never a line-less problem.

In-process through ``load_run``, the path `acdc validate` and `acdc run` take;
tests/spec/test_hostile_files.py runs the CLI itself on files built to break the reader.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from acdc.spec import SpecInvalid, load_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DELETE = object()
MUTATIONS: dict[str, Any] = {
    "deleted": DELETE, "text": "x", "negative": -1, "zero": 0, "huge": 10**20, "fraction": 0.5, "empty": "",
    "null": None, "list": [1], "mapping": {"a": 1}, "unicode": "\u202e\u00e9\u0301\U0001f600", "long": "a" * 5000,
    "boolean": True,
}
PROBLEM = re.compile(r"^line (\d+): \S+: \S")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _mutated(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def _key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """The line of each key and list item of a dumped document, and the document's own."""
    root = yaml.compose(text)
    lines: dict[tuple[Any, ...], int] = {(): root.start_mark.line + 1}
    stack: list[tuple[tuple[Any, ...], yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        pairs = (node.value if isinstance(node, yaml.MappingNode)
                 else [(item, item) for item in node.value] if isinstance(node, yaml.SequenceNode) else [])
        for index, (key, child) in enumerate(pairs):
            part = key.value if isinstance(node, yaml.MappingNode) else index
            lines[(*path, part)] = key.start_mark.line + 1
            stack.append(((*path, part), child))
    return lines


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_mutation_of_every_field_is_valid_or_one_line_per_problem_at_its_line(
        example: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(example.read_text())
    path_file = tmp_path / "run.yaml"
    failures = []
    for path in list(_paths(document)):
        for name, value in MUTATIONS.items():
            text = yaml.safe_dump(_mutated(document, path, value), sort_keys=False)
            path_file.write_text(text)
            try:
                load_run(path_file)
                continue
            except SpecInvalid as exc:
                problems = exc.problems
            where = _key_lines(text)
            # The mutated key's line or one inside its new value; a deleted key's section's; a
            # cross-field check's, in a section above.
            allowed = {line for key, line in where.items() if key == path[:len(key)] or key[:len(path)] == path}
            bad = [p for p in problems if "\n" in p or not PROBLEM.match(p)]
            if bad or not any(int(PROBLEM.match(p)[1]) in allowed for p in problems):  # type: ignore[index]
                failures.append(f"{'.'.join(map(str, path))} {name}: {problems}")
    assert not failures, "\n".join(failures[:20])
