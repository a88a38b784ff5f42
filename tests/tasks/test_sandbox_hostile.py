"""Hostile and malformed task code: each is contained as a recorded failure; the run goes on."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from acdc.tasks.sandbox import SandboxPool, ScoreItem
from tests.progress import run_progressing

from .conftest import make_task


@pytest.fixture(scope="module")
def listener() -> tuple[socket.socket, list[object]]:
    """A TCP server on the host's loopback that records any connection a task makes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[object] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(server.accept())
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    yield server, accepted
    server.close()


def test_hostile_corpus_is_contained(pool: SandboxPool, tmp_path: Path, listener, monkeypatch) -> None:
    server, accepted = listener
    outside = tmp_path / "outside.txt"
    port = server.getsockname()[1]
    monkeypatch.setenv("ACDC_TEST_SECRET", "hunter2")
    good = make_task(tmp_path, "good", "return 1.0 if submission == 'right' else 0.0")
    hostile = {
        "busy_loop": ("while True:\n    pass", "timeout"),
        "sleeps": ("import time\ntime.sleep(60)", "timeout"),
        "fork_bomb": ("while True:\n    os.fork()", "violation"),
        "ten_gigabytes": ("block = bytearray(10 * 2**30)\nreturn 1.0", "memory"),
        "socket": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nreturn 1.0",
                   "violation"),
        "write_outside": (f"open({str(outside)!r}, 'w').write('pwned')\nreturn 1.0", "violation"),
        "huge_file": ("open('big.bin', 'wb').write(b'0' * (64 << 20))\nreturn 1.0", "violation"),
        "raises": ("raise ValueError('task bug')", "exception"),
        "hard_exit": ("os._exit(3)", "exception"),
        "returns_string": ("return 'yes'", "bad_return"),
        "returns_none": ("return None", "bad_return"),
        "returns_nan": ("return float('nan')", "bad_return"),
    }
    items = [ScoreItem(good, {"x": 1}, "right")]
    for name, (body, _) in hostile.items():
        items.append(ScoreItem(make_task(tmp_path, name, body), {"x": 1}, "a"))
    items.append(ScoreItem(good, {"x": 1}, "wrong"))
    results = pool.score(items)
    assert results[0].score == 1.0 and results[0].kind == "ok"
    assert results[-1].score == 0.0 and results[-1].kind == "ok"
    for (name, (_, kind)), result in zip(hostile.items(), results[1:-1], strict=True):
        assert (name, result.kind) == (name, kind), result.error
        assert result.score is None and not result.solved
    assert not outside.exists()
    assert accepted == []


def test_environment_output_and_tmp_are_private(pool: SandboxPool, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ACDC_TEST_SECRET", "hunter2")
    reads_env = make_task(tmp_path, "env", """
allowed = {"HOME", "TMPDIR", "PATH", "LANG", "LC_CTYPE"}
return 1.0 if set(os.environ) <= allowed and "hunter2" not in str(os.environ) else 0.0""")
    prints = make_task(tmp_path, "prints", """
print("x" * (8 << 20))
os.write(1, b"{\\"type\\": \\"done\\"}\\n" * 1000)
return 1.0""")
    tmp_writer = make_task(tmp_path, "tmp_writer", """
open("/tmp/acdc_sandbox_probe", "w").write("x")
return 1.0""")
    results = pool.score([ScoreItem(reads_env, {}, ""), ScoreItem(prints, {}, ""), ScoreItem(tmp_writer, {}, "")])
    assert [r.score for r in results[:2]] == [1.0, 1.0], [r.error for r in results]
    assert results[2].kind == "violation"
    assert not Path("/tmp/acdc_sandbox_probe").exists()


def test_network_is_isolated_by_namespace_where_allowed(pool: SandboxPool) -> None:
    report = pool.confinement
    if os.geteuid() != 0:
        pytest.skip("not root: network isolation is the pod's NetworkPolicy")
    assert report["network_namespace"] and report["uid_dropped"]


def test_malformed_task_code(pool: SandboxPool, tmp_path: Path) -> None:
    syntax = tmp_path / "syntax"
    syntax.mkdir()
    (syntax / "task.py").write_text("class TaskFamily(:\n    pass\n")
    no_family = tmp_path / "no_family"
    no_family.mkdir()
    (no_family / "task.py").write_text("x = 1\n")
    no_score = tmp_path / "no_score"
    no_score.mkdir()
    (no_score / "task.py").write_text(
        "class TaskFamily:\n    def get_tasks():\n        return {'1': {}}\n"
        "    def get_instructions(t):\n        return 'i'\n")
    bad_instructions = make_task(tmp_path, "bad_instructions", "return 1.0")
    source = (bad_instructions / "task.py").read_text().replace('return "instructions"', "return 42")
    (bad_instructions / "task.py").write_text(source)
    list_tasks = make_task(tmp_path, "list_tasks", "return 1.0", tasks="[1, 2]")
    unserialisable = make_task(tmp_path, "unserialisable", "return 1.0", tasks='{"1": {"f": object()}}')
    results = pool.materialize([syntax, no_family, no_score, bad_instructions, list_tasks, unserialisable,
                                tmp_path / "missing"])
    kinds = [r.kind for r in results]
    assert kinds == ["exception", "exception", "exception", "bad_return", "bad_return", "bad_return", "exception"]
    assert "SyntaxError" in (results[0].error or "")
    assert "TaskFamily" in (results[1].error or "")
    assert "score" in (results[2].error or "")
    assert not any(r.ok for r in results)


def test_oversized_materialize_message_is_a_violation(pool: SandboxPool, tmp_path: Path) -> None:
    huge = make_task(tmp_path, "huge", "return 1.0", tasks='{"1": {"blob": "x" * (4 << 20)}}')
    small = make_task(tmp_path, "small", "return 1.0")
    results = pool.materialize([huge, small])
    assert results[0].kind == "violation"
    assert results[1].ok and results[1].instances[0].instructions == "instructions"


def test_sandbox_works_when_python_lives_under_tmp(tmp_path: Path) -> None:
    """CI may clone the project (and its virtualenv) under /tmp, which the sandbox covers with
    its private work dir: the interpreter's tree must stay visible, read-only, and confined."""
    import sys
    import textwrap

    venv = tmp_path / "venv"
    assert run_progressing([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    task = make_task(tmp_path / "tasks", "echo", "return 1.0 if submission == 'ok' else 0.0")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from acdc.tasks.sandbox import SandboxPool, ScoreItem
        with SandboxPool(1) as pool:
            (materialized,) = pool.materialize([Path({str(task)!r})])
            data = materialized.instances[0].data
            print([r.score for r in pool.score([ScoreItem(Path({str(task)!r}), data, "ok")])], pool.confinement)
    """)
    operator_dir = Path(__file__).resolve().parents[2] / "operator"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(operator_dir), *sys.path[1:]])}
    result = run_progressing([str(venv / "bin" / "python"), "-c", script], env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("[1.0]"), result.stdout
    if os.geteuid() == 0:
        assert "'mount_namespace': True" in result.stdout and "'uid_dropped': True" in result.stdout
