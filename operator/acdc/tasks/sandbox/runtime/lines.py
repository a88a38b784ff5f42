"""Bounded, deadline-aware reading and writing of newline-delimited JSON on pipes.

The trusted parent talks to every task process through this: a peer that never answers
(or never reads) hits the deadline, and a peer that floods the pipe hits the byte cap,
instead of hanging or exhausting the parent's memory.
"""

from __future__ import annotations

import os
import select
import time


class LineTooLong(Exception):
    """The peer sent more than the allowed bytes without a newline."""


class LineReader:
    """Reads lines from a file descriptor with a per-call deadline and a size cap."""

    def __init__(self, fd: int, max_line_bytes: int) -> None:
        self.fd = fd
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()

    def read_line(self, deadline: float | None) -> bytes | None:
        """Next line without its newline, or ``None`` at the deadline; EOFError at end of file."""
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
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError("peer closed the pipe")
            self._buffer += chunk


def write_line(fd: int, payload: bytes, deadline: float | None = None) -> bool:
    """Write one whole line; False if the peer stopped reading before the deadline."""
    view = memoryview(payload + b"\n")
    while view:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        _, ready, _ = select.select([], [fd], [], timeout)
        if not ready:
            return False
        try:
            view = view[os.write(fd, view[: 1 << 16]):]
        except BlockingIOError:
            continue
    return True
