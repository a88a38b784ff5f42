"""Render the real chart with the Helm SDK (Helm v4, no helm binary) for the chart tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "acdc-operator"
RELEASE, NAMESPACE = "acdc", "acdc-system"


def load_chart() -> helm.Chart:
    return helm.Chart.load(str(CHART_DIR))


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest the chart renders for ``values`` (NOTES.txt and empty documents left out)."""
    rendered = load_chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]
