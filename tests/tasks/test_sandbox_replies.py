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
from acdc.tasks.sandbox.process import REQUEST_BOUNDS, TaskFailed, parse_line

from .conftest import make_task

LIMITS = SandboxLimits()
REQUEST_COST = 4
"""The most a reply or judge request may cost to parse, in bytes of memory for each byte of its
cap: the line, its decoded copy and its strings, and at most ``REQUEST_BOUNDS.values`` values."""
MATERIALIZATION_COST = 8
"""The same for a materialisation: its data may hold one value for every 2 bytes of
``maxInstanceKib`` (each up to about 64 bytes as a Python object), but no more."""


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


@pytest.mark.parametrize(("line", "bounds"), [
    pytest.param(_list_line(b'{"score": [', b"{}, ", b"]}", LIMITS.message_bytes), REQUEST_BOUNDS, id="dicts"),
    pytest.param(_list_line(b'{"score": [', b"[], ", b"]}", LIMITS.message_bytes), REQUEST_BOUNDS, id="lists"),
    pytest.param(_list_line(b'{"instances": [', b"{}, ", b"]}", LIMITS.line_bytes), LIMITS.line_bounds,
                 id="materialization"),
])
def test_a_line_of_many_objects_or_arrays_is_refused_before_it_is_parsed(line: bytes, bounds) -> None:
    """1 MB of ``{}`` cost the runner 48 MB to parse, and a materialisation at its line cap
    (4.9 MB) 230 MB: 1.6 million dicts, each checked, where a legitimate one holds a third."""
    with pytest.raises(TaskFailed, match="JSON objects and arrays") as refused:
        parse_line(line, bounds)
    assert refused.value.kind == "violation"
    assert _peak(lambda: parse_line(line, bounds)) < 2 * len(line)


@pytest.mark.parametrize(("line", "bounds"), [
    pytest.param(_list_line(b'{"score": [', b'"ab",', b"]}", LIMITS.message_bytes), REQUEST_BOUNDS, id="strings"),
    pytest.param(_list_line(b'{"score": [', b"1000,", b"]}", LIMITS.message_bytes), REQUEST_BOUNDS, id="numbers"),
    pytest.param(_list_line(b'{"instances": [', b'"ab",', b"]}", LIMITS.line_bytes), LIMITS.line_bounds,
                 id="materialization"),
    pytest.param(_list_line(b'{"instances": [', b'"a,"', b"]}", LIMITS.line_bytes), LIMITS.line_bounds,
                 id="strings without separators"),  # the walk over strings stops, the line is invalid anyway
])
def test_a_line_of_many_short_values_is_refused_before_it_is_parsed(line: bytes, bounds) -> None:
    """1 MiB of ``"ab",`` cost the runner 13.6 MB to parse, a materialisation at its line cap
    63 MB (64 sandboxes: 4 GB): about 13 times its bytes, where a line within the value bound
    costs a small multiple of its cap (``test_what_a_line_costs_is_a_small_multiple_of_its_cap``)."""
    with pytest.raises(TaskFailed, match="JSON values") as refused:
        parse_line(line, bounds)
    assert refused.value.kind == "violation"
    assert _peak(lambda: parse_line(line, bounds)) < len(line) // 10


def _within(values: int, unit: bytes, prefix: bytes) -> bytes:
    """A list of as many ``unit`` as ``values`` allows (each one value and one separator)."""
    return prefix + unit * (values - 10) + b"0]}"


