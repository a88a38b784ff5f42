"""What the LLM scientist is told: the task format, the reply format, and each request kind.

Kept apart from the control flow in llm.py so prompt wording can be reviewed (and tuned)
without reading the reflection loop. The reply contract is what ``reply.py`` parses: a
THOUGHT paragraph, then one fenced ``json`` block with the fields of ``REPLY_FIELDS``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from acdc.tasks.format import TaskCard
from acdc.tasks.scientist.base import AdaptationKind

REPLY_FIELDS = ("name_of_task", "description_of_task", "capability_being_measured",
                "estimated_human_difficulty", "done", "task_family", "example_instruction",
                "known_good_answer")

_SYSTEM = """You design task families that probe what language models can and cannot do. \
Good families reveal a capability (or a failure) that the existing tasks miss, are unambiguous, \
and can be graded automatically.

A task family is a Python file defining `class TaskFamily` with three static methods:

    class TaskFamily:
        @staticmethod
        def get_tasks() -> dict[str, dict]:
            # exactly two instances, with ids "1" and "2"; values are JSON-serialisable dicts
            ...
        @staticmethod
        def get_instructions(t: dict) -> str:
            # the complete prompt the evaluated model sees; say exactly how to format the answer
            ...
        @staticmethod
        def score(t: dict, submission: str) -> float:
            # 1.0 if the submission solves instance t, else 0.0 (no partial credit)
            ...

Rules for the code:
- Standard library only (numpy and sympy are not guaranteed). No network, no files, no \
subprocesses: the code runs in a sandbox that forbids them, and anything else fails the task.
- Put imports at the top of the file. Compute expected answers in code where you can instead \
of hard-coding them, and accept harmless variations of the answer format (spacing, case, \
a trailing period, LaTeX or plain numbers).
- Never leak the answer in the instructions, and make sure no trivial submission can pass.
- Two helpers can be imported inside the sandbox with \
`from sandbox_eval_helper import eval_with_llm_judge, get_function_name_to_callable`:
  * `get_function_name_to_callable(submission) -> dict[str, callable]` runs the fenced Python \
code in a submission and returns the functions it defines, for coding tasks; call them on \
test cases inside `score`.
  * `eval_with_llm_judge(instructions, submission, criteria=None) -> bool` asks an LLM judge \
whether the submission meets the instructions (and the optional list of criteria). Use it \
only when the answer cannot be checked by code (open-ended writing, explanations).

Reply in exactly this shape:

THOUGHT:
<your reasoning about what to build and why>

RESPONSE JSON:
```json
{{
  "name_of_task": "short_snake_case_name",
  "description_of_task": "one or two sentences saying what the task asks",
  "capability_being_measured": "the skill it probes",
  "estimated_human_difficulty": "1 to 5 (1: a quick lookup, 3: a careful student, 5: expert level)",
  "done": "False",
  "task_family": "the complete Python source of the task family",
  "example_instruction": "the instructions of instance 1, as get_instructions returns them",
  "known_good_answer": "a submission for instance 1 that score() must grade 1.0"
}}
```

All values are strings. Escape the code properly for JSON (newlines as \\n, quotes as \\"). \
After each draft you get the result of running it in the sandbox, for {rounds} review \
round(s); set "done" to "True" only when the task is correct and you would change nothing."""

_REFLECTION = """Review round {round} of {rounds}. The sandbox ran your latest draft:

{report}

Check the draft against this list: the code is valid Python with imports at the top; \
get_tasks returns exactly two instances; the instructions are clear, state the answer format \
and do not leak the answer; score computes the right answer and accepts harmless format \
variations; no trivial or dummy submission can earn credit; known_good_answer earns 1.0; the \
JSON fields agree with the code. A task that models will often fail is fine as long as it is \
valid.

If something is wrong, fix it and reply in the same format. If nothing needs to change, \
repeat the same JSON exactly and set "done" to "True"."""

_INITIAL = {
    "novel": ("Here is an existing task family{rate}:\n\n{example}\n\nDesign the next task family: "
              "something interestingly new that measures a different capability, in a different domain "
              "or format, not a variation of the tasks above."),
    "similar": ("Here is an existing task family{rate}:\n\n{example}\n\nDesign a new task family inspired "
                "by it that is more demanding or explores beyond it, without copying it."),
}

_ADAPT: dict[AdaptationKind, str] = {
    "harder": ("The population of models solves this task too easily{rate}:\n\n{example}\n\nDesign a "
               "related but clearly harder task family: deeper reasoning, more steps or constraints, more "
               "advanced concepts, or stricter precision, while staying gradable."),
    "easier": ("The population of models almost never solves this task{rate}:\n\n{example}\n\nDesign a "
               "related but easier task family: break the problem into smaller steps, reduce its size, "
               "add scaffolding, or focus on the underlying fundamentals."),
    "novel": ("Here is a task family from the pool{rate}:\n\n{example}\n\nDesign an interestingly "
              "different task family: a new capability, domain or answer format that none of the tasks "
              "shown here covers."),
    "novel_similar": ("Here is a task family from the pool{rate}:\n\n{example}\n\nDesign a new task family "
                      "inspired by it that is more complex or goes beyond it, while still measuring a related "
                      "capability."),
}


@dataclass(frozen=True)
class TaskExample:
    """A task shown to the scientist: its card, its code, and how often the population passes it."""

    card: TaskCard
    code: str
    pass_rate: float | None = None

    def render(self) -> str:
        payload = {**asdict(self.card), "task_family": self.code}
        return "```json\n" + json.dumps(payload, indent=2, ensure_ascii=False) + "\n```"

    def rate_phrase(self) -> str:
        if self.pass_rate is None or self.pass_rate < 0:
            return ""
        return f" (pass rate in the current population: {self.pass_rate:.0%})"


def system_prompt(rounds: int) -> str:
    return _SYSTEM.format(rounds=rounds)


def _others(others: Sequence[TaskExample]) -> str:
    if not others:
        return ""
    lines = [f"- {o.card.name_of_task}: {o.card.description_of_task}{o.rate_phrase()}" for o in others]
    return "\n\nOther tasks already in the pool (do not duplicate them):\n" + "\n".join(lines)


def initial_prompt(example: TaskExample | None, novel: bool, others: Sequence[TaskExample] = ()) -> str:
    """Ask for a first-generation task, either completely novel or inspired by ``example``."""
    if example is None:
        return "Design a first task family for the pool." + _others(others)
    template = _INITIAL["novel" if novel else "similar"]
    return template.format(example=example.render(), rate=example.rate_phrase()) + _others(others)


def adaptation_prompt(kind: AdaptationKind, parent: TaskExample, others: Sequence[TaskExample] = ()) -> str:
    return _ADAPT[kind].format(example=parent.render(), rate=parent.rate_phrase()) + _others(others)


def reflection_prompt(round_number: int, rounds: int, report: str) -> str:
    return _REFLECTION.format(round=round_number, rounds=rounds, report=report)
