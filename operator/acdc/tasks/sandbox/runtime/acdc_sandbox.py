"""Helpers that task code may import inside the sandbox (stdlib only).

``get_function_name_to_callable`` runs the fenced Python blocks of a submission (only
ever inside the sandbox) and hands back what they define, for code-writing tasks.
``eval_with_llm_judge`` asks the trusted parent to grade a submission: the sandbox has no
network, so the request travels over the task process's own stdin/stdout and the parent
calls the judge (at most the run's per-item cap of calls; more fail the item).
The names and signatures match the reference implementation's ``sandbox_eval_helper``.
"""

from __future__ import annotations

# No typing/collections.abc imports: every task process pays for what this file imports.
import json
import os
import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_PYTHON_FENCE = re.compile(r"```python\n(.*?)\n```", re.DOTALL)  # the only blocks the reference runs


class Channel:
    """The task process's only line to the trusted parent: one fd in, one fd out."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self._buffer = bytearray()

    def send(self, message: dict[str, object]) -> None:
        view = memoryview((json.dumps(message) + "\n").encode())
        while view:
            view = view[os.write(self.out_fd, view):]

    def receive(self) -> object:
        """The next line as JSON; None at end of input (the parent is done with us)."""
        while b"\n" not in self._buffer:
            chunk = os.read(self.in_fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return json.loads(line)


# Both set by task_process before any task code runs. ``_python_fences_only`` comes from the
# run's referenceParity.answerExtraction: "reference" runs only ```python blocks.
channel: Channel | None = None
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


def get_function_name_to_callable(submission: str) -> dict[str, object]:
    """Execute the submission's code blocks in one namespace and return its callables."""
    namespace: dict[str, object] = {"__name__": "submission"}
    for block in extract_code_blocks(submission):
        exec(compile(block, "<submission>", "exec"), namespace)  # noqa: S102 - sandboxed by design
    return {name: value for name, value in namespace.items() if callable(value) and not name.startswith("__")}


def eval_with_llm_judge(instructions: str, submission: str, criteria: list[str] | None = None) -> bool:
    """True only when the judge says the submission meets the instructions (and criteria)."""
    if channel is None:
        return False
    channel.send({"judge": {"instructions": str(instructions), "submission": str(submission),
                            "criteria": [str(c) for c in criteria] if criteria else None}})
    reply = channel.receive()
    return isinstance(reply, dict) and reply.get("verdict") is True
