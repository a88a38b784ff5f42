"""The kubelet and the API server's pod proxy, played for reader pods (acdc.delivery).

A real cluster starts the reader pod's container, marks it Ready once its readiness
probe answers, and proxies ``GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/PATH`` to
``http://POD_IP:PORT/PATH``. Here the pod's own command (``acdc serve-results /state
--port P``) is served in-process on 127.0.0.1 with the test's 'PVC' folder as /state,
the pod is patched Ready through the API, and a kmock reaction forwards the proxy path
to that server, streaming the body and passing its status through. Deleting the pod
stops its server. ``pods`` keeps every reader pod manifest seen, for assertions.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import kmock

from acdc.controller.job_manifest import STATE_MOUNT
from acdc.controller.reader_pod import LABEL_READER
from acdc.delivery.server import make_server
from tests.controller.cluster import NAMESPACE, in_background

PODS = kmock.resource("", "v1", "pods")
_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+):([0-9]+)/proxy(/.*)$")


@dataclass
class ReaderPods:
    server: Any
    state: Path
    running: dict[str, tuple[int, ThreadingHTTPServer]] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)
    proxied: list[str] = field(default_factory=list)

    async def follow(self) -> None:
        async for event in self.server._buses[PODS]:
            pod = event.get("object") or {}
            meta = pod.get("metadata") or {}
            if (meta.get("labels") or {}).get(LABEL_READER) != "true":
                continue
            if event.get("type") == "ADDED":
                await self._start(pod)
            elif event.get("type") == "DELETED" and meta["name"] in self.running:
                self._stop(meta["name"])

    async def _start(self, pod: dict[str, Any]) -> None:
        self.pods.append(pod)
        container = pod["spec"]["containers"][0]
        command = container["command"]
        assert command[:3] == ["acdc", "serve-results", STATE_MOUNT], command
        port = int(command[command.index("--port") + 1])
        httpd = make_server(self.state, "127.0.0.1", 0)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        name = pod["metadata"]["name"]
        self.running[name] = (port, httpd)
        status = {"status": {"phase": "Running", "podIP": "127.0.0.1",
                             "conditions": [{"type": "Ready", "status": "True"}]}}
        async with self.server.patch(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status", json=status) as response:
            assert response.status < 300, await response.text()

    def _stop(self, name: str) -> None:
        _, httpd = self.running.pop(name)
        httpd.shutdown()
        httpd.server_close()

    async def proxy(self, request: kmock.Request) -> kmock.Response:
        match = _PROXY.match(request.url.path)
        assert match, request.url.path
        namespace, name, port, route = match.groups()
        self.proxied.append(route)
        if namespace != NAMESPACE or name not in self.running or self.running[name][0] != int(port):
            return kmock.Response(status=503, payload=b"error trying to reach service: connection refused")
        local = self.running[name][1].server_address[1]
        session = aiohttp.ClientSession()
        upstream = await session.get(f"http://127.0.0.1:{local}{route}")

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b""  # kmock streams from the first chunk: an empty body must still be served
                async for chunk in upstream.content.iter_chunked(1 << 16):
                    yield chunk
            finally:
                upstream.release()
                await session.close()

        return kmock.Response(status=upstream.status, payload=body(),
                              headers={"Content-Type": upstream.headers.get("Content-Type", "application/octet-stream")})


@contextlib.asynccontextmanager
async def reader_pods(server: Any, state: Path) -> AsyncIterator[ReaderPods]:
    player = ReaderPods(server, state)
    server[lambda request: _PROXY.match(request.url.path) is not None] << player.proxy
    async with in_background(player.follow()):
        try:
            yield player
        finally:
            for name in list(player.running):
                player._stop(name)
