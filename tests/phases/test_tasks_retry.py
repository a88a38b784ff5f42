"""A tasks step retried after an interrupted attempt starts from what the run recorded, not
from what the attempt left: its task folders and novelty entries are gone before the retry
writes its own."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml

from acdc.atomic import read_json, write_json
from acdc.phases.faults import EXIT_STEP_FAILED
from tests.fakes.openai_server import serve
from tests.progress import run_progressing
from tests.runner.conftest import MINI


def _phase(state: Path, name: str) -> dict:
    done = run_progressing([sys.executable, "-m", "acdc.cli.main", "phase", name, "--state", str(state),
                            "--generation", "0"])
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["result"]


def test_a_retried_initial_pool_is_not_judged_against_the_interrupted_attempts_tasks(tmp_path: Path) -> None:
    """An LLM scientist's retry need not reuse the first attempt's names. Here the first
    attempt's twelve tasks are left under other names (what such a scientist's first attempt
    leaves when killed before its pool is recorded): the retry's same tasks were rejected as
    near duplicates of tasks no pool holds, and the leftovers stayed under the same numbers."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "run.yaml").write_text(yaml.safe_dump(MINI))
    _phase(state, "init")
    first = _phase(state, "tasks")
    tasks, index_path = state / "tasks", state / "novelty" / "ids.json"
    index = read_json(index_path)
    renamed = {name: f"{name}_first" for name in index["ids"]}
    for old, new in renamed.items():
        (tasks / old).rename(tasks / new)
    write_json(index_path, {**index, "ids": [renamed[name] for name in index["ids"]]})

    retry = _phase(state, "tasks")

    assert first["added"] == retry["added"] == 12 and retry["rejectedNovelty"] == 0
    pool = read_json(next((state / "pools").iterdir()))["active"]
    assert sorted(path.name for path in tasks.iterdir()) == sorted(pool) == sorted(renamed)
    assert sorted(read_json(index_path)["ids"]) == sorted(pool)


def test_an_initial_pool_that_comes_out_empty_fails_the_step(tmp_path: Path) -> None:
    """A scientist whose every draft is unusable: the step recorded a pool of 0 tasks and the
    run went on to give every model fitness 0, exit 0."""
    state = tmp_path / "state"
    state.mkdir()
    run = copy.deepcopy(MINI)
    with serve(chat_script=["no JSON here"] * 40) as fake:
        run["spec"]["scientist"] = {"kind": "llm", "endpoint": {"url": fake.url, "model": "x", "maxRetries": 0}}
        run["spec"]["tasks"].update(maxReflections=0, novelty={"enabled": False})
        (state / "run.yaml").write_text(yaml.safe_dump(run))
        _phase(state, "init")
        done = run_progressing([sys.executable, "-m", "acdc.cli.main", "phase", "tasks", "--state", str(state),
                                "--generation", "0"])
    assert done.returncode == EXIT_STEP_FAILED, done.stderr[-2000:]
    assert "initial task pool came out empty" in done.stderr and not (state / "pools").exists()
