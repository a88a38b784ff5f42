"""Bounded, deadline-aware reading and writing of newline-delimited JSON on pipes.

The trusted parent talks to every task process through this: a peer that never answers
(or never reads) hits the deadline, and a peer that floods the pipe hits the byte cap,
instead of hanging or exhausting the parent's memory.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

Remaining = Callable[[], float]
"""Seconds left to wait, 0 when time is up; asked again whenever a wait ends, so a limit
may grow while it runs (the item clock gives a task that waited for a CPU more time)."""


def until(deadline: float) -> Remaining:
    """A fixed deadline on the monotonic clock."""
    return lambda: max(0.0, deadline - time.monotonic())


class LineTooLong(Exception):
    """The peer sent more than the allowed bytes without a newline."""


class LineReader:
    """Reads lines from a file descriptor with a per-call time limit and a size cap."""

    def __init__(self, fd: int, max_line_bytes: int) -> None:
        self.fd = fd
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()

    def read_line(self, remaining: Remaining | None) -> bytes | None:
        """Next line without its newline, or ``None`` when time is up; EOFError at end of file."""
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                if newline > self.max_line_bytes:
                    raise LineTooLong(f"message longer than {self.max_line_bytes} bytes")
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > self.max_line_bytes:
                raise LineTooLong(f"message longer than {self.max_line_bytes} bytes")
            timeout = None if remaining is None else remaining()
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                if timeout == 0:
                    return None
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError("peer closed the pipe")
            self._buffer += chunk


def write_line(fd: int, payload: bytes, remaining: Remaining | None = None) -> bool:
    """Write one whole line; False if the peer stopped reading before time was up."""
    view = memoryview(payload + b"\n")
    while view:
        timeout = None if remaining is None else remaining()
        _, ready, _ = select.select([], [fd], [], timeout)
        if not ready:
            if timeout == 0:
                return False
            continue
        try:
            view = view[os.write(fd, view[: 1 << 16]):]
        except BlockingIOError:
            continue
    return True
