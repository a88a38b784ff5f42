"""The generation DAG shared by the runner and the operator."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acdc.phases.dag import DagShape, generation_complete, run_finished, skipped, steps_of
from acdc.phases.dag_actions import SKIPPED, give_up, next_actions
from acdc.steps import Phase, Step, StepRecord

SHAPE = DagShape(seeds=3, seeds_in_archive=True, initial_size=5, children_per_generation=2, adaptation_interval=2, generations=2)


def drive(shape: DagShape, fail: set[str] = frozenset(), archive: int = 3) -> tuple[list[list[str]], dict]:
    """Play an executor that finishes every ready step at once; return the waves of step names."""
    done: dict[str, StepRecord] = {}
    waves, generation = [], 0
    for _ in range(200):
        actions = next_actions(shape, generation, done)
        done.update((step.name, SKIPPED) for step in actions.skip)
        if actions.finish:
            return waves, done
        if actions.close:
            generation += 1
            continue
        assert not actions.stalled and actions.launch, f"stuck in generation {generation}: {sorted(done)}"
        waves.append([s.name for s in actions.launch])
        for step in actions.launch:
            result = {"archive": archive} if step.phase is Phase.TASKS else {}
            done[step.name] = StepRecord("dropped" if step.name in fail else "succeeded", result)
    raise AssertionError("did not finish")


def test_generation_zero_evaluates_seeds_without_merging_and_waits_for_the_pool() -> None:
    waves, _ = drive(SHAPE)
    assert waves[0] == ["g0000-init"]
    assert waves[1] == ["g0000-tasks", "g0000-plan"]
    assert "g0000-merge-00" not in sum(waves, [])
    assert {"g0000-merge-03", "g0000-merge-04", "g0000-evaluate-00"} <= set(waves[2])


def test_adaptation_generation_reevaluates_each_archive_member_then_syncs() -> None:
    waves, done = drive(SHAPE, archive=4)
    flat = sum(waves, [])
    assert [n for n in flat if n.startswith("g0002-reevaluate")] == [f"g0002-reevaluate-{k:02d}" for k in range(4)]
    assert flat[-1] == "g0002-sync"
    assert "g0001-tasks" not in flat  # generation 1 does not adapt (interval 2)


def test_dropped_child_skips_its_dependants_but_not_selection() -> None:
    _, done = drive(SHAPE, fail={"g0001-merge-01"})
    assert done["g0001-evaluate-01"].status == "dropped"
    assert done["g0001-score-01"].status == "dropped"
    assert done["g0001-select"].status == "succeeded"


def test_a_dropped_merge_skips_evaluate_and_score_in_one_call() -> None:
    """One call must return the whole cascade, or an executor with nothing else running stalls."""
    done = {name: StepRecord("succeeded", {}) for name in ("g0001-plan", "g0001-merge-00")}
    done["g0001-merge-01"] = StepRecord("dropped", {"rejected": "gibberish"})
    assert [s.name for s in skipped(SHAPE, 1, done)] == ["g0001-evaluate-01", "g0001-score-01"]


def test_every_step_runs_exactly_once() -> None:
    waves, done = drive(SHAPE)
    flat = sum(waves, [])
    assert len(flat) == len(set(flat))
    assert all(record.status == "succeeded" for record in done.values())


def test_unbounded_run_never_finishes() -> None:
    shape = DagShape(1, True, 1, 1, 0, None)
    done = {f"g0000-{p}": StepRecord("succeeded", {}) for p in ("init", "tasks", "plan", "select")}
    done["g0000-evaluate-00"] = done["g0000-score-00"] = StepRecord("succeeded", {})
    assert generation_complete(shape, 0, done)
    assert not run_finished(shape, 0, done)


@pytest.mark.parametrize("step", [Step(0, Phase.INIT), Step(12, Phase.MERGE, 7), Step(3, Phase.RESCORE, 15)])
def test_step_names_round_trip(step: Step) -> None:
    assert Step.parse(step.name) == step
    assert step.argv("/state")[:3] == ["acdc", "phase", step.phase.value]


def test_only_per_model_steps_are_droppable() -> None:
    assert {p for p in Phase if p.droppable} == {Phase.MERGE, Phase.EVALUATE, Phase.SCORE, Phase.REEVALUATE, Phase.RESCORE}


def test_running_steps_are_not_launched_again_and_a_generation_without_work_is_stalled() -> None:
    done = {"g0001-plan": StepRecord("succeeded", {})}
    actions = next_actions(SHAPE, 1, done, running={"g0001-merge-00"})
    assert [s.name for s in actions.launch] == ["g0001-merge-01"] and not actions.stalled
    assert next_actions(SHAPE, 1, done, running={"g0001-merge-00", "g0001-merge-01"}).launch == ()
    shape = DagShape(0, False, 1, 1, 0, 3)
    broken = {f"g0001-{name}": StepRecord("succeeded", {}) for name in ("plan", "merge-00", "evaluate-00", "score-00")}
    broken["g0001-select"] = StepRecord("dropped", {})  # a closing step recorded dropped: damaged records
    assert next_actions(shape, 1, broken).stalled


def test_skips_are_returned_with_the_launches_they_unblock() -> None:
    """One call: the cascade is skipped and select (waiting on the lost score) may start."""
    shape = DagShape(0, False, 1, 1, 0, 3)
    done = {"g0001-plan": StepRecord("succeeded", {}), "g0001-merge-00": StepRecord("dropped", {})}
    actions = next_actions(shape, 1, done)
    assert [s.name for s in actions.skip] == ["g0001-evaluate-00", "g0001-score-00"]
    assert [s.name for s in actions.launch] == ["g0001-select"]


def test_given_up_per_model_step_is_dropped_with_its_reason_and_others_fail_the_run() -> None:
    record = give_up(Step(2, Phase.EVALUATE, 1), "BackoffLimitExceeded", "out of memory\ntraceback ...")
    assert record == StepRecord("dropped", {"failed": "BackoffLimitExceeded", "message": "out of memory"})
    assert give_up(Step(2, Phase.SELECT), "BackoffLimitExceeded", "") is None


def test_adaptation_interval_is_the_references() -> None:
    """The pool adapts when g % interval == 0 for g >= 1; interval 0 never adapts."""
    shape = DagShape(seeds=3, seeds_in_archive=True, initial_size=5, children_per_generation=2,
                     adaptation_interval=5, generations=None)
    assert [g for g in range(12) if shape.adapts(g)] == [5, 10]
    never = DagShape(seeds=3, seeds_in_archive=True, initial_size=5, children_per_generation=2,
                     adaptation_interval=0, generations=None)
    assert not any(never.adapts(g) for g in range(12))


def test_every_k_generations_the_committed_archive_is_benchmarked_before_the_generation_closes() -> None:
    from dataclasses import replace

    shape = replace(SHAPE, generations=4, benchmark_interval=2)
    waves, done = drive(shape)
    flat = sum(waves, [])
    assert [n for n in flat if n.endswith("-benchmark")] == ["g0002-benchmark", "g0004-benchmark"]
    assert flat.index("g0002-benchmark") > flat.index("g0002-sync")  # g2 adapts: after its commit (sync)
    assert flat.index("g0004-benchmark") > flat.index("g0004-sync")
    assert flat.index("g0003-plan") > flat.index("g0002-benchmark")  # the generation closes only after it
    view = {k: v for k, v in done.items() if k != "g0002-benchmark"}
    assert not generation_complete(shape, 2, view) and generation_complete(shape, 2, done)
    assert next_actions(shape, 2, view).launch == (Step(2, Phase.BENCHMARK),)
    assert Phase.BENCHMARK.resource_class == "evaluate" and not Phase.BENCHMARK.droppable
    assert "g0002-benchmark" not in sum(drive(SHAPE)[0], [])  # interval 0: never


def test_a_written_plan_counts_its_generations_children_whatever_the_spec_says_now() -> None:
    """childrenPerGeneration edited between a kill and the resume: the plan's children are
    still merged (an audit's resume left two planned children unmerged and exited 0)."""
    planned = {"g0001-plan": StepRecord("succeeded", {"children": 3})}
    fewer = replace(SHAPE, children_per_generation=1)
    merges = [step.name for step, _ in steps_of(fewer, 1, planned) if step.phase is Phase.MERGE]
    assert merges == ["g0001-merge-00", "g0001-merge-01", "g0001-merge-02"]
    assert [step.name for step, _ in steps_of(fewer, 1, {}) if step.phase is Phase.MERGE] == ["g0001-merge-00"]
