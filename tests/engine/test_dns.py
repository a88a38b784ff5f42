"""DNS: hand-computed examples from the reference formulas, the plain oracle, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acdc.engine.dns import (
    DNSParams,
    distance_matrix,
    dns_scores,
    top_fitness_selection,
    update_archive,
)
from acdc.errors import UserError
from tests.engine.plain_dns import plain_dns_scores, plain_truncate


def _bits(*rows: str) -> np.ndarray:
    return np.array([[c == "1" for c in row] for row in rows], dtype=bool)


def test_reference_tie_example_order_archive_first() -> None:
    # Reference sec. 3.5: A (0.5, 1100), B (0.5, 1010), C (0.75, 1110), order [A, B, C]:
    # A and B only compare against C (strict >) and both score 0.
    skills = _bits("1100", "1010", "1110")
    scores = dns_scores(skills, np.array([0.5, 0.5, 0.75]), DNSParams())
    assert scores.tolist() == [0.0, 0.0, 999.0]


def test_reference_tie_example_fittest_first() -> None:
    # Order [C, A, B]: the flag flips at C, so A and B also compare against each other.
    # weights: t1 0, t2 1/3 (B fails), t3 1/3 (A fails), t4 1 -> sum 5/3.
    # d(A, B) = 100 * (1/3) / (5/3) = 20, d(A, C) = 0 -> mean of 2 = 10; same for B.
    skills = _bits("1110", "1100", "1010")
    scores = dns_scores(skills, np.array([0.75, 0.5, 0.5]), DNSParams())
    assert scores.tolist() == [999.0, 10.0, 10.0]


def test_strict_tie_rule_is_order_free() -> None:
    params = DNSParams(tie_rule="strict")
    a = dns_scores(_bits("1100", "1010", "1110"), np.array([0.5, 0.5, 0.75]), params)
    b = dns_scores(_bits("1110", "1100", "1010"), np.array([0.75, 0.5, 0.5]), params)
    assert a.tolist() == [0.0, 0.0, 999.0]
    assert b.tolist() == [999.0, 0.0, 0.0]
    tied_best = dns_scores(_bits("10", "01"), np.array([0.5, 0.5]), params)
    assert tied_best.tolist() == [999.0, 999.0]


@pytest.mark.parametrize(
    ("ratio", "weighted", "to_full", "expected"),
    [
        # x = 1100, y = 1010 (y fitter), z = 0000 makes weights non-trivial:
        # fails: t1 1, t2 2, t3 2, t4 3 -> w = (1/3, 2/3, 2/3, 1), sum 8/3.
        (True, True, True, 100 * (2 / 3) / (8 / 3)),  # U = {t2}
        (True, True, False, 100 * (2 / 3) / (2 / 3 + 1)),  # y fails t2, t4
        (True, False, True, 100 * 1 / 4),
        (True, False, False, 100 * 1 / 2),
        (False, True, True, 2.0),  # Hamming: t2, t3 differ
    ],
)
def test_distance_variants_match_hand_computation(ratio: bool, weighted: bool, to_full: bool, expected: float) -> None:
    params = DNSParams(use_skill_ratio=ratio, use_difficulty_weights=weighted, skill_ratio_to_full=to_full)
    d = distance_matrix(_bits("1100", "1010", "0000"), params)
    assert d[0, 1] == pytest.approx(expected, rel=1e-12)


def test_k_nearest_limits_the_mean() -> None:
    # x = 1000 with four fitter ones; unweighted ratio to full (T = 4): x solves t1,
    # which only the first fitter lacks -> distances 25, 0, 0, 0; k=1 -> 0; k=4 -> 6.25.
    skills = _bits("1000", "0111", "1111", "1110", "1101")
    fitness = np.array([0.25, 0.75, 1.0, 0.75, 0.75])
    base = {"use_difficulty_weights": False}
    assert dns_scores(skills, fitness, DNSParams(k_neighbors=1, **base))[0] == 0.0
    assert dns_scores(skills, fitness, DNSParams(k_neighbors=4, **base))[0] == pytest.approx(6.25)


def test_top_fitness_baseline_keeps_fittest_in_list_order() -> None:
    sel = top_fitness_selection(np.array([0.2, 0.9, 0.5, 0.9]), 3)
    assert sel.survivors == (1, 3, 2)
    assert sel.evicted() == (0,)
    via_params = update_archive(
        np.zeros((4, 0), bool),
        np.array([0.2, 0.9, 0.5, 0.9]),
        DNSParams(population_size=3, use_top_fitness_selection=True),
    )
    assert via_params == sel


def test_empty_population_and_no_tasks() -> None:
    assert update_archive(np.zeros((0, 5), bool), np.zeros(0), DNSParams()).survivors == ()
    sel = update_archive(np.zeros((3, 0), bool), np.array([0.1, 0.2, 0.3]), DNSParams(population_size=2))
    assert sel.survivors == (2, 0)  # fittest 999, others tie at 0 -> list order


def test_bad_params_and_inputs_are_user_errors() -> None:
    with pytest.raises(UserError, match="population_size"):
        DNSParams(population_size=0)
    with pytest.raises(UserError, match="k_neighbors"):
        DNSParams(k_neighbors=0)
    with pytest.raises(UserError, match="finite"):
        dns_scores(_bits("1", "0"), np.array([0.5, np.nan]), DNSParams())
    with pytest.raises(UserError, match="shape"):
        dns_scores(_bits("1", "0"), np.array([0.5]), DNSParams())


@st.composite
def populations(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 9))
    t = draw(st.integers(0, 8))
    flat = draw(st.lists(st.booleans(), min_size=n * t, max_size=n * t))
    skills = np.array(flat, dtype=bool).reshape(n, t)
    # fitness = pass rate, as in the engine, so ties are frequent (the interesting case)
    fitness = skills.mean(axis=1) if t else np.zeros(n)
    return skills, fitness


param_sets = st.builds(
    DNSParams,
    population_size=st.integers(1, 6),
    k_neighbors=st.integers(1, 4),
    use_skill_ratio=st.booleans(),
    use_difficulty_weights=st.booleans(),
    skill_ratio_to_full=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(populations(), param_sets)
def test_matches_plain_per_pair_oracle(pop: tuple[np.ndarray, np.ndarray], params: DNSParams) -> None:
    skills, fitness = pop
    expected = plain_dns_scores(
        skills.tolist(),
        fitness.tolist(),
        k_neighbors=params.k_neighbors,
        dominated_score=params.dominated_score,
        use_skill_ratio=params.use_skill_ratio,
        use_difficulty_weights=params.use_difficulty_weights,
        skill_ratio_to_full=params.skill_ratio_to_full,
    )
    got = dns_scores(skills, fitness, params)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # same survivors once float noise in the oracle is rounded away
    assert update_archive(skills, fitness, params).survivors == tuple(
        plain_truncate([round(s, 9) for s in expected], params.population_size)
    )


@settings(max_examples=100, deadline=None)
@given(populations(), param_sets)
def test_solution_without_fitter_one_always_survives(pop: tuple[np.ndarray, np.ndarray], params: DNSParams) -> None:
    skills, fitness = pop
    sel = update_archive(skills, fitness, params)
    best = int(np.argmax(fitness))  # first of the fittest in list order
    assert best in sel.survivors
    assert sel.scores[best] == params.dominated_score


def _with_unique_holder_and_clone(pop: tuple[np.ndarray, np.ndarray], data: st.DataObject):
    """Give one row a skill nobody else has, then append a clone of another row."""
    skills, _ = pop
    n = skills.shape[0]
    holder = data.draw(st.integers(0, n - 1), label="holder")
    skills = np.hstack([skills, np.zeros((n, 1), bool)])
    skills[holder, -1] = True
    fitness = skills.mean(axis=1)
    others = [i for i in range(n) if i != holder]
    source = data.draw(st.sampled_from(others), label="clone of") if others else None
    return skills, fitness, holder, source


@settings(max_examples=100, deadline=None)
@given(populations(), st.booleans(), st.data())
def test_dominated_clone_never_evicts_unique_skill_holder_k1(pop, weighted: bool, data: st.DataObject) -> None:
    # Under the reference formula this holds for k = 1: the clone's nearest fitter-or-equal
    # neighbour is its twin (distance 0), while every neighbour of the holder lacks its skill.
    skills, fitness, holder, source = _with_unique_holder_and_clone(pop, data)
    if source is None:
        return
    params = DNSParams(population_size=len(fitness), k_neighbors=1, use_difficulty_weights=weighted)
    grown = np.vstack([skills, skills[source]])
    assert holder in update_archive(grown, np.append(fitness, fitness[source]), params).survivors


@settings(max_examples=100, deadline=None)
@given(populations(), st.integers(1, 4), param_sets, st.data())
def test_dominated_clone_never_evicts_unique_skill_holder_with_duplicate_penalty(
    pop, k: int, base: DNSParams, data: st.DataObject
) -> None:
    skills, fitness, holder, source = _with_unique_holder_and_clone(pop, data)
    if source is None:
        return
    params = DNSParams(
        population_size=len(fitness),
        k_neighbors=k,
        penalize_duplicates=True,
        use_skill_ratio=base.use_skill_ratio,
        use_difficulty_weights=base.use_difficulty_weights,
        skill_ratio_to_full=base.skill_ratio_to_full,
    )
    grown = np.vstack([skills, skills[source]])
    assert holder in update_archive(grown, np.append(fitness, fitness[source]), params).survivors


def test_reference_formula_lets_a_clone_evict_a_unique_holder_when_k_is_2() -> None:
    # Found by search; documents why penalize_duplicates exists. Row 1 alone solves the
    # last task; a clone of the fittest row 2 scores mean(0, 25.6) = 12.8 > row 1's 9.3.
    skills = _bits("011000000010", "100000000001", "100110100000", "001001001010")
    fitness = skills.mean(axis=1)
    grown, grown_fitness = np.vstack([skills, skills[2]]), np.append(fitness, fitness[2])
    assert 1 not in update_archive(grown, grown_fitness, DNSParams(population_size=4, k_neighbors=2)).survivors
    fixed = DNSParams(population_size=4, k_neighbors=2, penalize_duplicates=True)
    sel = update_archive(grown, grown_fitness, fixed)
    assert 1 in sel.survivors and sel.evicted() == (4,)


@settings(max_examples=30, deadline=None)
@given(populations(), param_sets)
def test_deterministic(pop: tuple[np.ndarray, np.ndarray], params: DNSParams) -> None:
    skills, fitness = pop
    assert update_archive(skills, fitness, params) == update_archive(skills.copy(), fitness.copy(), params)


@pytest.mark.parametrize("float32_limit", [2**24, 0], ids=["float32-path", "float64-path"])
def test_exact_sums_in_both_precision_paths(monkeypatch: pytest.MonkeyPatch, float32_limit: int) -> None:
    monkeypatch.setattr("acdc.engine.dns._FLOAT32_EXACT_LIMIT", float32_limit)
    rng = np.random.default_rng(7)
    skills = rng.random((40, 3000)) < 0.5
    # duplicated rows create exact ties that must stay ties (same survivors as the oracle)
    dup = np.vstack([skills, skills[:5]])
    fitness = dup.mean(axis=1)
    scores = dns_scores(dup, fitness, DNSParams())
    expected = plain_dns_scores(dup.tolist(), fitness.tolist())
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert update_archive(dup, fitness, DNSParams(population_size=20)).survivors == tuple(
        plain_truncate([round(s, 9) for s in expected], 20)
    )


def _rational_scores(skills: np.ndarray, fitness: np.ndarray, params: DNSParams) -> list[float]:
    """The reference formulas in exact rational arithmetic, each score rounded once at the end."""
    from fractions import Fraction

    from acdc.engine.dns import fitter_mask

    n, n_tasks = skills.shape
    fails = [int((~skills[:, t]).sum()) for t in range(n_tasks)]
    weights = [Fraction(f, n) if params.use_difficulty_weights else Fraction(1) for f in fails]

    def distance(x: int, y: int) -> Fraction:
        if not params.use_skill_ratio:
            return Fraction(int((skills[x] != skills[y]).sum()))
        only_x = sum((weights[t] for t in range(n_tasks) if skills[x, t] and not skills[y, t]), Fraction(0))
        total = sum((weights[t] for t in range(n_tasks) if params.skill_ratio_to_full or not skills[y, t]), Fraction(0))
        return 100 * only_x / total if total else Fraction(0)

    mask = fitter_mask(fitness, params.tie_rule)
    scores = []
    for x in range(n):
        fitter = sorted(distance(x, y) for y in range(n) if mask[x, y])[: params.k_neighbors]
        scores.append(float(sum(fitter, Fraction(0)) / len(fitter)) if fitter else params.dominated_score)
    return scores


@settings(max_examples=150, deadline=None)
@given(populations(), param_sets)
def test_exact_arithmetic_rounds_each_score_once(pop: tuple[np.ndarray, np.ndarray], params: DNSParams) -> None:
    """Scores equal as rational numbers are the same double, so exact ties are real ties."""
    skills, fitness = pop
    assert dns_scores(skills, fitness, params).tolist() == _rational_scores(skills, fitness, params)


@settings(max_examples=150, deadline=None)
@given(populations(), param_sets)
def test_reference_arithmetic_is_the_references_bit_for_bit(pop: tuple[np.ndarray, np.ndarray], params: DNSParams) -> None:
    """The plain oracle does the reference's float operations in its order (Python sums, left to right)."""
    skills, fitness = pop
    expected = plain_dns_scores(
        skills.tolist(), fitness.tolist(), k_neighbors=params.k_neighbors, dominated_score=params.dominated_score,
        use_skill_ratio=params.use_skill_ratio, use_difficulty_weights=params.use_difficulty_weights,
        skill_ratio_to_full=params.skill_ratio_to_full,
    )
    reference = DNSParams(**{**params.__dict__, "arithmetic": "reference"})
    assert dns_scores(skills, fitness, reference).tolist() == expected
    assert update_archive(skills, fitness, reference).survivors == tuple(plain_truncate(expected, params.population_size))


def test_exact_ties_keep_list_order_where_the_reference_rounding_decides() -> None:
    """Found by search: rows 0, 2 and 4 all score exactly 10 (k = 3, ratio to full); the
    reference's float sums make row 4 10.000000000000002, so it evicts row 2 instead of row 4."""
    skills = _bits("10101", "01101", "10101", "11110", "10110", "10111")
    fitness = skills.mean(axis=1)
    exact = DNSParams(population_size=5)
    assert dns_scores(skills, fitness, exact)[[0, 2, 4]].tolist() == [10.0, 10.0, 10.0]
    assert update_archive(skills, fitness, exact).evicted() == (4,)
    reference = DNSParams(population_size=5, arithmetic="reference")
    assert dns_scores(skills, fitness, reference)[4] > 10.0
    assert update_archive(skills, fitness, reference).evicted() == (2,)


def test_unknown_arithmetic_is_a_user_error() -> None:
    with pytest.raises(UserError, match="arithmetic"):
        DNSParams(arithmetic="approximate")  # type: ignore[arg-type]
