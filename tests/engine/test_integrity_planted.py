"""A FIFO or a device in place of a committed file is named as damage, never hashed forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.atomic import RefusedFile
from acdc.engine.integrity import check_folder, file_sha256, write_manifest
from tests.planted import planted_fifo


@pytest.mark.parametrize("full", [False, True], ids=["cheap-check", "full-hash"])
def test_a_fifo_in_place_of_a_committed_empty_file_is_damage(tmp_path: Path, full: bool) -> None:
    """An empty file (``added_tokens.json`` of a model, say) has the size a FIFO shows: only its
    kind tells them apart, and before it was checked, hashing it waited for a writer forever."""
    model = tmp_path / "models" / "g0001-child-00"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "empty.json").write_bytes(b"")
    write_manifest(model)
    (model / "empty.json").unlink()
    with planted_fifo(model / "empty.json") as opened:
        problems = check_folder(model, full=full)
    assert not opened
    assert [str(p) for p in problems] == [f"{model / 'empty.json'}: was committed as a file and now is not a regular "
                                          "file (a FIFO, socket or device)"]


def test_the_full_hash_refuses_a_device(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").symlink_to("/dev/zero")
    with pytest.raises(RefusedFile, match="not a regular file"):
        file_sha256(tmp_path / "model.safetensors")
