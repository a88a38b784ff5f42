"""The Grafana dashboard for a CoevolutionRun, built with grafana-foundation-sdk.

The dashboard is code (typed builders, not hand-edited JSON) so that its queries stay
checkable: the tests parse every expression of the rendered JSON with ``promtool`` and
compare every ``acdc_*`` name in it with what the metrics registry exports. The chart ships the JSON
this module renders (``render_dashboard()``), in a ConfigMap the Grafana sidecar loads.

Layout: a row of headline numbers for the selected run, then progress over time
(coverage and fitness, archive size, task pool dynamics), then cost and health
(phase durations, Jobs in flight, children and failures, LLM latency and errors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh, VariableSort

UID = "acdc-coevolution-run"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query selects the run picked in the two template variables.
RUN = 'namespace="$namespace", run="$run"'
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    kind: Literal["stat", "timeseries"]
    unit: str
    queries: tuple[Query, ...]
    description: str = ""


def _q(expr: str, legend: str) -> Query:
    return Query(expr, legend)


HEADLINE = (
    PanelSpec("Generation", "stat", "none", (_q(f"max(acdc_run_generation{{{RUN}}})", "generation"),)),
    PanelSpec("Archive size", "stat", "none", (_q(f"max(acdc_archive_size{{{RUN}}})", "models"),)),
    PanelSpec("Best fitness", "stat", "percentunit", (_q(f"max(acdc_archive_best_fitness{{{RUN}}})", "best"),)),
    PanelSpec("Coverage", "stat", "percentunit", (_q(f"max(acdc_archive_coverage{{{RUN}}})", "coverage"),),
              "Share of active tasks solved by at least one archive model."),
    PanelSpec("Task pool", "stat", "none", (_q(f"max(acdc_task_pool_size{{{RUN}}})", "tasks"),)),
    PanelSpec("GPU Jobs in flight", "stat", "none",
              (_q(f'sum(acdc_steps_in_flight{{{RUN}, resource_class=~"merge|evaluate"}})', "jobs"),),
              "Running merge and evaluate steps (the phases that take GPU Jobs)."),
)

PROGRESS = (
    PanelSpec("Coverage and fitness", "timeseries", "percentunit", (
        _q(f"max(acdc_archive_coverage{{{RUN}}})", "coverage"),
        _q(f"max(acdc_archive_best_fitness{{{RUN}}})", "best fitness"),
        _q(f"max(acdc_archive_mean_fitness{{{RUN}}})", "mean fitness"),
    )),
    PanelSpec("Generation and archive size", "timeseries", "none", (
        _q(f"max(acdc_run_generation{{{RUN}}})", "generation"),
        _q(f"max(acdc_archive_size{{{RUN}}})", "archive size"),
    )),
    PanelSpec("Task pool dynamics", "timeseries", "none", (
        _q(f"max(acdc_task_pool_size{{{RUN}}})", "pool size"),
        _q(f"sum(increase(acdc_tasks_added_total{{{RUN}}}[$__rate_interval]))", "added"),
        _q(f"sum(increase(acdc_tasks_retired_total{{{RUN}}}[$__rate_interval]))", "retired"),
        _q(f"sum(increase(acdc_tasks_rejected_novelty_total{{{RUN}}}[$__rate_interval]))", "rejected (novelty)"),
    )),
)

HEALTH = (
    PanelSpec("Phase durations (p50 / p95)", "timeseries", "s", (
        _q(f"histogram_quantile(0.5, sum by (le, phase) (rate(acdc_step_duration_seconds_bucket{{{RUN}}}[$__rate_interval])))",
           "{{phase}} p50"),
        _q(f"histogram_quantile(0.95, sum by (le, phase) (rate(acdc_step_duration_seconds_bucket{{{RUN}}}[$__rate_interval])))",
           "{{phase}} p95"),
    )),
    PanelSpec("Jobs in flight by phase", "timeseries", "none", (
        _q(f"sum by (phase) (acdc_steps_in_flight{{{RUN}}})", "{{phase}}"),
    )),
    PanelSpec("Children", "timeseries", "none", (
        _q(f"sum by (outcome) (increase(acdc_children_total{{{RUN}}}[$__rate_interval]))", "{{outcome}}"),
    ), "Merge outcomes: merged, rejected as gibberish, failed after retries."),
    PanelSpec("Failures", "timeseries", "none", (
        _q(f"sum by (phase) (increase(acdc_step_failures_total{{{RUN}}}[$__rate_interval]))", "{{phase}} failed attempts"),
        _q(f"sum by (phase) (increase(acdc_step_retries_total{{{RUN}}}[$__rate_interval]))", "{{phase}} retries"),
        _q(f'sum by (phase) (increase(acdc_steps_total{{{RUN}, status="dropped"}}[$__rate_interval]))', "{{phase}} dropped"),
        _q(f"sum by (outcome) (increase(acdc_sandbox_events_total{{{RUN}}}[$__rate_interval]))", "sandbox {{outcome}}"),
        _q("sum by (kind) (increase(acdc_operator_reconcile_errors_total[$__rate_interval]))", "operator: {{kind}}"),
    )),
    PanelSpec("LLM latency (p95)", "timeseries", "s", (
        _q("histogram_quantile(0.95, sum by (le, role) "
           f"(rate(acdc_llm_request_duration_seconds_bucket{{{RUN}}}[$__rate_interval])))",
           "{{role}}"),
    ), "Scientist, judge and embedding request latency."),
    PanelSpec("LLM errors", "timeseries", "reqps", (
        _q(f'sum by (role) (rate(acdc_llm_requests_total{{{RUN}, outcome="error"}}[$__rate_interval]))', "{{role}} errors"),
        _q(f'sum by (role) (rate(acdc_llm_requests_total{{{RUN}, outcome="ok"}}[$__rate_interval]))', "{{role}} ok"),
    )),
)

BENCHMARKS = (
    PanelSpec("Benchmark coverage@N", "timeseries", "percentunit", (
        _q(f"max by (benchmark, selection, size) (acdc_benchmark_coverage{{{RUN}}})", "{{benchmark}} {{selection}} N={{size}}"),
    ), "Share of benchmark documents at least one of N answers gets right (acdc evaluate / evaluation Jobs)."),
    PanelSpec("Best-of-N accuracy", "timeseries", "percentunit", (
        _q(f"max by (benchmark, method, size) (acdc_benchmark_best_of_n_accuracy{{{RUN}}})",
           "{{benchmark}} {{method}} N={{size}}"),
    )),
    PanelSpec("Task-pool diversity and evaluation shards", "timeseries", "none", (
        _q(f"max by (scope) (acdc_task_pool_vendi{{{RUN}}})", "Vendi {{scope}}"),
        _q(f"max by (status) (acdc_evaluation_shards{{{RUN}}})", "shards {{status}}"),
    )),
)

SECTIONS = (("Run", HEADLINE, 4), ("Progress", PROGRESS, 8), ("Cost and health", HEALTH, 8),
            ("Benchmarks", BENCHMARKS, 8))


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref).datasource(DATASOURCE)


def _panel(spec: PanelSpec, panel_id: int, pos: GridPos) -> stat.Panel | timeseries.Panel:
    panel = stat.Panel() if spec.kind == "stat" else timeseries.Panel().line_width(2).fill_opacity(10)
    panel = panel.id(panel_id).title(spec.title).unit(spec.unit).datasource(DATASOURCE).grid_pos(pos)
    if spec.description:
        panel = panel.description(spec.description)
    for i, query in enumerate(spec.queries):
        panel = panel.with_target(_target(query, chr(ord("A") + i)))
    return panel


def _label_variable(name: str, label: str, query: str) -> gd.QueryVariable:
    return (
        gd.QueryVariable(name).label(label).query(query).datasource(DATASOURCE)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
    )


def build_dashboard() -> gd.Dashboard:
    """The dashboard builder: headline stats, progress over time, cost and health."""
    board = (
        gd.Dashboard("AC/DC coevolution run").uid(UID).tags(["acdc", "coevolution"])
        .description("Progress and health of one CoevolutionRun: pick the namespace and run above.")
        .refresh("30s").time("now-6h", "now")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(_label_variable("namespace", "Namespace", "label_values(acdc_run_generation, namespace)"))
        .with_variable(_label_variable("run", "Run", 'label_values(acdc_run_generation{namespace="$namespace"}, run)'))
    )
    y, panel_id = 0, 0
    for title, specs, height in SECTIONS:
        panel_id += 1
        board = board.with_row(gd.Row(title).id(panel_id).grid_pos(GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        per_line = 6 if specs is HEADLINE else 3 if len(specs) % 3 == 0 else 2
        width = GRID_WIDTH // per_line
        for i, spec in enumerate(specs):
            x = (i % per_line) * width
            if i and x == 0:
                y += height
            panel_id += 1
            board = board.with_panel(_panel(spec, panel_id, GridPos(h=height, w=width, x=x, y=y)))
        y += height
    return board


def render_dashboard() -> str:
    """The dashboard JSON exactly as the chart ships it (stable, so a test can compare)."""
    return json.dumps(json.loads(JSONEncoder(sort_keys=True, indent=2).encode(build_dashboard().build())),
                      indent=2, sort_keys=True) + "\n"
