"""Atomic file and directory writes: write beside the target, fsync, then rename.

Every phase writes its outputs through these helpers so that a kill at any instant
leaves either the old state or the new one, never a half-written file or model dir. The one
write that must not be a rename is a Kubernetes termination log (``write_termination_log``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from acdc.errors import StateError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()

MAX_STATE_JSON_BYTES = 256 * 2**20
"""The largest state JSON file ``read_json`` reads. The largest records a run writes are a
model's raw completions (``answers``: tasks x instances x completion) and a benchmark's sample
shards, tens of MB in the largest runs; a file ten times that size is damage (or a planted
/dev/zero), and parsing it would take gigabytes of memory."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (readers see old or new, never partial)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp's 0600 would make state unreadable to other pods
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_text(path: Path | str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, obj: Any) -> None:
    """Atomic JSON write; keys keep insertion order so identical state gives identical bytes."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


class RefusedFile(Exception):
    """``open_regular`` would not open a path; the message is a phrase to follow the path."""


def _check_regular(path: Path, info: os.stat_result, limit: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(info.st_mode):
        raise RefusedFile("is not a regular file (a FIFO, socket or device)")
    if limit is not None and info.st_size > limit:
        raise RefusedFile(f"is {info.st_size} bytes; the limit is {limit}")


@contextlib.contextmanager
def open_regular(path: Path, limit: int | None = None) -> Iterator[BinaryIO]:
    """The regular file at ``path`` (a link is followed) opened for reading; with ``limit``, one
    of at most that many bytes.

    Every command must answer a file it reads at once: a FIFO would block the open or the read
    forever, a device (/dev/zero) never ends. So the kind and size are checked before the open
    (opening a device can act on it), the open cannot block (O_NONBLOCK), and the opened file
    is checked again (it may have been swapped in between). Raises FileNotFoundError,
    IsADirectoryError, RefusedFile, or another OSError.
    """
    _check_regular(path, os.stat(path), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _check_regular(path, os.fstat(fd), limit)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as handle:
        yield handle


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``: at most ``limit`` of them (``open_regular``;
    a file that grew past the limit after the checks is refused too, so a huge file never
    fills the memory)."""
    chunks, total = [], 0
    with open_regular(path, limit) as handle:  # in blocks: a read of ``limit`` would allocate it all first
        while total <= limit and (chunk := handle.read(min(1 << 20, limit + 1 - total))):
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise RefusedFile(f"is larger than the limit of {limit} bytes")
    return b"".join(chunks)


def read_state_file(path: Path | str, limit: int) -> bytes:
    """The bytes of a file of the run (a state file, a task's code), turning a missing, oversized
    or non-regular file (a FIFO, a device) into a StateError naming it (``read_regular``: never a
    hang or a full memory)."""
    path = Path(path)
    try:
        return read_regular(path, limit)
    except FileNotFoundError as exc:
        raise StateError(path, "file is missing") from exc
    except IsADirectoryError as exc:
        raise StateError(path, "is a folder where a file belongs") from exc
    except RefusedFile as exc:
        raise StateError(path, f"file {exc}") from exc


def read_json(path: Path | str) -> Any:
    """Read a state JSON file (``read_state_file``); one that does not parse is a StateError too."""
    try:
        return json.loads(read_state_file(path, MAX_STATE_JSON_BYTES).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(path, f"file is corrupt or partially written ({exc})") from exc


@contextlib.contextmanager
def staged_dir(target: Path | str) -> Iterator[Path]:
    """Yield a scratch dir beside ``target``; on success it is renamed onto ``target``.

    On any exception the scratch dir is removed and ``target`` is untouched, so a failed
    or killed writer never leaves a partial directory under the final name. An existing
    ``target`` is replaced (a phase re-run after a crash produces the same content).
    Leftover ``.staging-*`` siblings from a SIGKILL are removed by ``sweep_staging``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".staging-{target.name}."))
    scratch.chmod(0o777 & ~_umask())
    try:
        yield scratch
        if target.exists():
            trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".staging-old-{target.name}."))
            os.replace(target, trash / target.name)
            os.replace(scratch, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(scratch, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def remove_dir(target: Path | str) -> None:
    """Remove a folder so that its name is gone at once: renamed into a ``.staging-old-``
    sibling first (which ``sweep_staging`` clears if a kill interrupts the deletion), so no
    half-deleted folder is ever left under the name."""
    target = Path(target)
    trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".staging-old-{target.name}."))
    os.replace(target, trash / target.name)
    _fsync_dir(target.parent)
    shutil.rmtree(trash)


def sweep_staging(parent: Path | str) -> int:
    """Delete scratch dirs/files left by killed writers under ``parent``; return how many."""
    parent = Path(parent)
    removed = 0
    if not parent.is_dir():
        return 0
    for entry in parent.iterdir():
        if entry.name.startswith(".staging-") or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


def sweep_staging_tree(root: Path | str) -> int:
    """``sweep_staging`` for every folder under ``root`` that holds leftovers; return how many."""
    root = Path(root)
    leftovers = {p.parent for pattern in (".staging-*", ".*.tmp") for p in root.rglob(pattern)}
    # Shallowest first: a leftover inside a leftover goes with its parent (its folder is then gone).
    return sum(sweep_staging(folder) for folder in sorted(leftovers, key=lambda p: len(p.parts)))


def dump_yaml(obj: Any) -> str:
    """YAML with stable key order, used for every generated manifest and spec file."""
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def write_termination_log(path: Path, message: str) -> None:
    """Write ``message`` into the termination log in place, never by an atomic rename: the
    kubelet bind-mounts that one file into the runtime's ``/dev`` and reads its own copy back
    when the container ends, so a file renamed over it would never be read (and a non-root
    worker cannot create one in ``/dev``, nor rename over a mount point). Nothing reads it
    before the process exits, so an in-place write is whole when it is read."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(message)
