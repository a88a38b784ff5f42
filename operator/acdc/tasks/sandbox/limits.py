"""Resource limits of the scoring sandbox, with defaults sized for LLM-written task code."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from acdc.errors import UserError


@dataclass(frozen=True)
class SandboxLimits:
    """Per-item limits; tests shrink ``wall_seconds``/``cpu_seconds`` to keep hostile cases fast.

    ``memory_mb`` caps the address space of a worker and its task processes (the reference
    used a 512 MB container); ``processes`` caps processes per worker uid (worker + task
    process + whatever the task forks); ``message_bytes`` caps one result message, which
    bounds what a task can push back through the pipe.
    """

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 16
    open_files: int = 64
    output_bytes: int = 4096
    message_bytes: int = 1 << 20
    max_instances: int = 16

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise UserError(f"sandbox limit {name} must be positive, got {value}")

    def for_worker(self) -> dict[str, float]:
        """The integer limits the stdlib-only worker applies to itself."""
        return {
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb << 20,
            "file_bytes": self.file_mb << 20,
            "processes": self.processes,
            "open_files": self.open_files,
            "output_bytes": self.output_bytes,
            "message_bytes": self.message_bytes,
            "max_instances": self.max_instances,
        }
