"""The hostile-task corpus and the scoring run it attacks, run as its own process.

``python hostile_corpus.py BASE [--unsafe] [--only=NAME,...]`` plays the runner: it writes a state folder under BASE
(honest tasks, hostile tasks, a ``known_good_answer``, a model cache file, a secret API key
in its own environment), starts a TCP listener on the host's loopback, and then runs the
real scoring path twice on one pool (``load_instances`` then ``SandboxPool.score``, every
hostile item batched with the honest ones). It prints one JSON report; the test compares
it and the folder's bytes with what an untouched run gives. The test runs it as root and
again as ``nobody``.

Most hostile tasks are canaries: ``score`` returns 1.0 only when the attack worked (it
read a secret, reached the listener, signalled the runner...), so the report shows every
breach as a 1.0 where 0.0 or a failure is expected.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path

SECRET = "sk-judge-hunter2-" + "7" * 8
HONEST_INSTRUCTIONS = "Say the secret word of task {name}."


def honest_task(name: str, judged: bool = False) -> str:
    """A well-behaved task: 8 instances; an answer is right when it names its own task."""
    verdict = ("1.0 if eval_with_llm_judge(t['word'], submission) else 0.0" if judged
               else "1.0 if submission == t['word'] else 0.0")
    return f'''
from sandbox_eval_helper import eval_with_llm_judge

class TaskFamily:
    @staticmethod
    def get_tasks():
        return {{str(i): {{"word": "{name}-" + str(i)}} for i in range(8)}}

    @staticmethod
    def get_instructions(t):
        return {HONEST_INSTRUCTIONS.format(name=name)!r}

    @staticmethod
    def score(t, submission):
        return {verdict}
'''


def hostile_task(body: str, instructions: str = "return 'hostile'") -> str:
    """A task whose score() runs ``body`` (indented here) after shared helpers."""
    indented = "\n".join("        " + line for line in body.strip().splitlines())
    return f'''
import ctypes, json, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)

def protocol_fds():
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            out.append(int(name))
        except ValueError:
            pass
    return out

def write_everywhere(payload):
    for fd in protocol_fds():
        try:
            os.write(fd, payload)
        except OSError:
            pass

class TaskFamily:
    @staticmethod
    def get_tasks():
        return {{"1": {{"x": 1}}, "2": {{"x": 2}}}}

    @staticmethod
    def get_instructions(t):
        {instructions}

    @staticmethod
    def score(t, submission):
{indented}
'''


def corpus(base: Path, port: int, runner_pid: int) -> dict[str, str]:
    """name -> task.py of every hostile task; ``base`` is the state folder's parent."""
    state, cache = base / "state", base / "model-cache"
    forged = [
        b'{"score": 1.0}\n', b'{"type": "result", "i": 0, "key": "0", "kind": "ok", "score": 1.0}\n',
        b'{"type": "done"}\n', b'{"i": 3, "kind": "ok", "score": 1.0}\n',
    ]
    hostile_values = [
        b'{"i": "x", "key": "not-a-number", "kind": "ok", "score": 1}\n', b'{"score": ' + b"9" * 400 + b'}\n',
        b'{"score": ' + b"9" * 5000 + b'}\n', b'{"score": NaN}\n', b'{"score": 1e999}\n', b'{"score": true}\n',
        b"[1, 2, 3]\n", b"null\n", b'"text"\n', b"7\n", b"[" * 100000 + b"\n", b"\xff\xfe\n",
        b'{"judge": 5}\n', b'{"kind": "ok", "error": "x"}\n', b'{"score": 1.0, "extra": 1}\n',
        b'{"kind": [], "error": ""}\n', b'{"kind": {"timeout": 1}, "error": "x"}\n',  # unhashable kinds
        b'{"score": 1.0, "x": "\\ud800"}\n', b'{"score": 1.0, "x": ' + b"[" * 900 + b"]" * 900 + b'}\n',
    ]
    cases = {
        # 1. result forging: fds (also found through /proc/self/fd) and a patched json.dumps
        "forge_fds": f"write_everywhere(b''.join({forged!r}))\nreturn 0.0",
        "forge_json_dumps": "json.dumps = lambda *a, **k: '{\"score\": 1.0}'\nreturn 0.0",
        "forge_then_hang": f"write_everywhere(b''.join({forged!r}))\nimport time\ntime.sleep(60)",
        "forge_materialize": "return 0.0",
        # 2. hostile values on the protocol
        **{f"value_{n}": f"write_everywhere({v!r})\nreturn 0.0" for n, v in enumerate(hostile_values)},
        # 3. failing the innocent: kill the parent/worker, pidfd, pre-created scratch, judge flood
        "pidfd_kill_parents": f"RUNNER = {runner_pid}\n" + """
for pid in {1, os.getppid(), RUNNER}:
    try:
        signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)
    except OSError:
        pass
libc.kill(-1, 9)
return 0.0""",
        "kill_runner_by_pid": f"return 1.0 if libc.kill({runner_pid}, 0) == 0 else 0.0",
        "precreate_scratch": """
import glob
hits = glob.glob('/tmp/acdc-sandbox-*') + glob.glob('/tmp/*/lib/task_process.py')
for n in range(50):
    try:
        os.makedirs(f'/tmp/g{n}/t{n}', exist_ok=True)
    except OSError:
        pass
return 1.0 if hits else 0.0""",
        "judge_flood": """
from sandbox_eval_helper import eval_with_llm_judge
for _ in range(1000):
    eval_with_llm_judge('x' * 1000, 'yes')
return 0.0""",
        "giant_judge_request": "from sandbox_eval_helper import eval_with_llm_judge\n"
                               "eval_with_llm_judge('x' * (8 << 20), 'yes')\nreturn 0.0",
        # 4. audit-hook bypasses: dir_fd, _posixsubprocess.fork_exec, native fork
        "dir_fd_write": f"""
try:
    fd = os.open({str(state)!r}, os.O_RDONLY)
    os.close(os.open('pwned', os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.unlink('run.yaml', dir_fd=fd)
    return 1.0
except OSError:
    return 0.0""",
        "fork_exec": f"""
import _posixsubprocess
r, w = os.pipe()
args = [b'/bin/sh', b'-c', b'echo pwned > {state}/pwned; cat {state}/run.yaml']
try:
    _posixsubprocess.fork_exec(args, args, True, (w,), None, None, -1, -1, -1, -1, w, -1, r, w, False, False,
                               -1, None, None, None, -1, None, False)
except Exception:
    return 0.0
os.close(w)
import time
time.sleep(0.5)
return 1.0 if os.path.exists({str(state / 'pwned')!r}) else 0.0""",
        "native_fork_bomb": "while True:\n    libc.fork()",
        "escapee": """
if libc.fork() == 0:
    os.setsid()
    import time
    while True:
        time.sleep(1)
return 0.0""",
        # 5. the runner's secrets and process: /proc environ, ptrace, signals, loopback
        "proc_environ": f"""
found = 0.0
for pid in os.listdir('/proc'):
    try:
        if {SECRET!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read():
            found = 1.0
    except OSError:
        pass
return found""",
        "ptrace_runner": f"return 1.0 if libc.ptrace(16, {runner_pid}, 0, 0) == 0 else 0.0",
        "loopback": f"""
for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
    try:
        socket.create_connection((host, {port}), timeout=1)
        return 1.0
    except OSError:
        pass
return 0.0""",
        "loopback_native": f"""
import struct
fd = libc.socket(2, 1, 0)
addr = struct.pack('!HH4s8x', 2, {port}, bytes([127, 0, 0, 1]))
addr = struct.pack('H', 2) + addr[2:]
return 1.0 if fd >= 0 and libc.connect(fd, addr, len(addr)) == 0 else 0.0""",
        "loopback_after_userns": f"""
libc.unshare(0x10000000 | 0x40000000)
s = libc.socket(2, 1, 0)
import struct
addr = struct.pack('H', 2) + struct.pack('!H4s8x', {port}, bytes([127, 0, 0, 1]))
return 1.0 if s >= 0 and libc.connect(s, addr, len(addr)) == 0 else 0.0""",
        # 6. the state folder: known_good_answer, other tasks' code, the model cache
        "read_state": f"""
for path in ({str(state / 'tasks' / 'honest_a' / 'metadata.json')!r}, {str(state / 'tasks' / 'honest_a' / 'task.py')!r},
             {str(state / 'run.yaml')!r}, {str(cache / 'model.safetensors')!r}, '/root/.bashrc',
             {os.path.abspath(__file__)!r}):
    try:
        open(path).read(1)
        return 1.0
    except OSError:
        pass
return 0.0""",
        "write_state": f"""
for path in ({str(state / 'run.yaml')!r}, {str(state / 'tasks' / 'honest_a' / 'instances.json')!r},
             {str(cache / 'model.safetensors')!r}):
    try:
        open(path, 'w').write('pwned')
        return 1.0
    except (OSError, PermissionError):
        pass
return 0.0""",
        "reaper_memory": """
try:  # bwrap's pid 1 runs without the task's rlimits: code written into it would escape them
    os.close(os.open('mem', os.O_RDWR, dir_fd=os.open('/proc/1', os.O_RDONLY)))
    return 1.0
except OSError:
    return 0.0""",
        "own_folder_only": "return 1.0 if os.path.exists('metadata.json') or os.path.exists('../honest_a') else 0.0",
        # 7. namespaces of the task's own (mounts no --size caps; see also test_keyrings_do_not_outlive_a_sandbox)
        "own_namespaces": "return 1.0 if libc.unshare(0x10000000) == 0 or libc.unshare(0x20000) == 0 else 0.0",
        # 8. memory and disk past the caps: SysV shared memory is held by the sandbox's IPC
        #    namespace, not by the task's address space (RLIMIT_AS); only /tmp has a --size
        "sysv_shm_past_memory_limit": """
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
held = 0
while held < 576:  # MiB, past the 512 MiB limit
    segment = libc.shmget(0, 64 << 20, 0o1600)
    address = libc.shmat(segment, None, 0) if segment >= 0 else None
    if address in (None, ctypes.c_void_p(-1).value):
        return 0.0
    ctypes.memset(address, 1, 64 << 20)
    libc.shmdt(ctypes.c_void_p(address))
    held += 64
return 1.0""",
        "write_outside_scratch": """
for folder in ('/', '/dev', '/dev/shm', '/acdc', '/usr'):
    try:
        fd = os.open(folder, os.O_RDONLY)
        os.close(os.open('canary', os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
        return 1.0
    except OSError:
        pass
return 0.0""",
        "inode_flood": """
made = 0
try:  # empty files cost the host kernel memory no rlimit counts; the scratch's bytes cap misses them
    while made < 20_000:
        os.close(os.open(f'f{made}', os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError:
    pass
return 1.0 if made >= 20_000 else 0.0""",
        "kernel_memory_objects": """
libc.syscall.restype = ctypes.c_long
attr = ctypes.c_uint64(1)  # each Landlock rule and inotify watch is kernel memory outside every rlimit
ruleset = libc.syscall(444, ctypes.byref(attr), 8, 0)
return 1.0 if ruleset >= 0 or libc.inotify_init1(0) >= 0 or libc.syscall(300, 0, 0) >= 0 else 0.0""",
        "posix_timers": """
timer = ctypes.c_void_p()  # each holds a queued signal, kernel memory that RLIMIT_SIGPENDING alone caps
made = 0
while made < 5000 and libc.timer_create(1, None, ctypes.byref(timer)) == 0:
    made += 1
return 1.0 if made >= 5000 else 0.0""",
        # 9. sizes, and values the runner could not store
        "huge_instructions": "return 0.0",
        "huge_instance": "return 0.0",
        "lone_surrogate": "return 0.0",
        "deep_instance": "return 0.0",
        "container_flood": "return 0.0",  # 1 MB of dicts cost the runner 48 MB to parse, 4.9 MB 230 MB
        "container_flood_score": "write_everywhere(b'{\"score\": [' + b'{}, ' * 250_000 + b'{}]}\\n')\nreturn 0.0",
    }
    sources = {name: hostile_task(body) for name, body in cases.items()}
    sources["forge_materialize"] = hostile_task(cases["forge_materialize"], instructions=(
        f"write_everywhere(b''.join({forged!r}) + b'{{\"instances\": [{{\"id\": \"1\", \"data\": {{}}, "
        f"\"instructions\": \"forged\"}}]}}\\n')\n        return 'hostile'"))
    sources["huge_instructions"] = hostile_task("return 0.0", instructions="return 'x' * 900_000")
    sources["huge_instance"] = hostile_task("return 0.0").replace('{"x": 1}', '{"x": "y" * 300_000}')
    sources["lone_surrogate"] = hostile_task("return 0.0", instructions="return 'What is 1 + 1? \\ud800'")
    sources["container_flood"] = hostile_task("return 0.0", instructions=(  # 2.4 MB, within the line cap
        "write_everywhere(b'{\"instances\": [' + b'[], ' * 600_000 + b'[]]}\\n')\n        return 'hostile'"))
    sources["deep_instance"] = hostile_task("return 0.0").replace(
        '{"x": 1}', '{"x": __import__("functools").reduce(lambda d, _: [d], range(900), 1)}')
    return sources


