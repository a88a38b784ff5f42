"""Generate the CoevolutionRun CustomResourceDefinition from the pydantic spec.

pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3.0
schema. The conversion inlines $refs, turns `anyOf: [X, null]` into X (`nullable: true`
where null is not the default),
rewrites exclusive bounds in the 3.0 style, drops titles and null defaults, and keeps
descriptions (for `kubectl explain`), defaults and CEL rules. The output is stable
byte for byte, and a test compares it with the committed crds/ file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from acdc.atomic import dump_yaml
from acdc.spec.run import API_GROUP, API_VERSION, KIND, PLURAL, CoevolutionRunSpec
from acdc.spec.status import CoevolutionRunStatus

_DROP = {"title", "$defs"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _without_nulls(value: Any) -> Any:
    """Object defaults carry only set values; the API server fills nested defaults itself."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    variants = node.get("anyOf")
    if variants and any(v.get("type") == "null" for v in variants):
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) != 1:
            raise ValueError(f"unsupported union in spec schema: {variants}")
        node.pop("anyOf")
        # Null marks "unset" only where it is the default; there the API server should prune
        # a written null (it does for a field that is not nullable) so that CEL's has() is
        # false, as the field is None for pydantic. Elsewhere (generations: null, "until
        # stopped", against a default of 50) null is a value of its own and stays.
        node = {**rest[0], **node, **({} if node.get("default") is None else {"nullable": True})}
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", 0) is None:
        node.pop("default")
    elif isinstance(node.get("default"), dict):
        node["default"] = _without_nulls(node["default"])
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value)
        else:
            out[key] = value
    if "properties" in out:
        out.setdefault("type", "object")
        out.pop("additionalProperties", None)
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Structural OpenAPI v3.0 schema of a pydantic model, as the CRD embeds it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _structural(_resolve(raw, raw.get("$defs", {})))
    return schema


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object (a plain dict, ready to dump as YAML)."""
    spec_schema = openapi_schema(CoevolutionRunSpec)
    status_schema = openapi_schema(CoevolutionRunStatus)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["coevo", "acdc"],
                "categories": ["acdc"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Generation", "type": "integer", "jsonPath": ".status.generation"},
                        {"name": "Best", "type": "number", "jsonPath": ".status.archive.bestFitness"},
                        {"name": "Coverage", "type": "number", "jsonPath": ".status.archive.coverage"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (CoevolutionRunSpec.__doc__ or "").strip(),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    header = "# Generated by `make crd` from operator/acdc/spec; do not edit by hand.\n"
    return header + dump_yaml(build_crd())
