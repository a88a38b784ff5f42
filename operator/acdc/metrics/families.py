"""The metric families both executors export, bound to one prometheus-client registry.

They are declared once, here, so the local runner, the operator, the Grafana dashboard
and the alert rules share a single list of names: the dashboard and rule tests read
``exported_series()`` off a registry built by this class and fail on any other name.
Every per-run family carries ``namespace`` and ``run`` labels (the local runner uses
namespace ``local``), so one Prometheus can watch many runs side by side.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RUN_LABELS = ("namespace", "run")

# Phase Jobs range from a sub-second plan to multi-hour GPU evaluations.
PHASE_SECONDS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, float("inf"))
# Scientist / judge / embedding calls: tens of milliseconds to minutes for long generations.
LLM_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, float("inf"))


class MetricFamilies:
    """Every acdc metric, registered on ``registry`` (a fresh one per test, one per process in use)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def gauge(name: str, doc: str, *extra: str) -> Gauge:
            return Gauge(name, doc, [*RUN_LABELS, *extra], registry=registry)

        def counter(name: str, doc: str, *extra: str) -> Counter:
            return Counter(name, doc, [*RUN_LABELS, *extra], registry=registry)

        self.generation = gauge("acdc_run_generation", "Generation the run is working on.")
        self.progress_time = gauge(
            "acdc_run_progress_timestamp_seconds",
            "Unix time the run's generation last advanced (or this exporter first saw the run).",
        )
        self.run_phase = gauge("acdc_run_phase", "1 for the run's current phase (Pending, Running, ...), 0 otherwise.", "phase")
        self.archive_size = gauge("acdc_archive_size", "Models in the archive.")
        self.best_fitness = gauge("acdc_archive_best_fitness", "Best fitness in the archive.")
        self.mean_fitness = gauge("acdc_archive_mean_fitness", "Mean fitness over the archive.")
        self.coverage = gauge("acdc_archive_coverage", "Share of active tasks solved by at least one archive model.")
        self.task_pool_size = gauge("acdc_task_pool_size", "Tasks in the active pool.")
        self.tasks_added = counter("acdc_tasks_added", "Tasks added to the pool by adaptations.")
        self.tasks_retired = counter("acdc_tasks_retired", "Tasks retired from the pool by adaptations.")
        self.tasks_rejected_novelty = counter(
            "acdc_tasks_rejected_novelty", "Proposed tasks the novelty filter rejected."
        )
        self.children = counter(
            "acdc_children", "Children by merge outcome: merged, rejected (gibberish) or failed.", "outcome"
        )
        self.steps = counter("acdc_steps", "Finished phase steps by phase and status (succeeded, dropped).", "phase", "status")
        self.step_seconds = Histogram(
            "acdc_step_duration_seconds",
            "Wall time of one phase step (a Job in a cluster, a subprocess locally).",
            [*RUN_LABELS, "phase"],
            buckets=PHASE_SECONDS_BUCKETS,
            registry=registry,
        )
        self.step_failures = counter("acdc_step_failures", "Failed attempts of phase steps (Job failures).", "phase")
        self.step_retries = counter("acdc_step_retries", "Failed attempts that were retried.", "phase")
        self.steps_in_flight = gauge(
            "acdc_steps_in_flight",
            "Phase steps running now, by phase and resource class (merge and evaluate are GPU Jobs).",
            "phase",
            "resource_class",
        )
        self.llm_seconds = Histogram(
            "acdc_llm_request_duration_seconds",
            "Latency of scientist, judge and embedding requests.",
            [*RUN_LABELS, "role"],
            buckets=LLM_SECONDS_BUCKETS,
            registry=registry,
        )
        self.llm_requests = counter("acdc_llm_requests", "Scientist, judge and embedding requests by outcome (ok, error).",
                                    "role", "outcome")
        self.sandbox_events = counter("acdc_sandbox_events", "Sandboxed task runs that timed out or violated a limit.", "outcome")
        self.benchmark_coverage = gauge(
            "acdc_benchmark_coverage",
            "Coverage@N on a benchmark (any of N answers correct) by selection rule: taskforce, seeds, best, control.",
            "benchmark", "selection", "size",
        )
        self.benchmark_best_of_n = gauge(
            "acdc_benchmark_best_of_n_accuracy", "Best-of-N accuracy of the task force by picker (judge, rewardModel).",
            "benchmark", "method", "size",
        )
        self.task_pool_vendi = gauge(
            "acdc_task_pool_vendi", "Vendi score of the task pool (local: active pool; cumulative: every task so far).",
            "scope",
        )
        self.evaluation_shards = gauge(
            "acdc_evaluation_shards", "Benchmark evaluation shards by status (done, pending).", "status")
        self.reconcile_errors = Counter(
            "acdc_operator_reconcile_errors", "Operator handler errors by kind.", ["kind"], registry=registry
        )

    def per_run(self) -> list[Gauge | Counter | Histogram]:
        """The families labelled by (namespace, run), for forgetting a deleted run."""
        return [value for value in vars(self).values()
                if isinstance(value, (Gauge, Counter, Histogram)) and value is not self.reconcile_errors]


_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def exported_series(registry: CollectorRegistry) -> frozenset[str]:
    """Series names a scrape of ``registry`` can yield (``_total``, ``_bucket``... included).

    Computed from the families' declared types rather than from samples, so it holds
    before any run has reported anything. ``_created`` series are left out on purpose:
    the dashboard and alerts must not rely on them.
    """
    names: set[str] = set()
    for family in registry.collect():
        if not family.name.startswith("acdc_"):
            continue
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return frozenset(names)
