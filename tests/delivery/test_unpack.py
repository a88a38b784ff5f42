"""A received task-force bundle is unpacked only if every byte matches its manifest.

The bundles here are written by ``write_bundle`` from real model-like folders, then
tampered with the ways a hostile or broken stream could: a path escaping the folder, a
link, an unlisted file, a changed byte, a truncated stream, too many bytes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from acdc.delivery.bundle import BUNDLE_FORMAT, MANIFEST, Bundle, BundleFile, write_bundle
from acdc.delivery.unpack import BadBundle, unpack_bundle


def _bundle(tmp_path: Path) -> Bundle:
    folder = tmp_path / "src" / "gen_0001_ind_00"
    (folder / "sub").mkdir(parents=True)
    contents = {"config.json": b'{"model_type": "llama"}', "model.safetensors": bytes(range(256)) * 64,
                "sub/tokenizer.json": b"{}"}
    files = []
    for name, data in contents.items():
        (folder / name).write_bytes(data)
        files.append(BundleFile(f"models/gen_0001_ind_00/{name}", folder / name, hashlib.sha256(data).hexdigest(),
                                len(data)))
    manifest = {"format": BUNDLE_FORMAT, "generation": 1, "coverage": 0.5, "tasks": 4, "candidates": 3,
                "members": [{"id": "gen_0001_ind_00", "files": {f.relative.split("/", 2)[2]: {"sha256": f.sha256,
                                                                                             "size": f.size}
                                                                  for f in files}}]}
    return Bundle(manifest, tuple(files))


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def _entry(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _manifest_entry(bundle: Bundle) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(MANIFEST, json.dumps(bundle.manifest).encode())


def _files(bundle: Bundle) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [_entry(f.relative, f.source.read_bytes()) for f in bundle.files]


def test_a_written_bundle_unpacks_to_identical_files(tmp_path):
    bundle = _bundle(tmp_path)
    stream = io.BytesIO()
    write_bundle(bundle, stream)
    stream.seek(0)
    manifest = unpack_bundle(stream, tmp_path / "out", max_bytes=1 << 20)
    assert manifest == bundle.manifest
    for item in bundle.files:
        assert (tmp_path / "out" / item.relative).read_bytes() == item.source.read_bytes()
    assert json.loads((tmp_path / "out" / MANIFEST).read_text()) == bundle.manifest


@pytest.mark.parametrize("tamper, message", [
    ("escape", "unsafe path"),
    ("absolute", "unsafe path"),
    ("symlink", "not a regular file"),
    ("extra", "not in the manifest"),
    ("flipped", "SHA-256 differs"),
    ("missing", "ended without"),
    ("manifest-escape", "unsafe path"),
    ("no-manifest", "does not start with"),
    ("garbage", "not a valid bundle"),
])
def test_a_tampered_bundle_is_refused_and_leaves_nothing(tmp_path, tamper, message):
    bundle = _bundle(tmp_path)
    files = _files(bundle)
    head = _manifest_entry(bundle)
    if tamper == "escape":
        files.append(_entry("models/gen_0001_ind_00/../../evil", b"x"))
    elif tamper == "absolute":
        files.append(_entry("/tmp/evil", b"x"))
    elif tamper == "symlink":
        link = tarfile.TarInfo("models/gen_0001_ind_00/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        files.insert(0, (link, None))  # type: ignore[arg-type]
    elif tamper == "extra":
        files.append(_entry("models/gen_0001_ind_00/extra.bin", b"x"))
    elif tamper == "flipped":
        info, data = files[1]
        files[1] = (info, bytes([data[0] ^ 1]) + data[1:])
    elif tamper == "missing":
        files.pop()
    elif tamper == "manifest-escape":
        bundle.manifest["members"][0]["files"]["../x"] = {"sha256": "0" * 64, "size": 1}
        head = _manifest_entry(bundle)
    elif tamper == "no-manifest":
        head = files.pop(0)
    stream = io.BytesIO(b"\x00garbage" * 100) if tamper == "garbage" else _tar([head, *files])
    with pytest.raises(BadBundle, match=message):
        unpack_bundle(stream, tmp_path / "out", max_bytes=1 << 20)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no staging folder left behind
    assert not (tmp_path / "evil").exists()


def test_a_bundle_over_the_byte_limit_is_refused_before_any_file_is_written(tmp_path):
    bundle = _bundle(tmp_path)
    stream = io.BytesIO()
    write_bundle(bundle, stream)
    stream.seek(0)
    with pytest.raises(BadBundle, match="more than the limit"):
        unpack_bundle(stream, tmp_path / "out", max_bytes=bundle.total_bytes - 1)
    assert not (tmp_path / "out").exists()


def test_an_existing_destination_is_never_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(Exception, match="already exists"):
        unpack_bundle(io.BytesIO(), tmp_path / "out", max_bytes=1)
