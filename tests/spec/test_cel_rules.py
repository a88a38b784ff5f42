"""The CRD's CEL rules say what the pydantic spec says: each generated rule, run by a CEL
interpreter (celpy) on a run file as the API server sees it (the CRD's defaults filled in),
passes every good file and refuses each contradictory one with the field and the message
`acdc validate` gives. Both come from one ``acdc.spec.rules.Rule``; this shows the rendering
keeps its meaning (guards for unset fields, operators, messages with values).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from acdc.spec import SpecInvalid, parse_run
from acdc.spec.crd import build_crd
from tests.spec.test_run_file_mistakes import CONTRADICTIONS, QUICKSTART

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
ENV = celpy.Environment()


def _defaulted(schema: dict[str, Any], value: Any) -> Any:
    """``value`` as the API server validates it: a null where the field is not nullable pruned,
    then the CRD's defaults filled in at every level."""
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name in value and value[name] is None and not sub.get("nullable"):
                del value[name]
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = _defaulted(sub, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [_defaulted(schema["items"], item) for item in value]
    return value


def _evaluate(expression: str, value: Any) -> Any:
    return ENV.program(ENV.compile(expression)).evaluate({"self": celpy.json_to_cel(value)})


def _failed(document: dict[str, Any]) -> list[tuple[str, dict[str, str], Any]]:
    """(path, rule, value) for every CEL rule of the CRD that ``document`` fails."""
    failed: list[tuple[str, dict[str, str], Any]] = []

    def walk(schema: dict[str, Any], value: Any, path: str) -> None:
        if value is None:  # the API server runs no rule on a null (nullable) object
            return
        failed.extend((path, rule, value) for rule in schema.get("x-kubernetes-validations", [])
                      if not _evaluate(rule["rule"], value))
        if isinstance(value, dict):
            for name, sub in schema.get("properties", {}).items():
                if name in value:
                    walk(sub, value[name], f"{path}.{name}" if path else name)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                walk(schema["items"], item, f"{path}[{index}]")

    walk(SCHEMA, _defaulted(SCHEMA, copy.deepcopy(document)), "")
    return failed


def cel_failures(document: dict[str, Any]) -> list[str]:
    """'path: message' for each failed rule, the message as the API server words it."""
    return [f"{path}: {_evaluate(rule['messageExpression'], value) if 'messageExpression' in rule else rule['message']}"
            for path, rule, value in _failed(document)]


def _pydantic_problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        parse_run(document, "run")
    return info.value.problems


def _edit(old: str, new: str) -> dict[str, Any]:
    assert QUICKSTART.count(old) == 1, old
    document: dict[str, Any] = yaml.safe_load(QUICKSTART.replace(old, new))
    return document


# Contradictions the CRD states without CEL (list-type set, minItems) or that CEL cannot
# say (a model's identity after path normalisation): pydantic alone refuses them.
NOT_CEL = {"a seed listed twice under two names", "one folder written two ways", "a task-force size listed twice",
           "a selection listed twice", "a volume with no access mode"}

SEEDS = "      - toyworld: lists\n"
SIZES = "    taskForceSizes: [1, 2, 3]\n"
# One case for each rule the contradiction table of test_run_file_mistakes does not reach.
MORE = {
    "a seed with two sources": (SEEDS, "      - {toyworld: lists, path: /m}\n"),
    "a seed with no source": (SEEDS, "      - {name: nothing}\n"),
    "bands crossed": ("    maxPoolSize: 40\n", "    maxPoolSize: 40\n    easyThreshold: 0.2\n    hardThreshold: 0.3\n"),
    "an endpoint with a url and a deployment": (
        "    kind: procedural\n", "    kind: procedural\n    endpoint: {url: 'http://s/v1', model: m, deploy: {model: m}}\n"),
    "an endpoint with neither": ("    kind: procedural\n", "    kind: procedural\n    endpoint: {timeoutSeconds: 5}\n"),
    "a url without a model name": ("    kind: procedural\n", "    kind: procedural\n    endpoint: {url: 'http://s/v1'}\n"),
    "a judge answer as long as its server's context": (
        "  embedding:\n", "  judge: {maxTokens: 64, endpoint: {deploy: {model: m, maxModelLen: 64}}}\n  embedding:\n"),
    "a reward model not given": (SIZES, SIZES + "    bestOfN: [rewardModel]\n"),
    "an evaluation judge without a url": (
        SIZES, SIZES + "    bestOfN: [judge]\n    judge: {deploy: {model: m}}\n"),
    "a benchmark twice": (SIZES, SIZES + "    benchmarks: [{task: a}, {task: a}]\n"),
    "an export to a hub and a claim": (SIZES, SIZES + "    export: {repo: me/force, claim: pvc}\n"),
    "an export to nowhere": (SIZES, SIZES + "    export: {size: 2}\n"),
    "task arithmetic without a base": ("    base: {toyworld: base}\n", ""),
    "an llm scientist without an endpoint": ("    kind: procedural\n", "    kind: llm\n"),
    "an endpoint embedder without an endpoint": ("    kind: features\n", "    kind: endpoint\n"),
    "more seeds than the first generation": ("    initialSize: 8\n", "    initialSize: 2\n"),
    "a judge for best-of-n with no judge anywhere": (SIZES, SIZES + "    bestOfN: [judge]\n"),
}


def _without_base(old: str, new: str) -> dict[str, Any]:
    """The quickstart without its base (so with a linear merge), edited."""
    text = QUICKSTART.replace("    base: {toyworld: base}\n", "").replace("method: task_arithmetic", "method: linear")
    assert text.count(old) == 1, old
    document: dict[str, Any] = yaml.safe_load(text.replace(old, new))
    return document


def _cases() -> dict[str, dict[str, Any]]:
    cases = {name: _edit(old, new) for name, (old, new, _) in CONTRADICTIONS.items()}
    cases.update({name: _edit(old, new) for name, (old, new) in MORE.items()})
    cases["a control of no base"] = _without_base(SIZES, SIZES + "    control: {model: base}\n")
    cases["a base candidate without a base"] = _without_base("    dtype: float32\n",
                                                             "    dtype: float32\n    baseCandidate: true\n")
    return cases


CASES = _cases()


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_rule_passes_the_examples(example: Path) -> None:
    assert cel_failures(yaml.safe_load(example.read_text())) == []


# A null written where null is the default means unset, for pydantic and (pruned) for the API server.
EXPLICIT_NULLS = {
    "a rate of null with no mutation": ("    method: svd\n    rate: 0.01\n", "    method: none\n    rate: null\n"),
    "a revision of null on a toy-world seed": (SEEDS, "      - {toyworld: lists, revision: null}\n"),
    "a null storage class beside a claim": ("    size: 10Gi\n", "    size: 10Gi\n    existingClaim: mine\n"
                                           "    storageClassName: null\n"),
}


@pytest.mark.parametrize("case", sorted(EXPLICIT_NULLS), ids=str)
def test_an_explicit_null_is_unset_for_both(case: str) -> None:
    document = _edit(*EXPLICIT_NULLS[case])
    parse_run(document, "run")
    assert cel_failures(document) == []


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_each_rule_refuses_what_pydantic_refuses_with_the_same_field_and_message(case: str) -> None:
    document = CASES[case]
    [problem] = _pydantic_problems(document)
    failures = cel_failures(document)
    if case in NOT_CEL:
        assert failures == [], failures
    else:
        assert failures == [problem], (failures, problem)


def test_every_rule_of_the_crd_is_exercised() -> None:
    """A rule no case refuses could be wrong in a way no case shows."""
    def messages(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [rule["message"] for rule in node.get("x-kubernetes-validations", [])]
            return own + [m for value in node.values() for m in messages(value)]
        return [m for item in node for m in messages(item)] if isinstance(node, list) else []

    every = set(messages(SCHEMA))
    refused = {rule["message"] for document in CASES.values() for _, rule, _ in _failed(document)}
    assert every - refused == set()



def _rule_nodes(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return ([node] if "x-kubernetes-validations" in node else []) + [n for v in node.values() for n in _rule_nodes(v)]
    return [n for item in node for n in _rule_nodes(item)] if isinstance(node, list) else []


def test_every_optional_field_a_rule_reads_is_guarded_by_has() -> None:
    """The API server fails a rule that reads an absent field (celpy forgives it): each
    ``self.a.b`` whose ``a`` or ``b`` may be absent (not required, no default) needs ``has()``
    of it in the same rule, before the value is read."""
    unguarded = []
    for node in _rule_nodes(SCHEMA):
        for rule in node["x-kubernetes-validations"]:
            for expression in (rule["rule"], rule.get("messageExpression", "")):
                for reference in re.findall(r"self((?:\.\w+)+)", expression):
                    schema, parts = node, reference.strip(".").split(".")
                    for end, part in enumerate(parts, 1):
                        if "properties" not in schema:  # past the fields: a list's .all(), .exists_one()
                            break
                        sub = schema["properties"].get(part)
                        assert sub is not None, f"{rule['rule']}: no field {'.'.join(parts[:end])}"
                        optional = part not in schema.get("required", []) and "default" not in sub
                        if optional and f"has(self.{'.'.join(parts[:end])})" not in rule["rule"]:
                            unguarded.append(f"{'.'.join(parts[:end])} in {rule['rule']}")
                        schema = sub
    assert unguarded == []
