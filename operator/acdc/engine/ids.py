"""Identifiers for models and tasks, and the canonical task order.

Every engine structure is keyed by these strings, so their format is fixed in one
place: evolved models ``gen_{g:04d}_ind_{i:02d}``, seed models ``seed_{name}`` (seeds are
referenced in place, never copied), tasks ``task_{n:06d}_{slug}``. The canonical task
order is ascending task number ``n``, as in the reference (``get_ordered_task_ids``),
because skill vectors are compared position by position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from acdc.errors import UserError

_MODEL_RE = re.compile(r"^gen_(\d{4,})_ind_(\d{2,})$")
_SEED_RE = re.compile(r"^seed_[A-Za-z0-9][A-Za-z0-9._-]*$")
_TASK_RE = re.compile(r"^task_(\d{6,})_([a-z0-9][a-z0-9_]*)$")
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def model_id(generation: int, index: int) -> str:
    """Id of the ``index``-th child made in ``generation``."""
    if generation < 0 or index < 0:
        raise UserError(f"model id needs non-negative generation and index, got {generation}, {index}")
    return f"gen_{generation:04d}_ind_{index:02d}"


def seed_model_id(name: str) -> str:
    """Id of a seed model; the name is kept so users recognise their checkpoints."""
    candidate = f"seed_{name}"
    if not _SEED_RE.match(candidate):
        raise UserError(f"seed model name {name!r} must be letters, digits, '.', '_' or '-'")
    return candidate


def is_seed_model(mid: str) -> bool:
    return bool(_SEED_RE.match(mid)) and not _MODEL_RE.match(mid)


def model_index(mid: str) -> int:
    """An evolved model's index in its generation (``gen_0003_ind_05``: 5), its DAG steps' index too."""
    match = _MODEL_RE.match(mid)
    if not match:
        raise UserError(f"not an evolved model id: {mid!r} (expected gen_NNNN_ind_NN)")
    return int(match.group(2))


def model_generation(mid: str) -> int | None:
    """Generation an evolved model was made in; None for seeds (they predate the run)."""
    match = _MODEL_RE.match(mid)
    if match:
        return int(match.group(1))
    if is_seed_model(mid):
        return None
    raise UserError(f"not a model id: {mid!r} (expected gen_GGGG_ind_II or seed_NAME)")


def slugify(name: str) -> str:
    """Lower-case, underscore-separated slug; never empty so ids stay parseable."""
    slug = _SLUG_STRIP.sub("_", name.lower()).strip("_")
    return slug[:48].rstrip("_") or "task"


def task_id(number: int, name: str) -> str:
    if number < 0:
        raise UserError(f"task number must be non-negative, got {number}")
    return f"task_{number:06d}_{slugify(name)}"


def is_task_id(name: str) -> bool:
    return _TASK_RE.match(name) is not None


def task_number(tid: str) -> int:
    """The run-global counter value embedded in a task id."""
    match = _TASK_RE.match(tid)
    if not match:
        raise UserError(f"not a task id: {tid!r} (expected task_NNNNNN_slug)")
    return int(match.group(1))


def canonical_task_order(task_ids: Iterable[str]) -> list[str]:
    """Distinct task ids sorted by task number (the order skill vectors use)."""
    unique = set(task_ids)
    numbers: dict[int, str] = {}
    for tid in unique:
        number = task_number(tid)
        if number in numbers:
            raise UserError(f"two tasks share number {number}: {numbers[number]!r} and {tid!r}")
        numbers[number] = tid
    return [numbers[n] for n in sorted(numbers)]
