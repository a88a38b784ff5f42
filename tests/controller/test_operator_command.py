"""The operator started exactly as the chart's Deployment starts it, against kmock.

The command line comes from the rendered chart, so this proves the chart's flags start a
working operator: kopf's liveness endpoint answers on the health port the probe uses,
metrics are served, and with several replicas the operator keeps itself alive in the
peering object the chart creates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import kopf
import pytest

from acdc.cli.main import build_parser, main
from acdc.controller.tenancy import TenancyPolicy
from tests.chart.rendering import by_kind, render
from tests.controller.cluster import PEERINGS
from tests.progress import StallWatch, tree_cpu_seconds

POD = "acdc-acdc-operator-7d9f-x2x4k"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


async def http_status(session: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with session.get(url) as response:
            return response.status
    except aiohttp.ClientError:
        return None


async def poll(check, pid: int) -> None:
    """Until ``check()``; fails once the operator process ``pid`` stalls (tests.progress)."""
    watcher = StallWatch(lambda: tree_cpu_seconds(pid))
    while not await check():
        if not watcher.moved():
            raise AssertionError("condition not reached: the operator stalled")
        await asyncio.sleep(0.1)


async def test_chart_command_line_starts_a_live_peered_operator(cluster, tmp_path: Path):
    metrics_port, health_port = free_ports(2)
    docs = render({"replicaCount": 2, "clusterWide": True, "metrics": {"port": metrics_port}, "health": {"port": health_port}})
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (peering,) = by_kind(docs, "ClusterKopfPeering")
    name = peering["metadata"]["name"]
    cluster.objects[PEERINGS, None, name] = {**peering, "status": {}}
    log = tmp_path / "operator.log"
    env = {**os.environ, "POD_ID": POD, "POD_NAMESPACE": "acdc-system"}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "acdc.cli.main", *container["args"],
                                                       env=env, stdout=out, stderr=out)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            probe = container["livenessProbe"]["httpGet"]

            async def live() -> bool:
                assert process.returncode is None, log.read_text()
                return await http_status(session, f"http://127.0.0.1:{health_port}{probe['path']}") == 200

            async def keeps_alive_in_peering() -> bool:
                return POD in (cluster.objects[PEERINGS, None, name].raw.get("status") or {})

            await poll(live, process.pid)
            await poll(keeps_alive_in_peering, process.pid)
            assert await http_status(session, f"http://127.0.0.1:{metrics_port}/metrics") == 200
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await process.wait()
    assert code == 0, log.read_text()


def captured_kopf_run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> dict:
    calls: list[dict] = []
    monkeypatch.setenv("ACDC_METRICS_PORT", "0")  # handle() sets it; restored afterwards
    for variable in TenancyPolicy().to_env():
        monkeypatch.setenv(variable, "[]")  # likewise
    monkeypatch.setattr(kopf, "run", lambda **kwargs: calls.append(kwargs))
    for module in ("acdc.controller.handlers", "acdc.controller.kube"):
        monkeypatch.setattr(f"{module}.api_configuration", lambda: None)  # no cluster here
    args = build_parser().parse_args(["operator", *argv])
    assert args.handler(args) == 0
    (kwargs,) = calls
    return kwargs


def test_flags_reach_kopf(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POD_NAMESPACE", "acdc-system")
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)  # restored afterwards
    standalone = captured_kopf_run(monkeypatch, "--health-port=9001", "--metrics-port=0", "--standalone")
    assert standalone["namespaces"] == ["acdc-system"] and not standalone["clusterwide"]
    assert standalone["standalone"] and standalone["peering_name"] is None
    assert standalone["liveness_endpoint"] == "http://0.0.0.0:9001/healthz"
    peered = captured_kopf_run(monkeypatch, "-A", "--peering=acdc-acdc-operator", "--health-port=0", "--log-level=warning")
    assert peered["clusterwide"] and peered["peering_name"] == "acdc-acdc-operator" and not peered["standalone"]
    assert peered["liveness_endpoint"] is None
    assert logging.getLogger().level == logging.WARNING


def test_workers_size_kopfs_thread_pool_and_the_api_connection_pool(monkeypatch: pytest.MonkeyPatch):
    from kubernetes.client import Configuration

    from acdc.controller import handlers

    monkeypatch.setenv(handlers.WORKERS_ENV, "1")  # handle() sets it; restored afterwards
    captured_kopf_run(monkeypatch, "-A", "--standalone", "--metrics-port=0", "--workers=8")
    monkeypatch.setattr(handlers, "api_configuration", Configuration)
    settings, memo = kopf.OperatorSettings(), kopf.Memo()
    handlers.configure(settings=settings, memo=memo)
    assert settings.execution.max_workers == 8
    assert memo.kube.client.rest_client.pool_manager.connection_pool_kw["maxsize"] == 8
    monkeypatch.delenv(handlers.WORKERS_ENV)
    handlers.configure(settings=settings, memo=memo)
    assert settings.execution.max_workers == handlers.DEFAULT_WORKERS


def test_security_flags_reach_the_handlers_policy(monkeypatch: pytest.MonkeyPatch):
    captured_kopf_run(monkeypatch, "-A", "--standalone", "--allowed-registry=ghcr.io/acdc-operator",
                      "--allowed-secret=ml/openai", "--allowed-secret=judge-key", "--allowed-claim=shared",
                      "--allowed-server-arg=--trust-remote-code")
    assert TenancyPolicy.from_env() == TenancyPolicy(("ghcr.io/acdc-operator",), ("ml/openai", "judge-key"),
                                                     ("shared",), ("--trust-remote-code",))


@pytest.mark.parametrize("flag", ["--allowed-server-arg=--port", "--allowed-secret=Not A Name",
                                  "--allowed-registry=https://ghcr.io"])
def test_bad_security_flags_are_usage_errors(flag: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["operator", "-A", flag])
    assert exited.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_clashing_ports_are_a_user_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(kopf, "run", lambda **kwargs: pytest.fail("kopf must not start"))
    assert main(["operator", "-A", "--metrics-port=9000", "--health-port=9000"]) == 2
    assert "--metrics-port and --health-port are both 9000" in capsys.readouterr().err


def test_no_credentials_is_a_clear_error_not_an_endless_retry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(kopf, "run", lambda **kwargs: pytest.fail("kopf must not start"))
    assert main(["operator", "-A", "--metrics-port=0", "--health-port=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: acdc operator: no usable Kubernetes credentials") and "KUBECONFIG" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
