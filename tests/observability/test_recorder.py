"""What executors report turns into the right series, once per step."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from acdc.metrics import METRIC_NAMES, MetricFamilies, MetricsRecorder, exported_series
from acdc.steps import Phase, Step, StepRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rec() -> MetricsRecorder:
    return MetricsRecorder(MetricFamilies(CollectorRegistry()), clock=Clock())


def value(rec: MetricsRecorder, name: str, **labels: str) -> float | None:
    return rec.families.registry.get_sample_value(name, {"namespace": "ns", "run": "r", **labels})


def test_merge_outcomes_count_children_once(rec):
    rec.record_step("ns", "r", Step(1, Phase.MERGE, 0), StepRecord("succeeded", {"model": "m1", "bytes": 10, "seconds": 2.0}))
    rec.record_step("ns", "r", Step(1, Phase.MERGE, 1), StepRecord("dropped", {"rejected": "gibberish", "seconds": 1.0}))
    rec.record_step("ns", "r", Step(1, Phase.MERGE, 2), StepRecord("dropped", {"seconds": 1.0}))
    assert rec.record_step("ns", "r", Step(1, Phase.MERGE, 2), StepRecord("dropped", {"seconds": 1.0})) is False
    assert value(rec, "acdc_children_total", outcome="merged") == 1
    assert value(rec, "acdc_children_total", outcome="rejected") == 1
    assert value(rec, "acdc_children_total", outcome="failed") == 1
    assert value(rec, "acdc_step_duration_seconds_count", phase="merge") == 3
    assert value(rec, "acdc_step_duration_seconds_sum", phase="merge") == 4.0
    assert value(rec, "acdc_steps_total", phase="merge", status="dropped") == 2


def test_select_tasks_and_score_results_set_gauges_and_counters(rec):
    summary = {"archive": 6, "bestFitness": 0.8, "meanFitness": 0.5, "coverage": 0.75, "pool": 40, "seconds": 0.1}
    rec.record_step("ns", "r", Step(2, Phase.SELECT), StepRecord("succeeded", summary))
    rec.record_step("ns", "r", Step(2, Phase.TASKS), StepRecord(
        "succeeded", {"pool": 42, "added": 5, "retired": 3, "rejectedNovelty": 7, "archive": 6, "seconds": 3}))
    rec.record_step("ns", "r", Step(2, Phase.RESCORE, 0), StepRecord(
        "succeeded", {"model": "m", "fitness": 0.5, "solved": 3, "tasks": 6, "timeouts": 2, "violations": 1, "seconds": 1}))
    assert value(rec, "acdc_archive_size") == 6
    assert value(rec, "acdc_archive_coverage") == 0.75
    assert value(rec, "acdc_archive_best_fitness") == 0.8
    assert value(rec, "acdc_task_pool_size") == 42
    assert value(rec, "acdc_tasks_added_total") == 5
    assert value(rec, "acdc_tasks_retired_total") == 3
    assert value(rec, "acdc_tasks_rejected_novelty_total") == 7
    assert value(rec, "acdc_sandbox_events_total", outcome="timeout") == 2
    assert value(rec, "acdc_sandbox_events_total", outcome="violation") == 1
    assert value(rec, "acdc_run_generation") == 2


def test_progress_time_moves_only_when_the_generation_does(rec):
    clock = rec._clock
    rec.set_run_status("ns", "r", {"phase": "Running", "generation": 3})
    assert value(rec, "acdc_run_progress_timestamp_seconds") == 1000
    clock.now = 2000
    rec.set_run_status("ns", "r", {"phase": "Running", "generation": 3, "archive": {"size": 4, "coverage": 0.5}})
    rec.record_step("ns", "r", Step(2, Phase.RESCORE, 1), StepRecord("succeeded", {"seconds": 1}))  # late step of g2
    assert value(rec, "acdc_run_progress_timestamp_seconds") == 1000
    assert value(rec, "acdc_run_generation") == 3
    rec.record_step("ns", "r", Step(4, Phase.PLAN), StepRecord("succeeded", {"seconds": 1}))
    assert value(rec, "acdc_run_progress_timestamp_seconds") == 2000
    assert value(rec, "acdc_run_phase", phase="Running") == 1
    assert value(rec, "acdc_run_phase", phase="Failed") == 0
    assert value(rec, "acdc_archive_coverage") == 0.5


def test_in_flight_failures_llm_and_reconcile_errors(rec):
    rec.set_steps_in_flight("ns", "r", [Step(1, Phase.MERGE, 0), Step(1, Phase.MERGE, 1), Step(1, Phase.SCORE, 0)])
    assert value(rec, "acdc_steps_in_flight", phase="merge", resource_class="merge") == 2
    rec.set_steps_in_flight("ns", "r", [])
    assert value(rec, "acdc_steps_in_flight", phase="merge", resource_class="merge") == 0
    rec.observe_step_failure("ns", "r", Phase.EVALUATE, retried=True)
    rec.observe_step_failure("ns", "r", Phase.EVALUATE, retried=False)
    assert value(rec, "acdc_step_failures_total", phase="evaluate") == 2
    assert value(rec, "acdc_step_retries_total", phase="evaluate") == 1
    rec.observe_llm_request("ns", "r", "judge", 0.3, ok=False)
    assert value(rec, "acdc_llm_requests_total", role="judge", outcome="error") == 1
    assert value(rec, "acdc_llm_request_duration_seconds_sum", role="judge") == pytest.approx(0.3)
    rec.reconcile_error("ApiException")
    assert rec.families.registry.get_sample_value("acdc_operator_reconcile_errors_total", {"kind": "ApiException"}) == 1


def test_forget_run_drops_its_series_and_lets_it_count_again(rec):
    step, record = Step(1, Phase.MERGE, 0), StepRecord("succeeded", {"seconds": 1})
    rec.record_step("ns", "r", step, record)
    rec.record_step("ns", "other", step, record)
    rec.forget_run("ns", "r")
    assert value(rec, "acdc_children_total", outcome="merged") is None
    assert rec.families.registry.get_sample_value(
        "acdc_children_total", {"namespace": "ns", "run": "other", "outcome": "merged"}) == 1
    assert rec.record_step("ns", "r", step, record) is True


def test_metric_names_cover_every_family():
    assert exported_series(MetricFamilies(CollectorRegistry()).registry) == METRIC_NAMES
    assert {"acdc_children_total", "acdc_step_duration_seconds_bucket", "acdc_run_generation"} <= METRIC_NAMES
