"""The Grafana dashboard: every query parses and names only metrics the code exports."""

from __future__ import annotations

import json

from acdc.metrics import METRIC_NAMES
from acdc.metrics.dashboard import UID, render_dashboard
from tests.observability import promtool

# Grafana substitutes these before a query reaches Prometheus.
TEMPLATE_VALUES = {"$namespace": "default", "$run": "quickstart", "$__rate_interval": "2m"}


def _dashboard() -> dict:
    return json.loads(render_dashboard())


def _panel_exprs(board: dict) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets") or []]


def _concrete(expr: str) -> str:
    for variable, value in TEMPLATE_VALUES.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_panel_query_parses(tmp_path):
    exprs = _panel_exprs(_dashboard())
    assert len(exprs) >= 15
    rules = [{"record": f"acdc:dashboard_query_{i}", "expr": _concrete(e)} for i, e in enumerate(exprs)]
    rules_file = promtool.write_rules(tmp_path / "dashboard.yaml", [{"name": "dashboard", "rules": rules}])
    promtool.run("check", "rules", str(rules_file))


def test_dashboard_uses_only_exported_metric_names():
    board = _dashboard()
    variable_queries = [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    used = set().union(*(promtool.metric_names(e) for e in _panel_exprs(board) + variable_queries))
    assert used, "the dashboard queries no acdc metric"
    assert used <= METRIC_NAMES, f"not exported by acdc.metrics: {sorted(used - METRIC_NAMES)}"


def test_dashboard_shows_a_runs_progress_and_health():
    board = _dashboard()
    assert board["uid"] == UID
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "namespace", "run"]
    used = set().union(*(promtool.metric_names(e) for e in _panel_exprs(board)))
    for required in ("acdc_archive_coverage", "acdc_archive_best_fitness", "acdc_archive_size", "acdc_task_pool_size",
                     "acdc_step_duration_seconds_bucket", "acdc_steps_in_flight", "acdc_step_failures_total"):
        assert required in used
    for expr in _panel_exprs(board):
        if "reconcile_errors" not in expr:  # operator-wide, not per run
            assert 'run="$run"' in expr, expr
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
