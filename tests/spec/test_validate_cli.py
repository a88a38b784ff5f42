"""`acdc validate`: accepts the examples, rejects malformed runs with field paths, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.progress import run_progressing

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def acdc(*args: str) -> subprocess.CompletedProcess[str]:
    return run_progressing([sys.executable, "-m", "acdc.cli.main", *args])


def quickstart() -> dict:
    return yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(example: Path) -> None:
    result = acdc("validate", str(example))
    assert result.returncode == 0, result.stderr
    assert "valid CoevolutionRun" in result.stdout


def _set(doc: dict, dotted: str, value: object) -> dict:
    node = doc
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def _drop(doc: dict, dotted: str) -> dict:
    node = doc
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    del node[last]
    return doc


MALFORMED = {
    "wrong type": (lambda d: _set(d, "spec.population.size", "many"), "spec.population.size"),
    "negative size": (lambda d: _set(d, "spec.population.childrenPerGeneration", -3), "spec.population.childrenPerGeneration"),
    "unknown crossover": (lambda d: _set(d, "spec.crossover.method", "frankenmerge"), "spec.crossover.method"),
    "unknown mutation": (lambda d: _set(d, "spec.mutation.method", "cosmic-rays"), "spec.mutation.method"),
    "missing seeds": (lambda d: _drop(d, "spec.models.seeds"), "spec.models.seeds: Field required"),
    "empty seeds": (lambda d: _set(d, "spec.models.seeds", []), "spec.models.seeds"),
    "unknown field": (lambda d: _set(d, "spec.population.sizee", 3), "spec.population.sizee: unknown field"),
    "unknown top-level field": (lambda d: _set(d, "spec.turbo", True), "spec.turbo: unknown field"),
    "two sources": (lambda d: _set(d, "spec.models.seeds.0", {"toyworld": "strings", "hf": "a/b"}), "spec.models.seeds[0]"),
    "threshold above one": (lambda d: _set(d, "spec.selection.skillThreshold", 1.5), "spec.selection.skillThreshold"),
    "bad quantity": (lambda d: _set(d, "spec.resources.score.memory", "lots"), "spec.resources.score.memory"),
    "llm scientist without endpoint": (lambda d: _set(d, "spec.scientist.kind", "llm"), "scientist.endpoint is required"),
    "ties without base": (
        lambda d: _drop(_set(d, "spec.crossover.method", "ties"), "spec.models.base"),
        "needs models.base",
    ),
    "bad name": (lambda d: _set(d, "metadata.name", "Not_A_DNS_Label"), "metadata.name"),
    "wrong kind": (lambda d: _set(d, "kind", "Deployment"), "kind: expected CoevolutionRun"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED), ids=str)
def test_malformed_runs_are_rejected_with_field_path(case: str, tmp_path: Path) -> None:
    mutate, expected = MALFORMED[case]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mutate(quickstart())))
    result = acdc("validate", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    doc = quickstart()
    _set(doc, "spec.population.size", -1)
    _set(doc, "spec.crossover.method", "nope")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = acdc("validate", str(path))
    assert "spec.population.size" in result.stderr and "spec.crossover.method" in result.stderr


@pytest.mark.parametrize(
    "content, expected",
    [("{{{ not yaml", "not valid YAML"), ("- a\n- b\n", "expected a mapping"), ("a: 1\n---\nb: 2\n", "one YAML document")],
)
def test_unparseable_files(content: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(content)
    result = acdc("validate", str(path))
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def test_missing_file() -> None:
    result = acdc("validate", "/nonexistent/run.yaml")
    assert result.returncode == 2 and "no such file" in result.stderr
