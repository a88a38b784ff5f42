"""Content hashes of the files a run commits (models, tasks), and checking them.

Archive records and pools point at model and task folders by name; nothing in them says
whether the folder still holds what was committed. A deleted or truncated model would
otherwise make every child of it fail (and be dropped), and a task whose code is gone
would score null for new models only, so models would be compared on different tasks.

So every committed folder gets a manifest: each file's size, the sha256 of its first
64 KiB (the header: safetensors and JSON files put their structure first) and the sha256
of the whole file. A child model and a task carry theirs inside the folder
(``integrity.json``, written with the folder); seed models, which live outside the state,
have theirs in ``seeds.json`` (recorded by init). The cheap check (size + header: one
stat and one small read per file) runs when a run resumes and before a phase uses a
folder; the full hash runs on demand (`acdc verify`). Damage raises IntegrityError naming
the file, an infrastructure fault: the run stops, nothing is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acdc.atomic import RefusedFile, open_regular, read_json, write_json
from acdc.errors import IntegrityError, StateError

MANIFEST = "integrity.json"
HEAD_BYTES = 64 * 1024
DERIVED = frozenset({MANIFEST, "instances.json"})
"""Files never hashed: the manifest itself, and caches a phase recomputes when missing."""


@dataclass(frozen=True)
class FileDigest:
    size: int
    head: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "head": self.head, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileDigest:
        return cls(int(data["size"]), str(data["head"]), str(data["sha256"]))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in DERIVED and not p.name.startswith("."))


def _head(path: Path) -> str:
    with open_regular(path) as handle:
        return hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a whole file, read in 1 MiB blocks (model files are gigabytes). Only a regular
    file is opened (``open_regular``): a FIFO or a device planted in a committed file's place
    would hang the hash or never end; it raises RefusedFile instead."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def digest_folder(folder: Path) -> dict[str, dict[str, Any]]:
    """relative path -> FileDigest (as a dict) of every committed file under ``folder``."""
    return {str(p.relative_to(folder)): FileDigest(p.stat().st_size, _head(p), file_sha256(p)).to_dict()
            for p in _files(folder)}


def write_manifest(folder: Path) -> None:
    """Record the folder's content; call it before the folder is committed (or renamed into place)."""
    write_json(folder / MANIFEST, {"kind": "integrity", "files": digest_folder(folder)})


def read_manifest(folder: Path) -> dict[str, FileDigest]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise IntegrityError(folder, "folder is missing")
    data = read_json(path)
    try:
        return {str(name): FileDigest.from_dict(entry) for name, entry in data["files"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(path, f"malformed integrity manifest ({type(exc).__name__})") from exc


def check_files(folder: Path, files: Mapping[str, FileDigest], full: bool = False) -> list[IntegrityError]:
    """Every recorded file present with its size and header (and, if ``full``, its whole hash)."""
    problems = []
    for name, expected in files.items():
        path = folder / name
        try:
            size = path.stat().st_size
            if size != expected.size:
                problems.append(IntegrityError(path, f"is {size} bytes, {expected.size} were committed (truncated?)"))
            elif _head(path) != expected.head:
                problems.append(IntegrityError(path, "header differs from what was committed (overwritten?)"))
            elif full and file_sha256(path) != expected.sha256:
                problems.append(IntegrityError(path, "content hash differs from what was committed (corrupt)"))
        except FileNotFoundError:
            problems.append(IntegrityError(path, "was committed and is missing"))
        except RefusedFile as exc:
            problems.append(IntegrityError(path, f"was committed as a file and now {exc}"))
        except OSError as exc:
            problems.append(IntegrityError(path, f"cannot be read ({exc.strerror or exc})"))
    return problems


def check_folder(folder: Path, full: bool = False, recorded: Mapping[str, FileDigest] | None = None
                 ) -> list[IntegrityError]:
    """Problems of one committed folder against its own manifest (or ``recorded``, for seeds)."""
    try:
        files = read_manifest(folder) if recorded is None else recorded
    except StateError as exc:
        return [exc if isinstance(exc, IntegrityError) else IntegrityError(exc.path, exc.problem)]
    return check_files(folder, files, full)


def require_intact(folders: Iterable[tuple[Path, Mapping[str, FileDigest] | None]]) -> None:
    """The cheap check before use: raise the first problem (an infrastructure fault)."""
    for folder, recorded in folders:
        problems = check_folder(folder, recorded=recorded)
        if problems:
            raise problems[0]
