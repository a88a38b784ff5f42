"""`acdc serve-results STATE`: a small read-only HTTP server over a run's state folder.

It runs in the reader pod (``reader_pod``) with the run's volume mounted read-only and
answers three fixed routes; no request names a path on the volume:

    GET /healthz              readiness
    GET /report.html          the run's report (the stored one; else built now, without
                              held-out grading, into a temporary folder)
    GET /taskforce/N.tar      the greedy task force of N models as a bundle (``bundle``)

A client reaches it through the API server's pod proxy (``acdc report --run``), or by
``kubectl port-forward pod/NAME 8080`` and any HTTP client.
"""

from __future__ import annotations

import logging
import re
import tempfile
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from acdc.delivery.bundle import task_force_bundle, write_bundle
from acdc.errors import AcdcError
from acdc.logsafe import escape_controls

PORT = 8080
REPORT_FILE = "report.html"
MAX_TASK_FORCE = 64
_TASKFORCE = re.compile(r"^/taskforce/([0-9]{1,3})\.tar$")
log = logging.getLogger(__name__)


def report_bytes(state: Path) -> bytes:
    stored = state / REPORT_FILE
    if stored.is_file():
        return stored.read_bytes()
    from acdc.report import build_report

    with tempfile.TemporaryDirectory() as scratch:  # the volume is read-only in the reader pod
        return build_report(state, Path(scratch) / REPORT_FILE, heldout=False).read_bytes()


def make_handler(state: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server protocol)
            path = self.path.split("?", 1)[0]
            try:
                if path == "/healthz":
                    return self._send(b"ok\n", "text/plain")
                if path == "/report.html":
                    return self._send(report_bytes(state), "text/html; charset=utf-8")
                match = _TASKFORCE.match(path)
                if match and 1 <= int(match.group(1)) <= MAX_TASK_FORCE:
                    return self._send_bundle(int(match.group(1)))
                self._fail(HTTPStatus.NOT_FOUND, f"no such route {path[:80]}")
            except AcdcError as exc:  # no archive yet, size too large...: the client shows this line
                self._fail(HTTPStatus.CONFLICT, str(exc))

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_bundle(self, size: int) -> None:
            bundle = task_force_bundle(state, size)  # hashes first: errors still get a status line
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/x-tar")
            self.send_header("X-Acdc-Bundle-Bytes", str(bundle.total_bytes))
            self.send_header("Connection", "close")
            self.end_headers()
            write_bundle(bundle, self.wfile)

        def _fail(self, status: HTTPStatus, message: str) -> None:
            body = (message.replace("\n", " ")[:500] + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
            # The request line is the client's: escaped, as the base class does for stderr.
            log.info("%s %s", self.address_string(), escape_controls(format % args))

    return Handler


def make_server(state: Path, host: str = "0.0.0.0", port: int = PORT) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(state))
    server.daemon_threads = True
    return server
