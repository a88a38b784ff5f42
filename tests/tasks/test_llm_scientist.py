"""The LLM scientist against a local OpenAI-compatible server replaying recorded replies.

Every candidate is validated in the real sandbox pool (conftest), so "accepted" means the
task loaded, produced instructions, graded the known-good answer 1.0 and refused a dummy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from acdc.atomic import read_json
from acdc.llm_client import EndpointDown, OpenAIClient
from acdc.phases.faults import Fault, classify
from acdc.tasks.format import read_card
from acdc.tasks.sandbox import SandboxPool
from acdc.tasks.scientist.base import ScientistContext
from acdc.tasks.scientist.llm import LLMScientist
from acdc.tasks.scientist.reply import (
    MAX_REPLY_CHARS,
    Malformed,
    Proposal,
    extract_json_object,
    parse_reply,
)
from acdc.tasks.seed_tasks import list_task_dirs, resolve_seed_tasks
from tests.fakes.openai_server import HttpFailure, serve

RECORDINGS = Path(__file__).with_name("recordings") / "scientist"


def recorded(name: str) -> str:
    return (RECORDINGS / f"{name}.txt").read_text()


def recorded_draft() -> dict:
    """The JSON of the recorded good draft, to vary one field at a time."""
    return json.loads(recorded("good_draft").split("```json\n")[1].split("\n```")[0])


def as_reply(draft: dict) -> str:
    return "```json\n" + json.dumps(draft) + "\n```"


def make_context(tmp_path: Path, examples: list[tuple[Path, float]] | None = None) -> ScientistContext:
    numbers = iter(range(100, 200))
    return ScientistContext(pool_dir=tmp_path / "pool", generation=3, next_number=lambda: next(numbers),
                            seed=7, examples=tuple(examples or ()))


@pytest.fixture
def seed_task(tmp_path: Path) -> Path:
    """A copy of a reference seed task to adapt (the package data stays untouched)."""
    source = next(d for d in list_task_dirs(resolve_seed_tasks("builtin:reference"))
                  if d.name == "orchard_crates_word_problem")
    target = tmp_path / "seeds" / source.name
    target.mkdir(parents=True)
    for name in ("task.py", "task.json"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.fixture
def scientist_factory(pool: SandboxPool) -> Iterator:
    def make(url: str, **kwargs: object) -> LLMScientist:
        client = OpenAIClient(url, "scientist", max_retries=0, timeout_s=10)
        return LLMScientist(client, pool, **kwargs)
    yield make


def user_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def test_good_task_accepted_after_one_reflection(scientist_factory, seed_task: Path, tmp_path: Path) -> None:
    with serve(chat_script=[recorded("good_draft"), recorded("good_done")]) as fake:
        scientist = scientist_factory(fake.url, max_reflections=3)
        written = scientist.propose_initial(1, make_context(tmp_path, [(seed_task, -1.0)]))
    assert len(written) == 1 and written[0].name == "task_000100_digit_sum_chain"
    assert read_card(written[0]).name_of_task == "digit_sum_chain"
    metadata = read_json(written[0] / "metadata.json")
    assert metadata["review_rounds"] == 1 and metadata["adaptation"] == "initial"
    assert len(fake.requests) == 2
    review = user_messages(fake.requests[1][1])[-1]
    assert "Score of your known_good_answer: 1/1.0" in review
    assert "'dummy validation submission': 0/1.0" in review
    assert "No problems found." in review
    # the first request showed the seed task as the example to build on
    assert "orchard" in user_messages(fake.requests[0][1])[0].lower()
    assert not scientist.rejections


@pytest.mark.parametrize(("recording", "code"), [
    ("no_code_block", "no_json"),
    ("json_garbage", "no_json"),
    ("bad_difficulty", "bad_fields"),
    ("syntax_error", "syntax_error"),
    ("missing_method", "missing_method"),
    ("wrong_return_get_tasks", "load_failed"),
    ("wrong_return_score", "score_failed"),
    ("wrong_known_answer", "known_answer_failed"),
])
def test_malformed_candidates_are_rejected(scientist_factory, seed_task: Path, tmp_path: Path,
                                           recording: str, code: str) -> None:
    context = make_context(tmp_path)
    with serve(chat_script=[recorded(recording)]) as fake:
        scientist = scientist_factory(fake.url, max_reflections=0)
        assert scientist.adapt(seed_task, "novel", context, pass_rate=0.4) is None
    assert scientist.rejections == {code: 1}
    assert not (tmp_path / "pool").exists() or not any((tmp_path / "pool").iterdir())


def _hostile_replies() -> list:
    """Replies that once raised out of the scientist (a run failed; a parser overflow even as an
    infrastructure fault), each with the rejection it must be counted as instead."""
    draft = recorded_draft()
    code = draft["task_family"]
    return [
        pytest.param('```json\n{"name_of_task": "x", "task_family": ' + "[" * 1200 + "\n```", "no_json",
                     id="json nested past the decoder's stack"),
        pytest.param(as_reply({**draft, "task_family": "X = " + "-" * 10_000 + "1\n" + code}), "syntax_error",
                     id="code nested past the parser's stack"),
        # json.dumps writes a lone surrogate as the escape \ud800, which decodes back to one
        pytest.param(as_reply({**draft, "name_of_task": "\ud800" + draft["name_of_task"]}), "bad_fields",
                     id="lone surrogate in a card field"),
        pytest.param(as_reply({**draft, "task_family": "# \ud800\n" + code}), "bad_fields",
                     id="lone surrogate in a code comment"),
        pytest.param(as_reply({**draft, "known_good_answer": "\udfff"}), "bad_fields",
                     id="lone surrogate in the known answer"),
        pytest.param({"text": recorded("good_draft")}, "llm_error", id="content that is a JSON object"),
        pytest.param(recorded("good_draft") + " " * MAX_REPLY_CHARS, "too_long", id="a reply too long to search"),
    ]


@pytest.mark.parametrize(("reply", "code"), _hostile_replies())
def test_hostile_replies_are_counted_rejections(scientist_factory, seed_task: Path, tmp_path: Path,
                                                reply: object, code: str) -> None:
    with serve(chat_script=[reply, "OK"]) as fake:  # an unreadable reply is followed by a probe, answered
        scientist = scientist_factory(fake.url, max_reflections=0)
        assert scientist.adapt(seed_task, "novel", make_context(tmp_path), pass_rate=0.4) is None
    assert scientist.rejections == {code: 1}
    assert not (tmp_path / "pool").exists() or not any((tmp_path / "pool").iterdir())


def test_task_crediting_the_dummy_answer_is_rejected_even_when_done(scientist_factory, seed_task: Path,
                                                                    tmp_path: Path) -> None:
    with serve(chat_script=[recorded("credits_dummy"), recorded("credits_dummy")]) as fake:
        scientist = scientist_factory(fake.url, max_reflections=1)
        assert scientist.adapt(seed_task, "harder", make_context(tmp_path), pass_rate=0.9) is None
    assert scientist.rejections == {"dummy_credited": 1}
    assert "gives credit to a dummy submission" in user_messages(fake.requests[1][1])[-1]


def test_reflection_repairs_a_broken_draft(scientist_factory, seed_task: Path, tmp_path: Path) -> None:
    with serve(chat_script=[recorded("syntax_error"), recorded("good_done")]) as fake:
        scientist = scientist_factory(fake.url, max_reflections=2)
        written = scientist.adapt(seed_task, "novel_similar", make_context(tmp_path), pass_rate=0.3)
    assert written is not None and (written / "task.py").read_text().startswith("import re")
    assert "not valid Python" in user_messages(fake.requests[1][1])[-1]
    # the review conversation carries the scientist's own earlier draft
    assert fake.requests[1][1]["messages"][2] == {"role": "assistant", "content": recorded("syntax_error")}


def test_draft_never_marked_done_is_discarded(scientist_factory, seed_task: Path, tmp_path: Path) -> None:
    with serve(chat_script=[recorded("good_draft")] * 3) as fake:
        scientist = scientist_factory(fake.url, max_reflections=2)
        assert scientist.adapt(seed_task, "easier", make_context(tmp_path), pass_rate=0.0) is None
    assert scientist.rejections == {"not_done": 1} and len(fake.requests) == 3


def test_adaptation_request_shows_parent_and_pass_rate(scientist_factory, seed_task: Path, tmp_path: Path) -> None:
    with serve(chat_script=[recorded("good_draft")]) as fake:
        scientist = scientist_factory(fake.url, max_reflections=0)
        written = scientist.adapt(seed_task, "harder", make_context(tmp_path), pass_rate=0.75)
    assert written is not None
    prompt = user_messages(fake.requests[0][1])[0]
    assert "solves this task too easily" in prompt and "75%" in prompt
    assert (seed_task / "task.py").read_text().splitlines()[-1].strip() in json.loads(
        prompt.split("```json\n")[1].split("\n```")[0])["task_family"]
    metadata = read_json(written / "metadata.json")
    assert metadata["parent"] == seed_task.name and metadata["original_pass_rate"] == 0.75
    assert metadata["adaptation"] == "harder"


def test_endpoint_failure_skips_the_candidate(scientist_factory, seed_task: Path, tmp_path: Path) -> None:
    with serve(chat_script=[HttpFailure(400), "OK"]) as fake:  # that request refused; the probe answered
        scientist = scientist_factory(fake.url, max_reflections=1)
        assert scientist.adapt(seed_task, "novel", make_context(tmp_path), pass_rate=0.5) is None
    assert scientist.rejections == {"llm_error": 1}


@pytest.mark.parametrize("script", [
    pytest.param([HttpFailure(503)] * 10, id="never answers"),
    pytest.param([HttpFailure(404)] * 10, id="refuses even the probe"),
    pytest.param(["<recorded draft>"] + [HttpFailure(503)] * 5, id="goes down after one answer"),
])
def test_an_endpoint_that_answers_nothing_stops_the_step(scientist_factory, tmp_path: Path, script: list) -> None:
    """Each failure used to be one more rejected draft: an unreachable scientist gave a run
    that "finished", exit 0, with an empty pool; one that went down mid-step lost the rest."""
    script = [as_reply(recorded_draft()) if reply == "<recorded draft>" else reply for reply in script]
    with serve(chat_script=script) as fake:
        scientist = scientist_factory(fake.url, max_reflections=0)
        with pytest.raises(EndpointDown, match="scientist endpoint gave no answer") as info:
            scientist.propose_initial(5, make_context(tmp_path))
    assert classify(info.value) is Fault.INFRASTRUCTURE and "llm_error" not in scientist.rejections


def test_reply_parsing_tolerates_shapes() -> None:
    nested = 'THOUGHT: x\n```python\nprint(1)\n```\nthen {"a": {"b": [1, {"c": 2}]}} trailing }'
    assert extract_json_object(nested) == {"a": {"b": [1, {"c": 2}]}}
    draft = recorded_draft()
    as_bool = parse_reply(as_reply({**draft, "done": True, "estimated_human_difficulty": 4}))
    assert isinstance(as_bool, Proposal) and as_bool.done and as_bool.card.estimated_human_difficulty == "4"
    as_text = parse_reply(as_reply({**draft, "done": "false"}))
    assert isinstance(as_text, Proposal) and not as_text.done
    odd_done = parse_reply(as_reply({**draft, "done": "maybe"}))
    assert isinstance(odd_done, Malformed) and odd_done.code == "bad_fields"
