"""Mistakes a person makes in a run file, by category: each is refused with a line that names
the field, its line in the file and what is wrong, never accepted and silently ignored.

In-process through ``load_run`` (the reader and the spec: what `acdc validate`, `acdc run` and,
without lines, the operator's ``parse_run`` share); tests/spec/test_hostile_files.py runs the
CLI on files built to break the reader itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.spec import SpecInvalid, load_run, parse_run

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(SpecInvalid) as info:
        load_run(path)
    return info.value.problems


def _edit(old: str, new: str) -> str:
    assert QUICKSTART.count(old) == 1, old
    return QUICKSTART.replace(old, new)


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_every_problem_names_its_line_and_field(tmp_path: Path) -> None:
    text = _edit("    size: 10\n", "    size: -1\n")
    text = text.replace("    method: task_arithmetic\n", "    method: frankenmerge\n")
    problems = _problems(tmp_path, text)
    assert f"line {_line_of(text, 'size: -1')}: spec.population.size: " in problems[0], problems
    assert f"line {_line_of(text, 'frankenmerge')}: spec.crossover.method: " in problems[1], problems


def test_a_missing_field_names_the_line_of_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    text = _edit("  name: quickstart\n", "  labels: {team: a}\n")
    assert _problems(tmp_path, text) == [f"line {_line_of(text, 'metadata:')}: metadata.name: Field required"]


def test_a_contradiction_names_the_line_of_its_section(tmp_path: Path) -> None:
    text = _edit("    method: svd\n", "    method: none\n")
    [problem] = _problems(tmp_path, text)
    assert problem.startswith(f"line {_line_of(text, '  mutation:')}: spec.mutation: rate is set but method is none")


def test_the_operator_path_has_no_lines_and_the_same_problem(tmp_path: Path) -> None:
    import yaml

    document = yaml.safe_load(_edit("    size: 10\n", "    size: -1\n"))
    with pytest.raises(SpecInvalid) as info:
        parse_run(document, "ns/quickstart")
    assert info.value.problems[0].startswith("spec.population.size: "), info.value.problems


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    childrenPerGeneration: 8\n", "    childrenPerGenration: 8\n",
     "spec.population.childrenPerGenration: unknown field (did you mean childrenPerGeneration?)"),
    # Kubernetes takes camelCase only: a snake_case key is dropped or refused by the API server.
    ("    childrenPerGeneration: 8\n", "    children_per_generation: 8\n",
     "spec.population.children_per_generation: unknown field (did you mean childrenPerGeneration?)"),
    ("      - toyworld: lists\n", "      - toyworld: lists\n        nmae: x\n",
     "spec.models.seeds[2].nmae: unknown field (did you mean name?)"),
    ("  name: quickstart\n", "  name: quickstart\n  namespce: acdc\n",
     "metadata.namespce: unknown field (did you mean namespace?)"),
    ("  name: quickstart\n", "  name: quickstart\n  lables: {a: b}\n", "metadata.lables: unknown field (did you mean labels?)"),
    ("spec:\n", "spec:\n  turbo: true\n", "spec.turbo: unknown field"),
], ids=["typo", "snake_case", "in-a-list", "metadata", "metadata-labels", "no-guess"])
def test_an_unknown_key_is_refused_at_every_level_with_a_guess(
        tmp_path: Path, old: str, new: str, expected: str) -> None:
    [problem] = _problems(tmp_path, _edit(old, new))
    assert problem.endswith(expected), problem


def test_server_fields_of_kubectl_output_still_pass(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(_edit("  name: quickstart\n", "  name: quickstart\n  uid: 5b1c\n  resourceVersion: '42'\n"
                          "  generation: 3\n  creationTimestamp: 2026-01-01T00:00:00Z\n  finalizers: [x]\n"
                          "  managedFields: [{manager: kubectl}]\n"))
    assert load_run(path).metadata.name == "quickstart"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  seed: 42\n", '  seed: "42"\n', "spec.seed: expected a number, got the text '42'"),
    ("    rate: 0.01\n", '    rate: "0.01"\n', "spec.mutation.rate: expected a number, got the text '0.01'"),
    ("    timeoutSeconds: 10\n", "    timeoutSeconds: 10s\n", "spec.sandbox.timeoutSeconds: expected a number, got the "
     "text '10s'"),
    ("    taskForceSizes: [1, 2, 3]\n", '    taskForceSizes: [1, "2"]\n', "spec.evaluation.taskForceSizes: expected a "
     "number"),
    ("  name: quickstart\n", "  name: 123\n", "metadata.name: Input should be a valid string (got 123); quote it"),
], ids=["int", "float", "duration", "list-item", "number-for-text"])
def test_a_value_of_the_wrong_json_type_is_refused_as_the_api_server_refuses_it(
        tmp_path: Path, old: str, new: str, expected: str) -> None:
    [problem] = _problems(tmp_path, _edit(old, new))
    assert expected in problem, problem


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  population:\n", "  population: [10]\n  xpopulation:\n",
     "spec.population: expected a mapping of fields (key: value), got a list"),
    ("  crossover:\n", "  crossover:\n  xcrossover:\n", "spec.crossover: expected a mapping of fields (key: value), got "
     "nothing (null)"),
    ("metadata:\n  name: quickstart\n", "metadata: quickstart\n", "metadata: expected a mapping of fields (key: value), "
     "got a str"),
], ids=["list", "null", "text"])
def test_a_scalar_or_list_where_a_section_belongs(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in _problems(tmp_path, _edit(old, new))[0]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  name: quickstart\n", "  name: Quick_Start\n", "metadata.name: expected a Kubernetes name: lowercase letters"),
    ('merge: {gpus: 0, cpu: "2", memory: 4Gi}', 'merge: {gpus: 0, cpu: "2", memory: 4GB}',
     "spec.resources.merge.memory: expected a Kubernetes quantity above zero such as 500m"),
    ("    size: 10Gi\n", '    size: "0"\n', "spec.storage.size: expected a Kubernetes quantity above zero"),
    ("merge: {gpus: 0, cpu: \"2\"", "merge: {gpus: 0, cpu: 0m", "spec.resources.merge.cpu: expected a Kubernetes quantity"),
    ("    seedTasks: builtin:toyworld\n", "    seedTasks: builtin:nope\n",
     "spec.tasks.seedTasks: expected builtin:reference, builtin:toyworld or a folder of tasks (got 'builtin:nope')"),
], ids=["name", "quantity-unit", "zero-volume", "zero-cpu", "seed-tasks"])
def test_a_malformed_name_or_quantity_is_explained_not_shown_as_a_regex(
        tmp_path: Path, old: str, new: str, expected: str) -> None:
    [problem] = _problems(tmp_path, _edit(old, new))
    assert expected in problem and "^" not in problem, problem


# Two settings that cannot both hold, or one that nothing would read (silently ignored).
CONTRADICTIONS = {
    "a seed listed twice under two names": (
        "      - toyworld: lists\n", "      - toyworld: lists\n      - {toyworld: lists, name: again}\n",
        "spec.models: toyworld lists is listed twice"),
    "one folder written two ways": (
        "      - toyworld: lists\n", "      - {path: /models/a, name: a}\n      - {path: /models/a/, name: b}\n",
        "spec.models: path /models/a is listed twice"),
    "a revision for a model that is not on a hub": (
        "      - toyworld: lists\n", "      - {toyworld: lists, revision: main}\n",
        "spec.models.seeds[2]: revision applies only to an hf source"),
    "a mutation rate with no mutation": ("    method: svd\n", "    method: none\n", "spec.mutation: rate is set but"),
    "an embedding endpoint the embedder never calls": (
        "    kind: features\n", "    kind: features\n    endpoint: {url: 'http://e/v1', model: m}\n",
        "spec.embedding: endpoint is set but kind is features"),
    "a vLLM server split over more GPUs than it has": (
        "    kind: procedural\n", "    kind: procedural\n    endpoint: {deploy: {model: m, gpus: 1, tensorParallel: 2}}\n",
        "spec.scientist.endpoint.deploy: tensorParallel 2 needs as many GPUs, but gpus is 1"),
    "a storage class for a claim that exists": (
        "    size: 10Gi\n", "    size: 10Gi\n    existingClaim: mine\n    storageClassName: fast\n",
        "spec.storage: storageClassName is set with existingClaim"),
    "a toleration the API server refuses": (
        "merge: {gpus: 0,", "merge: {tolerations: [{operator: Exists, value: x}], gpus: 0,",
        "spec.resources.merge.tolerations[0]: value must be empty when operator is Exists"),
    "a toleration without key that is not Exists": (
        "merge: {gpus: 0,", "merge: {tolerations: [{effect: NoSchedule}], gpus: 0,",
        "operator must be Exists when key is empty"),
    "tolerationSeconds without NoExecute": (
        "merge: {gpus: 0,", "merge: {tolerations: [{key: a, operator: Exists, tolerationSeconds: 5}], gpus: 0,",
        "tolerationSeconds applies only to effect NoExecute"),
    "a task-force size listed twice": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 3, 3]\n",
        "spec.evaluation.taskForceSizes: 3 is listed twice"),
    "a selection listed twice": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    selections: [seeds, best, seeds]\n",
        "spec.evaluation.selections: 'seeds' is listed twice"),
    "an enabled evaluation of no benchmark": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    benchmarks: []\n",
        "spec.evaluation: evaluation.benchmarks is empty"),
    "a reward model nothing uses": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    rewardModel: {path: /rm}\n",
        "evaluation.rewardModel is set but bestOfN does not list rewardModel"),
    "an evaluation judge nothing uses": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    judge: {url: 'http://j/v1', model: m}\n",
        "evaluation.judge is set but bestOfN does not list judge"),
    "a per-generation evaluation of a task force larger than the archive": (
        "    enabled: true\n    taskForceSizes: [1, 2, 3]\n", "    enabled: false\n    everyGenerations: 2\n"
        "    taskForceSizes: [1, 2, 30]\n", "a task force of more models than the archive holds (population.size 10)"),
    "a volume with no access mode": ("    size: 10Gi\n", "    size: 10Gi\n    accessModes: []\n",
                                     "spec.storage.accessModes: List should have at least 1 item"),
    "answers as long as the model's whole context": (
        "    maxTokens: 32 ", "    maxModelLen: 32\n    maxTokens: 32 ",
        "spec.inference: maxTokens 32 leaves no room for the prompt in maxModelLen 32"),
    "a scientist's answer as long as its server's context": (
        "    kind: procedural\n",
        "    kind: procedural\n    maxTokens: 4096\n    endpoint: {deploy: {model: m, maxModelLen: 4096}}\n",
        "spec.scientist: maxTokens 4096 leaves no room for the prompt in endpoint.deploy.maxModelLen 4096"),
    "an export larger than the archive": (
        "    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    export: {repo: me/force, size: 11}\n",
        "evaluation.export.size 11 is more models than the archive holds (population.size 10)"),
}


@pytest.mark.parametrize("case", sorted(CONTRADICTIONS), ids=str)
def test_contradictory_or_unused_settings_are_refused(tmp_path: Path, case: str) -> None:
    old, new, expected = CONTRADICTIONS[case]
    [problem] = _problems(tmp_path, _edit(old, new))
    assert expected in problem and problem.startswith("line "), problem


def test_a_control_of_the_base_needs_a_base(tmp_path: Path) -> None:
    text = _edit("    base: {toyworld: base}\n", "").replace("method: task_arithmetic", "method: linear")
    text = text.replace("    taskForceSizes: [1, 2, 3]\n", "    taskForceSizes: [1, 2, 3]\n    control: {model: base}\n")
    [problem] = _problems(tmp_path, text)
    assert "evaluation.control.model base needs models.base" in problem, problem


@pytest.mark.parametrize(("text", "expected"), [
    ("", "no YAML document (the file is empty"),
    ("# only a comment\n", "no YAML document"),
    ("~\n", "no YAML document"),
    (QUICKSTART + "---\n" + QUICKSTART, "found 2 (the second starts at line "
     f"{_line_of(QUICKSTART, 'apiVersion') + QUICKSTART.count(chr(10)) + 1})"),
], ids=["empty", "comment", "null", "two-documents"])
def test_a_file_that_is_not_one_document(tmp_path: Path, text: str, expected: str) -> None:
    [problem] = _problems(tmp_path, text)
    assert expected in problem, problem
