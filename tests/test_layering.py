"""No import cycle between the packages of ``acdc`` (acdc.engine, acdc.phases, ...).

Every ``import`` counts: module level, inside functions (a deferred import is still a
dependency, only a later one) and under ``if TYPE_CHECKING:`` (an annotation that names
another package's class couples the two as much as a call does; a cycle hidden from the
interpreter is still one for a reader). The top-level modules (acdc.errors, acdc.atomic,
...) are packages of one file here.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "operator" / "acdc"
# Task code in the reference's format and the sandbox's script runtime: not modules of acdc.
SKIPPED = (SOURCE / "tasks" / "seeds", SOURCE / "toyworld" / "shipped")


def _package(module: str) -> str | None:
    """``acdc.engine.dns`` -> ``engine``; ``acdc.errors`` -> ``errors``; None outside acdc."""
    parts = module.split(".")
    if parts[0] != "acdc" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            yield base
            # `from acdc import metrics` imports the package acdc.metrics.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules whose imports make that edge."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if any(path.is_relative_to(skipped) for skipped in SKIPPED):
            continue
        source = _package(_module_name(path))
        if source is None:
            continue
        edges = graph.setdefault(source, {})
        for name in _imported(path):
            target = _package(name)
            if target is not None and target != source and (target in graph or (SOURCE / target).exists()
                                                            or (SOURCE / f"{target}.py").exists()):
                edges.setdefault(target, [])
                if _module_name(path) not in edges[target]:
                    edges[target].append(_module_name(path))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_packages_import_each_other_without_a_cycle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"{a} -> {b} (in {', '.join(graph[a][b])})" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("package import cycle:\n  " + "\n  ".join(edges))


def test_the_check_sees_a_cycle() -> None:
    """The checker itself: a made-up graph with a cycle is reported, one without is not."""
    assert find_cycle({"a": {"b": ["acdc.a.x"]}, "b": {"c": ["acdc.b.y"]}, "c": {"a": ["acdc.c.z"]}}) == [
        "a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ["acdc.a.x"]}, "b": {}, "c": {"a": ["acdc.c.z"]}}) is None
    graph = package_graph()
    assert "acdc.phases.merge" in graph["phases"]["models"]  # imported inside run(): still an edge
    assert graph["metrics"]["steps"] == ["acdc.metrics.recorder"]  # a module-level import
