"""The Helm chart: generated copies in sync, schema, lint, and strictly valid manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from acdc.chart_files import CRD_FILE, generated_files
from acdc.controller import rbac
from acdc.controller.server_args import DANGEROUS
from acdc.spec.crd import render_crd
from tests.chart.rendering import CHART_DIR, NAMESPACE, by_kind, load_chart, render

KUBE_VERSION = "1.33"
REPO_CRD = Path(__file__).resolve().parents[2] / "crds" / "coevolutionrun.yaml"
# Prometheus Operator kinds have no schema in kubernetes-validate; the PrometheusRule is
# checked by promtool (tests/observability), the ServiceMonitor's fields below.
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
# kopf's peering objects are checked against the chart's own peering CRDs (tests/chart/test_peering.py).
PEERING_KINDS = {"KopfPeering", "ClusterKopfPeering"}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-with-monitoring": {
        "watchNamespaces": ["research", "team-b"],
        "logLevel": "debug",
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "runStalled": {"afterMinutes": 30}},
    },
    "custom-image-no-dashboard": {
        "image": {"repository": "registry.example.com/acdc/operator", "tag": "0.1.0-rc1", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccount": {"create": False, "name": "existing-sa"},
        "dashboard": {"enabled": False},
        "replicaCount": 0,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    },
    "replicated-cluster-wide": {"replicaCount": 2, "clusterWide": True},
    "locked-down": {"security": {"allowedRegistries": ["ghcr.io/acdc-operator", "registry.example.com:5000/ml"],
                                 "allowedSecrets": ["openai-key", "ml/judge-key"], "allowedClaims": ["shared"],
                                 "allowedServerArgs": ["--trust-remote-code"]}},
    "replicated-namespaced": {"replicaCount": 3, "watchNamespaces": ["research", "team-b"]},
}


def test_generated_chart_files_are_current():
    for relative, text in generated_files().items():
        assert (CHART_DIR / relative).read_text(encoding="utf-8") == text, (
            f"{relative} is stale: run `python -m acdc.chart_files charts/acdc-operator crds/coevolutionrun.yaml`"
        )


def test_chart_crd_equals_committed_crd():
    assert REPO_CRD.is_file(), "crds/coevolutionrun.yaml is missing: run `python -m acdc.chart_files ...`"
    assert REPO_CRD.read_text(encoding="utf-8") == (CHART_DIR / CRD_FILE).read_text(encoding="utf-8") == render_crd()


def test_chart_crds_are_valid_crds():
    installed = {}  # what Helm installs, read back through the SDK
    for crd_file in load_chart().crds:
        for doc in yaml.safe_load_all(crd_file["data"]):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            installed[doc["metadata"]["name"]] = crd_file["filename"]
    assert installed["coevolutionruns.acdc.dev"].endswith(CRD_FILE)
    assert sorted(installed) == ["clusterkopfpeerings.kopf.dev", "coevolutionruns.acdc.dev", "kopfpeerings.kopf.dev"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_values_pass_schema_and_lint(name):
    values = VALUE_SETS[name]
    load_chart().validate_schema(values)
    report = helm.lint(str(CHART_DIR), values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"logLevel": "verbose"}, "/logLevel"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "/watchNamespaces/0"),
        ({"security": {"allowedServerArgs": ["--no-such-flag"]}}, "/security/allowedServerArgs/0"),
        ({"security": {"allowedSecrets": ["Bad Name"]}}, "/security/allowedSecrets/0"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"prometheusRule": {"childFailures": {"window": "one hour"}}}, "/prometheusRule/childFailures/window"),
        ({"imagee": {}}, "imagee"),
    ],
)
def test_schema_rejects_mistakes(bad, where):
    with pytest.raises(helm.HelmValuesError, match=where):
        load_chart().validate_schema(bad)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_are_strictly_valid(name):
    docs = render(VALUE_SETS[name])
    assert docs
    for doc in docs:
        if doc["kind"] in MONITORING_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        if doc["kind"] in PEERING_KINDS:
            assert doc["apiVersion"] == "kopf.dev/v1"
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_deployment_is_locked_down_and_probed():
    (deployment,) = by_kind(render({}), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["port"] == "health"
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert {"name": "metrics", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert container["image"] == "ghcr.io/acdc-operator/acdc-operator:0.1.0"


def test_metrics_service_selects_the_operator_pods():
    docs = render({"serviceMonitor": {"enabled": True}})
    (deployment,) = by_kind(docs, "Deployment")
    (service,) = by_kind(docs, "Service")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["name"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_default_install_is_namespaced_to_the_release_namespace():
    docs = render({})
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    (role,) = by_kind(docs, "Role")
    (binding,) = by_kind(docs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == rbac.rules("namespaced")
    (deployment,) = by_kind(docs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--namespace={NAMESPACE}" in args and "--all-namespaces" not in args


def test_cluster_wide_and_watch_namespaces_together_are_refused():
    with pytest.raises(Exception, match="either clusterWide or watchNamespaces"):
        render({"clusterWide": True, "watchNamespaces": ["research"]})


def test_cluster_wide_install_gets_the_controllers_cluster_rules():
    docs = render({"clusterWide": True})
    (role,) = by_kind(docs, "ClusterRole")
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert role["rules"] == rbac.rules("cluster")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert not by_kind(docs, "Role")
    (deployment,) = by_kind(docs, "Deployment")
    assert not [a for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--namespace")]


def test_namespaced_install_gets_a_role_per_watched_namespace():
    docs = render({"watchNamespaces": ["research", "team-b"]})
    roles = by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["research", "team-b"]
    assert all(r["rules"] == rbac.rules("namespaced") for r in roles)
    assert sorted(b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding")) == ["research", "team-b"]
    assert not by_kind(docs, "ClusterRole")
    (deployment,) = by_kind(docs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=research" in args and "--namespace=team-b" in args


def test_dashboard_configmap_carries_the_generated_dashboard():
    (configmap,) = by_kind(render({}), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"]["acdc-coevolution-run.json"] + "\n" == generated_files()["files/dashboard.json"]
    assert not by_kind(render({"dashboard": {"enabled": False}}), "ConfigMap")


def test_notes_name_the_dashboard_and_metrics_service():
    notes = load_chart().render({}, name="acdc", namespace=NAMESPACE)["acdc-operator/templates/NOTES.txt"]
    assert "acdc-acdc-operator-metrics" in notes and "AC/DC coevolution run" in notes


def test_server_arg_choices_are_the_operators_dangerous_flags():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    enum = schema["properties"]["security"]["properties"]["allowedServerArgs"]["items"]["enum"]
    assert enum == sorted(DANGEROUS)


def test_results_reader_role_is_opt_in_and_holds_exactly_the_fetch_rules():
    assert not [r for r in by_kind(render({}), "ClusterRole") if r["metadata"]["name"].endswith("-results-reader")]
    (role,) = [r for r in by_kind(render({"resultsReader": {"create": True}}), "ClusterRole")
               if r["metadata"]["name"].endswith("-results-reader")]
    assert role["rules"] == rbac.results_reader_rules()
    verbs = {(rule["resources"][0], verb) for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {("coevolutionruns", "get"), ("pods", "create"), ("pods", "get"), ("pods", "delete"),
                     ("pods/proxy", "get")}
