"""Prompt styles for population models and how an answer is cut out of a completion.

The extraction order is the reference's (first match wins): ``\\boxed{...}``, text after
``####``, text after ``Answer:``; otherwise the whole completion. Two deliberate fixes:
the boxed content is matched with balanced braces (the reference takes everything up
to the *last* brace in the output), and the text after ``Answer:`` is stripped.
"""

from __future__ import annotations

import re
from typing import Literal

PromptStyle = Literal["cot", "direct", "plain"]

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


def extract_answer(completion: str) -> str:
    """The submission handed to a task's score()."""
    boxed = _boxed(completion)
    if boxed is not None:
        return boxed
    for marker in ("####", "Answer:"):
        match = re.search(re.escape(marker), completion)
        if match:
            return completion[match.end():].strip()
    return completion.strip()
