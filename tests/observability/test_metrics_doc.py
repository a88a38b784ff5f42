"""docs/observability.md's metrics table lists exactly the families acdc.metrics declares.

The names, labels and types come from the code (acdc.metrics.families, the one source the
dashboard and alerts are checked against too), so a family added there without a row here,
a row naming a family that is gone, or a row with other labels or another type fails.
Counters are written as scraped (``_total``); histograms by their family name.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from acdc.metrics import MetricFamilies
from acdc.metrics.families import RUN_LABELS

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
_NAME = re.compile(r"`(acdc_\w+)(?:\{([\w,]*)\})?`")

# (type, labels other than namespace/run) by the name a reader queries.
Documented = dict[str, tuple[str, frozenset[str]]]


def documented_metrics(text: str) -> Documented:
    """The rows of the table under ``## Metrics``: one name or several per row, and either one
    type for all of them or one type per name, in order."""
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    metrics: Documented = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = _NAME.findall(cells[0]) if len(cells) >= 2 else []
        if not names:
            continue
        types = [t.strip() for t in cells[1].split(",")]
        assert len(types) in (1, len(names)), f"a row gives {len(types)} types for {len(names)} metrics: {line}"
        for i, (name, labels) in enumerate(names):
            assert name not in metrics, f"{name} has two rows"
            metrics[name] = (types[i % len(types)], frozenset(filter(None, labels.split(","))))
    return metrics


def declared_metrics() -> Documented:
    """Every family of a fresh MetricFamilies, by the name and labels a query uses."""
    declared: Documented = {}
    for metric in vars(MetricFamilies(CollectorRegistry())).values():
        if not isinstance(metric, (Gauge, Counter, Histogram)):
            continue
        kind = {Gauge: "gauge", Counter: "counter", Histogram: "histogram"}[type(metric)]
        name = metric._name + ("_total" if kind == "counter" else "")  # prometheus-client keeps no public name
        declared[name] = (kind, frozenset(metric._labelnames) - set(RUN_LABELS))
    return declared


def test_the_metrics_table_lists_every_family_the_code_exports() -> None:
    documented, declared = documented_metrics(DOC.read_text()), declared_metrics()
    assert declared, "MetricFamilies declares nothing"
    assert not declared.keys() - documented.keys(), \
        f"exported but missing from docs/observability.md: {sorted(declared.keys() - documented.keys())}"
    assert not documented.keys() - declared.keys(), \
        f"in docs/observability.md but not exported: {sorted(documented.keys() - declared.keys())}"
    wrong = {name: (documented[name], declared[name]) for name in declared if documented[name] != declared[name]}
    assert not wrong, f"documented (type, labels) differ from the code's: {wrong}"


def test_the_table_parser_reads_names_labels_and_types() -> None:
    text = ("# t\n\n## Metrics\n\n| metric | type | what |\n|---|---|---|\n"
            "| `acdc_a`, `acdc_b_total{x,y}` | gauge, counter | two |\n"
            "| `acdc_c{z}` | histogram | one |\n\n## Next\n\n| `acdc_d` | gauge | not metrics |\n")
    assert documented_metrics(text) == {"acdc_a": ("gauge", frozenset()),
                                        "acdc_b_total": ("counter", frozenset({"x", "y"})),
                                        "acdc_c": ("histogram", frozenset({"z"}))}
