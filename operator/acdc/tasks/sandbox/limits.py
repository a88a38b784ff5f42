"""Resource limits of the scoring sandbox, with defaults sized for LLM-written task code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from acdc.errors import UserError


@dataclass(frozen=True)
class SandboxLimits:
    """Per-item limits; tests shrink ``wall_seconds``/``cpu_seconds`` to keep hostile cases fast.

    ``memory_mb`` caps the address space of a worker and its task processes (the reference
    used a 512 MB container); ``processes`` caps processes per worker uid (worker + task
    process + whatever the task forks); ``message_bytes`` caps one result message, which
    bounds what a task can push back through the pipe. ``file_kib`` caps the size of any
    file a task writes (RLIMIT_FSIZE); 0 forbids writing at all.

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
    output_bytes: int = 4096
    message_bytes: int = 1 << 20
    max_instances: int = 16
    code_blocks: Literal["lenient", "reference"] = "lenient"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "code_blocks":
                if value not in ("lenient", "reference"):
                    raise UserError(f"sandbox code_blocks must be 'lenient' or 'reference', got {value!r}")
            elif value < 0 or (value == 0 and name != "file_kib"):
                raise UserError(f"sandbox limit {name} must be positive, got {value}")

    def for_worker(self) -> dict[str, float | str]:
        """The limits the stdlib-only worker applies to itself (integers), and ``code_blocks``."""
        return {
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb << 20,
            "file_bytes": self.file_kib << 10,
            "processes": self.processes,
            "open_files": self.open_files,
            "output_bytes": self.output_bytes,
            "message_bytes": self.message_bytes,
            "max_instances": self.max_instances,
            "code_blocks": self.code_blocks,
        }