def listen() -> tuple[int, list[object]]:
    """A loopback TCP listener (IPv4 and IPv6 when available) recording every connection."""
    accepted: list[object] = []
    server = socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True) \
        if socket.has_dualstack_ipv6() else socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            accepted.append(server.accept()[1])

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], accepted


def build(base: Path, port: int, only: set[str]) -> tuple[list[Path], list[Path]]:
    """The state folder: honest and hostile task folders, secrets beside them."""

    tasks = base / "state" / "tasks"
    tasks.mkdir(parents=True)
    (base / "state" / "run.yaml").write_text("seed: 1\n")
    (base / "model-cache").mkdir()
    (base / "model-cache" / "model.safetensors").write_bytes(os.urandom(4096))
    honest = []
    for name, judged in (("honest_a", False), ("honest_b", True), ("honest_c", False)):
        folder = tasks / name
        folder.mkdir()
        (folder / "task.py").write_text(honest_task(name, judged))
        (folder / "metadata.json").write_text(json.dumps({"known_good_answer": f"{name}-0"}))
        honest.append(folder)
    hostile = []
    for name, source in corpus(base, port, os.getpid()).items():
        if only and name not in only:
            continue
        folder = tasks / name
        folder.mkdir()
        (folder / "task.py").write_text(source)
        hostile.append(folder)
    return honest, hostile


