"""The report's charts say what they show: labelled heatmap columns, visible zero bars,
whole-number count axes and the note on why coverage and fitness part ways."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from acdc.report import render, svg
from acdc.report.data import GenerationRow

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(figure: str) -> ET.Element:
    match = re.search(r"<svg.*?</svg>", figure, re.S)
    assert match, figure[:200]
    return ET.fromstring(match.group(0))


def texts(root: ET.Element, cls: str | None = None) -> list[ET.Element]:
    return [t for t in root.iter("{http://www.w3.org/2000/svg}text") if cls is None or t.get("class") == cls]


def test_every_heatmap_column_is_labelled_with_its_task() -> None:
    tasks = [f"task_{i:06d}_add_d{i % 9}" for i in range(60)]
    root = parse(svg.heatmap("skills", ["seed_a", "seed_b"], tasks, [[1.0] * 60, [0.0] * 60]))
    labels = texts(root, "column")
    assert [t.text for t in labels] == tasks  # visible text, not only the cells' hover titles
    assert all("rotate(-90" in t.get("transform", "") and float(t.get("font-size")) >= 9 for t in labels)
    xs = [float(t.get("x")) for t in labels]
    assert min(b - a for a, b in zip(xs, xs[1:], strict=False)) >= 9, "labels of neighbouring columns overlap"
    height = float(root.get("viewBox").split()[3])
    longest = max(len(name) for name in tasks)
    assert all(float(t.get("y")) + 5 * longest <= height for t in labels), "labels run off the picture"


def test_long_task_names_are_shortened_not_dropped() -> None:
    name = "task_000123_" + "x" * 60
    (label,) = texts(parse(svg.heatmap("skills", ["m"], [name], [[0.5]])), "column")
    assert label.text.endswith("…") and name.startswith(label.text[:-1])


def test_a_zero_bar_is_drawn_and_labelled() -> None:
    root = parse(svg.grouped_bars("heldout", ["all", "combined"], {"seeds": [0.5, 0.0], "task force": [0.75, 0.25]},
                                  "coverage"))
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "mark"]
    zero = next(r for r in bars if r.find("s:title", NS).text.endswith(": 0.000"))
    assert float(zero.get("height")) >= svg.ZERO_BAR
    (label,) = texts(root, "zero")
    assert label.text == "0"
    assert abs(float(label.get("x")) - (float(zero.get("x")) + float(zero.get("width")) / 2)) < 2


@pytest.mark.parametrize("top", [1, 7, 12, 33, 250, 999])
def test_count_axes_have_whole_number_ticks(top: int) -> None:
    root = parse(svg.stacked_bars("pool", [0, 1], {"easy": [top, top // 2], "hard": [0, 1]}, "generation",
                                  "active tasks", {"easy": "#0f0", "hard": "#f00"}))
    ticks = [t.text for t in texts(root) if t.get("text-anchor") == "end"]
    assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks), ticks
    values = [int(t) for t in ticks]
    assert values[0] == 0 and values[-1] >= max(top, top // 2 + 1) and len(values) <= 6


def test_the_coverage_plot_explains_an_adapting_pool() -> None:
    rows = [GenerationRow(generation=g, best_fitness=0.9 - 0.1 * g, mean_fitness=0.6 - 0.1 * g, coverage=0.8 + 0.1 * g,
                          pool=12, bands={}) for g in range(3)]
    root = parse(render.fitness_section(rows))
    note = " ".join(t.text for t in texts(root, "note"))
    assert "pool adapts" in note and "1.0" in note and "fitness" in note
