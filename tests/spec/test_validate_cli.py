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


QUICKSTART_TEXT = (ROOT / "examples" / "quickstart.yaml").read_text()
INTERVAL_NOTE = ("spec.tasks.adaptationInterval: 10 is longer than the run's 8 generations, so the task pool is "
                 "never adapted (fine if the run is lengthened later, e.g. with acdc run --generations)")


def _long_interval(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(QUICKSTART_TEXT.replace("    adaptationInterval: 2\n", "    adaptationInterval: 10\n"))
    return path


def test_an_interval_longer_than_the_run_is_a_warning_line_not_an_error(tmp_path: Path) -> None:
    """--generations (or an edit of population.generations) may lengthen the run later, when the
    interval is what was meant: valid, exit 0, and one warning line naming line and field."""
    path = _long_interval(tmp_path)
    line = QUICKSTART_TEXT[:QUICKSTART_TEXT.index("    adaptationInterval:")].count("\n") + 1
    result = acdc("validate", str(path))
    assert result.returncode == 0 and "valid CoevolutionRun" in result.stdout, result.stderr
    assert result.stderr.splitlines() == [f"warning: {path}: line {line}: {INTERVAL_NOTE}"]


def test_acdc_run_warns_before_it_starts(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "state"
    not_a_folder.write_text("")  # refused before anything runs: the warning came first
    result = acdc("run", str(_long_interval(tmp_path)), "--state", str(not_a_folder))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0].endswith(INTERVAL_NOTE), result.stderr


@pytest.mark.parametrize(("old", "new", "generations", "noted"), [
    ("    adaptationInterval: 2\n", "    adaptationInterval: 10\n", None, ["adaptationInterval"]),
    ("    adaptationInterval: 2\n", "    adaptationInterval: 10\n", 10, []),  # --generations 10 reaches it
    ("    adaptationInterval: 2\n", "    adaptationInterval: 10\n", 9, ["adaptationInterval"]),
    ("    adaptationInterval: 2\n", "    adaptationInterval: 0\n", None, []),  # 0: never adapts, as asked
    ("    generations: 8\n", "    generations: null\n", None, []),  # runs until stopped
    ("    generations: 8\n", "    generations: 1\n", None, ["adaptationInterval"]),  # cleanupInterval 2 is a default
    ("    enabled: true\n", "    enabled: true\n    everyGenerations: 9\n", None, ["everyGenerations"]),
    ("  retention:\n", "  retention:\n    cleanupInterval: 9\n", None, ["cleanupInterval"]),
    ("  retention:\n", "  budget: {stopWhenCoverageStaleFor: 9}\n  retention:\n", None, ["stopWhenCoverageStaleFor"]),
], ids=["longer", "lengthened", "still-longer", "zero", "endless", "default-not-named", "benchmark", "cleanup", "stale"])
def test_which_intervals_are_noted(tmp_path: Path, old: str, new: str, generations: int | None,
                                   noted: list[str]) -> None:
    from acdc.spec import load_run_noting

    path = tmp_path / "run.yaml"
    assert QUICKSTART_TEXT.count(old) == 1, old
    path.write_text(QUICKSTART_TEXT.replace(old, new))
    _, notes = load_run_noting(path, generations)
    assert [note.split(": ")[2].split(".")[-1] for note in notes] == noted, notes
