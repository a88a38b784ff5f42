"""A real Prometheus scrapes the metrics server and answers queries about a recorded run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml
from prometheus_client import CollectorRegistry

from acdc.metrics import MetricFamilies, MetricsRecorder
from acdc.metrics.server import start_server
from acdc.phases.dag import Phase, Step, StepRecord

WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait_for(port: int, expr: str, server: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "prometheus exited early"
        try:
            result = _query(port, expr)
        except OSError:
            result = []
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"no sample for {expr} within {WAIT_S}s")


def test_prometheus_scrapes_recorded_run(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install -y --no-install-recommends prometheus")
    registry = CollectorRegistry()
    rec = MetricsRecorder(MetricFamilies(registry))
    rec.set_run_status("default", "quickstart", {"phase": "Running", "generation": 1})
    rec.record_step("default", "quickstart", Step(1, Phase.MERGE, 0), StepRecord("succeeded", {"seconds": 4.0}))
    rejected = StepRecord("dropped", {"rejected": "gibberish", "seconds": 2.0})
    rec.record_step("default", "quickstart", Step(1, Phase.MERGE, 1), rejected)
    rec.record_step("default", "quickstart", Step(1, Phase.SELECT), StepRecord(
        "succeeded", {"archive": 5, "bestFitness": 0.9, "meanFitness": 0.6, "coverage": 0.625, "pool": 24, "seconds": 0.2}))

    exporter = start_server(0, registry, addr="127.0.0.1")
    prom_port = _free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "acdc", "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}]}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    server = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        coverage = _wait_for(prom_port, 'acdc_archive_coverage{namespace="default", run="quickstart"}', server)
        assert float(coverage[0]["value"][1]) == 0.625
        assert coverage[0]["metric"]["job"] == "acdc"
        children = {r["metric"]["outcome"]: float(r["value"][1])
                    for r in _query(prom_port, 'acdc_children_total{run="quickstart"}')}
        assert children == {"merged": 1.0, "rejected": 1.0}
        (count,) = _query(prom_port, 'sum(acdc_step_duration_seconds_count{phase="merge"})')
        assert float(count["value"][1]) == 2
        (running,) = _query(prom_port, 'acdc_run_phase{phase="Running"} == 1')
        assert running["metric"]["run"] == "quickstart"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        exporter.shutdown()
        exporter.server_close()
