"""The LLM judge that grades submissions for tasks which ask for it (eval_with_llm_judge).

It runs on the trusted side: task code in the sandbox has no network and relays its
request over the worker pipe. The judge prompts with a rubric, then looks for a final
``DECISION: Yes`` / ``DECISION: No`` line; anything else (no decision, both, a request the
endpoint refuses) is *no verdict*: logged and returned as None. An endpoint that gives no
answer at all raises ``EndpointDown``: read as no verdict, an outage scored every judged item
0 and changed every model's fitness without a word.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from acdc.llm_client import OpenAIClient

log = logging.getLogger(__name__)

_SYSTEM = (
    "You grade one submission against the instructions it answers. Judge correctness first, then "
    "whether it follows every instruction and any extra criteria; ignore length and style unless the "
    "instructions ask for them. Explain briefly after 'THOUGHT:', then end with a line "
    "'DECISION: Yes' if the submission fully succeeds or 'DECISION: No' otherwise."
)
# Within one line, and the separators before the colon exclude it: "^\W*" spanned newlines from every
# line start, and "\W*:\W*" split a run of colons every way, both backtracking quadratically.
_DECISION = re.compile(r"^[^\w\n]*decision[^\w:\n]*:[^\w\n]*(yes|no)\b", re.IGNORECASE | re.MULTILINE)


def parse_decision(text: str) -> bool | None:
    """The last DECISION line's verdict; None when there is none."""
    found: list[str] = _DECISION.findall(text or "")
    if not found:
        return None
    return found[-1].lower() == "yes"


def judge_prompt(instructions: str, submission: str, criteria: list[str] | None) -> str:
    extra = "\n".join(f"- {c}" for c in criteria) if criteria else "None"
    return (f"INSTRUCTIONS:\n{instructions}\n\nSUBMISSION:\n{submission}\n\nEXTRA CRITERIA:\n{extra}\n\n"
            "Grade the submission.")


@dataclass
class LLMJudge:
    """Callable with the sandbox pool's judge signature. ``temperature`` 0 keeps grades stable
    (the reference sampled at 0.7, which makes measured task difficulty noisy)."""

    client: OpenAIClient
    temperature: float = 0.0
    max_tokens: int = 1024

    def __call__(self, instructions: str, submission: str, criteria: list[str] | None = None) -> bool | None:
        messages = [{"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": judge_prompt(instructions, submission, criteria)}]
        reply = self.client.verdict_chat("judge", messages, temperature=self.temperature, max_tokens=self.max_tokens)
        if reply is None:
            return None
        verdict = parse_decision(reply)
        if verdict is None:
            log.warning("judge reply has no DECISION line; no verdict: %r", reply[:200])
        return verdict
