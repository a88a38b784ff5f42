"""Prompt styles for population models and how an answer is cut out of a completion.

The extraction order is the reference's (first match wins): ``\\boxed{...}``, text after
``####``, text after ``Answer:``. The project's "lenient" extraction differs on purpose
in three ways: the boxed content is matched with balanced braces (the reference takes
everything up to the *last* brace in the output), the text after ``Answer:`` is
stripped, and a completion with no marker is itself the answer (the reference submits
"No answer found.", which scores 0). ``referenceParity.answerExtraction: reference``
selects the reference's behaviour (docs/reference-deviations.md).
"""

from __future__ import annotations

import re
from typing import Literal

PromptStyle = Literal["cot", "direct", "plain"]
AnswerExtraction = Literal["lenient", "reference"]

NO_ANSWER = "No answer found."
"""What the reference submits when a completion has no answer marker."""

SYSTEM_PROMPTS: dict[str, str | None] = {
    "cot": (
        "Work through the task step by step, then give your final answer on its own line, "
        "starting with 'Answer: '. When the task asks for code, put a fenced python block after 'Answer:'."
    ),
    "direct": "Reply with the final answer only, on one line starting with 'Answer: '.",
    "plain": None,
}


def chat_for(instructions: str, style: PromptStyle) -> list[dict[str, str]]:
    """The chat a population model sees for one task instance."""
    system = SYSTEM_PROMPTS[style]
    user = {"role": "user", "content": instructions}
    return [{"role": "system", "content": system}, user] if system else [user]


def _boxed(text: str) -> str | None:
    start = text.find("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for index in range(begin, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            if depth == 0:
                return text[begin:index].strip()
            depth -= 1
    return None


def extract_answer(completion: str, extraction: AnswerExtraction = "lenient") -> str:
    """The submission handed to a task's score()."""
    if extraction == "reference":
        return _reference_answer(completion)
    boxed = _boxed(completion)
    if boxed is not None:
        return boxed
    for marker in ("####", "Answer:"):
        match = re.search(re.escape(marker), completion)
        if match:
            return completion[match.end():].strip()
    return completion.strip()


def _reference_answer(completion: str) -> str:
    """The reference's rules: a ``\\boxed{`` closed on the same line selects everything up to
    the output's last ``}`` (unstripped); else the stripped rest after the first ``####``;
    else the unstripped rest after the first ``Answer:``; else ``NO_ANSWER``."""
    answer = NO_ANSWER  # each rule runs while the answer is still NO_ANSWER, as in the reference
    if re.search(r"\\boxed\{.*\}", completion):
        answer = completion[completion.index("\\boxed{") + len("\\boxed{"):completion.rindex("}")]
    if answer == NO_ANSWER and "####" in completion:
        answer = completion.split("####", 1)[1].strip()
    if answer == NO_ANSWER and "Answer:" in completion:
        answer = completion.split("Answer:", 1)[1]
    return answer
