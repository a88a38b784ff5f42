"""Resource limits and size caps of the scoring sandbox, sized for LLM-written task code."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from acdc.errors import UserError


@dataclass(frozen=True)
class SandboxLimits:
    """Per-item limits; tests shrink ``wall_seconds``/``cpu_seconds`` to keep hostile cases fast.

    ``memory_mb`` caps the address space of a task process; ``processes`` caps processes
    per uid; ``file_mb`` one file, and four times that the scratch tmpfs. ``message_bytes``
    caps one reply line (the output a task can return per item). ``instruction_chars`` and
    ``instance_bytes`` cap what materialisation may produce per instance (a 900,000-char
    instruction would pad every inference batch it joins); ``judge_calls_per_item`` caps
    relayed LLM-judge calls (more fail the item).
    """

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 16
    open_files: int = 64
    message_bytes: int = 1 << 20
    max_instances: int = 16
    instruction_chars: int = 20_000
    instance_bytes: int = 64 << 10
    judge_calls_per_item: int = 4

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise UserError(f"sandbox limit {name} must be positive, got {value}")

    @property
    def line_bytes(self) -> int:
        """The longest line the parent reads: a reply, or a materialisation within the caps."""
        return max(self.message_bytes, self.max_instances * (self.instance_bytes + 6 * self.instruction_chars + 1024))

    @property
    def scratch_bytes(self) -> int:
        return 4 * (self.file_mb << 20)

    def for_task_process(self) -> dict[str, float]:
        """The limits the stdlib-only task process applies to itself (rlimits)."""
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb << 20,
            "file_bytes": self.file_mb << 20,
            "processes": self.processes,
            "open_files": self.open_files,
            "max_instances": self.max_instances,
        }