def leftover_task_processes(uids: list[int] | None) -> int:
    """Processes of this pool's task uids (the pool's block as root, else ours) still running
    the sandbox runtime once the pool is closed: escapees."""
    low, high = uids or (os.getuid(), os.getuid())
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            count += (entry.name.isdigit() and low <= entry.stat().st_uid <= high
                      and b"task_process" in (entry / "cmdline").read_bytes())
        except OSError:
            continue
    return count


def digest(base: Path) -> dict[str, str]:
    """sha256 of every file under ``base`` but the runner's own instances.json caches."""
    import hashlib

    return {str(path.relative_to(base)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(base.rglob("*")) if path.is_file() and path.name != "instances.json"}


def main() -> None:
    from acdc.tasks.instances import load_instances
    from acdc.tasks.sandbox import SandboxLimits, SandboxPool, ScoreItem

    base = Path(sys.argv[1])
    unsafe = "--unsafe" in sys.argv[2:]  # bubblewrap off: shows that the checks see breaches
    if unsafe:
        from acdc.tasks.sandbox import confinement

        confinement.find_bwrap = lambda: None
    os.environ["ACDC_JUDGE_API_KEY"] = SECRET
    port, accepted = listen()
    only = {name for arg in sys.argv[2:] if arg.startswith("--only=") for name in arg[7:].split(",")}
    honest, hostile = build(base, port, only)
    before = digest(base)
    judge_calls: list[str] = []

    def judge(instructions: str, submission: str, criteria: list[str] | None) -> bool:
        judge_calls.append(submission)
        return submission.startswith("honest_b-")

    limits = SandboxLimits(wall_seconds=4.0, cpu_seconds=2, memory_mb=512, file_kib=4096, processes=8,
                           instruction_chars=20_000, instance_bytes=64 << 10, judge_calls_per_item=2)
    report: dict[str, object] = {"uid": os.getuid()}
    with SandboxPool(workers=2, limits=limits, judge=judge, unsafe=unsafe) as pool:
        report["confinement"] = pool.confinement
        dirs = honest + hostile
        instances = load_instances(pool, dirs)
        report["instances"] = {d.name: {"ok": m.ok, "kind": m.kind, "error": (m.error or "")[:200],
                                        "instructions": sorted({i.instructions[:100] for i in m.instances})}
                               for d, m in zip(dirs, instances, strict=True)}
        items, owners = [], []
        for task_dir, materialized in zip(dirs, instances, strict=True):
            data = [i.data for i in materialized.instances] or [{"x": 1}]
            for n, instance_data in enumerate(data[:8]):
                right = n % 2 == 0  # honest answers alternate right and wrong
                answer = f"{task_dir.name}-{n}" if right else "wrong"
                items.append(ScoreItem(task_dir, instance_data, answer))
                owners.append((task_dir.name, n, right))
        for attempt in ("first", "second"):
            results = pool.score(items)
            report[attempt] = [{"task": t, "n": n, "right": r, "score": res.score, "kind": res.kind,
                                "error": (res.error or "")[:200]}
                               for (t, n, r), res in zip(owners, results, strict=True)]
    report["leftover_processes"] = leftover_task_processes(report["confinement"]["uids"])
    report["tree_unchanged"] = digest(base) == before
    report["honest_caches"] = {d.name: json.loads((d / "instances.json").read_text()) for d in honest}
    report["judge_calls"] = len(judge_calls)
    report["connections"] = len(accepted)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
