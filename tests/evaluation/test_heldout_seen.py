"""The held-out set skips every prompt the run showed its models, whole or as part of a
combined prompt, however a scientist spaced it: the report calls these tasks the run never saw."""

from __future__ import annotations

from acdc.evaluation.heldout import heldout_tasks
from acdc.toyworld.skills import SKILLS


def _single_skill_prompt() -> str:
    return next(e.prompt for t in heldout_tasks(1) if not SKILLS[t.skill].parts for e in t.examples)


def _prompts(seen: frozenset[str]) -> set[str]:
    return {e.prompt for t in heldout_tasks(1, seen=seen) for e in t.examples}


def test_a_prompt_seen_as_part_of_a_combined_prompt_is_not_held_out() -> None:
    prompt = _single_skill_prompt()
    assert prompt in _prompts(frozenset())
    assert prompt not in _prompts(frozenset({f"{prompt} | Sort: 3, 1, 2"}))
    assert prompt not in _prompts(frozenset({f"Sort: 3, 1, 2 | {prompt}"}))


def test_a_prompt_seen_with_other_whitespace_is_not_held_out() -> None:
    prompt = _single_skill_prompt()
    spaced = " ".join(prompt.replace("+", " + ").replace("-", " - ").split(" ")) + " "
    assert spaced != prompt
    assert prompt not in _prompts(frozenset({spaced}))
    assert prompt not in _prompts(frozenset({f"Sort: 3,1,2|{spaced}"}))


def test_an_unrelated_seen_prompt_leaves_the_set_as_it_is() -> None:
    assert heldout_tasks(1, seen=frozenset({"Add: 1234+5678 | Sort: z, y"})) == heldout_tasks(1)
