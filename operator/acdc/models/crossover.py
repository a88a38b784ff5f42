"""Crossover methods: our parameters -> a mergekit configuration (mergekit does the merge).

One small function per method, mirroring mergekit's own one-class-per-method design.
Each takes the parents, the base model and the user's parameters, draws whatever the
reference draws at random from the given generator, and returns the mergekit config
dict together with the drawn values (recorded in the child's recipe.json).

- ``linear``: the reference's default: per-parent weights w_i ~ N(1, std) (std 0.01),
  child = sum w_i theta_i / sum w_i (mergekit ``linear`` with normalize).
- ``slerp``: the reference's alternative: t = sigmoid(u), u ~ U(0, 1), spherical
  interpolation of the two parents' *task vectors* then added to the base
  (mergekit ``nuslerp`` with a base model and weights 1 - t, t).
- ``task_arithmetic``, ``ties``, ``dare_ties``, ``dare_linear``, ``breadcrumbs``:
  mergekit's task-vector family with a base model; per-parent weights drawn from
  N(``weight``, ``std``) (fixed at ``weight`` when ``std`` is 0), per-parent ``density``
  (``gamma`` for breadcrumbs), shared ``lambda`` and ``normalize``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from acdc.errors import PhaseError

Params = Mapping[str, Any]


@dataclass(frozen=True)
class CrossoverPlan:
    """What mergekit is asked to do, and the random draws that led to it."""

    mergekit_config: dict[str, Any]
    drawn: dict[str, Any]


PlanFn = Callable[[Sequence[str], str | None, Params, np.random.Generator], CrossoverPlan]


def _check_params(method: str, params: Params, allowed: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise PhaseError(f"crossover {method!r}: unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")
    return {**allowed, **params}


def _require_base(method: str, base_model: str | None) -> str:
    if not base_model:
        raise PhaseError(f"crossover {method!r} works on task vectors and needs a base_model")
    return base_model


def _linear(parents: Sequence[str], base_model: str | None, params: Params, rng: np.random.Generator) -> CrossoverPlan:
    p = _check_params("linear", params, {"std": 0.01})
    weights = [float(w) for w in rng.normal(1.0, abs(float(p["std"])), size=len(parents))]
    config = {
        "merge_method": "linear",
        "models": [{"model": path, "parameters": {"weight": w}} for path, w in zip(parents, weights, strict=True)],
        "parameters": {"normalize": True},
    }
    return CrossoverPlan(config, {"weights": weights})


def _slerp(parents: Sequence[str], base_model: str | None, params: Params, rng: np.random.Generator) -> CrossoverPlan:
    _check_params("slerp", params, {})
    if len(parents) != 2:
        raise PhaseError(f"crossover 'slerp' needs exactly 2 parents, got {len(parents)}")
    u = float(rng.uniform(0.0, 1.0))
    t = 1.0 / (1.0 + math.exp(-u))
    config = {
        "merge_method": "nuslerp",
        "base_model": _require_base("slerp", base_model),
        "models": [
            {"model": parents[0], "parameters": {"weight": 1.0 - t}},
            {"model": parents[1], "parameters": {"weight": t}},
        ],
    }
    return CrossoverPlan(config, {"u": u, "t": t})


def _task_vector_family(method: str, per_model: Mapping[str, Any], shared: Mapping[str, Any]) -> PlanFn:
    """Builder for mergekit's task-vector methods, which share one parameter layout."""

    def plan(parents: Sequence[str], base_model: str | None, params: Params, rng: np.random.Generator) -> CrossoverPlan:
        p = _check_params(method, params, {**per_model, **shared, "std": 0.0})
        weights = [float(w) for w in rng.normal(float(p["weight"]), abs(float(p["std"])), size=len(parents))]
        config = {
            "merge_method": method,
            "base_model": _require_base(method, base_model),
            "models": [
                {"model": path, "parameters": {**{k: p[k] for k in per_model}, "weight": w}}
                for path, w in zip(parents, weights, strict=True)
            ],
            "parameters": {k: p[k] for k in shared},
        }
        return CrossoverPlan(config, {"weights": weights} if p["std"] else {})

    return plan


CROSSOVERS: dict[str, PlanFn] = {
    "linear": _linear,
    "slerp": _slerp,
    "task_arithmetic": _task_vector_family("task_arithmetic", {"weight": 1.0}, {"lambda": 1.0, "normalize": False}),
    "ties": _task_vector_family("ties", {"weight": 1.0, "density": 0.5}, {"lambda": 1.0, "normalize": True}),
    "dare_ties": _task_vector_family("dare_ties", {"weight": 1.0, "density": 0.5}, {"lambda": 1.0, "normalize": True}),
    "dare_linear": _task_vector_family(
        "dare_linear", {"weight": 1.0, "density": 0.5}, {"lambda": 1.0, "normalize": True}
    ),
    "breadcrumbs": _task_vector_family(
        "breadcrumbs", {"weight": 1.0, "density": 0.9, "gamma": 0.01}, {"lambda": 1.0, "normalize": True}
    ),
}
"""Crossover method name -> planner. DARE's random drops use mergekit's seed option."""


def plan_crossover(
    method: str, parents: Sequence[str], base_model: str | None, params: Params, rng: np.random.Generator
) -> CrossoverPlan:
    """The mergekit plan for ``method`` (PhaseError for an unknown method or parameter)."""
    try:
        planner = CROSSOVERS[method]
    except KeyError:
        raise PhaseError(f"unknown crossover method {method!r}; known: {sorted(CROSSOVERS)}") from None
    if len(parents) < 2:
        raise PhaseError(f"crossover {method!r} needs at least 2 parents, got {len(parents)}")
    return planner(parents, base_model, params, rng)
