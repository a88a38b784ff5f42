"""Turning a scientist's free-text reply into a task proposal, or a reason why not.

LLM replies are messy: prose around the JSON, several fenced blocks, code with nested
braces, ``done`` as a string or a bool, difficulty as "3" or 3. Everything here is
tolerant of the shape and strict about the content; a reply that cannot become a task
yields a ``Malformed`` with a machine-readable code (for counters) and a message that
is shown back to the scientist in the next review round.

The reply is untrusted text, so nothing in it may raise out of ``parse_reply``: its size
is bounded before any parsing, and the parsers' own limits (JSON nested past the stack,
Python that overflows the parser) and text that UTF-8 cannot encode are rejections too.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from acdc.errors import UserError
from acdc.tasks.format import TaskCard

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_REQUIRED_METHODS = ("get_tasks", "get_instructions", "score")
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
# About 16,000 tokens, eight times the default max_tokens: a longer reply is not read, because
# finding its JSON costs time quadratic in its length (a decode is tried at every '{').
MAX_REPLY_CHARS = 64_000
# Deeper JSON is no proposal, and str() of it could exhaust the stack later.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Malformed:
    """Why a reply is not a usable task (code: too_long, no_json, bad_fields, syntax_error, missing_method)."""

    code: str
    message: str


@dataclass(frozen=True)
class Proposal:
    """A parsed task proposal: what will be written to disk if it validates."""

    card: TaskCard
    code: str
    done: bool
    known_good_answer: str | None


def _depth(value: Any) -> int:
    """How many levels of lists and objects ``value`` has (counted level by level: no recursion)."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def _decode_all(text: str) -> list[Any]:
    """Every JSON value of at most MAX_JSON_DEPTH levels that starts at a '{' in ``text``
    (raw_decode handles nested braces)."""
    decoder = json.JSONDecoder(strict=False)  # strict=False: raw newlines/tabs inside strings
    found = []
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):  # not JSON; or nested deeper than the decoder's stack
            continue
        if _depth(value) <= MAX_JSON_DEPTH:
            found.append(value)
    return found


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The reply's JSON object: the first fenced block that parses (json-labelled blocks first),
    else the first parseable object anywhere in the text."""
    blocks = _FENCE.findall(text or "")
    ordered = [body for label, body in blocks if label.lower() == "json"]
    ordered += [body for label, body in blocks if label.lower() != "json"]
    for body in ordered:
        for value in _decode_all(body):
            if isinstance(value, dict):
                return value
    for value in _decode_all(text or ""):
        if isinstance(value, dict):
            return value
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _difficulty(value: Any) -> str | None:
    """"1".."5" as a string; accepts ints and "3.0"-style strings, rejects anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return str(int(number)) if number.is_integer() and 1 <= number <= 5 else None


def code_problem(code: str) -> Malformed | None:
    """Static checks before any sandbox time is spent: it parses and has the three methods."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return Malformed("syntax_error", f"task_family is not valid Python: {exc.msg} (line {exc.lineno})")
    except (MemoryError, RecursionError):  # deep nesting: past the parser's stack, or the AST builder's
        return Malformed("syntax_error", "task_family nests too deeply for the Python parser")
    families = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TaskFamily"]
    if not families:
        return Malformed("missing_method", "task_family defines no top-level class TaskFamily")
    family = families[-1]
    if family.bases:
        return None  # methods may be inherited; the sandbox checks them when it loads the task
    defined = {n.name for n in family.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [m for m in _REQUIRED_METHODS if m not in defined]
    if missing:
        return Malformed("missing_method", f"TaskFamily does not define {', '.join(missing)}")
    return None


def _unencodable(texts: Mapping[str, str | None]) -> str | None:
    """The first name whose text UTF-8 cannot encode: a lone surrogate, which JSON's "\\ud800"
    escape decodes to, could be neither parsed as Python nor written to disk."""
    for name, text in texts.items():
        try:
            (text or "").encode("utf-8")
        except UnicodeEncodeError:
            return name
    return None


def parse_reply(text: str) -> Proposal | Malformed:
    """A proposal from one reply, or why the reply cannot become one."""
    if len(text) > MAX_REPLY_CHARS:
        return Malformed("too_long", f"the reply has {len(text)} characters; at most {MAX_REPLY_CHARS} are read")
    data = extract_json_object(text)
    if data is None:
        return Malformed("no_json", "the reply has no JSON object (expected a ```json block)")
    code = data.get("task_family")
    if not isinstance(code, str) or not code.strip():
        return Malformed("bad_fields", "task_family is missing or not a string of Python code")
    difficulty = _difficulty(data.get("estimated_human_difficulty"))
    if difficulty is None:
        return Malformed("bad_fields", "estimated_human_difficulty must be one of 1, 2, 3, 4, 5")
    done = _as_bool(data.get("done", False))
    if done is None:
        return Malformed("bad_fields", f"done must be \"True\" or \"False\", got {data.get('done')!r}")
    try:
        card = TaskCard.from_mapping({**data, "estimated_human_difficulty": difficulty}, "reply")
    except UserError as exc:
        return Malformed("bad_fields", str(exc))
    if not card.name_of_task or not card.description_of_task:
        return Malformed("bad_fields", "name_of_task and description_of_task must not be empty")
    answer = data.get("known_good_answer")
    known = str(answer) if answer is not None and str(answer).strip() else None
    unencodable = _unencodable({**asdict(card), "task_family": code, "known_good_answer": known})
    if unencodable is not None:
        return Malformed("bad_fields", f"{unencodable} holds a lone surrogate (such as \\ud800), "
                         "which is not text; write plain Unicode characters")
    problem = code_problem(code)
    if problem is not None:
        return problem
    return Proposal(card, code, done, known)
