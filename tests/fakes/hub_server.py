"""A Hugging Face Hub-compatible endpoint on 127.0.0.1, for the real ``snapshot_download``.

No hub is reachable from CI, so ``init``'s download path (HF_ENDPOINT-style endpoint, token,
pinned revision, resume, errors) is exercised against this server instead. It speaks the
part of the hub's HTTP protocol that huggingface_hub's ``snapshot_download`` uses (checked
against huggingface_hub 2.4's code): ``GET /api/models/{repo}/revision/{rev}`` (the commit),
``GET /api/models/{repo}/tree/{commit}`` (the file listing with git blob ids and LFS
sha256), and ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag`` /
``X-Linked-Etag`` and ``Range`` support. Errors carry the hub's ``X-Error-Code`` header
(RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound) so the client raises its own
typed exceptions, as it would against huggingface.co.

It also takes uploads the way huggingface_hub's ``create_repo`` + ``create_commit`` send
them without Xet (``HF_HUB_DISABLE_XET=1``, a documented setting): ``POST /api/repos/create``,
``POST /api/models/{repo}/preupload/{rev}`` (LFS for the suffixes the hub tracks, regular
otherwise), the git-LFS batch API ``POST /{repo}.git/info/lfs/objects/batch`` with a basic
``PUT`` upload whose body must hash to its oid, and ``POST /api/models/{repo}/commit/{rev}``
(NDJSON: header, base64 ``file``s, ``lfsFile``s that must have been uploaded). A commit
becomes the branch's new revision, so ``snapshot_download`` reads back what was uploaded.
Writes need ``write_token`` when it is set.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.fakes.local_http import local_server

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file's contents (what the hub lists as a non-LFS file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Revision:
    files: dict[str, bytes]

    @property
    def commit(self) -> str:
        digest = hashlib.sha1()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        return digest.hexdigest()

    def entry(self, path: str) -> dict:
        data = self.files[path]
        item = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        if path.endswith(LFS_SUFFIXES):
            item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return item

    def etag(self, path: str) -> str:
        entry = self.entry(path)
        return entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]


@dataclass
class Repo:
    revisions: dict[str, Revision]  # by branch or tag name
    gated_token: str | None = None  # when set, only this bearer token may read the repo

    def find(self, name: str) -> Revision | None:
        if name in self.revisions:
            return self.revisions[name]
        return next((rev for rev in self.revisions.values() if rev.commit == name), None)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class HubServer:
    repos: dict[str, Repo] = field(default_factory=dict)
    bytes_per_second: float | None = None  # throttles file bodies (to kill a download midway)
    write_token: str | None = None  # when set, uploads need this bearer token
    lfs: dict[str, bytes] = field(default_factory=dict)  # uploaded LFS objects by sha256
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def add(self, repo_id: str, folder: Path, revision: str = "main", gated_token: str | None = None) -> Revision:
        repo = self.repos.setdefault(repo_id, Repo({}))
        repo.revisions[revision] = Revision(folder_files(folder))
        if gated_token is not None:
            repo.gated_token = gated_token
        return repo.revisions[revision]


_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/(?P<kind>revision|tree)/(?P<rev>[^/?]+))?$")
_CREATE = "/api/repos/create"
_WRITE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>preupload|commit)/(?P<rev>[^/?]+)$")
_BATCH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch$")
_LFS_PUT = re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: tests assert on hub.requests
            pass

        def handle(self) -> None:
            try:
                super().handle()
            except ConnectionError:  # a client killed mid-transfer (the resume test does that)
                pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            hub.requests.append((self.command, path, self._headers()))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self._may_write():
                return
            if path == _CREATE:
                request = json.loads(body)
                repo_id = f"{request['organization']}/{request['name']}"
                if repo_id in hub.repos:
                    return self._error(409, "RepoExists", "You already created this model repo")
                hub.repos[repo_id] = Repo({"main": Revision({})})
                return self._json({"url": f"{hub.url}/{repo_id}", "name": repo_id})
            if match := _BATCH.match(path):
                objects = json.loads(body)["objects"]
                return self._json({"transfer": "basic", "objects": [
                    {"oid": o["oid"], "size": o["size"], "authenticated": True,
                     "actions": {"upload": {"href": f"{hub.url}/lfs-upload/{o['oid']}"}}} for o in objects]})
            match = _WRITE.match(path)
            if match is None:
                return self._error(404, "EntryNotFound", "not a hub route")
            revision = self._repo(match["repo"], match["rev"])
            if revision is None:
                return
            if match["kind"] == "preupload":
                files = json.loads(body)["files"]
                return self._json({"files": [{"path": f["path"], "shouldIgnore": False,
                                              "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                                             for f in files]})
            self._commit(match["repo"], match["rev"], revision, body)

        def do_PUT(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            hub.requests.append((self.command, path, self._headers()))
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _LFS_PUT.match(path)
            if match is None or hashlib.sha256(data).hexdigest() != match["oid"]:
                return self._error(400, "BadRequest", "LFS object does not match its oid")
            hub.lfs[match["oid"]] = data
            self._json({})

        def _may_write(self) -> bool:
            if hub.write_token is None or self._headers().get("authorization") == f"Bearer {hub.write_token}":
                return True
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return False

        def _commit(self, repo_id: str, branch: str, revision: Revision, body: bytes) -> None:
            files = dict(revision.files)
            for line in body.decode().splitlines():
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "lfsFile":
                    if value["oid"] not in hub.lfs:
                        return self._error(400, "BadRequest", f"LFS object {value['oid']} was never uploaded")
                    files[value["path"]] = hub.lfs[value["oid"]]
            new = Revision(files)
            hub.repos[repo_id].revisions[urllib.parse.unquote(branch)] = new
            self._json({"commitUrl": f"{hub.url}/{repo_id}/commit/{new.commit}", "commitOid": new.commit,
                        "success": True})

        def _error(self, status: int, code: str, message: str) -> None:
            payload = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _json(self, document: object) -> None:
            payload = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _repo(self, repo_id: str, revision: str) -> Revision | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(401 if "authorization" not in self._headers() else 404, "RepoNotFound",
                            "Repository not found")
                return None
            if repo.gated_token is not None and self._headers().get("authorization") != f"Bearer {repo.gated_token}":
                self._error(403 if "authorization" in self._headers() else 401, "GatedRepo",
                            "Access to this model is restricted: you must be authenticated and granted access")
                return None
            found = repo.find(urllib.parse.unquote(revision))
            if found is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return found

        def _headers(self) -> dict[str, str]:
            return {key.lower(): value for key, value in self.headers.items()}

        def _serve(self, body: bool) -> None:
            path = urllib.parse.urlsplit(self.path).path
            hub.requests.append((self.command, path, self._headers()))
            if match := _API.match(path):
                revision = self._repo(match["repo"], match["rev"] or "main")
                if revision is None:
                    return
                if match["kind"] != "tree":
                    self._json({"id": match["repo"], "modelId": match["repo"], "sha": revision.commit,
                                "private": False, "siblings": [{"rfilename": p} for p in sorted(revision.files)]})
                else:
                    self._json([revision.entry(p) for p in sorted(revision.files)])
                return
            match = _RESOLVE.match(path)
            if match is None:
                self._error(404, "EntryNotFound", "not a hub route")
                return
            revision = self._repo(match["repo"], match["rev"])
            if revision is None:
                return
            name = urllib.parse.unquote(match["file"])
            if name not in revision.files:
                self._error(404, "EntryNotFound", f"{name} does not exist at this revision")
                return
            self._file(revision, name, body)

        def _file(self, revision: Revision, name: str, body: bool) -> None:
            data = revision.files[name]
            start = 0
            ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if ranged and body:
                start = min(int(ranged[1]), len(data))
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", revision.commit)
            etag = revision.etag(name)
            self.send_header("ETag", f'"{etag}"')
            if name.endswith(LFS_SUFFIXES):
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(data)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            chunk = 16384
            for offset in range(start, len(data), chunk):
                self.wfile.write(data[offset:offset + chunk])
                if hub.bytes_per_second:
                    self.wfile.flush()
                    time.sleep(chunk / hub.bytes_per_second)

    return Handler


@contextlib.contextmanager
def serve_hub(hub: HubServer) -> Iterator[HubServer]:
    """Serve ``hub`` on a free port of 127.0.0.1 until the block ends."""
    with local_server(_handler(hub)) as url:
        hub.url = url
        yield hub
