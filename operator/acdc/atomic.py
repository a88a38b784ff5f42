"""Atomic file and directory writes: write beside the target, fsync, then rename.

Every phase writes its outputs through these helpers so that a kill at any instant
leaves either the old state or the new one, never a half-written file or model dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from acdc.errors import StateError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


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


def read_json(path: Path | str) -> Any:
    """Read a state JSON file, turning a missing or corrupt file into a StateError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StateError(path, "file is missing") from exc
    except IsADirectoryError as exc:
        raise StateError(path, "is a folder where a file belongs") from exc
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
