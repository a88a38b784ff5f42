"""The toy world's lm-eval task on the real toy models: lm-eval's HF backend must agree,
sample by sample, with the toy world's own inference and checker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from acdc.evaluation.harness import HarnessConfig, load_task, run_shard
from acdc.evaluation.samples import Shard
from acdc.evaluation.toyworld_task import DATA_FILE, TASK_NAME, documents, process_results, write_task_dir
from acdc.models.inference import SamplingParams
from acdc.models.inference.transformers_backend import TransformersBackend
from acdc.tasks.answers import extract_answer
from acdc.toyworld.skills import SKILLS, check
from acdc.toyworld.splits import Split, split_of
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_documents_come_from_the_heldout_split_of_every_skill_and_level() -> None:
    docs = documents(seed=3, per_level=2)
    assert all(split_of(d["prompt"]) is Split.HELDOUT for d in docs)
    levels = {(d["skill"], d["difficulty"]) for d in docs}
    assert levels == {(n, k) for n, s in SKILLS.items() for k in range(s.difficulty_range[0], s.difficulty_range[1] + 1)}
    assert [d["id"] for d in docs] == list(range(len(docs)))
    assert documents(seed=3, per_level=2) == docs and documents(seed=4, per_level=2) != docs


def test_task_folder_is_an_lm_eval_task_over_local_data(tmp_path: Path) -> None:
    folder = write_task_dir(tmp_path / "task", seed=3, per_level=1, max_tokens=20)
    config = yaml.safe_load((folder / f"{TASK_NAME}.yaml").read_text().replace("!function ", ""))
    assert config["dataset_path"] == "json"
    assert Path(config["dataset_kwargs"]["data_files"]["test"]) == (folder / DATA_FILE).resolve()
    assert config["generation_kwargs"]["max_gen_toks"] == 20
    _manager, task = load_task(TASK_NAME, HarnessConfig(include_path=folder))
    assert len(task.eval_docs) == len(documents(3, 1))


def test_process_results_is_the_toy_world_checker() -> None:
    doc = {"answer": "12 | abc"}
    assert process_results(doc, ["  12  |  abc \n"]) == {"exact_match": 1.0}
    assert process_results(doc, ["Answer: 12 | abc"]) == {"exact_match": 1.0}  # the run's answer extraction
    assert process_results(doc, ["12 | ABC"]) == {"exact_match": 0.0}


@pytest.mark.parametrize("model", ["base", "arithmetic"])
def test_lm_eval_agrees_with_the_toy_worlds_checker_on_every_sample(tmp_path: Path, toy_world: Path,  # noqa: F811
                                                                     model: str) -> None:
    folder = write_task_dir(tmp_path / "task", seed=11, per_level=1, max_tokens=32)
    docs = documents(seed=11, per_level=1)
    samples = run_shard(Shard(TASK_NAME, model, "greedy", 0, 1), str(toy_world / model),
                        HarnessConfig(include_path=folder, batch_size=16))
    assert [s.doc_id for s in samples] == [d["id"] for d in docs]

    backend = TransformersBackend.load(toy_world / model, device="cpu", batch_size=16)
    own = backend.generate([[{"role": "user", "content": d["prompt"]}] for d in docs], SamplingParams(max_tokens=32))
    own_correct = [check(d["answer"], extract_answer(text)) for d, text in zip(docs, own, strict=True)]

    assert [s.correct for s in samples] == own_correct
    assert [s.response.strip() for s in samples] == [text.strip() for text in own]
    assert [s.question for s in samples] == [d["prompt"] for d in docs]
    # A real mix of right and wrong answers, so agreement is not vacuous.
    assert 0 < sum(own_correct) < len(docs)
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
