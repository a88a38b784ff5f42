"""Dominated Novelty Search (DNS) archive update, vectorised, as the reference defines it.

For a combined population P (archive members first, then new children, in that order)
with boolean skills b (|P| x T) and fitness f:

* fitter set F(x): the solutions fitter than x (see the tie rule below);
* d(x, y) for y in F(x): an asymmetric distance, see ``DNSParams`` and
  ``distance_matrix`` (skill ratio of tasks x solves and y fails, optionally
  difficulty weighted, relative to all tasks or to y's unsolved part; or Hamming);
* score(x) = mean of the k smallest d(x, y) over F(x) (k = min(k_neighbors, |F(x)|)),
  or ``dominated_score`` when F(x) is empty;
* survivors = the ``population_size`` highest scores, ties broken by list order.

Tie rule ("reference", the default): the reference walks P in list order with a flag
that flips at the first solution that has no strictly fitter one. Before the flip F(x)
uses strict ``f_y > f_x``; from then on it uses ``f_y >= f_x, y != x``. So exactly one
solution, the first of the fittest in list order, gets ``dominated_score``, and models
tied with a fitter one compare against each other only if they come after it. We
reproduce that exactly (it is order dependent: see the reference notes, sec. 3.5).
"strict" is the documented symmetric alternative: always ``f_y > f_x``, so every
solution of maximal fitness scores ``dominated_score``.

Duplicates (``penalize_duplicates``, off by default = the reference): with k >= 2 the
reference formula lets a clone of the fittest model outscore a model that holds a
skill nobody else has (the clone's mean mixes its 0 distance to its twin with larger
distances to others), so adding a clone can evict a unique skill holder. When on, a
row whose skill vector equals an earlier row's with at least its fitness scores 0:
it adds nothing the archive lacks, and any unique skill holder (score > 0) outranks it.

Arithmetic ("exact", the default; a deliberate deviation from the reference's float
arithmetic, see docs/reference-deviations.md): the weights w_t = fails_t / |P| share the
denominator |P|, which cancels in every ratio, so we work with the integer failure
counts. Every distance is then 100 * a / b for integers a, b summed exactly in the
matrix products (float32 when every sum stays below 2**24, float64 otherwise), and the
mean of the k nearest is taken as a fraction of integers and rounded once. So two
scores that are equal as rational numbers are the same double, and exactly tied scores
keep list order in the truncation (archive first). A float mean of rounded distances
would not give that: 100/3 + 200/3 and 0 + 100 can differ in the last bit.

"reference" arithmetic reproduces the reference bit for bit instead: float weights
w_t = fails_t / |P|, sums taken left to right in task order (as Python's ``sum``), each
ratio as ``unique / total * 100.0``, the k nearest summed in ascending order and divided
by k. Its scores differ from the exact ones by a few ulps; where the exact scores tie,
the reference's rounding noise decides the order, as it does in the reference. It costs
a pass over (|P| x T) per candidate, so it is meant for parity runs and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from acdc.engine.skills import failure_counts
from acdc.errors import UserError

TieRule = Literal["reference", "strict"]
Arithmetic = Literal["exact", "reference"]

_FLOAT32_EXACT_LIMIT = 2**24


@dataclass(frozen=True)
class DNSParams:
    """DNS settings; defaults are the reference's ``dns`` config group."""

    population_size: int = 16
    k_neighbors: int = 3
    dominated_score: float = 999.0
    use_skill_ratio: bool = True
    use_difficulty_weights: bool = True
    skill_ratio_to_full: bool = True
    use_top_fitness_selection: bool = False
    tie_rule: TieRule = "reference"
    penalize_duplicates: bool = False
    arithmetic: Arithmetic = "exact"

    def __post_init__(self) -> None:
        if self.population_size < 1:
            raise UserError(f"dns.population_size must be >= 1, got {self.population_size}")
        if self.k_neighbors < 1:
            raise UserError(f"dns.k_neighbors must be >= 1, got {self.k_neighbors}")
        if self.tie_rule not in ("reference", "strict"):
            raise UserError(f"dns.tie_rule must be 'reference' or 'strict', got {self.tie_rule!r}")
        if self.arithmetic not in ("exact", "reference"):
            raise UserError(f"dns.arithmetic must be 'exact' or 'reference', got {self.arithmetic!r}")


@dataclass(frozen=True)
class Selection:
    """Outcome of an archive update over the combined population (archive first, then new).

    ``survivors`` are row indices in rank order (best first); ``scores`` holds every
    row's survival score (the DNS score, or the fitness for top-fitness selection).
    """

    survivors: tuple[int, ...]
    scores: tuple[float, ...]

    def evicted(self) -> tuple[int, ...]:
        kept = set(self.survivors)
        return tuple(i for i in range(len(self.scores)) if i not in kept)


