"""`acdc export`: upload the task force to a Hugging Face Hub(-compatible) model repo.

One commit through huggingface_hub (``create_repo`` + ``create_commit``): each model folder
under ``models/<id>/`` (safetensors, tokenizer, config, ``recipe.json``) and the bundle's
``manifest.json`` (every file's size and SHA-256, each model's lineage) at the root, so a
downloader can check what it got. The files are the same ones ``acdc taskforce --run``
serves (``bundle.task_force_bundle``); large files go the hub's own way (Xet or LFS,
huggingface_hub's choice). The token is HF_TOKEN (in a cluster: the export Job's Secret).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from acdc.delivery.bundle import MANIFEST, Bundle, task_force_bundle
from acdc.errors import UserError
from acdc.spec.run import ExportSpec

TOKEN_ENV = "HF_TOKEN"


class ExportError(UserError):
    """The hub refused the upload (auth, repo, network): one line, the hub's own reason."""


def export_task_force(state: Path, export: ExportSpec, size: int) -> str:
    """Upload the run's task force of ``size`` models; returns the commit URL."""
    return upload_bundle(task_force_bundle(state, size), export)


def upload_bundle(bundle: Bundle, export: ExportSpec) -> str:
    """One commit of the bundle's files and its manifest to ``export.repo``; the commit URL."""
    import httpx2  # huggingface_hub's HTTP client: its transport errors are not OSErrors
    from huggingface_hub import CommitOperationAdd, HfApi

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
