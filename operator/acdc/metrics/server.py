"""Serve a registry over HTTP for Prometheus (the operator's `metrics` port, `acdc run --metrics-port`)."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from acdc.errors import UserError


def start_server(port: int, registry: CollectorRegistry, addr: str = "0.0.0.0") -> WSGIServer:
    """Start a daemon-thread exporter; returns the server so callers (tests) can ``shutdown()`` it.

    Port 0 picks a free port (read it back from ``server.server_port``). A port already in
    use is a user mistake (another runner on the same port), not a crash.
    """
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise UserError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from exc
    return server