@pytest.mark.parametrize(("line", "materialization"), [
    (_within(REQUEST_BOUNDS.values, b'"ab",', b'{"score": ['), False),
    (b'{"score": ["' + b"x" * (LIMITS.message_bytes - 20) + b'"]}', False),
    (b'{"score": "' + b"\\u00e9" * ((LIMITS.message_bytes - 20) // 6) + b'"}', False),
    (_within(LIMITS.line_bounds.values // 2, b"[],", b'{"instances": ['), True),
    (_within(LIMITS.line_bounds.values, b'"ab",', b'{"instances": ['), True),
    (_within(LIMITS.line_bounds.values, b"1000,", b'{"instances": ['), True),
    (_within(LIMITS.line_bounds.values // 2, b'"{",', b'{"instances": ['), True),
], ids=["strings", "one long string", "escapes", "lists within the bound", "strings within the bound",
        "numbers within the bound", "strings of braces"])
def test_what_a_line_costs_is_a_small_multiple_of_its_cap(line: bytes, materialization: bool) -> None:
    """Within the bounds a line costs what its values do; the walk that checks them holds one
    iterator per level of nesting, not a tuple per value (which doubled the cost)."""
    bounds = LIMITS.line_bounds if materialization else REQUEST_BOUNDS
    cap = LIMITS.line_bytes if materialization else LIMITS.message_bytes
    assert len(line) <= cap
    parse_line(line, bounds)
    assert _peak(lambda: parse_line(line, bounds)) < (MATERIALIZATION_COST if materialization else REQUEST_COST) * cap


def test_a_judge_request_with_a_thousand_criteria_is_parsed() -> None:
    criteria = [f"criterion {n}: {{a, b}}" for n in range(1000)]
    request = {"judge": {"instructions": "i", "submission": "s", "criteria": criteria}}
    assert parse_line(json.dumps(request).encode(), REQUEST_BOUNDS) == request


def test_a_line_in_another_encoding_than_utf8_is_refused_before_it_is_parsed() -> None:
    """Given bytes, json.loads reads UTF-16 and UTF-32 as well; in UTF-16 the quote byte of
    ``\u2022`` opened a string for the count before parsing, hiding the 131,000 arrays after
    it: parsed, at 9 times the line's bytes."""
    line = ('{"score": ["a\u2022", ' + "[], " * ((LIMITS.message_bytes // 2 - 40) // 4) + '"b"]}').encode("utf-16-le")
    assert len(line) <= LIMITS.message_bytes
    with pytest.raises(TaskFailed) as refused:
        parse_line(line, REQUEST_BOUNDS)
    assert refused.value.kind == "violation"
    assert _peak(lambda: parse_line(line, REQUEST_BOUNDS)) < 2 * len(line)


def test_braces_inside_strings_are_not_objects() -> None:
    """Code and prose are full of ``{`` and ``[``: only those outside strings count, escaped
    quotes included, so an honest judge request or instruction of code is parsed."""
    code = 'def f(x):\n    return {"a": [x, "\\"{["]}\n' * 20_000
    request = {"judge": {"instructions": "Write f.", "submission": code, "criteria": ["{[", "]}"]}}
    assert parse_line(json.dumps(request).encode(), REQUEST_BOUNDS) == request
    padded = json.dumps({"score": 1.0, "x": ["{" * 1000, [[], {"[": "{"}]]}).encode()
    with pytest.raises(TaskFailed, match="more than 3 JSON objects and arrays"):
        parse_line(padded, REQUEST_BOUNDS)


def test_a_task_reported_error_is_one_printable_line() -> None:
    """A task's own error text is logged (a rejected task) and shown: newlines forged log lines,
    and escape sequences could rewrite the terminal that shows them."""
    error = "boom\n2026-12-03 INFO runner: run finished\x1b[2J\u202etxt.exe"
    failed = process.failure_of({"kind": "exception", "error": error})
    assert failed is not None and failed.kind == "exception"
    assert failed.error.isprintable() and "\\n2026" in failed.error and "\\x1b" in failed.error


def test_a_number_that_parses_to_infinity_is_refused() -> None:
    """``Infinity`` is refused as a constant, but ``1e999`` parsed to it, and instance data
    holding it was cached in instances.json as ``Infinity``, which is no JSON."""
    line = b'{"instances": [{"id": "1", "data": {"x": [-1e999]}, "instructions": "i"}]}'
    with pytest.raises(TaskFailed, match="too large for JSON") as refused:
        parse_line(line, LIMITS.line_bounds)
    assert refused.value.kind == "violation"


def test_nesting_is_bounded_in_depth_and_by_the_parser() -> None:
    def nested(levels: int) -> bytes:
        return b'{"x": ' + b"[" * levels + b"]" * levels + b"}"

    assert parse_line(nested(process.MAX_REPLY_DEPTH - 1), LIMITS.line_bounds)
    with pytest.raises(TaskFailed, match="deeper than"):
        parse_line(nested(process.MAX_REPLY_DEPTH), LIMITS.line_bounds)
    with pytest.raises(TaskFailed, match="recursion") as deep:  # the parser's RecursionError, contained
        parse_line(nested(200_000), LIMITS.line_bounds)
    assert deep.value.kind == "violation"


@pytest.mark.parametrize(("error", "kind"), [(MemoryError, "memory"), (RecursionError, "violation")])
def test_the_parser_running_out_of_memory_or_stack_is_the_tasks_failure(monkeypatch, error, kind) -> None:
    """Not an InfrastructureFault, which would stop every run that made the task."""
    def fail(*args: object, **kwargs: object) -> object:
        raise error()

    monkeypatch.setattr(process.json, "loads", fail)
    with pytest.raises(TaskFailed) as failed:
        parse_line(b'{"score": 1.0}', REQUEST_BOUNDS)
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
