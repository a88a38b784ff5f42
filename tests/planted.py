"""A FIFO planted where a file belongs, that cannot hang the code under test.

Code that opens a FIFO for reading blocks until a writer comes, and then reads until the
writer leaves: a hang, not a failure. Here a thread stands ready as the writer, each time the
code opens the FIFO: it records the open and leaves at once, so the code reads an empty file
and carries on, and the test fails on what the code made of it (and on ``opened``) instead
of hanging. Nothing waits on the clock.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def planted_fifo(path: Path) -> Iterator[list[Path]]:
    """Make a FIFO at ``path``; the yielded list is not empty once the code opened it (the writer
    opens again while a reader stays, so it counts writer turns, not the code's opens)."""
    os.mkfifo(path)
    opened: list[Path] = []
    finished = threading.Event()

    def writer() -> None:
        while True:
            fd = os.open(path, os.O_WRONLY)  # returns once a reader opens the FIFO
            os.close(fd)  # the reader sees the end of the file
            if finished.is_set():
                return
            opened.append(path)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        finished.set()
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the waiting writer see it is finished
        thread.join()
        os.close(reader)
