"""The CRD is generated from the pydantic spec, committed, structural, and accepts the examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from acdc.spec import CoevolutionRun
from acdc.spec.crd import build_crd, render_crd

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "crds" / "coevolutionrun.yaml"


def test_committed_crd_matches_generated() -> None:
    assert COMMITTED.read_text() == render_crd(), "crds/ is stale: run `make crd` and commit"


def test_generation_is_reproducible() -> None:
    assert render_crd() == render_crd()


def test_crd_is_a_valid_kubernetes_object() -> None:
    kubernetes_validate.validate(build_crd(), "1.31", strict=True)


def _walk(node: Any, path: str = "") -> list[tuple[str, dict]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties",):
            for name, sub in node.get(key, {}).items():
                out += _walk(sub, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out += _walk(node[key], f"{path}[{key}]")
    return out


def test_schema_is_structural() -> None:
    """Every node has a type, no $ref/anyOf/oneOf survives, no null defaults."""
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "type" in node, f"{path} has no type"
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "const"):
            assert forbidden not in node, f"{path} has {forbidden}"
        if "default" in node:
            assert node["default"] is not None, path


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: nullable becomes a null type, 3.0 exclusive bounds are booleans."""
    if isinstance(node, list):
        return [_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(plain)
    if out.pop("nullable", False):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    out.pop("default", None)
    return out


@pytest.fixture(scope="module")
def cr_schema() -> dict:
    return _to_jsonschema(build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_pass_the_crd_schema(example: Path, cr_schema: dict) -> None:
    jsonschema.validate(yaml.safe_load(example.read_text()), cr_schema)


def test_crd_schema_rejects_what_pydantic_rejects(cr_schema: dict) -> None:
    doc = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    bad = copy.deepcopy(doc)
    bad["spec"]["population"]["size"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, cr_schema)
    bad = copy.deepcopy(doc)
    bad["spec"]["crossover"]["method"] = "frankenmerge"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, cr_schema)


def test_crd_defaults_equal_pydantic_defaults() -> None:
    """The API server fills the same defaults `acdc run` would."""
    spec_schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    run = CoevolutionRun.model_validate(yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text()))
    props = spec_schema["properties"]
    assert props["population"]["properties"]["size"]["default"] == 16
    assert props["selection"]["properties"]["kNeighbors"]["default"] == run.spec.selection.k_neighbors
    assert props["resources"]["properties"]["merge"]["default"]["gpus"] == 1


def test_printer_columns() -> None:
    columns = {c["name"]: c["jsonPath"] for c in build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Generation", "Best", "Coverage", "Age"]
    assert columns["Best"] == ".status.archive.bestFitness"


def test_exactly_one_source_has_a_cel_rule() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    seed_item = schema["properties"]["models"]["properties"]["seeds"]["items"]
    rules = seed_item["x-kubernetes-validations"]
    assert any("has(self.toyworld)" in rule["rule"] for rule in rules)
