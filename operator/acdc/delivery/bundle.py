"""The task force as one bundle: its model folders plus a manifest of every file's hash.

The manifest travels first in a tar stream, so a receiver knows the exact file set, sizes
and SHA-256 digests before it writes a byte and can refuse anything else (``unpack``).
Model folders are the paths the run's own records name (the state's models/ folder,
seeds.json): the caller only chooses the size N, never a path. Only the files the run
recorded when it committed each model go in, each hashed again and compared with that
record: a truncated, swapped or missing file stops the bundle (nothing ships half a
model), and no link can carry a file from elsewhere into it.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from acdc.engine.integrity import FileDigest, digest_folder, file_sha256, read_manifest
from acdc.errors import IntegrityError, StateError

MANIFEST = "manifest.json"
MODELS_DIR = "models"
BUNDLE_FORMAT = "acdc-taskforce/1"
CHUNK = 1 << 20
RECIPE_FILE = "recipe.json"


@dataclass(frozen=True)
class BundleFile:
    relative: str  # inside the bundle: models/<model id>/<path in the folder>
    source: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Bundle:
    manifest: dict[str, Any]
    files: tuple[BundleFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _member_files(state: Path, model_id: str, archived_path: Path) -> tuple[Path, list[BundleFile]]:
    """The model's folder and the files the run committed in it, each hashed now and compared
    with the record made at commit (the folder's integrity.json; seeds.json for a seed)."""
    from acdc.phases.integrity import model_folders

    checked = model_folders(state, [model_id])
    if checked:
        folder, recorded = checked[0]
        files = recorded if recorded is not None else read_manifest(folder)
    else:  # a seed recorded before manifests existed: nothing to compare with
        folder = archived_path
        files = {name: FileDigest.from_dict(entry) for name, entry in digest_folder(folder).items()}
    if not (folder / "config.json").is_file():
        raise StateError(folder, f"model {model_id}: not a model folder (no config.json)")
    out = []
    for name in sorted(files):
        path, expected = folder / name, files[name]
        try:
            size, sha256 = path.stat().st_size, file_sha256(path)
        except OSError as exc:
            raise IntegrityError(path, f"was committed and cannot be read ({exc.strerror or exc})") from exc
        if (size, sha256) != (expected.size, expected.sha256):
            raise IntegrityError(path, "differs from what the run committed; `acdc verify` names every damaged file")
        out.append(BundleFile(f"{MODELS_DIR}/{model_id}/{Path(name).as_posix()}", path, sha256, size))
    return folder, out


def _lineage(folder: Path) -> dict[str, Any] | None:
    """The merge recipe a child records (parents, method, mutation); None for seed models."""
    recipe = folder / RECIPE_FILE
    try:
        return dict(json.loads(recipe.read_text())) if recipe.is_file() else None
    except ValueError:
        return None


def task_force_bundle(state: Path, size: int) -> Bundle:
    """The run's greedy task force of ``size`` models (``acdc taskforce``) as a bundle."""
    from acdc.runner.snapshot import open_snapshot
    from acdc.runner.taskforce import pick_task_force

    force = pick_task_force(open_snapshot(state), size)
    members, files = [], []
    for member in force.members:
        folder, found = _member_files(state, member.model_id, Path(member.model_path))
        files += found
        members.append({"id": member.model_id, "solved": member.solved, "fitness": member.fitness,
                        "lineage": _lineage(folder),
                        "files": {f.relative.split("/", 2)[2]: {"sha256": f.sha256, "size": f.size} for f in found}})
    manifest = {"format": BUNDLE_FORMAT, "generation": force.generation, "coverage": force.coverage,
                "tasks": force.tasks, "candidates": force.candidates, "members": members}
    return Bundle(manifest, tuple(files))


def write_bundle(bundle: Bundle, out: IO[bytes] | io.BufferedIOBase) -> None:
    """Stream ``bundle`` as an uncompressed tar (safetensors do not compress): manifest first."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        data = json.dumps(bundle.manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
        for item in bundle.files:
            info = tarfile.TarInfo(item.relative)
            info.size, info.mode = item.size, 0o644
            with item.source.open("rb") as handle:
                tar.addfile(info, handle)
