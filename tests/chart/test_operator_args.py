"""The chart's container args are a valid `acdc operator` command line that means what the values say."""

from __future__ import annotations

from typing import Any

import pytest

from acdc.cli.main import build_parser
from acdc.cli.operator_cmd import HEALTH_PATH, liveness_endpoint
from tests.chart.rendering import NAMESPACE, by_kind, render

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["research", "team-b"], "logLevel": "debug"},
    "custom-ports": {"metrics": {"port": 9100}, "health": {"port": 9101}, "logLevel": "warning", "workers": 8},
    "replicated": {"replicaCount": 2, "logLevel": "error"},
    "cluster-wide": {"clusterWide": True, "replicaCount": 2},
    "allow-lists": {"security": {"allowedRegistries": ["ghcr.io/acdc-operator"], "allowedSecrets": ["ml/key"],
                                 "allowedClaims": ["shared"], "allowedServerArgs": ["--trust-remote-code"]}},
    "replicated-namespaced": {"replicaCount": 3, "watchNamespaces": ["research"]},
    "paused": {"replicaCount": 0},
}


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("name", VALUE_SETS)
def test_container_args_parse_and_match_the_values(name):
    values = VALUE_SETS[name]
    docs = render(values)
    container = operator_container(docs)
    args = build_parser().parse_args(container["args"])  # argparse exits on an unknown flag
    assert args.command == "operator"
    assert args.metrics_port == values.get("metrics", {}).get("port", 8080)
    assert args.health_port == values.get("health", {}).get("port", 8081)
    assert args.log_level == values.get("logLevel", "info")
    assert args.workers == values.get("workers", 64)
    cluster_wide = values.get("clusterWide", False)
    assert args.all_namespaces is cluster_wide
    assert args.namespace == ([] if cluster_wide else values.get("watchNamespaces", [NAMESPACE]))
    security = values.get("security", {})
    assert args.allowed_registry == security.get("allowedRegistries", [])
    assert args.allowed_secret == security.get("allowedSecrets", [])
    assert args.allowed_claim == security.get("allowedClaims", [])
    assert args.allowed_server_arg == security.get("allowedServerArgs", [])
    replicated = values.get("replicaCount", 1) > 1
    assert args.standalone is (not replicated)
    if replicated:
        peerings = by_kind(docs, "ClusterKopfPeering") + by_kind(docs, "KopfPeering")
        assert peerings and {p["metadata"]["name"] for p in peerings} == {args.peering}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_probes_and_ports_point_at_what_the_operator_serves(name):
    container = operator_container(render(VALUE_SETS[name]))
    args = build_parser().parse_args(container["args"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": args.metrics_port, "health": args.health_port}
    liveness = container["livenessProbe"]["httpGet"]
    assert liveness["path"] == HEALTH_PATH and ports[liveness["port"]] == args.health_port
    assert liveness_endpoint(args.health_port) == f"http://0.0.0.0:{args.health_port}{HEALTH_PATH}"
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"


def test_parser_rejects_what_the_chart_must_never_pass():
    parser = build_parser()
    for bad in (["operator", "--namespace=a", "--all-namespaces"],
                ["operator", "--standalone", "--peering=x"],
                ["operator", "--health-port=70000"],
                ["operator", "--log-level=verbose"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
