"""`acdc export`: upload the task force to a Hugging Face Hub(-compatible) model repo, or copy
it into a folder (another PVC, mounted by the export Job).

One commit through huggingface_hub (``create_repo`` + ``create_commit``): each model folder
under ``models/<id>/`` (safetensors, tokenizer, config, ``recipe.json``) and the bundle's
``manifest.json`` (every file's size and SHA-256, each model's lineage) at the root, so a
downloader can check what it got. The files are the same ones ``acdc taskforce --run``
serves (``bundle.task_force_bundle``); large files go the hub's own way (Xet or LFS,
huggingface_hub's choice). The token is HF_TOKEN (in a cluster: the export Job's Secret).
A folder copy goes through the same tar stream and checks as a download (``unpack``), so
every copied byte is verified against the manifest, and it lands all at once or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from acdc.delivery.bundle import MANIFEST, Bundle, task_force_bundle, write_bundle
from acdc.errors import UserError
from acdc.spec.run import ExportSpec

TOKEN_ENV = "HF_TOKEN"
EXPORT_MOUNT = Path("/export")
"""Where the export Job mounts ``spec.evaluation.export.claim``."""


class ExportError(UserError):
    """The hub refused the upload (auth, repo, network): one line, the hub's own reason."""


def upload_task_force(state: Path, export: ExportSpec, size: int) -> str:
    """Upload the run's task force of ``size`` models to ``export.repo``; returns the commit URL."""
    return upload_bundle(task_force_bundle(state, size), export)


def copy_task_force(state: Path, size: int, folder: Path) -> Path:
    """Copy the run's task force of ``size`` models into ``folder`` (verified); returns it."""
    return copy_bundle(task_force_bundle(state, size), folder)


def copy_bundle(bundle: Bundle, destination: Path) -> Path:
    """Write the bundle into ``destination`` through the verified unpacker; a finished copy of the
    same manifest is left as it is (a re-run export Job), any other existing folder is refused."""
    import threading

    from acdc.delivery.unpack import unpack_bundle

    existing = destination / MANIFEST
    if existing.is_file() and json.loads(existing.read_text()) == bundle.manifest:
        return destination
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        def produce() -> None:
            try:
                write_bundle(bundle, writer)
            except BrokenPipeError:  # the unpacker refused the stream and closed its end
                pass
            finally:
                writer.close()

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            unpack_bundle(reader, destination, max_bytes=bundle.total_bytes)
        finally:
            reader.close()
            thread.join()
    return destination


def upload_bundle(bundle: Bundle, export: ExportSpec) -> str:
    """One commit of the bundle's files and its manifest to ``export.repo``; the commit URL."""
    import httpx2  # huggingface_hub's HTTP client: its transport errors are not OSErrors
    from huggingface_hub import CommitOperationAdd, HfApi

    assert export.repo is not None  # ExportSpec holds a repo or a claim
    manifest = dict(bundle.manifest, repo=export.repo)
    operations = [CommitOperationAdd(path_in_repo=item.relative, path_or_fileobj=str(item.source))
                  for item in bundle.files]
    operations.append(CommitOperationAdd(path_in_repo=MANIFEST,
                                         path_or_fileobj=json.dumps(manifest, indent=1, sort_keys=True).encode()))
    api = HfApi(endpoint=export.endpoint, token=os.environ.get(TOKEN_ENV) or None)
    members = ", ".join(m["id"] for m in manifest["members"])
    message = f"acdc task force of {len(manifest['members'])} (generation {manifest['generation']}): {members}"
    try:
        api.create_repo(export.repo, private=export.private, exist_ok=True)
        info = api.create_commit(export.repo, operations, commit_message=message)
    except (httpx2.HTTPError, OSError, ValueError) as exc:  # HfHubHTTPError is an httpx2.HTTPError
        first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise ExportError(f"export to {export.repo} failed: {first[:300]}") from None
    return str(info.commit_url)