def _exact_dtype(total: int) -> type[np.floating]:
    return np.float32 if total < _FLOAT32_EXACT_LIMIT else np.float64


def distance_matrix(skills: np.ndarray, params: DNSParams) -> np.ndarray:
    """d[x, y] for every ordered pair of the population (x = candidate, y = fitter one).

    With U(x, y) = tasks x solves and y fails, and c_t the integer task weight (the
    number of models failing t when difficulty weighted, else 1):
    skill ratio to full: 100 * sum_U c / sum_all c; to y's unsolved part:
    100 * sum_U c / sum_{t: not b_y} c (0 when the denominator is 0);
    without skill ratio: the Hamming distance (weights unused, as in the reference).
    """
    numerator, denominator = _distance_fractions(skills, params)
    out = np.zeros_like(numerator)
    np.divide(100.0 * numerator, denominator, out=out, where=denominator > 0)
    return out


def _distance_fractions(skills: np.ndarray, params: DNSParams) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with d[x, y] = 100 * a / b (0 where b is 0); a Hamming distance is 100 * d / 100.

    Both hold integers (as float64, exact below 2**53), which is what lets ``dns_scores``
    take the k-mean without rounding each distance first.
    """
    skills = np.asarray(skills, dtype=bool)
    n_tasks = skills.shape[1]
    if params.use_skill_ratio and params.use_difficulty_weights:
        weight = failure_counts(skills)
    else:
        weight = np.ones(n_tasks, dtype=np.int64)
    total = int(weight.sum())
    dtype = _exact_dtype(total)
    solved = skills.astype(dtype)
    weighted = solved * weight.astype(dtype)
    shared = weighted @ solved.T  # shared[x, y] = sum of c_t over tasks both solve
    own = weighted.sum(axis=1, dtype=np.float64)  # sum of c_t over tasks x solves (exact)
    shared = shared.astype(np.float64)
    if not params.use_skill_ratio:
        hamming = own[:, None] + own[None, :] - 2.0 * shared
        return hamming, np.full_like(hamming, 100.0)
    only_x = own[:, None] - shared
    if params.skill_ratio_to_full:
        denominator = np.full(skills.shape[0], float(total))
    else:
        denominator = float(total) - own
    return only_x, np.broadcast_to(denominator[None, :], only_x.shape)


def _reference_distances(skills: np.ndarray, params: DNSParams) -> np.ndarray:
    """d[x, y] computed with the reference's float operations, in its order (see the module doc)."""
    n, n_tasks = skills.shape
    if not params.use_skill_ratio:
        hamming: np.ndarray = (skills[:, None, :] != skills[None, :, :]).sum(axis=2).astype(np.float64)
        return hamming
    unsolved = ~skills
    out = np.zeros((n, n))
    if params.use_difficulty_weights:
        weights = unsolved.sum(axis=0) / n  # the reference's w_t, one rounding each
        # np.cumsum adds left to right like Python's sum; adding 0.0 for a skipped task is exact.
        if params.skill_ratio_to_full:
            totals = np.full(n, np.cumsum(weights)[-1] if n_tasks else 0.0)
        else:
            totals = np.cumsum(np.where(unsolved, weights, 0.0), axis=1)[:, -1] if n_tasks else np.zeros(n)
        for x in range(n):
            only_x = skills[x][None, :] & unsolved
            unique = np.cumsum(np.where(only_x, weights, 0.0), axis=1)[:, -1] if n_tasks else np.zeros(n)
            np.divide(unique, totals, out=out[x], where=totals != 0)
        return out * 100.0
    counts = (skills[:, None, :] & unsolved[None, :, :]).sum(axis=2).astype(np.float64)
    totals = np.full(n, float(n_tasks)) if params.skill_ratio_to_full else unsolved.sum(axis=1).astype(np.float64)
    totals = np.broadcast_to(totals[None, :], counts.shape)
    np.divide(counts, totals, out=out, where=totals != 0)
    return out * 100.0


def fitter_mask(fitness: np.ndarray, tie_rule: TieRule = "reference") -> np.ndarray:
    """mask[x, y] is True when y belongs to F(x); see the module docstring for the tie rule."""
    fitness = np.asarray(fitness, dtype=np.float64)
    strict = fitness[None, :] > fitness[:, None]
    if tie_rule == "strict" or fitness.size == 0:
        return strict
    first_best = int(np.argmax(fitness))
    loose = fitness[None, :] >= fitness[:, None]
    np.fill_diagonal(loose, False)
    mask = strict.copy()
    mask[first_best + 1 :] = loose[first_best + 1 :]
    return mask


