"""Novelty filter: near duplicates out, distinct tasks in, a store that survives restarts."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from acdc.errors import StateError, UserError
from acdc.llm_client import EndpointDown, OpenAIClient
from acdc.tasks.embedders import EndpointEmbedder, FeatureEmbedder, MiniLMEmbedder
from acdc.tasks.format import TaskCard
from acdc.tasks.novelty import (
    INDEX_FILE,
    MATRIX_FILE,
    MAX_MATRIX_BYTES,
    InterestinglyNewCheck,
    NoveltyFilter,
    parse_yes_no,
)
from tests.fakes.openai_server import HttpFailure, serve
from tests.planted import planted_fifo


def card(name: str, description: str, capability: str, instruction: str) -> TaskCard:
    return TaskCard(name, description, capability, "2", instruction)


ANAGRAM = card("anagram_check", "Decide whether two words are anagrams of each other.", "string manipulation",
               "Are 'listen' and 'silent' anagrams? Answer yes or no.")
ANAGRAM_AGAIN = card("anagram_check_2", "Decide whether two words are anagrams of each other.",
                     "string manipulation", "Are 'night' and 'thing' anagrams? Answer yes or no.")
PRIMES = card("prime_factors", "List the prime factorisation of a large integer.", "number theory",
              "Give the prime factors of 360 in ascending order.")
ORBITS = card("orbital_period", "Estimate a planet's orbital period from Kepler's third law.", "physics reasoning",
              "A planet orbits at 4 AU from a Sun-like star; how many years is its period?")


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    """Loaded once for the whole session (this module is its only user)."""
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder


def test_near_duplicate_rejected_distinct_accepted(tmp_path: Path) -> None:
    novelty = NoveltyFilter(tmp_path / "store", FeatureEmbedder(), threshold=0.7)
    assert novelty.check(ANAGRAM).novel  # empty store
    novelty.add("task_000001_anagram_check", ANAGRAM)
    duplicate = novelty.check(ANAGRAM_AGAIN)
    assert not duplicate.novel and duplicate.neighbours[0][0] == "task_000001_anagram_check"
    assert duplicate.neighbours[0][1] >= 0.7 and "near duplicate" in duplicate.reason
    distinct = novelty.check(PRIMES)
    assert distinct.novel and distinct.neighbours[0][1] < 0.7


def test_store_round_trip_and_idempotent_add(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    first.add("t1", ANAGRAM)
    first.add("t2", PRIMES)
    first.add("t1", ANAGRAM)  # re-adding the same task changes nothing
    assert len(first) == 2 and np.load(store / MATRIX_FILE).shape == (2, 512)
    reopened = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    assert len(reopened) == 2 and "t2" in reopened
    assert not reopened.check(ANAGRAM_AGAIN).novel
    assert reopened.check(ORBITS).novel


def test_store_ignores_rows_written_before_a_crash(tmp_path: Path) -> None:
    """Matrix written, index not: the extra row is ignored, and the next add overwrites it."""
    store = tmp_path / "store"
    novelty = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    novelty.add("t1", PRIMES)
    matrix = np.vstack([np.load(store / MATRIX_FILE), FeatureEmbedder().embed([ANAGRAM.embedding_text()])])
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    (store / MATRIX_FILE).write_bytes(buffer.getvalue())
    reopened = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    assert len(reopened) == 1 and reopened.check(ANAGRAM_AGAIN).novel


def test_forgetting_the_newest_entries_persists_and_older_ones_stay(tmp_path: Path) -> None:
    """What a retried tasks step drops: the entries its interrupted attempt added, the newest."""
    store = tmp_path / "store"
    novelty = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    for name, task in (("t1", PRIMES), ("t2", ANAGRAM), ("t3", ORBITS)):
        novelty.add(name, task)
    with pytest.raises(StateError, match="only the newest"):
        novelty.forget(["t1"])
    novelty.forget(["t3", "t2", "never-added"])
    assert novelty.check(ANAGRAM_AGAIN).novel
    assert len(NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)) == 1  # the matrix keeps its rows till an add
    novelty.add("t4", ORBITS)
    reopened = NoveltyFilter(store, FeatureEmbedder(), threshold=0.7)
    assert [name for name in ("t1", "t2", "t3", "t4") if name in reopened] == ["t1", "t4"]
    assert reopened.check(ANAGRAM_AGAIN).novel and not reopened.check(PRIMES).novel


def test_store_refuses_another_embedder_and_corrupt_index(tmp_path: Path) -> None:
    store = tmp_path / "store"
    NoveltyFilter(store, FeatureEmbedder(), threshold=0.7).add("t1", PRIMES)
    with pytest.raises(UserError, match="features:512"):
        NoveltyFilter(store, FeatureEmbedder(dim=64))
    (store / INDEX_FILE).write_text('{"embedder": "features:512", "ids": ["t1", "t2"], "texts": ["a", "b"]}')
    with pytest.raises(StateError, match="matrix has shape"):
        NoveltyFilter(store, FeatureEmbedder())
    with pytest.raises(UserError, match="threshold"):
        NoveltyFilter(tmp_path / "other", FeatureEmbedder(), threshold=1.5)


def test_minilm_ranks_paraphrases_above_unrelated(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed([
        "Write a function that reverses the order of words in a sentence.",
        "Implement a routine returning the sentence with its words in reverse order.",
        "Estimate the orbital period of a planet using Kepler's third law.",
    ])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.6 > unrelated + 0.3


def test_minilm_filter_end_to_end(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    novelty = NoveltyFilter(tmp_path / "store", minilm, threshold=0.8)
    for index, existing in enumerate((ANAGRAM, PRIMES)):
        novelty.add(f"t{index}", existing)
    assert not novelty.check(ANAGRAM_AGAIN).novel
    assert novelty.check(ORBITS).novel


@pytest.mark.parametrize(("reply", "expected"), [
    ("THOUGHT: it measures a new skill.\nDecision: Yes", True),
    ("THOUGHT: decision: no at first... but on reflection\nDECISION: YES", True),
    ("THOUGHT: it repeats the anagram task.\n**Decision:** No.", False),
    ("No", False),
    ("I cannot tell.", None),
    ("", None),
])
def test_parse_yes_no(reply: str, expected: bool | None) -> None:
    assert parse_yes_no(reply) is expected


def test_parse_yes_no_is_linear_in_the_reply() -> None:
    """A long run of separators after 'decision' once backtracked quadratically (13 s for this one)."""
    started = time.monotonic()
    assert parse_yes_no("Decision" + " " * 20_000 + "x") is None
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("reply", "novel"), [
    ("THOUGHT: same words, but a different skill.\nDecision: Yes", True),
    ("THOUGHT: a copy.\nDecision: No", False),
    ("Sure! Here is a poem about anagrams.", False),  # malformed: no verdict -> not novel
    (HttpFailure(400), False),  # this request refused (the probe after it answered) -> no verdict
    ({"decision": "Yes"}, False),  # content that is not text: unreadable, the same
])
def test_llm_check_decides_for_near_neighbours(tmp_path: Path, reply: object, novel: bool) -> None:
    with serve(chat_script=[reply, "OK"]) as fake:
        check = InterestinglyNewCheck(OpenAIClient(fake.url, "scientist", max_retries=0))
        novelty = NoveltyFilter(tmp_path / "store", FeatureEmbedder(), threshold=0.7, llm_check=check)
        novelty.add("t1", ANAGRAM)
        assert novelty.check(PRIMES).novel  # no near neighbour: the LLM is not asked
        assert len(fake.requests) == 0
        verdict = novelty.check(ANAGRAM_AGAIN)
    assert verdict.novel is novel


def test_an_llm_check_endpoint_that_answers_nothing_stops_the_step(tmp_path: Path) -> None:
    """No verdict rejects the task: an outage rejected every near neighbour without a word."""
    with serve(chat_script=lambda body: HttpFailure(401, '{"error": "bad key"}')) as fake:
        check = InterestinglyNewCheck(OpenAIClient(fake.url, "scientist", max_retries=0))
        novelty = NoveltyFilter(tmp_path / "store", FeatureEmbedder(), threshold=0.7, llm_check=check)
        novelty.add("t1", ANAGRAM)
        with pytest.raises(EndpointDown, match="novelty check endpoint gave no answer .*HTTP 401"):
            novelty.check(ANAGRAM_AGAIN)
    asked = fake.requests[0][1]["messages"][1]["content"]
    assert "EXISTING TASK 1" in asked and ANAGRAM.example_instruction in asked
    assert ANAGRAM_AGAIN.example_instruction in asked


def test_endpoint_embedder(tmp_path: Path) -> None:
    def vectors(body: dict) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] if "anagram" in text else [0.0, 3.0, 4.0] for text in body["input"]]

    with serve(embed_script=vectors) as fake:
        embedder = EndpointEmbedder(OpenAIClient(fake.url, "e5", max_retries=0))
        novelty = NoveltyFilter(tmp_path / "store", embedder, threshold=0.9)
        novelty.add("t1", ANAGRAM)
        assert not novelty.check(ANAGRAM_AGAIN).novel
        verdict = novelty.check(PRIMES)
    assert verdict.novel and verdict.neighbours == [("t1", 0.0)]
    with serve(embed_script=[HttpFailure(400), [[1.0, 0.0, 0.0]]]) as fake:  # that card refused, the probe answered
        refusing = NoveltyFilter(tmp_path / "store", EndpointEmbedder(OpenAIClient(fake.url, "e5", max_retries=0)))
        refused = refusing.check(PRIMES)
    assert not refused.novel and "embedding refused" in refused.reason
    with serve(embed_script=lambda body: HttpFailure(503)) as fake:  # down: it would have rejected every task
        failing = NoveltyFilter(tmp_path / "store", EndpointEmbedder(OpenAIClient(fake.url, "e5", max_retries=0)))
        with pytest.raises(EndpointDown, match="embedding endpoint gave no answer"):
            failing.check(PRIMES)


def test_features_embedder_tells_a_family_repeat_from_a_difficulty_variant() -> None:
    """The example instruction is a random draw, so it must not move a toy-world card's embedding."""
    def toy(skill: str, difficulty: int, example: str) -> TaskCard:
        return card(f"{skill}_d{difficulty}", f"Toy-world task: {skill} a list, difficulty {difficulty}.", "lists",
                    example)

    embedded = FeatureEmbedder().embed([c.embedding_text() for c in (
        toy("sort", 5, "Sort: 1 9 2 4 0"), toy("sort", 5, "Sort: 9 4 6 0 9"), toy("sort", 4, "Sort: 3 3 1 0"))])
    similarity = embedded @ embedded.T
    assert similarity[0, 1] == pytest.approx(1.0)  # the same family, another example
    assert similarity[0, 2] < 0.88  # a difficulty variant stays apart (quickstart's threshold)


