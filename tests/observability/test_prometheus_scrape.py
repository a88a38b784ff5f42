"""A real Prometheus scrapes our metrics and answers queries about a run.

First the metrics server fed with recorded steps; then a real `acdc run --metrics-port` on
the toy world, whose metrics are queried back after Prometheus scraped the live runner.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from acdc.metrics import MetricFamilies, MetricsRecorder
from acdc.metrics.server import start_server
from acdc.steps import Phase, Step, StepRecord
from tests.observability.prometheus_server import free_port, prometheus
from tests.progress import wait_progressing
from tests.runner.conftest import MINI
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (pytest fixture)


def test_prometheus_scrapes_recorded_run(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    rec = MetricsRecorder(MetricFamilies(registry))
    rec.set_run_status("default", "quickstart", {"phase": "Running", "generation": 1})
    rec.record_step("default", "quickstart", Step(1, Phase.MERGE, 0), StepRecord("succeeded", {"seconds": 4.0}))
    rejected = StepRecord("dropped", {"rejected": "gibberish", "seconds": 2.0})
    rec.record_step("default", "quickstart", Step(1, Phase.MERGE, 1), rejected)
    rec.record_step("default", "quickstart", Step(1, Phase.SELECT), StepRecord(
        "succeeded", {"archive": 5, "bestFitness": 0.9, "meanFitness": 0.6, "coverage": 0.625, "pool": 24, "seconds": 0.2}))

    exporter = start_server(0, registry, addr="127.0.0.1")
    try:
        with prometheus(exporter.server_port, tmp_path) as prom:
            coverage = prom.wait_for('acdc_archive_coverage{namespace="default", run="quickstart"}')
            assert float(coverage[0]["value"][1]) == 0.625
            assert coverage[0]["metric"]["job"] == "acdc"
            children = {r["metric"]["outcome"]: float(r["value"][1])
                        for r in prom.query('acdc_children_total{run="quickstart"}')}
            assert children == {"merged": 1.0, "rejected": 1.0}
            (count,) = prom.query('sum(acdc_step_duration_seconds_count{phase="merge"})')
            assert float(count["value"][1]) == 2
            (running,) = prom.query('acdc_run_phase{phase="Running"} == 1')
            assert running["metric"]["run"] == "quickstart"
    finally:
        exporter.shutdown()
        exporter.server_close()


def test_prometheus_scrapes_a_live_local_runner(tmp_path: Path, toy_world: Path) -> None:  # noqa: F811
    run_file = tmp_path / "mini.yaml"
    run_file.write_text(yaml.safe_dump(MINI))
    metrics_port = free_port()
    with prometheus(metrics_port, tmp_path) as prom:
        runner = subprocess.Popen(
            [sys.executable, "-m", "acdc.cli.main", "run", str(run_file), "--state", str(tmp_path / "state"),
             "--metrics-port", str(metrics_port), "--plain", "--no-report", "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "run.log").open("w"))
        try:
            merges = prom.wait_for('sum(acdc_steps_total{namespace="local", run="mini", phase="merge"})',
                                   until=lambda r: bool(r) and float(r[0]["value"][1]) >= 2, producer=runner)
            assert float(merges[0]["value"][1]) >= 2
            archive = prom.wait_for('max_over_time(acdc_archive_size{run="mini"}[5m])', producer=runner)
            assert 1 <= float(archive[0]["value"][1]) <= MINI["spec"]["population"]["size"]
        finally:
            wait_progressing(runner, watch=[tmp_path / "state"])
    assert runner.returncode == 0, (tmp_path / "run.log").read_text()[-2000:]
