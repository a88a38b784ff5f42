"""The results server's access log: a client's request line cannot forge lines or drive a terminal."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from acdc.delivery.server import make_server


def test_request_line_is_logged_escaped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    httpd = make_server(tmp_path, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(httpd.server_address[:2], timeout=5) as client, caplog.at_level("INFO"):
            client.sendall(b"GET /\x1b]0;pwned\x07\x1b[31mred\x9b2J HTTP/1.0\r\n\r\n")
            assert client.recv(100).startswith(b"HTTP/1.0 404")
            client.shutdown(socket.SHUT_WR)
            while client.recv(4096):  # the server has answered and logged once the reply ends
                pass
    finally:
        httpd.shutdown()
        httpd.server_close()
    [logged] = [r.getMessage() for r in caplog.records if r.name == "acdc.delivery.server"]
    assert '"GET /\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J HTTP/1.0" 404' in logged
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in logged)
