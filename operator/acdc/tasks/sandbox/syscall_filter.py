"""The seccomp filter every confined task process starts under (bubblewrap's ``--seccomp``).

Namespaces hide the host's files, processes and network, but not every kernel object is
namespaced. A root-started sandbox shares its task uid's user keyring with every other
sandbox of that uid: an audit passed a value from one task to another, in a later pool,
through ``add_key``/``keyctl``. And a task that makes namespaces of its own gets mounts of
its own (a tmpfs no ``--size`` caps). So these fail with EPERM, as in Docker's default
profile: the keyring calls, namespace creation (``unshare``, ``setns``, ``clone`` with a
namespace flag; ``clone3`` says ENOSYS, its flags are out of a filter's reach, and libc then
falls back to ``clone``), mounts, tracing other processes, and the kernel's larger attack
surfaces that no task needs (``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``,
modules, ``kexec``). So does memory that RLIMIT_AS does not count: SysV shared memory,
message queues and semaphore sets (``shmget``, ``msgget``, ``semget``) live in the sandbox's
IPC namespace, not in the task's address space (an audit held 1 GiB of detached segments in
a 256 MiB sandbox), and a memfd holds up to the file size limit per open file outside it.
A syscall of another ABI than the native one (i386 or x32 calls on x86_64, whose numbers
differ) is refused whole, so the numbers below cannot be sidestepped.

So are Landlock (its rulesets are kernel memory: an audit added 2.8 million rules, 179 MiB,
in 15 s of CPU; the runtime takes its own Landlock domain before it loads this filter) and
inotify and fanotify (each watch is kernel memory, and a non-root runner's task shares the
runner's uid, whose watches it could use up); no task needs them. And ``sched_yield``: a
task that yields in a loop is always runnable yet always waiting, which the item clock
reads as the host starving it (``task_clock``), so that its item would run again alone and,
on a host busy with other work, stop the run; refused, the loop is a busy loop, its own CPU.

New processes are refused too (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``),
threads are not. RLIMIT_AS caps one process; a task that forked (through ctypes, past the
audit hook that refuses ``os.fork``) held ``memory_mb`` in each of up to ``processes``
children (an audit reached 831 MiB in a 256 MiB sandbox). With one process the sandbox's
memory is that one cap; the runtime itself never forks.

A classic BPF program assembled here: libseccomp is not among the wheels the image installs.
"""

from __future__ import annotations

import errno
import platform
import struct
import sys

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
"""AUDIT_ARCH_* of each supported machine (linux/audit.h)."""

DENIED: dict[str, tuple[int, int | None]] = {  # name: (x86_64, aarch64), asm/unistd_64.h, asm-generic/unistd.h
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "unshare": (272, 97), "setns": (308, 268),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "shmget": (29, 194), "msgget": (68, 186), "semget": (64, 190),  # the other SysV calls need their ids
    "memfd_create": (319, 279), "memfd_secret": (447, 447),
    "fork": (57, None), "vfork": (58, None),  # aarch64 has only clone
    "landlock_create_ruleset": (444, 444), "landlock_add_rule": (445, 445), "landlock_restrict_self": (446, 446),
    "inotify_init": (253, None), "inotify_init1": (294, 26), "fanotify_init": (300, 262),
    "sched_yield": (24, 124),
}
_CLONE = (56, 220)
_CLONE3 = (435, 435)
NAMESPACE_FLAGS = 0x7E020000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET."""
CLONE_THREAD = 0x00010000
_X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64)
_NR, _ARCH = 0, 4
_ARG0_LOW = 16 if sys.byteorder == "little" else 20
# classic BPF opcodes
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000


def program(machine: str | None = None) -> bytes | None:
    """The filter as the ``struct sock_filter`` array bubblewrap loads, or None on a machine
    whose syscall numbers this module does not know (the sandbox then runs without it)."""
    machine = machine or platform.machine()
    if machine not in _AUDIT_ARCH:
        return None
    column = 0 if machine == "x86_64" else 1
    denied = sorted({n for numbers in DENIED.values() if (n := numbers[column]) is not None})
    # (opcode, k, jump-if-true target, jump-if-false target); targets are labels or None (next)
    code: list[tuple[int, int, str | None, str | None]] = [
        (_LD_W_ABS, _ARCH, None, None),
        (_JEQ, _AUDIT_ARCH[machine], None, "deny"),
        (_LD_W_ABS, _NR, None, None),
        (_JGE, _X32_SYSCALL_BIT, "deny", None),
        (_JEQ, _CLONE3[column], "enosys", None),
        *[(_JEQ, number, "deny", None) for number in denied],
        (_JEQ, _CLONE[column], None, "allow"),
        (_LD_W_ABS, _ARG0_LOW, None, None),
        (_JSET, NAMESPACE_FLAGS, "deny", None),
        (_JSET, CLONE_THREAD, "allow", "deny"),
    ]
    returns = {"allow": _RET_ALLOW, "deny": _RET_ERRNO | errno.EPERM, "enosys": _RET_ERRNO | errno.ENOSYS}
    at = {label: len(code) + index for index, label in enumerate(returns)}

    def offset(index: int, target: str | None) -> int:
        return 0 if target is None else at[target] - index - 1

    body = [struct.pack("=HBBI", op, offset(i, true), offset(i, false), k)
            for i, (op, k, true, false) in enumerate(code)]
    return b"".join(body) + b"".join(struct.pack("=HBBI", _RET, 0, 0, value) for value in returns.values())
