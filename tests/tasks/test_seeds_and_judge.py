"""Built-in seed tasks load and score in the sandbox; judge calls relay to the trusted side."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from acdc.errors import UserError
from acdc.llm_client import EndpointDown, OpenAIClient
from acdc.tasks.instances import load_instances, score_tasks
from acdc.tasks.judge import LLMJudge, parse_decision
from acdc.tasks.sandbox import SandboxPool, ScoreItem
from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks
from acdc.toyworld.splits import Split, split_of
from tests.fakes.openai_server import HttpFailure, serve

from .conftest import FAST_LIMITS, make_task

RIGHT = {
    "string_compression_function": "```python\ndef run_length_encode(s):\n    out, i = [], 0\n"
    "    while i < len(s):\n        j = i\n        while j < len(s) and s[j] == s[i]:\n            j += 1\n"
    "        out.append(s[i] + str(j - i))\n        i = j\n    return ''.join(out)\n```",
    "train_timetable_choice": "C",
    "orchard_crates_word_problem": "30",
    "stack_operations_trace": "4 2 8",
}
WRONG = {"string_compression_function": "```python\ndef run_length_encode(s):\n    return s\n```",
         "train_timetable_choice": "B", "orchard_crates_word_problem": "33", "stack_operations_trace": "4 2"}


def test_reference_seeds_score_known_answers(pool: SandboxPool, tmp_path: Path) -> None:
    seeds = list_task_dirs(resolve_seed_tasks("builtin:reference"))
    assert sorted(p.name for p in seeds) == sorted(RIGHT)
    copies = []
    for seed in seeds:  # copy: instances.json is cached beside the task, keep package data clean
        target = tmp_path / seed.name
        target.mkdir()
        for name in ("task.py", "task.json"):
            (target / name).write_bytes((seed / name).read_bytes())
        copies.append(target)
    materialized = load_instances(pool, copies)
    assert all(m.ok for m in materialized), [m.error for m in materialized]
    assert all((c / "instances.json").exists() for c in copies)
    answers = {c: [RIGHT[c.name]] for c in copies}
    assert {c.name: s.score for c, s in score_tasks(pool, answers).items()} == dict.fromkeys(RIGHT, 1.0)
    wrong = {c: [WRONG[c.name]] for c in copies}
    assert {c.name: s.score for c, s in score_tasks(pool, wrong).items()} == dict.fromkeys(RIGHT, 0.0)


def test_toyworld_seeds_materialize(pool: SandboxPool) -> None:
    seeds = list_task_dirs(resolve_seed_tasks("builtin:toyworld"))
    results = pool.materialize(seeds)
    assert len(seeds) >= 4 and all(r.ok and len(r.instances) == 2 for r in results)
    # like every procedural task, the seeds ask only task-split prompts (never trained on, never held out)
    assert {split_of(i.instructions) for r in results for i in r.instances} == {Split.TASKS}


def test_resolver_rejects_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="builtin:reference"):
        resolve_seed_tasks("builtin:nope")
    with pytest.raises(UserError, match="no task folders"):
        resolve_seed_tasks(str(tmp_path))


@pytest.mark.parametrize("text,verdict", [
    ("THOUGHT: fine\nDECISION: Yes", True), ("THOUGHT: no\nDecision: no", False),
    ("**DECISION:** YES", True), ("I think yes", None), ("", None),
])
def test_parse_decision(text: str, verdict: bool | None) -> None:
    assert parse_decision(text) is verdict


@pytest.mark.parametrize("text", ["DECISION" + ":" * 20_000 + "x", "\n" * 20_000 + "x"])
def test_parse_decision_is_linear_in_the_reply(text: str) -> None:
    """Runs of colons or of blank lines once backtracked quadratically (14 to 27 s for these)."""
    started = time.monotonic()
    assert parse_decision(text) is None
    assert time.monotonic() - started < 2


def test_judge_relay_from_sandbox(tmp_path: Path) -> None:
    task = make_task(tmp_path, "judged", "return 1.0 if eval_with_llm_judge('Say hi', submission, ['polite']) else 0.0",
                     extra="from acdc_sandbox import eval_with_llm_judge")
    # The 400 refuses that one request; the endpoint answers the probe that follows, so only
    # that item goes without a verdict.
    replies = ["THOUGHT: ok\nDECISION: Yes", "THOUGHT: rude\nDECISION: No", "no decision at all", HttpFailure(400),
               "OK"]
    with serve(chat_script=replies) as fake:
        judge = LLMJudge(OpenAIClient(fake.url, "judge", timeout_s=5, max_retries=0))
        with SandboxPool(workers=1, limits=FAST_LIMITS, judge=judge) as pool:
            results = pool.score([ScoreItem(task, {}, a) for a in ("hello", "go away", "hi", "hey")])
        assert [r.score for r in results] == [1.0, 0.0, 0.0, 0.0]
        assert "polite" in fake.requests[0][1]["messages"][1]["content"]
        assert "go away" in fake.requests[1][1]["messages"][1]["content"]
        assert len(fake.requests) == 5


@pytest.mark.parametrize("answer", [
    pytest.param(lambda body: HttpFailure(503), id="down past its retries"),
    pytest.param(lambda body: HttpFailure(404, '{"error": "model judge does not exist"}'), id="refuses every request"),
])
def test_a_judge_endpoint_that_answers_nothing_stops_the_step(tmp_path: Path, answer) -> None:
    """Read as no verdict, an outage scored every judged item 0, and every model's fitness with it."""
    task = make_task(tmp_path, "judged", "return 1.0 if eval_with_llm_judge('Say hi', submission, None) else 0.0",
                     extra="from acdc_sandbox import eval_with_llm_judge")
    with serve(chat_script=answer) as fake:
        judge = LLMJudge(OpenAIClient(fake.url, "judge", timeout_s=5, max_retries=1, backoff_s=0.01))
        with SandboxPool(workers=1, limits=FAST_LIMITS, judge=judge) as pool, \
                pytest.raises(EndpointDown, match="judge endpoint gave no answer"):
            pool.score([ScoreItem(task, {}, a) for a in ("hello", "hi")])


def test_checked_in_toyworld_seed_tasks_equal_what_the_generator_writes(tmp_path):
    """The built-in toy-world seeds are generated files: a change to the skills, the prompt
    split or the task template must come with regenerated seeds (`python -m acdc.tasks.seed_tasks`)."""
    from acdc.tasks.seed_tasks import write_toyworld_seeds

    checked_in = list_task_dirs(resolve_seed_tasks("builtin:toyworld"))
    written = write_toyworld_seeds(tmp_path)
    assert [p.name for p in written] == [p.name for p in checked_in]
    for fresh, stored in zip(written, checked_in, strict=True):
        files = sorted(f.name for f in stored.iterdir() if f.is_file())
        assert files == sorted(f.name for f in fresh.iterdir() if f.is_file())
        for name in files:
            assert (fresh / name).read_bytes() == (stored / name).read_bytes(), f"{stored.name}/{name} is stale"
