"""Helpers that task code may import inside the sandbox (stdlib only).

``get_function_name_to_callable`` runs the fenced Python blocks of a submission (only
ever inside the sandbox) and hands back what they define, for code-writing tasks.
``eval_with_llm_judge`` asks the trusted parent to grade a submission: the sandbox has no
network, so the request travels over the worker's pipe and the parent calls the judge.
The names and signatures match the reference implementation's ``sandbox_eval_helper``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_PYTHON_FENCE = re.compile(r"```python\n(.*?)\n```", re.DOTALL)  # the only blocks the reference runs

# Set by the worker runner in each task process: (fd to send requests, fd to read replies).
_judge_channel: tuple[int, int] | None = None
# Set from the run's referenceParity.answerExtraction: "reference" runs only ```python blocks.
_python_fences_only = False


def extract_code_blocks(submission: str) -> list[str]:
    """Fenced code blocks of a submission; the whole text when it has no fence.

    With ``_python_fences_only`` (the reference's rule): only ```python blocks, and none
    when there are none, so code outside such a fence defines nothing and scores 0.
    """
    if _python_fences_only:
        return _PYTHON_FENCE.findall(submission)
    blocks = _FENCE.findall(submission)
    return blocks if blocks else [submission]


def get_function_name_to_callable(submission: str) -> dict[str, Callable[..., Any]]:
    """Execute the submission's code blocks in one namespace and return its callables."""
    namespace: dict[str, Any] = {"__name__": "submission"}
    for block in extract_code_blocks(submission):
        exec(compile(block, "<submission>", "exec"), namespace)  # noqa: S102 - sandboxed by design
    return {name: value for name, value in namespace.items() if callable(value) and not name.startswith("__")}


def _read_line(fd: int) -> bytes:
    chunks = bytearray()
    while not chunks.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def eval_with_llm_judge(instructions: str, submission: str, criteria: list[str] | None = None) -> bool:
    """True only when the judge says the submission meets the instructions (and criteria)."""
    if _judge_channel is None:
        return False
    send_fd, reply_fd = _judge_channel
    request = {"t": "judge", "instructions": str(instructions), "submission": str(submission)}
    request["criteria"] = [str(c) for c in criteria] if criteria else None
    os.write(send_fd, (json.dumps(request) + "\n").encode())
    try:
        reply = json.loads(_read_line(reply_fd) or b"{}")
    except ValueError:
        return False
    return reply.get("verdict") is True
