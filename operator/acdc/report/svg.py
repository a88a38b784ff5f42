"""Inline SVG charts written by hand, so the report opens offline and needs no JS or CDN.

Every data-bearing shape carries ``class="mark"``: the report test counts them per plot
to prove each plot drew something. Coordinates are plain numbers in a fixed viewBox;
the browser scales the picture to the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from acdc.engine.solved import SOLVED_THRESHOLD

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
WIDTH, HEIGHT = 640, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 150, 16, 40
MAX_X_TICKS = 12
COLUMN_LABEL_PX = 11.0  # a column no narrower than its 9 px vertical label
COLUMN_LABEL_CHARS = 28
ZERO_BAR = 2.0  # px: a zero bar is drawn as a visible stub, labelled 0


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass(frozen=True)
class Axes:
    """Linear maps from data ranges onto the plotting area of the standard canvas."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return MARGIN_LEFT + (value - self.x_min) / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return HEIGHT - MARGIN_BOTTOM - (value - self.y_min) / span * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)


def _svg(plot: str, body: Sequence[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (f'<svg class="plot" data-plot="{escape(plot)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img">{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {extra}>'
            f"{escape(text)}</text>")


def _axes_frame(axes: Axes, x_label: str, y_label: str, x_ticks: Sequence[float], y_ticks: Sequence[float],
                fmt_x: Callable[[float], str] = lambda v: f"{v:g}") -> list[str]:
    left, bottom = MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM
    out = [f'<line x1="{left}" y1="{MARGIN_TOP}" x2="{left}" y2="{bottom}" stroke="#333"/>',
           f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{bottom}" stroke="#333"/>']
    for t in x_ticks:
        out.append(_text(axes.x(t), bottom + 14, fmt_x(t), "middle"))
    for t in y_ticks:
        out.append(f'<line x1="{left}" y1="{axes.y(t):.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{axes.y(t):.1f}" '
                   'stroke="#eee"/>')
        out.append(_text(left - 6, axes.y(t) + 4, f"{t:g}", "end"))
    out.append(_text((left + WIDTH - MARGIN_RIGHT) / 2, HEIGHT - 6, x_label, "middle"))
    out.append(_text(14, (MARGIN_TOP + bottom) / 2, y_label, "middle",
                     extra=f'transform="rotate(-90 14 {(MARGIN_TOP + bottom) / 2:.1f})"'))
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = MARGIN_TOP + 8 + i * 16
        out.append(f'<rect x="{WIDTH - MARGIN_RIGHT + 12}" y="{y - 8}" width="10" height="10" fill="{colour(i)}"/>')
        out.append(_text(WIDTH - MARGIN_RIGHT + 26, y + 1, name))
    return out


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [round(low + i * step, 6) for i in range(count)]


def count_ticks(high: int, most: int = 6) -> list[int]:
    """Whole-number ticks from 0 covering ``high`` (a count axis must not read 8.25 tasks).

    The step is the smallest of 1, 2, 5, 10, 20, 50... giving at most ``most`` ticks; the last
    tick is at or above ``high``, so it doubles as the axis maximum.
    """
    step, scale = 1, 1
    while True:
        for factor in (1, 2, 5):
            step = factor * scale
            if -(-max(high, 1) // step) + 1 <= most:
                top = -(-max(high, 1) // step) * step
                return list(range(0, top + 1, step))
        scale *= 10


def _note(lines: Sequence[str], first_row: int) -> list[str]:
    """Wrapped lines of explanation in the legend column, below ``first_row`` legend entries."""
    return [_text(WIDTH - MARGIN_RIGHT + 12, MARGIN_TOP + 8 + (first_row + 1) * 16 + i * 13, line, size=10,
                  extra='class="note" fill="#555"') for i, line in enumerate(lines)]


def line_chart(plot: str, series: Mapping[str, Sequence[tuple[float, float]]], x_label: str, y_label: str,
               y_range: tuple[float, float] | None = None, note: Sequence[str] = ()) -> str:
    """One polyline (and a dot per point) per named series; ``note`` lines go under the legend."""
    points = [p for values in series.values() for p in values]
    xs, ys = [p[0] for p in points] or [0.0], [p[1] for p in points] or [0.0]
    y_min, y_max = y_range or (min(0.0, min(ys)), max(ys) or 1.0)
    axes = Axes(min(xs), max(xs), y_min, y_max)
    x_values = sorted(set(xs))
    x_ticks = x_values[:: max(1, len(x_values) // MAX_X_TICKS)]
    body = _axes_frame(axes, x_label, y_label, x_ticks, _ticks(y_min, y_max))
    for i, (_, values) in enumerate(series.items()):
        path = " ".join(f"{axes.x(x):.1f},{axes.y(y):.1f}" for x, y in values)
        body.append(f'<polyline class="mark" points="{path}" fill="none" stroke="{colour(i)}" stroke-width="2"/>')
        body += [f'<circle class="mark" cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="3" fill="{colour(i)}">'
                 f"<title>{x:g}: {y:.3f}</title></circle>" for x, y in values]
    return _svg(plot, body + _legend(list(series)) + _note(note, len(series)))


def stacked_bars(plot: str, categories: Sequence[float], stacks: Mapping[str, Sequence[int]], x_label: str,
                 y_label: str, colours: Mapping[str, str]) -> str:
    """Bars per category, split into named stacks (e.g. tasks per difficulty band)."""
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(categories))]
    y_ticks = count_ticks(max(totals, default=0))
    axes = Axes(-0.5, len(categories) - 0.5, 0, y_ticks[-1])
    body = _axes_frame(axes, x_label, y_label, [], y_ticks)
    width = (axes.x(1) - axes.x(0)) * 0.7
    for i, category in enumerate(categories):
        body.append(_text(axes.x(i), HEIGHT - MARGIN_BOTTOM + 14, f"{category:g}", "middle"))
        base = 0
        for name, values in stacks.items():
            if values[i]:
                top = base + values[i]
                body.append(f'<rect class="mark" x="{axes.x(i) - width / 2:.1f}" y="{axes.y(top):.1f}" '
                            f'width="{width:.1f}" height="{axes.y(base) - axes.y(top):.1f}" fill="{colours[name]}">'
                            f"<title>{name}: {values[i]}</title></rect>")
                base = top
    legend = []
    for i, name in enumerate(stacks):
        y = MARGIN_TOP + 8 + i * 16
        legend.append(f'<rect x="{WIDTH - MARGIN_RIGHT + 12}" y="{y - 8}" width="10" height="10" '
                      f'fill="{colours[name]}"/>')
        legend.append(_text(WIDTH - MARGIN_RIGHT + 26, y + 1, name))
    return _svg(plot, body + legend)


def grouped_bars(plot: str, categories: Sequence[str], groups: Mapping[str, Sequence[float]], y_label: str) -> str:
    """Side-by-side bars per category, one colour per group, values in [0, 1]."""
    axes = Axes(-0.5, len(categories) - 0.5, 0, 1)
    body = _axes_frame(axes, "", y_label, [], _ticks(0, 1))
    slot = (axes.x(1) - axes.x(0)) * 0.8
    width = slot / max(len(groups), 1)
    for i, category in enumerate(categories):
        body.append(_text(axes.x(i), HEIGHT - MARGIN_BOTTOM + 14, category, "middle"))
        for j, (name, values) in enumerate(groups.items()):
            x = axes.x(i) - slot / 2 + j * width
            top = min(axes.y(values[i]), axes.y(0) - ZERO_BAR)
            body.append(f'<rect class="mark" x="{x:.1f}" y="{top:.1f}" width="{width * 0.9:.1f}" '
                        f'height="{axes.y(0) - top:.1f}" fill="{colour(j)}" stroke="{colour(j)}">'
                        f"<title>{name}, {category}: {values[i]:.3f}</title></rect>")
            if values[i] == 0:  # a measured zero, not a missing bar: say so
                body.append(_text(x + width * 0.45, top - 3, "0", "middle", size=9, extra='class="zero"'))
    return _svg(plot, body + _legend(list(groups)))


def heatmap(plot: str, rows: Sequence[str], columns: Sequence[str], values: Sequence[Sequence[float | None]]) -> str:
    """Models x tasks: green solved, pale failed, grey unscored; one rect per cell.

    Every column carries its task's name, written vertically under it: with many tasks the
    picture grows wider (the page scrolls it) rather than dropping the labels.
    """
    label_width, top = 150, 16
    cell_w = max(COLUMN_LABEL_PX, min(18.0, 640 / max(len(columns), 1)))
    cell_h = 16
    names = [name if len(name) <= COLUMN_LABEL_CHARS else name[:COLUMN_LABEL_CHARS - 1] + "…" for name in columns]
    label_h = 6 + 6 * max((len(name) for name in names), default=0)
    width = int(label_width + max(cell_w * len(columns), 220) + 10)  # room for the axis note
    grid_bottom = top + cell_h * len(rows)
    height = int(grid_bottom + label_h + 24)
    body = []
    for i, row in enumerate(rows):
        y = top + i * cell_h
        body.append(_text(label_width - 6, y + 12, row, "end"))
        for j, value in enumerate(values[i]):
            fill = "#ccc" if value is None else "#2ca02c" if value >= SOLVED_THRESHOLD else "#fbe3d6"
            shown = "unscored" if value is None else f"{value:.2f}"
            body.append(f'<rect class="mark" x="{label_width + j * cell_w:.1f}" y="{y}" width="{cell_w - 1:.1f}" '
                        f'height="{cell_h - 1}" fill="{fill}"><title>{escape(row)} · {escape(columns[j])}: '
                        f"{shown}</title></rect>")
    for j, name in enumerate(names):
        x, y = label_width + j * cell_w + cell_w / 2 + 3, grid_bottom + 4
        body.append(_text(x, y, name, "end", size=9,
                          extra=f'class="column" transform="rotate(-90 {x:.1f} {y:.1f})"'))
    body.append(_text(label_width, height - 8, f"{len(columns)} active tasks (canonical order) →"))
    return _svg(plot, body, width, height)


def scatter(plot: str, points: Sequence[tuple[float, float, int, str]], x_label: str, y_label: str,
            legend_title: str) -> str:
    """Points (x, y, group, tooltip) coloured by group (e.g. the generation a task was made in)."""
    xs, ys = [p[0] for p in points] or [0.0], [p[1] for p in points] or [0.0]
    pad_x, pad_y = (max(xs) - min(xs)) * 0.05 or 1.0, (max(ys) - min(ys)) * 0.05 or 1.0
    axes = Axes(min(xs) - pad_x, max(xs) + pad_x, min(ys) - pad_y, max(ys) + pad_y)
    body = _axes_frame(axes, x_label, y_label, [], [])
    groups = sorted({p[2] for p in points})
    body += [f'<circle class="mark" cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="4" fill="{colour(groups.index(g))}" '
             f'fill-opacity="0.8"><title>{escape(tip)}</title></circle>' for x, y, g, tip in points]
    return _svg(plot, body + _legend([f"{legend_title} {g}" for g in groups]))


def lineage_tree(plot: str, nodes: Mapping[str, tuple[int, str]], edges: Sequence[tuple[str, str]],
                 highlight: set[str]) -> str:
    """A layered DAG: columns are generations (seeds at the left), edges run parent -> child.

    ``nodes`` maps id -> (column, label); highlighted nodes (the best models) are drawn larger.
    """
    columns: dict[int, list[str]] = {}
    for node, (column, _) in sorted(nodes.items(), key=lambda kv: (kv[1][0], kv[0])):
        columns.setdefault(column, []).append(node)
    order = sorted(columns)
    col_w, row_h = 150, 34
    width = int(40 + col_w * max(len(order), 1))
    height = int(30 + row_h * max((len(v) for v in columns.values()), default=1))
    where = {node: (30 + order.index(c) * col_w, 24 + i * row_h) for c, ids in columns.items()
             for i, node in enumerate(ids)}
    body = [_text(30 + order.index(c) * col_w, 12, "seeds" if c < 0 else f"gen {c}") for c in order]
    for parent, child in edges:
        (x1, y1), (x2, y2) = where[parent], where[child]
        body.append(f'<path class="mark" d="M{x1:.1f},{y1:.1f} C{(x1 + x2) / 2:.1f},{y1:.1f} '
                    f'{(x1 + x2) / 2:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#999"/>')
    for node, (x, y) in where.items():
        big = node in highlight
        body.append(f'<circle class="mark" cx="{x}" cy="{y}" r="{7 if big else 4}" '
                    f'fill="{"#d62728" if big else "#1f77b4"}"><title>{escape(nodes[node][1])}</title></circle>')
        body.append(_text(x + 9, y + 4, node, size=10))
    return _svg(plot, body, width, height)
