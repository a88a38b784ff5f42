"""The one Prometheus registry shared by the local runner and the operator.

Executors use the module-level functions below; they update ``REGISTRY``, which
``start_server`` exposes. Tests that need isolation build their own
``MetricsRecorder(MetricFamilies(CollectorRegistry()))``. ``METRIC_NAMES`` lists every
series name a scrape can show; the dashboard and alert tests check expressions against it.

    from acdc import metrics
    metrics.start_server(9090)
    metrics.record_step("default", "quickstart", step, record)
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from acdc.metrics.families import MetricFamilies, exported_series
from acdc.metrics.recorder import LLMRole, MetricsRecorder, SandboxOutcome
from acdc.metrics.server import start_server as _start_server

REGISTRY = CollectorRegistry()
RECORDER = MetricsRecorder(MetricFamilies(REGISTRY))
METRIC_NAMES: frozenset[str] = exported_series(REGISTRY)

record_step = RECORDER.record_step
set_run_status = RECORDER.set_run_status
set_steps_in_flight = RECORDER.set_steps_in_flight
set_evaluation = RECORDER.set_evaluation
set_evaluation_shards = RECORDER.set_evaluation_shards
observe_step_failure = RECORDER.observe_step_failure
observe_llm_request = RECORDER.observe_llm_request
observe_sandbox = RECORDER.observe_sandbox
reconcile_error = RECORDER.reconcile_error
forget_run = RECORDER.forget_run


def start_server(port: int, addr: str = "0.0.0.0") -> WSGIServer:
    """Expose ``REGISTRY`` on ``addr:port`` (path ``/metrics``) from a daemon thread."""
    return _start_server(port, REGISTRY, addr)


__all__ = [
    "METRIC_NAMES", "RECORDER", "REGISTRY", "LLMRole", "MetricFamilies", "MetricsRecorder", "SandboxOutcome",
    "exported_series", "forget_run", "observe_llm_request", "observe_sandbox", "observe_step_failure",
    "reconcile_error", "record_step", "set_evaluation", "set_evaluation_shards", "set_run_status",
    "set_steps_in_flight", "start_server",
]
