"""The operator mirrors status.evaluation (the evaluation stage's headline) into the benchmark gauges."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from acdc.metrics import MetricFamilies, MetricsRecorder


def test_status_evaluation_sets_coverage_and_shard_gauges() -> None:
    registry = CollectorRegistry()
    recorder = MetricsRecorder(MetricFamilies(registry))
    recorder.set_run_status("ml", "demo", {"phase": "Succeeded", "generation": 3, "evaluation": {
        "phase": "Succeeded", "shardsTotal": 12, "shardsDone": 12, "benchmark": "gsm8k", "size": 3,
        "taskforce": 0.81, "seeds": 0.7, "best": None}})
    labels = {"namespace": "ml", "run": "demo", "benchmark": "gsm8k", "size": "3"}
    assert registry.get_sample_value("acdc_benchmark_coverage", labels | {"selection": "taskforce"}) == 0.81
    assert registry.get_sample_value("acdc_benchmark_coverage", labels | {"selection": "seeds"}) == 0.7
    assert registry.get_sample_value("acdc_benchmark_coverage", labels | {"selection": "best"}) is None
    shards = {"namespace": "ml", "run": "demo"}
    assert registry.get_sample_value("acdc_evaluation_shards", shards | {"status": "done"}) == 12
    assert registry.get_sample_value("acdc_evaluation_shards", shards | {"status": "pending"}) == 0


def test_running_evaluation_reports_pending_shards_only() -> None:
    registry = CollectorRegistry()
    MetricsRecorder(MetricFamilies(registry)).set_run_status("ml", "demo", {"phase": "Succeeded", "evaluation": {
        "phase": "Running", "shardsTotal": 5, "shardsDone": 2}})
    assert registry.get_sample_value("acdc_evaluation_shards", {"namespace": "ml", "run": "demo", "status": "pending"}) == 3
    assert registry.get_sample_value("acdc_benchmark_coverage", {"namespace": "ml", "run": "demo", "benchmark": "x",
                                                                  "selection": "taskforce", "size": "1"}) is None