def _store_with_a_planted_matrix(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    NoveltyFilter(store, FeatureEmbedder(), threshold=0.7).add("t1", PRIMES)
    (store / MATRIX_FILE).unlink()
    return store


def test_a_fifo_as_the_embedding_matrix_is_refused_unopened(tmp_path: Path) -> None:
    store = _store_with_a_planted_matrix(tmp_path)
    with planted_fifo(store / MATRIX_FILE) as opened, \
            pytest.raises(StateError, match="embeddings.npy: cannot read the embedding matrix .is not a regular file"):
        NoveltyFilter(store, FeatureEmbedder())
    assert not opened


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@pytest.mark.parametrize(("plant", "says"), [
    (lambda path: path.symlink_to("/dev/zero"), "is not a regular file"),
    (lambda path: (path.write_bytes(b""), os.truncate(path, MAX_MATRIX_BYTES + 1)),  # sparse: nothing written
     f"is {MAX_MATRIX_BYTES + 1} bytes; the limit is"),
    # A header promising a billion columns the file does not hold: a load would allocate 8 GB.
    (lambda path: path.write_bytes(_npy_header((2, 10**9), "<f4")),
     r"shape \(2, 1000000000\) and type float32 in 0 bytes"),
    (lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True), "type object"),
], ids=["dev-zero", "huge-sparse-file", "billion-columns", "pickled-objects"])
def test_a_matrix_add_would_not_write_is_refused_before_it_is_read(
        tmp_path: Path, plant: Callable[[Path], object], says: str) -> None:
    store = _store_with_a_planted_matrix(tmp_path)
    plant(store / MATRIX_FILE)
    with pytest.raises(StateError, match=says):
        NoveltyFilter(store, FeatureEmbedder())
