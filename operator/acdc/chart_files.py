"""Write the Helm chart's generated files from their single sources in this package.

The chart ships copies of things the code defines: the CRD (from the pydantic spec), the
Grafana dashboard (from ``acdc.metrics.dashboard``) and the operator's RBAC rules (from
``acdc.controller.rbac``). A test compares each copy with ``generated_files()``, so
editing a copy by hand, or changing a source without regenerating, fails CI.

    python -m acdc.chart_files charts/acdc-operator crds/coevolutionrun.yaml
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acdc.atomic import dump_yaml, write_text
from acdc.controller import rbac
from acdc.metrics.dashboard import render_dashboard
from acdc.spec.crd import render_crd

CRD_FILE = "crds/coevolutionrun.yaml"
DASHBOARD_FILE = "files/dashboard.json"
RBAC_FILE = "files/rbac-rules.yaml"


def rbac_rules_text() -> str:
    """Both scopes of the controller's rules (the chart picks one by ``watchNamespaces``) and
    the users' results-reader rules (the opt-in ``resultsReader`` ClusterRole)."""
    scopes: dict[str, object] = {scope: rbac.rules(scope) for scope in ("namespaced", "cluster")}
    scopes["resultsReader"] = rbac.results_reader_rules()
    # A JSON round trip unshares lists, so the YAML carries no anchors.
    return "# Generated from acdc.controller.rbac.rules(); do not edit by hand.\n" + dump_yaml(json.loads(json.dumps(scopes)))


def generated_files() -> dict[str, str]:
    """Chart-relative path -> exact content of every generated chart file."""
    return {CRD_FILE: render_crd(), DASHBOARD_FILE: render_dashboard(), RBAC_FILE: rbac_rules_text()}


def write_chart_files(chart_dir: Path, crd_copy: Path | None = None) -> list[Path]:
    """Write the generated files (atomically) and, if given, the repository's own CRD copy."""
    written = []
    for relative, text in generated_files().items():
        write_text(chart_dir / relative, text)
        written.append(chart_dir / relative)
    if crd_copy is not None:
        write_text(crd_copy, render_crd())
        written.append(crd_copy)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="regenerate the Helm chart's generated files")
    parser.add_argument("chart_dir", type=Path)
    parser.add_argument("crd_copy", type=Path, nargs="?", help="also write the CRD here (crds/coevolutionrun.yaml)")
    args = parser.parse_args(argv)
    for path in write_chart_files(args.chart_dir, args.crd_copy):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
