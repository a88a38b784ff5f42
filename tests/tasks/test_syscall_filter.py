"""The sandbox's seccomp filter: its syscall numbers against the kernel headers, and what a
task process can and cannot do under it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from acdc.tasks.sandbox import SandboxPool, ScoreItem, syscall_filter

from .conftest import make_task

HEADERS = {0: Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), 1: Path("/usr/include/asm-generic/unistd.h")}


@pytest.mark.parametrize("column", sorted(HEADERS), ids=["x86_64", "aarch64"])
def test_denied_numbers_are_the_kernel_headers(column: int) -> None:
    header = HEADERS[column]
    if not header.exists():
        pytest.skip(f"{header} is not installed")
    numbers = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text())}
    assert {name: numbers.get(name) for name in syscall_filter.DENIED} == {
        name: pair[column] for name, pair in syscall_filter.DENIED.items()}


def test_an_unknown_machine_gets_no_filter() -> None:
    assert syscall_filter.program("riscv64") is None
    assert len(syscall_filter.program("x86_64") or b"") % 8 == 0


PROBE = """
import ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
def refused(nr, *args):
    return libc.syscall(nr, *args) == -1 and ctypes.get_errno()
denied = {
    "keyctl": refused(250, 0, -4, 0),
    "add_key": refused(248, b"user", b"k", b"v", 1, -4),
    "unshare": refused(272, 0x10000000),
    "clone_newuser": refused(56, 0x10000000 | 17, 0, 0, 0, 0),
    "io_uring_setup": refused(425, 1, 0),
    "bpf": refused(321, 0, 0, 0),
    "clone3": refused(435, 0, 0),
    "fork": refused(57),
    "clone_process": refused(56, 17, 0, 0, 0, 0),
    "shmget": refused(29, 0, 4096, 0o1600),
    "msgget": refused(68, 0, 0o1600),
    "semget": refused(64, 0, 1, 0o1600),
    "memfd_create": refused(319, b"m", 0),
    "landlock_create_ruleset": refused(444, 0, 0, 1),  # flags 1: its ABI version, which any caller may ask
    "inotify_init1": refused(294, 0),
    "fanotify_init": refused(300, 0, 0),
    "sched_yield": refused(24),
}
callback = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)  # libffi's closures need no memfd
ran = []
thread = threading.Thread(target=ran.append, args=(1,))  # libc tries clone3, then clone
thread.start()
thread.join()
clone3 = denied.pop("clone3")
return 1.0 if ran == [1] and callback() == 7 and clone3 == 38 and set(denied.values()) == {1} else 0.0
"""


def test_a_task_process_is_refused_the_filtered_calls_and_keeps_the_rest(pool: SandboxPool, tmp_path: Path) -> None:
    """EPERM for every filtered call (new processes and memory outside RLIMIT_AS included) and
    ENOSYS for clone3, while a thread still starts (libc falls back from clone3 to clone, whose
    flags the filter checks) and a ctypes callback still works."""
    if os.uname().machine != "x86_64":
        pytest.skip("the probe calls x86_64 syscall numbers")
    [result] = pool.score([ScoreItem(make_task(tmp_path, "probe", PROBE), {}, "a")])
    assert (result.kind, result.score) == ("ok", 1.0), result.error
