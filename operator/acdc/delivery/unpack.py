"""Unpack a task-force bundle received over the network without trusting its bytes.

The reader pod, the API server and the network between are outside this machine's
control, so the stream is checked as it arrives: the manifest comes first and must be
small and well-formed; every later member must be a regular file the manifest lists, with
a safe relative name (no absolute path, no ``..``, no links or devices), exactly its
listed size and SHA-256; the listed total must fit ``max_bytes``. Files land in a hidden
sibling folder that is renamed to the destination only when everything checked out, so a
failed or hostile transfer leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO

from acdc.delivery.bundle import BUNDLE_FORMAT, CHUNK, MANIFEST, MODELS_DIR
from acdc.errors import UserError

MANIFEST_LIMIT = 4 << 20
_PART = re.compile(r"^[A-Za-z0-9_.+=@-]{1,200}$")


class BadBundle(UserError):
    """The received bundle is not what the manifest promises (or not a bundle at all)."""


def safe_relative(name: str) -> str:
    """``name`` if it is a plain relative path of safe parts; BadBundle otherwise."""
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or not all(_PART.match(p) and p not in (".", "..") for p in parts):
        raise BadBundle(f"unsafe path in bundle: {name[:120]!r}")
    return name


def expected_files(manifest: Any) -> dict[str, tuple[str, int]]:
    """Bundle path -> (sha256, size) for every file the manifest lists; BadBundle if malformed."""
    try:
        if manifest["format"] != BUNDLE_FORMAT:
            raise BadBundle(f"unknown bundle format {str(manifest['format'])[:40]!r}")
        out: dict[str, tuple[str, int]] = {}
        for member in manifest["members"]:
            model = safe_relative(str(member["id"]))
            if "/" in model:
                raise BadBundle(f"unsafe model id {model!r}")
            for name, entry in member["files"].items():
                digest, size = str(entry["sha256"]), int(entry["size"])
                if not re.fullmatch(r"[0-9a-f]{64}", digest) or size < 0:
                    raise BadBundle(f"bad manifest entry for {name[:120]!r}")
                out[safe_relative(f"{MODELS_DIR}/{model}/{name}")] = (digest, size)
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadBundle(f"malformed bundle manifest ({type(exc).__name__}: {str(exc)[:80]})") from None


def _copy_checked(source: IO[bytes], target: Path, size: int, digest: str, name: str) -> None:
    hasher = hashlib.sha256()
    left = size
    with target.open("xb") as out:
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise BadBundle(f"{name}: truncated")
            hasher.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    if hasher.hexdigest() != digest:
        raise BadBundle(f"{name}: SHA-256 differs from the manifest")


def unpack_bundle(stream: BinaryIO, destination: Path, max_bytes: int) -> dict[str, Any]:
    """Check and unpack the bundle read from ``stream`` into ``destination`` (which must not
    exist yet); returns the manifest. Raises BadBundle, or UserError for a bad destination."""
    if destination.exists():
        raise UserError(f"{destination}: already exists; choose a new folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        manifest = _unpack_into(stream, staging, max_bytes)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        staging.rename(destination)
        return manifest
    except (tarfile.TarError, EOFError) as exc:
        raise BadBundle(f"not a valid bundle stream ({str(exc)[:100]})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack_into(stream: BinaryIO, staging: Path, max_bytes: int) -> dict[str, Any]:
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isreg() or first.size > MANIFEST_LIMIT:
            raise BadBundle(f"the bundle does not start with a {MANIFEST} under {MANIFEST_LIMIT} bytes")
        handle = tar.extractfile(first)
        assert handle is not None  # a regular member always has a file object
        try:
            manifest = json.loads(handle.read())
        except ValueError:
            raise BadBundle(f"{MANIFEST} is not JSON") from None
        expected = expected_files(manifest)
        total = sum(size for _, size in expected.values())
        if total > max_bytes:
            raise BadBundle(f"the bundle holds {total} bytes, more than the limit of {max_bytes}")
        while (member := tar.next()) is not None:  # iterating a TarFile would start over
            name = safe_relative(member.name)
            if not member.isreg():
                raise BadBundle(f"{name}: not a regular file (links and devices are refused)")
            if name not in expected:
                raise BadBundle(f"{name}: not in the manifest (or sent twice)")
            digest, size = expected.pop(name)
            if member.size != size:
                raise BadBundle(f"{name}: {member.size} bytes, the manifest says {size}")
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            _copy_checked(source, target, size, digest, name)
        if expected:
            raise BadBundle(f"the bundle ended without {len(expected)} listed file(s), e.g. {next(iter(expected))}")
    return dict(manifest)
