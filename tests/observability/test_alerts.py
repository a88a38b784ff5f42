"""The chart's PrometheusRule: valid for promtool, exported names only, each alert unit-tested."""

from __future__ import annotations

import shutil
from pathlib import Path

from acdc.metrics import METRIC_NAMES
from tests.chart.rendering import by_kind, render
from tests.observability import promtool

UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
ALERTS = {"AcdcRunStalled", "AcdcRunFailed", "AcdcHighChildFailureRate", "AcdcLLMUnreachable"}


def _groups(values: dict | None = None) -> list[dict]:
    (rule,) = by_kind(render({"prometheusRule": {"enabled": True, **(values or {})}}), "PrometheusRule")
    return rule["spec"]["groups"]


def _rules(groups: list[dict]) -> list[dict]:
    return [rule for group in groups for rule in group["rules"]]


def test_rules_pass_promtool_check(tmp_path):
    groups = _groups()
    assert {rule["alert"] for rule in _rules(groups)} == ALERTS
    promtool.run("check", "rules", str(promtool.write_rules(tmp_path / "rules.yaml", groups)))


def test_rules_use_only_exported_metric_names():
    used = set().union(*(promtool.metric_names(rule["expr"]) for rule in _rules(_groups())))
    assert used <= METRIC_NAMES, f"not exported by acdc.metrics: {sorted(used - METRIC_NAMES)}"


def test_each_alert_fires_when_it_should_and_only_then(tmp_path):
    promtool.write_rules(tmp_path / "rules.yaml", _groups())
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = promtool.run("test", "rules", str(tmp_path / UNIT_TESTS.name))
    assert "SUCCESS" in result.stdout + result.stderr


def test_stall_threshold_is_configurable():
    (stalled,) = [r for r in _rules(_groups({"runStalled": {"afterMinutes": 45}})) if r["alert"] == "AcdcRunStalled"]
    assert "> 45 * 60" in stalled["expr"]
