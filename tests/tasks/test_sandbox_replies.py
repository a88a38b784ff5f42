"""What parsing a task's reply line costs the runner: bounded by the line's bytes whatever
the task puts in it, and every way it can fail is that task's own failure (``TaskFailed``)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from acdc.phases.faults import Fault, classify
from acdc.tasks.sandbox import SandboxLimits, SandboxPool, ScoreItem, process
from acdc.tasks.sandbox.process import REQUEST_CONTAINERS, TaskFailed, parse_line

from .conftest import make_task

LIMITS = SandboxLimits()
COST_PER_BYTE = 16
"""The most a line may cost to parse, in bytes of memory for each byte its line cap allows: a
number or string costs at most about 13 times its bytes (``"ab",``: a 51-byte str and its
pointer), objects and arrays more, but only ``line_containers`` of them are parsed."""


def _peak(parse: Callable[[], object]) -> int:
    """The Python memory that ``parse`` held at its peak, in bytes."""
    tracemalloc.start()
    try:
        parse()
    except TaskFailed:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _list_line(prefix: bytes, unit: bytes, suffix: bytes, size: int) -> bytes:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + b"0" + suffix


@pytest.mark.parametrize(("line", "bound"), [
    pytest.param(_list_line(b'{"score": [', b"{}, ", b"]}", LIMITS.message_bytes), REQUEST_CONTAINERS, id="dicts"),
    pytest.param(_list_line(b'{"score": [', b"[], ", b"]}", LIMITS.message_bytes), REQUEST_CONTAINERS, id="lists"),
    pytest.param(_list_line(b'{"instances": [', b"{}, ", b"]}", LIMITS.line_bytes), LIMITS.line_containers,
                 id="materialization"),
])
def test_a_line_of_many_objects_or_arrays_is_refused_before_it_is_parsed(line: bytes, bound: int) -> None:
    """1 MB of ``{}`` cost the runner 48 MB to parse, and a materialisation at its line cap
    (4.9 MB) 230 MB: 1.6 million dicts, each checked, where a legitimate one holds a third."""
    with pytest.raises(TaskFailed, match="JSON objects and arrays") as refused:
        parse_line(line, bound)
    assert refused.value.kind == "violation"
    assert _peak(lambda: parse_line(line, bound)) < 2 * len(line)


@pytest.mark.parametrize("line", [
    _list_line(b'{"score": [', b"1.5, ", b"]}", LIMITS.message_bytes),
    _list_line(b'{"score": [', b'"ab", ', b"]}", LIMITS.message_bytes),
    _list_line(b'{"instances": [', b"[],", b"]}", 3 * LIMITS.line_containers - 20),
    _list_line(b'{"instances": [', b'"{", ', b"]}", LIMITS.line_bytes),
], ids=["numbers", "strings", "lists within the bound", "strings of braces"])
def test_what_a_line_costs_is_a_small_multiple_of_its_cap(line: bytes) -> None:
    """Within the bound a line costs what its values do; the walk that checks them holds one
    iterator per level of nesting, not a tuple per value (which doubled the cost)."""
    materialization = line.startswith(b'{"instances"')
    bound = LIMITS.line_containers if materialization else REQUEST_CONTAINERS
    cap = LIMITS.line_bytes if materialization else LIMITS.message_bytes
    assert len(line) <= cap
    assert _peak(lambda: parse_line(line, bound)) < COST_PER_BYTE * cap


def test_braces_inside_strings_are_not_objects() -> None:
    """Code and prose are full of ``{`` and ``[``: only those outside strings count, escaped
    quotes included, so an honest judge request or instruction of code is parsed."""
    code = 'def f(x):\n    return {"a": [x, "\\"{["]}\n' * 20_000
    request = {"judge": {"instructions": "Write f.", "submission": code, "criteria": ["{[", "]}"]}}
    assert parse_line(json.dumps(request).encode(), REQUEST_CONTAINERS) == request
    padded = json.dumps({"score": 1.0, "x": ["{" * 1000, [[], {"[": "{"}]]}).encode()
    with pytest.raises(TaskFailed, match="more than 3 JSON objects and arrays"):
        parse_line(padded, REQUEST_CONTAINERS)


def test_nesting_is_bounded_in_depth_and_by_the_parser() -> None:
    def nested(levels: int) -> bytes:
        return b'{"x": ' + b"[" * levels + b"]" * levels + b"}"

    assert parse_line(nested(process.MAX_REPLY_DEPTH - 1), LIMITS.line_containers)
    with pytest.raises(TaskFailed, match="deeper than"):
        parse_line(nested(process.MAX_REPLY_DEPTH), LIMITS.line_containers)
    with pytest.raises(TaskFailed, match="recursion") as deep:  # the parser's RecursionError, contained
        parse_line(nested(200_000), LIMITS.line_containers)
    assert deep.value.kind == "violation"


@pytest.mark.parametrize(("error", "kind"), [(MemoryError, "memory"), (RecursionError, "violation")])
def test_the_parser_running_out_of_memory_or_stack_is_the_tasks_failure(monkeypatch, error, kind) -> None:
    """Not an InfrastructureFault, which would stop every run that made the task."""
    def fail(*args: object, **kwargs: object) -> object:
        raise error()

    monkeypatch.setattr(process.json, "loads", fail)
    with pytest.raises(TaskFailed) as failed:
        parse_line(b'{"score": 1.0}', REQUEST_CONTAINERS)
    assert failed.value.kind == kind


def test_the_runner_running_out_of_memory_elsewhere_stops_the_run(pool: SandboxPool, monkeypatch,
                                                                   tmp_path: Path) -> None:
    task = make_task(tmp_path, "plain", "return 1.0")

    def spawn(slot: int) -> process.TaskProcess:
        raise MemoryError()

    monkeypatch.setattr(pool, "_spawn", spawn)
    with pytest.raises(MemoryError) as raised:
        pool.score([ScoreItem(task, {}, "a")])
    assert classify(raised.value) is Fault.INFRASTRUCTURE


def test_data_full_of_arrays_within_the_instance_cap_is_materialised(pool: SandboxPool, tmp_path: Path) -> None:
    """The bound admits the densest data ``maxInstanceKib`` does: 16 instances of 16,000 ``[]``
    each (64,000 bytes as JSON)."""
    task = make_task(tmp_path, "dense", "return 1.0", tasks="{str(i): [[]] * 16_000 for i in range(16)}")
    [result] = pool.materialize([task])
    assert result.ok, result.error
    assert [len(instance.data) for instance in result.instances] == [16_000] * 16
