"""Best-of-N pickers on answer sets: the numbered-candidates judge through the fake
OpenAI-compatible server (valid, malformed and failing replies) and a real reward model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from acdc.evaluation.bestofn import (
    NumberedCandidatesJudge,
    RewardModel,
    judge_best_of_n,
    parse_choice,
    reward_best_of_n,
)
from acdc.evaluation.samples import Sample
from acdc.llm_client import EndpointDown, OpenAIClient
from tests.evaluation.conftest import build_reward_model
from tests.fakes.openai_server import HttpFailure, serve
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (fixture)


def _answers(rows: list[list[tuple[str, bool]]]) -> list[dict[int, Sample]]:
    """rows[d][m] = (response, correct) of model m on document d."""
    models = len(rows[0])
    return [{d: Sample(d, f"Add: {d}+{d}", str(2 * d), row[m][0], row[m][1]) for d, row in enumerate(rows)}
            for m in range(models)]


def test_parse_choice() -> None:
    assert parse_choice("THOUGHT: the second adds up.\nCHOICE: 2", 3) == 1
    assert parse_choice("Choice: 1 ... on reflection CHOICE: 3", 3) == 2
    assert parse_choice("CHOICE: 4", 3) is None
    assert parse_choice("CHOICE: 0", 3) is None
    assert parse_choice("the first one", 3) is None
    assert parse_choice("CHOICE: " + "1" * 4400, 3) is None  # past int()'s digit limit: no choice


def test_parse_choice_is_linear_in_the_reply() -> None:
    """A long run of separators after 'choice' once backtracked quadratically (20 s for this one)."""
    started = time.monotonic()
    assert parse_choice("CHOICE" + " " * 20_000 + "x", 3) is None
    assert time.monotonic() - started < 2


def test_hostile_judge_replies_fall_back_to_the_seeded_pick() -> None:
    """Digits past int()'s limit, and content that is not text, are unusable verdicts, not errors."""
    rows = [[("1", False), ("8", True)], [("0", False), ("3", True)]]
    replies = ["CHOICE: " + "1" * 4400, {"choice": 1}, "OK"]  # the last answers the probe after the unreadable one
    with serve(chat_script=list(replies)) as fake:
        judge = NumberedCandidatesJudge(OpenAIClient(fake.url, "judge", max_retries=0))
        result = judge_best_of_n(["m0", "m1"], _answers(rows), judge, seed=5)
    assert result.calls == 2 and result.unusable == 2 and len(result.picks) == 2


def test_judge_one_call_per_disagreement_and_fallbacks_on_bad_replies() -> None:
    rows = [
        [("2", True), ("2", True), ("2", True)],     # all agree: no call
        [("4", True), ("5", False), ("6", False)],   # CHOICE: 1
        [("7", False), ("6", True), ("7", False)],   # CHOICE: 2
        [("1", False), ("8", True), ("9", False)],   # malformed: seeded random pick
        [("0", False), ("3", False), ("10", True)],  # out of range: seeded random pick
        [("11", False), ("12", True), ("13", False)],  # HTTP 400: seeded random pick
    ]
    replies = ["THOUGHT: 4 is 2+2.\nCHOICE: 1", "CHOICE: 2", "I cannot decide", "CHOICE: 7",
               HttpFailure(400, '{"error": "bad request"}'), "OK"]  # then the probe: the endpoint answers
    answers = _answers(rows)
    with serve(chat_script=list(replies)) as fake:
        judge = NumberedCandidatesJudge(OpenAIClient(fake.url, "judge", max_retries=0))
        result = judge_best_of_n(["m0", "m1", "m2"], answers, judge, seed=5)
    assert result.calls == 5 and result.unusable == 3
    assert len(fake.requests) == 6
    for (_, body), d in zip(fake.requests[:5], range(1, 6), strict=True):
        user = body["messages"][-1]["content"]
        assert f"QUESTION:\nAdd: {d}+{d}" in user
        assert all(f"CANDIDATE {k}:\n{rows[d][k - 1][0]}" in user for k in (1, 2, 3))
    assert result.picks[1] == "m0" and result.picks[2] == "m1"
    index = {"m0": 0, "m1": 1, "m2": 2}
    expected = np.mean([rows[d][index[result.picks[d]]][1] for d in range(len(rows))])
    assert result.accuracy == round(float(expected), 6)
    assert sum(result.pick_share.values()) == 1.0
    # The fallback is seeded: the same inputs give the same picks.
    with serve(chat_script=list(replies)) as fake:
        again = judge_best_of_n(["m0", "m1", "m2"], answers,
                                NumberedCandidatesJudge(OpenAIClient(fake.url, "judge", max_retries=0)), seed=5)
    assert again.picks == result.picks


def test_reward_model_scores_in_batches_like_one_by_one(tmp_path: Path, toy_world: Path) -> None:  # noqa: F811
    path = build_reward_model(toy_world, tmp_path / "rm")
    rows = [[("12", True), ("121", False)], [("5 | cba", False), ("5 | abc", True)], [("9", True), ("9", True)],
            [("1 2 3 4 5 6", True), ("1", False)]]
    answers = _answers(rows)
    batched = RewardModel(path, batch_size=8)
    single = RewardModel(path, batch_size=1)
    pairs = [(answers[0][d].question, a[d].response) for d in range(len(rows)) for a in answers]
    assert np.allclose(batched.score(pairs), single.score(pairs), atol=1e-4)
    scores = np.asarray(single.score(pairs)).reshape(len(rows), 2)
    result = reward_best_of_n(["m0", "m1"], answers, batched)
    assert result.picks == {d: f"m{int(np.argmax(scores[d]))}" for d in range(len(rows))}
    assert result.accuracy == round(float(np.mean([rows[d][int(np.argmax(scores[d]))][1] for d in range(4)])), 6)


def test_a_judge_endpoint_that_answers_nothing_stops_the_evaluation() -> None:
    """Down, every disagreement fell back to a random pick, and best-of-N accuracy with it."""
    rows = [[("1", False), ("8", True)], [("0", False), ("3", True)]]
    with serve(chat_script=lambda body: HttpFailure(503)) as fake:
        judge = NumberedCandidatesJudge(OpenAIClient(fake.url, "judge", max_retries=0))
        with pytest.raises(EndpointDown, match="best-of-N judge endpoint gave no answer"):
            judge_best_of_n(["m0", "m1"], _answers(rows), judge, seed=5)