def dns_scores(skills: np.ndarray, fitness: np.ndarray, params: DNSParams) -> np.ndarray:
    """Dominated-novelty score of every row of the population."""
    skills = np.asarray(skills, dtype=bool)
    fitness = np.asarray(fitness, dtype=np.float64)
    n = skills.shape[0]
    if fitness.shape != (n,):
        raise UserError(f"fitness has shape {fitness.shape}, expected ({n},) to match the skill matrix")
    if n and not np.all(np.isfinite(fitness)):
        raise UserError("fitness values must be finite numbers")
    if n == 0:
        return np.zeros(0)
    mask = fitter_mask(fitness, params.tie_rule)
    n_fitter = mask.sum(axis=1)
    k = min(params.k_neighbors, n)
    k_used = np.minimum(n_fitter, params.k_neighbors)
    scores = np.full(n, float(params.dominated_score))
    has_fitter = n_fitter > 0
    if params.arithmetic == "reference":
        distances = np.where(mask, _reference_distances(skills, params), np.inf)
        nearest = np.sort(np.partition(distances, k - 1, axis=1)[:, :k], axis=1)
        nearest = np.where(np.arange(k)[None, :] < k_used[:, None], nearest, 0.0)
        running = np.cumsum(nearest, axis=1)  # ascending, left to right, as the reference sums
        rows = np.flatnonzero(has_fitter)
        scores[rows] = running[rows, k_used[rows] - 1] / k_used[rows]
    else:
        numerator, denominator = _distance_fractions(skills, params)
        distances = np.zeros_like(numerator)
        np.divide(100.0 * numerator, denominator, out=distances, where=denominator > 0)
        distances = np.where(mask, distances, np.inf)
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]  # the k smallest, in any order
        for x in np.flatnonzero(has_fitter):
            columns = nearest[x] if k_used[x] == k else nearest[x][np.isfinite(distances[x, nearest[x]])]
            scores[x] = _exact_mean(numerator[x], denominator[x], columns)
    if params.penalize_duplicates:
        scores[duplicate_rows(skills, fitness)] = 0.0
    return scores


def _exact_mean(numerator: np.ndarray, denominator: np.ndarray, columns: np.ndarray) -> float:
    """mean over ``columns`` of 100 * a / b as one correctly rounded double (0 where b is 0).

    Choosing the k nearest by their rounded distances is safe: two distinct fractions with
    denominators below 2**26 are further apart than a double's spacing below 128.
    """
    total = sum((Fraction(100 * int(numerator[y]), int(denominator[y])) for y in columns if denominator[y] > 0),
                Fraction(0))
    return float(total / len(columns))


def duplicate_rows(skills: np.ndarray, fitness: np.ndarray) -> np.ndarray:
    """Rows whose skill vector equals an earlier row's that is at least as fit."""
    packed = np.packbits(np.asarray(skills, dtype=bool), axis=1)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel() if packed.shape[1] else np.zeros(len(packed))
    _, group = np.unique(keys, return_inverse=True)
    duplicate = np.zeros(len(fitness), dtype=bool)
    best_so_far: dict[int, float] = {}
    for row, g in enumerate(group.tolist()):
        if g in best_so_far and best_so_far[g] >= fitness[row]:
            duplicate[row] = True
        best_so_far[g] = max(best_so_far.get(g, -np.inf), float(fitness[row]))
    return duplicate


def _truncate(keys: np.ndarray, size: int) -> tuple[int, ...]:
    """Highest keys first; equal keys keep list order (the reference's stable sort)."""
    order = np.argsort(-keys, kind="stable")
    return tuple(int(i) for i in order[:size])


def update_archive(skills: np.ndarray, fitness: np.ndarray, params: DNSParams) -> Selection:
    """Archive update over archive+new rows: DNS, or the top-fitness baseline if configured."""
    fitness = np.asarray(fitness, dtype=np.float64)
    if params.use_top_fitness_selection:
        return top_fitness_selection(fitness, params.population_size)
    scores = dns_scores(skills, fitness, params)
    return Selection(_truncate(scores, params.population_size), tuple(float(s) for s in scores))


def top_fitness_selection(fitness: np.ndarray, population_size: int) -> Selection:
    """The reference's elitist ablation: keep the fittest, ties in list order."""
    fitness = np.asarray(fitness, dtype=np.float64)
    return Selection(_truncate(fitness, population_size), tuple(float(f) for f in fitness))
