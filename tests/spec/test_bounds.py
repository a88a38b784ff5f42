"""Every field of the spec is bounded, and every out-of-bounds number is refused.

The structural check walks the CRD's schema (generated from the pydantic spec), so a field
added later without bounds fails here. The property test draws, for every numeric field,
a value outside its bounds (or inf/nan) and asserts the run is refused naming that field.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from acdc.spec import SpecInvalid, parse_run
from acdc.spec.crd import openapi_schema
from acdc.spec.run import CoevolutionRunSpec

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = openapi_schema(CoevolutionRunSpec)


def _fields(node: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, schema) of every leaf and container; '[]' stands for a list element."""
    out = [(path, node)]
    for name, sub in (node.get("properties") or {}).items():
        out += _fields(sub, (*path, name))
    if isinstance(node.get("items"), dict):
        out += _fields(node["items"], (*path, "[]"))
    if isinstance(node.get("additionalProperties"), dict):
        out += _fields(node["additionalProperties"], (*path, "{}"))
    return out


FIELDS = _fields(SCHEMA)
NUMERIC = [(path, node) for path, node in FIELDS if node.get("type") in ("integer", "number") and "{}" not in path]


def test_every_field_is_bounded() -> None:
    unbounded = []
    for path, node in FIELDS:
        kind, where = node.get("type"), ".".join(path)
        if kind in ("integer", "number") and ("minimum" not in node or "maximum" not in node):
            unbounded.append(f"{where}: number without minimum and maximum")
        elif kind == "string" and "enum" not in node and "maxLength" not in node:
            unbounded.append(f"{where}: string without maxLength")
        elif kind == "array" and "maxItems" not in node:
            unbounded.append(f"{where}: list without maxItems")
        elif kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
            unbounded.append(f"{where}: map without maxProperties")
    assert NUMERIC and not unbounded, "\n".join(unbounded)


def _quickstart() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())


def _with(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``doc`` with ``value`` at ``path`` under spec, making parents (and one list element) on the way."""
    doc = copy.deepcopy(doc)
    node: Any = doc["spec"]
    *parents, last = path
    for key, following in zip(parents, path[1:], strict=True):
        if key == "[]":
            node = node[0]
        elif following == "[]":
            node = node.setdefault(key, [{}])
        else:
            node = node.setdefault(key, {})
    if last == "[]":  # a list of numbers: its first element
        node[0] = value
    else:
        node[last] = value
    return doc


def _outside(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = node["minimum"], node["maximum"]
    bad: list[st.SearchStrategy[Any]] = [
        st.sampled_from([math.inf, -math.inf, math.nan, 10**30, -(10**30)]),
        st.integers(min_value=math.floor(high) + 1, max_value=10**40),
        st.integers(min_value=-(10**40), max_value=math.ceil(low) - 1),
    ]
    if node["type"] == "number":
        bad.append(st.floats(min_value=high, exclude_min=not node.get("exclusiveMaximum"), allow_infinity=False))
    return st.one_of(bad)


def test_the_setter_reaches_every_numeric_field() -> None:
    names = {".".join(path) for path, _ in NUMERIC}
    assert {"sandbox.timeoutSeconds", "selection.dominatedScore", "resources.merge.gpus",
            "resources.merge.tolerations.[].tolerationSeconds", "scientist.endpoint.deploy.gpus"} <= names
    doc = _with(_quickstart(), ("resources", "merge", "tolerations", "[]", "tolerationSeconds"), 5)
    assert doc["spec"]["resources"]["merge"]["tolerations"] == [{"tolerationSeconds": 5}]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_out_of_bounds_number_is_refused_naming_its_field(data: st.DataObject) -> None:
    path, node = data.draw(st.sampled_from(NUMERIC), label="field")
    value = data.draw(_outside(node), label="value")
    with pytest.raises(SpecInvalid) as info:
        parse_run(_with(_quickstart(), path, value))
    name = next(p for p in reversed(path) if p != "[]")
    assert name in str(info.value), str(info.value)
