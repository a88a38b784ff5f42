"""Fetch an `hf:` model into the run's volume once, resumably, and verify every byte.

Only the init phase calls this (in the cluster, the only Job whose environment lets the
worker image reach the hub). ``snapshot_download`` keeps every finished file (a 7B model is
four shards) and skips it next time; huggingface_hub 2.x resumes a broken transfer only
inside one process, so the partial files a killed pod leaves (uniquely named, never reused)
are swept before the next attempt. ``snapshot_download`` checks sizes, not contents, so
after it returns every file is hashed against the hub's own listing for the resolved
commit (sha256 for LFS files, the git blob id for the rest); only then is a marker written
that lets later inits (a retried Job, a resumed run) skip the hub entirely.

A hub that cannot be reached, answers with an error of its own (5xx, rate limit) or serves
bytes that fail the check is an ``InfrastructureFault`` (exit 75): not the run's mistake, and
no retry of the step within minutes helps a cluster without a route to the hub. The run
stops with the cause on one line and its next resume fetches what is still missing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from acdc.atomic import read_json, write_json
from acdc.engine.integrity import file_sha256
from acdc.errors import InfrastructureFault, PhaseError, UserError

MARKER = ".acdc-download.json"
_CHUNK = 1 << 20


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _verify(api: Any, repo: str, commit: str, target: Path) -> dict[str, str]:
    """Hash each listed file; raises PhaseError naming the first one that differs."""
    from huggingface_hub.hf_api import RepoFile

    checked: dict[str, str] = {}
    for entry in api.list_repo_tree(repo, recursive=True, revision=commit):
        if not isinstance(entry, RepoFile):
            continue
        path = target / entry.path
        if not path.is_file():
            raise InfrastructureFault(f"{repo}@{commit[:12]}: {entry.path} is missing after the download")
        expected, actual = ((entry.lfs.sha256, file_sha256(path)) if entry.lfs is not None
                            else (entry.blob_id, _git_blob_sha1(path)))
        if actual != expected:
            path.unlink()  # fetched again by the retry
            raise InfrastructureFault(f"{repo}@{commit[:12]}: {entry.path} does not match the hub's checksum; "
                                      "removed, fetched again on resume")
        checked[entry.path] = expected
    return checked


def _user_facing(repo: str, revision: str | None, endpoint: str | None, exc: Exception) -> Exception:
    """A one-line error: the user's to fix (missing, gated, bad revision), the network's or the
    hub's (an ``OSError``: the hub's HTTP errors, offline mode, a socket or the disk; an
    ``httpx2.HTTPError``: no route, no DNS, a timeout, a transfer cut off), or else the step's."""
    import httpx2
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = endpoint or "https://huggingface.co"
    if isinstance(exc, GatedRepoError):
        return UserError(f"{repo} is gated on {where}: accept its terms there and set models.hub.tokenSecret "
                         "to a Secret holding a token that has access (HF_TOKEN for `acdc run`)")
    if isinstance(exc, RevisionNotFoundError):
        return UserError(f"{repo} has no revision {revision!r} on {where}")
    if isinstance(exc, RepositoryNotFoundError):
        return UserError(f"{repo} was not found on {where} (a typo, or a private repo: set models.hub.tokenSecret)")
    detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    if isinstance(exc, OSError | httpx2.HTTPError):
        return InfrastructureFault(f"could not fetch {repo} from {where}: {detail}")
    return PhaseError(f"could not fetch {repo} from {where}: {detail}")


def fetch(repo: str, revision: str | None, endpoint: str | None, target: Path) -> Path:
    """``target`` holding ``repo`` at ``revision``, verified; downloads only what is missing."""
    marker = target / MARKER
    if marker.is_file():
        done = read_json(marker)
        if done.get("repo") == repo and done.get("revision") == revision:
            return target
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError as exc:  # pragma: no cover - a dependency of transformers
        raise PhaseError("huggingface_hub is needed to fetch hf models") from exc
    for partial in target.glob(".cache/huggingface/download/**/*.incomplete"):
        partial.unlink()  # a killed attempt's; one init runs at a time
    api = HfApi(endpoint=endpoint)
    try:
        commit = api.repo_info(repo, revision=revision).sha
        if commit is None:
            raise InfrastructureFault(f"{endpoint or 'the hub'} named no commit for {repo}@{revision or 'main'}")
        snapshot_download(repo_id=repo, revision=commit, local_dir=target, endpoint=endpoint)
        files = _verify(api, repo, commit, target)
    except PhaseError:
        raise
    except Exception as exc:  # network, auth, missing repo: all reported in one line
        raise _user_facing(repo, revision, endpoint, exc) from exc
    write_json(marker, {"repo": repo, "revision": revision, "commit": commit, "files": files})
    return target
