"""What the paper example's model servers answer, as scripts for tests.fakes.openai_server.

The example deploys a 72B scientist (which is also its judge) and an e5-mistral embedder;
neither runs here. Their stand-ins answer each request by what it asks, as those servers
were recorded answering in the scientist tests (tests/tasks/recordings/scientist):

- a task-design prompt gets a task family over one toy-world skill, so the toy stand-ins
  for the population models can solve some of it and selection sees different skills;
  every third family asks the judge about near misses, so grading relays through the pod;
- the review round that follows the sandbox's report repeats the draft with ``done``;
- the novelty question gets "Decision: Yes", a grading request "DECISION: No";
- an embedding is a unit vector hashed from the text, so distinct tasks are far apart.

Every reply is a pure function of the request: a retried Job gets the same answers.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from acdc.tasks.scientist.procedural import task_code
from acdc.tasks.scientist.reply import extract_json_object
from acdc.toyworld.skills import SKILLS

EMBEDDING_DIM = 64
BASE_SKILLS = ("add", "subtract", "reverse", "upper", "sort", "count")
JUDGE_EVERY = 3

EXACT_SCORE = 'return 1.0 if _normalise(submission) == _normalise(t["answer"]) else 0.0'
JUDGED_SCORE = ('if _normalise(submission) == _normalise(t["answer"]):\n            return 1.0\n'
                '        return 1.0 if eval_with_llm_judge(t["prompt"], submission) else 0.0')


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def draft(seed: int) -> dict[str, Any]:
    """The task proposal (as the scientist's JSON) the stand-in writes for a request seed."""
    skill = BASE_SKILLS[seed % len(BASE_SKILLS)]
    low, _high = SKILLS[skill].difficulty_range
    difficulty = low + (seed // len(BASE_SKILLS)) % 3  # the easy end: toy models solve some
    rng = random.Random(seed)
    examples = [SKILLS[skill].sample(difficulty, rng) for _ in range(3)]
    instances = {str(i + 1): {"prompt": e.prompt, "answer": e.answer} for i, e in enumerate(examples)}
    code = task_code(f"{skill}@{difficulty}", instances)
    if seed % JUDGE_EVERY == 0:  # near misses go to the judge, relayed out of the sandbox
        assert EXACT_SCORE in code, "the toy-world task template changed"
        code = code.replace(EXACT_SCORE, JUDGED_SCORE).replace(
            "\nINSTANCES", "\nfrom acdc_sandbox import eval_with_llm_judge\n\nINSTANCES", 1)
    return {"name_of_task": f"{skill}_d{difficulty}_{seed % 100_000}",
            "description_of_task": f"Toy-world {skill} at difficulty {difficulty}.",
            "capability_being_measured": skill, "estimated_human_difficulty": str(difficulty),
            "done": False, "task_family": code, "example_instruction": examples[0].prompt,
            "known_good_answer": examples[0].answer}


def _fenced(proposal: dict[str, Any]) -> str:
    return f"THOUGHT:\nA {proposal['capability_being_measured']} family.\n\nRESPONSE JSON:\n```json\n" \
           f"{json.dumps(proposal, indent=2)}\n```"


def chat(body: dict[str, Any]) -> str:
    """The scientist/judge server's reply to one chat request."""
    messages = body["messages"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    if system.startswith("You design task families"):
        if len(messages) > 2:  # a review round: the sandbox passed the draft, nothing to change
            proposal = extract_json_object(messages[-2]["content"]) or {}
            return _fenced({**proposal, "done": True})
        return _fenced(draft(int(body.get("seed") or _digest(messages[-1]["content"]))))
    if system.startswith("You curate a collection of tasks"):
        return "THOUGHT: a different skill or difficulty.\nDecision: Yes"
    if system.startswith("You grade one submission"):
        return "THOUGHT: not the requested answer.\nDECISION: No"
    raise AssertionError(f"the stand-in was asked something unexpected: {system[:80]!r}")


def embed(body: dict[str, Any]) -> list[list[float]]:
    """The embedding server's reply: one unit vector per input text."""
    vectors = []
    for text in body["input"]:
        rng = random.Random(_digest(text))
        raw = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIM)]
        norm = sum(x * x for x in raw) ** 0.5
        vectors.append([x / norm for x in raw])
    return vectors
