"""One lock per state folder, for every command that writes the run's state.

Why outside the folder: a lock file inside STATE dies with `rm -rf STATE`; a second
runner on the recreated folder would then take a fresh lock while the first, still
live, writes into the new folder by path. The lock is therefore a sibling,
``<parent>/.<name>.acdc-lock``, keyed by the folder's path, so it survives the folder's
deletion and recreation. Where the parent is not writable (a volume mounted at /state
under a read-only root) it falls back to a per-machine directory keyed by the folder's
real path, which still covers every process on this machine.

Shared vs exclusive: ``acdc run`` drives the whole DAG and holds the lock exclusively, so
nothing else may write while it lives. ``acdc phase`` runs one step and holds it
shared: on a cluster many phase Jobs of one run legitimately write one volume at once
(different steps write different files; the operator is the single coordinator), while
an `acdc phase` beside a live `acdc run` (or an `acdc run` beside a running phase) is
refused. flock is per machine: across the nodes of a ReadWriteMany volume it is only as
good as the filesystem's lock support, which is why the operator, not the lock, is what
keeps two Jobs of one step apart there. The kernel drops a lock when its holder dies,
even by SIGKILL, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from acdc.errors import InfrastructureFault, StateBusy

FALLBACK_DIR = Path(tempfile.gettempdir()) / "acdc-locks"


def lock_paths(state: Path) -> list[Path]:
    """Where the lock of ``state`` may live, preferred first (the same answer for every process)."""
    folder = Path(os.path.abspath(state))
    key = hashlib.sha256(str(folder.parent.resolve() / folder.name).encode()).hexdigest()[:32]
    return [folder.parent / f".{folder.name}.acdc-lock", FALLBACK_DIR / f"{key}.lock"]


class StateLock:
    """flock on the state folder's lock file: exclusive for `acdc run`, shared for `acdc phase`."""

    def __init__(self, state: Path, shared: bool = False) -> None:
        self.state = Path(state)
        self.shared = shared
        self._handle: IO[str] | None = None

    def _open(self) -> IO[str]:
        errors = []
        for path in lock_paths(self.state):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                return open(path, "a+")  # noqa: SIM115 (held for the lock's lifetime)
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
        raise InfrastructureFault(f"cannot create a lock for {self.state} ({'; '.join(errors)})")

    def __enter__(self) -> StateLock:
        handle = self._open()
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f"another `acdc run` (pid {holder})" if holder else "another acdc command (an `acdc phase`)"
            raise StateBusy(f"{self.state} is in use by {who}; wait for it to finish") from None
        if not self.shared:  # the exclusive holder names itself for the refusal message
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            if not self.shared:
                self._handle.truncate(0)
            self._handle.close()
            self._handle = None


def runner_active(state: Path) -> bool:
    """Whether an `acdc run` holds the folder's lock right now (probed without taking it)."""
    for path in lock_paths(state):
        try:
            handle = open(path)  # noqa: SIM115 (closed below; read-only: probing needs no write access)
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    return False
