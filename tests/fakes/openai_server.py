"""A local OpenAI-compatible server that replays scripted replies, for tests.

It serves /v1/chat/completions and /v1/embeddings on 127.0.0.1 from a background
thread, records every request body, and answers from a script: a list of replies
consumed in order, or a function of the request. A reply may be a string (the
assistant text), an ``HttpFailure`` (status code to send), ``Hang`` (sleep past the
client's timeout), or for embeddings a list of vectors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_http import local_server


@dataclass(frozen=True)
class HttpFailure:
    status: int
    body: str = '{"error": "scripted failure"}'


@dataclass(frozen=True)
class Hang:
    seconds: float


Reply = Any
Script = list[Reply] | Callable[[dict[str, Any]], Reply]


@dataclass
class FakeOpenAI:
    chat_script: Script = field(default_factory=list)
    embed_script: Script = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, endpoint: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append((endpoint, body))
            script = self.chat_script if endpoint == "chat/completions" else self.embed_script
            if callable(script):
                return script(body)
            if not script:
                return HttpFailure(500, '{"error": "script exhausted"}')
            return script.pop(0)


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            endpoint = self.path.removeprefix("/v1/")
            reply = fake.next_reply(endpoint, body)
            if isinstance(reply, Hang):
                time.sleep(reply.seconds)
                reply = "late reply"
            if isinstance(reply, HttpFailure):
                self._send(reply.status, reply.body.encode())
                return
            if endpoint == "embeddings":
                payload = {"data": [{"index": i, "embedding": vec} for i, vec in enumerate(reply)]}
            else:
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
            self._send(200, json.dumps(payload).encode())

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serve(chat_script: Script | None = None, embed_script: Script | None = None) -> Iterator[FakeOpenAI]:
    """Run a fake server for the duration of the block; ``fake.url`` ends in /v1."""
    fake = FakeOpenAI(chat_script=chat_script if chat_script is not None else [],
                      embed_script=embed_script if embed_script is not None else [])
    with local_server(_handler(fake)) as url:
        fake.url = f"{url}/v1"
        yield fake
