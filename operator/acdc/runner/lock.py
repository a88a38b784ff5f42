"""One runner per state folder: an advisory lock held for the runner's lifetime."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from acdc.errors import UserError


class StateLock:
    """flock on STATE/.lock; the kernel releases it when the process dies, even by SIGKILL."""

    def __init__(self, state: Path) -> None:
        self.path = state / ".lock"
        self._handle: IO[str] | None = None

    def __enter__(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise UserError(f"{self.path.parent} is in use by another `acdc run` (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
