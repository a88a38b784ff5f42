"""Resource limits and size caps of the scoring sandbox, sized for LLM-written task code."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple

from acdc.errors import InfrastructureFault, UserError

MIN_SCRATCH_BYTES = 1 << 20
"""The scratch tmpfs is never smaller: a tmpfs of size 0 would be unlimited, not empty."""


class LineBounds(NamedTuple):
    """The most JSON objects and arrays, and JSON values of any kind (keys and those objects
    and arrays included), one reply line may hold; counted before the line is parsed."""

    containers: int
    values: int


@dataclass(frozen=True)
class SandboxLimits:
    """Per-item limits; tests shrink ``wall_seconds``/``cpu_seconds`` to keep hostile cases fast.

    ``wall_seconds`` is counted in the task's own time, not time it waited for a CPU
    (``task_clock``); ``cpu_seconds`` times the items a task process has left caps its CPU
    (RLIMIT_CPU, ``process_cpu_seconds``).

    ``memory_mb`` caps the address space of a task process, and so of the sandbox, where the
    seccomp filter refuses new processes (``syscall_filter``); ``processes`` caps threads and
    processes per uid (RLIMIT_NPROC); ``file_kib`` one file (RLIMIT_FSIZE; 0 forbids writing at all), and four times
    that the scratch tmpfs, which holds at most ``scratch_inodes`` files and folders (tmpfs's
    ``nr_inodes``: each costs the host about 1 KiB of kernel memory, outside every rlimit, so
    4,096 hold 4 MiB). ``message_bytes`` caps one reply line (the output a task can
    return per item). ``instruction_chars`` and ``instance_bytes`` cap what materialisation
    may produce per instance (a 900,000-char instruction would pad every inference batch it
    joins); ``judge_calls_per_item`` caps relayed LLM-judge calls (more fail the item).

    ``code_blocks`` is not a limit but travels with them into the task process: which code
    ``get_function_name_to_callable`` runs ("lenient": any fenced block, else the whole
    submission; "reference": only ```python blocks, as the reference's helper).
    """

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_kib: int = 16 * 1024
    processes: int = 16
    open_files: int = 64
    scratch_inodes: int = 4096
    message_bytes: int = 1 << 20
    max_instances: int = 16
    instruction_chars: int = 20_000
    instance_bytes: int = 64 << 10
    judge_calls_per_item: int = 4
    code_blocks: Literal["lenient", "reference"] = "lenient"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "code_blocks":
                if value not in ("lenient", "reference"):
                    raise UserError(f"sandbox code_blocks must be 'lenient' or 'reference', got {value!r}")
            elif value < 0 or (value == 0 and name != "file_kib"):
                raise UserError(f"sandbox limit {name} must be positive, got {value}")

    @property
    def line_bytes(self) -> int:
        """The longest line the parent reads: a reply, or a materialisation within the caps.

        A character of instructions takes up to 12 bytes on the line: the task process writes
        ASCII-only JSON, where a character outside the BMP is a surrogate pair (``\\ud83d\\ude00``).
        """
        return max(self.message_bytes, self.max_instances * (self.instance_bytes + 12 * self.instruction_chars + 1024))

    @property
    def line_bounds(self) -> LineBounds:
        """The most JSON objects and arrays, and values, the parent parses on one line: those
        of a materialisation within the caps. Objects and arrays: the reply and its list, and
        per instance the instance and at most one for every 2 bytes of its data as JSON
        (``[]``). Values: the reply, its key and list, and per instance its object, three keys,
        id, instructions, and at most one object, array or separator for every 2 bytes of its
        data (``[]``, ``1,``). Counted before parsing (``process.parse_line``): an object or
        array costs the runner 20 times its bytes or more, a short string or number about 13
        times, so the values, not the line's bytes, bound what it costs."""
        return LineBounds(containers=2 + self.max_instances * (1 + self.instance_bytes // 2),
                          values=3 + self.max_instances * (8 + self.instance_bytes // 2))

    @property
    def scratch_bytes(self) -> int:
        return max(MIN_SCRATCH_BYTES, 4 * (self.file_kib << 10))

    def process_cpu_seconds(self, items: int) -> int:
        """RLIMIT_CPU of a task process given ``items``: sent with them (the task process applies
        it), and what a death by SIGKILL is measured against (``process.exit_failure``)."""
        return self.cpu_seconds * max(1, items)

    def require_host_allows(self) -> None:
        """Refuse, as an infrastructure fault, a host whose hard rlimits (inherited by every task
        process, which cannot raise them once it dropped its privileges) are below these limits.
        Every task process would die setting its own before task code ran, and each task read as
        broken: rejected by the tasks step, scored null for every model (`ulimit -f 200`
        rejected all of a run's initial tasks, and the run failed as if its scientist had)."""
        wanted = {"RLIMIT_FSIZE": ("sandbox.maxFileKib", self.file_kib << 10),
                  "RLIMIT_AS": ("sandbox.memoryMib", self.memory_mb << 20),
                  "RLIMIT_NPROC": ("sandbox.maxProcesses", self.processes),
                  "RLIMIT_NOFILE": ("the sandbox's open files", self.open_files)}
        for name, (setting, value) in wanted.items():
            hard = resource.getrlimit(getattr(resource, name))[1]
            if hard != resource.RLIM_INFINITY and hard < value:
                raise InfrastructureFault(f"this host's hard {name} is {hard}, below the {value} of {setting}: task "
                                          "processes cannot apply their limits; raise it (ulimit -H, the container's "
                                          "limits) or lower the setting")

    def for_task_process(self) -> dict[str, float | str]:
        """The limits the stdlib-only task process applies to itself (rlimits; the CPU's comes
        with its items, ``process_cpu_seconds``), and ``code_blocks``."""
        return {
            "memory_bytes": self.memory_mb << 20,
            "file_bytes": self.file_kib << 10,
            "processes": self.processes,
            "open_files": self.open_files,
            "max_instances": self.max_instances,
            "code_blocks": self.code_blocks,
        }
